"""The chart each benchmark writes next to its table: one horizontal bar panel per figure, our
rows in one colour and the baselines in another, so the comparison reads at a glance.

matplotlib is a benchmark dependency (``make bench`` installs it), not one of the product's: a
benchmark without it prints its table and says where the chart would have gone.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

#: Where charts go unless ``--chart`` says otherwise (ignored by git).
OUT = Path(__file__).resolve().parent / "out"


@dataclass(frozen=True)
class Panel:
    """One figure of every row: its title (with its unit) and whether less is better."""

    title: str
    values: Sequence[float | None]
    lower_is_better: bool = True


def write_chart(
    path: Path,
    title: str,
    labels: Sequence[str],
    panels: Sequence[Panel],
    *,
    ours: Sequence[str] = (),
) -> Path | None:
    """A PNG at ``path`` (its folder made), or None with a note on stderr without matplotlib.
    ``ours``: labels of the rows measured for this project, drawn in the accent colour."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        print(
            f"(no chart: matplotlib is not installed; make bench installs it) {path}",
            file=sys.stderr,
        )
        return None
    path.parent.mkdir(parents=True, exist_ok=True)
    height = 0.45 * len(labels) + 1.4
    fig, axes = plt.subplots(1, len(panels), figsize=(5.2 * len(panels), height), squeeze=False)
    colours = ["#d9480f" if label in ours else "#868e96" for label in labels]
    for ax, panel in zip(axes[0], panels, strict=True):
        values = [v if v is not None else 0.0 for v in panel.values]
        bars = ax.barh(range(len(labels)), values, color=colours)
        ax.set_yticks(range(len(labels)), labels, fontsize=8)
        ax.invert_yaxis()
        hint = "lower is better" if panel.lower_is_better else "higher is better"
        ax.set_title(f"{panel.title}\n({hint})", fontsize=9)
        for bar, value in zip(bars, panel.values, strict=True):
            shown = "-" if value is None else f"{value:.3g}"
            ax.annotate(
                shown,
                (bar.get_width(), bar.get_y() + bar.get_height() / 2),
                xytext=(3, 0),
                textcoords="offset points",
                va="center",
                fontsize=7,
            )
        ax.margins(x=0.18)
        ax.tick_params(axis="x", labelsize=7)
    for ax in axes[0][1:]:
        ax.set_yticklabels([])
    fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    print(f"chart: {path}", file=sys.stderr)
    return path
