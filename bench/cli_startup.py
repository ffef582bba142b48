"""How long the CLI takes to start, side by side with ``kubectl`` and a bare interpreter.

    python bench/cli_startup.py --rounds 30

Pre-commit hooks and CI call ``configurable-agents validate`` once per file, so its start-up is
paid per file. Runs each command ``--rounds`` times, interleaved so machine noise hits all alike,
and prints the median and p90 wall time and the median CPU time (user + system) of each. CPU time
is what the command costs; wall time is what a user waits, and on a loaded machine it includes
waiting for a core. The baselines: ``python -c pass`` (the interpreter's own floor) and
``kubectl version --client`` (the tool platform teams run next to ours).
"""

from __future__ import annotations

import argparse
import os
import resource
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
EXAMPLE = REPO / "examples" / "01-linear-chain" / "workflow.yaml"


def commands() -> dict[str, list[str]]:
    cli = [sys.executable, "-m", "agent_runtime"]
    found = {
        "python -c pass (floor)": [sys.executable, "-c", "pass"],
        "configurable-agents --help": [*cli, "--help"],
        "configurable-agents validate (one example)": [*cli, "validate", str(EXAMPLE)],
        "configurable-agents graph (one example)": [*cli, "graph", str(EXAMPLE)],
    }
    if kubectl := shutil.which("kubectl"):
        found["kubectl version --client (baseline)"] = [kubectl, "version", "--client"]
    return found


def timed(argv: list[str]) -> tuple[float, float]:
    """Wall and CPU seconds of one run of ``argv`` (CPU from the children's rusage)."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    subprocess.run(argv, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    wall = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return wall, cpu


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=30)
    args = parser.parse_args()
    found = commands()
    for argv in found.values():  # warm: byte-compiled files and the page cache
        timed(argv)
    walls: dict[str, list[float]] = {name: [] for name in found}
    cpus: dict[str, list[float]] = {name: [] for name in found}
    for _ in range(args.rounds):
        for name, argv in found.items():
            wall, cpu = timed(argv)
            walls[name].append(wall)
            cpus[name].append(cpu)
    print(f"{args.rounds} rounds, interleaved; load average {os.getloadavg()[0]:.2f}")
    print("| command | wall p50 s | wall p90 s | CPU p50 s |")
    print("| --- | --- | --- | --- |")
    for name in found:
        wall = sorted(walls[name])
        p90 = wall[min(len(wall) - 1, int(len(wall) * 0.9))]
        print(
            f"| {name} | {statistics.median(wall):.3f} | {p90:.3f} | "
            f"{statistics.median(cpus[name]):.3f} |"
        )


if __name__ == "__main__":
    main()
