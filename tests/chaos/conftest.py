"""What the chaos tests share besides their fleet: a folder of the Workflow they run."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest


@pytest.fixture
def workflows(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Callable[[str], Path]:
    """Writes a Workflow into the folder the gateways serve, and returns the folder; its
    counting tools count in ``tmp_path/counts`` (``COUNTER_DIR``, inherited by every process)."""
    monkeypatch.setenv("COUNTER_DIR", str(tmp_path / "counts"))

    def folder(workflow: str) -> Path:
        out = tmp_path / "workflows"
        out.mkdir()
        (out / "order.yaml").write_text(workflow)
        return out

    return folder
