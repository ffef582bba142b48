"""Runs under sustained faults: N runs acknowledged, N succeeded, 0 lost, 0 stuck, 0 side effects
repeated, while gateways and agents are killed and paused and Postgres crashes every few seconds.

Size: ``CONFIGURABLE_AGENTS_CHAOS_RUNS`` (CI: a small default; ``make chaos N=5000`` the full
size). The figures are printed at the end (``-s`` shows them) and written to
``$CONFIGURABLE_AGENTS_CHAOS_REPORT`` when set.
"""

from __future__ import annotations

import asyncio
import os
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from tests.chaos.fleet import DOWN, GAP, GATEWAY_ENV, FaultSchedule, Fleet
from tests.chaos.report import tally_and_check
from tests.chaos.workload import WORKFLOW, run_workload

pytestmark = pytest.mark.slow

RUNS = int(os.environ.get("CONFIGURABLE_AGENTS_CHAOS_RUNS", "60"))


@pytest.mark.timeout(600 + RUNS * 4)
def test_runs_survive_sustained_faults(
    postgres_server: Any,
    durable_postgres_url: str,
    tmp_path: Path,
    workflows: Callable[[str], Path],
) -> None:
    folder = workflows(WORKFLOW)
    fleet = Fleet(tmp_path, durable_postgres_url, folder, postgres_server, env=GATEWAY_ENV)
    fleet.start()
    schedule = FaultSchedule(fleet, gap=GAP, down=DOWN)
    started = time.monotonic()
    try:
        schedule.start()
        ids = asyncio.run(run_workload(fleet.urls, RUNS, stop_faults=schedule.finish))
    finally:
        schedule.stop()
        fleet.stop()
    tally_and_check("chaos", durable_postgres_url, ids, schedule, time.monotonic() - started)
