"""Runs under sustained network faults, made by a real proxy (Toxiproxy) in every path from a
gateway to an agent and from a gateway to Postgres: latency, timeouts, connection resets, and
partitions of one gateway from Postgres or from one agent, healed after 30 s. The same figures as
the process chaos test: N acknowledged, N succeeded, 0 lost, 0 stuck, 0 side effects repeated.

Size: ``CONFIGURABLE_AGENTS_CHAOS_RUNS`` (CI: a small default; ``make chaos N=5000`` the full
size), the partition's length ``CONFIGURABLE_AGENTS_CHAOS_PARTITION`` (30 s). The figures are
printed (``-s``) and written to ``$CONFIGURABLE_AGENTS_CHAOS_REPORT.network`` when that is set.
"""

from __future__ import annotations

import asyncio
import os
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from tests.chaos.fleet import DOWN, GAP, GATEWAY_ENV, FaultSchedule
from tests.chaos.network import NETWORK_FAULTS, NetworkFaults, ProxiedFleet
from tests.chaos.report import tally_and_check
from tests.chaos.toxiproxy import TOXIPROXY, Toxiproxy
from tests.chaos.workload import WORKFLOW, run_workload

pytestmark = pytest.mark.slow

#: CI's size is smaller than the process chaos test's: the two 30 s partitions set the pace.
RUNS = int(os.environ.get("CONFIGURABLE_AGENTS_CHAOS_RUNS", "30"))
PARTITION = float(os.environ.get("CONFIGURABLE_AGENTS_CHAOS_PARTITION", "30"))
#: Runs are started over at least this long, a few at a time every few seconds, so that the
#: faults (both partitions too) meet runs in flight.
MIN_SECONDS = 2 * PARTITION + 30
BATCH = max(2, RUNS // 30)
#: Slower model nodes than the process chaos test's, so that each gateway holds a run in flight
#: at almost any moment, and a partition from Postgres meets one.
SLOW_WORKFLOW = WORKFLOW.replace("delay: 1s", "delay: 4s")


@pytest.mark.timeout(900 + RUNS * 4)
def test_runs_survive_network_faults(
    postgres_server: Any,
    postgres_url: str,
    tmp_path: Path,
    workflows: Callable[[str], Path],
    request: pytest.FixtureRequest,
) -> None:
    toxiproxy = Toxiproxy(TOXIPROXY.binary(request.config), tmp_path)
    folder = workflows(SLOW_WORKFLOW)
    fleet = ProxiedFleet(
        tmp_path, postgres_url, folder, postgres_server, env=GATEWAY_ENV, toxiproxy=toxiproxy
    )
    schedule = FaultSchedule(
        NetworkFaults(toxiproxy, partition=PARTITION), NETWORK_FAULTS, gap=GAP, down=DOWN
    )
    started = time.monotonic()
    try:
        fleet.start()
        schedule.start()
        ids = asyncio.run(
            run_workload(
                fleet.urls, RUNS, stop_faults=schedule.finish, min_seconds=MIN_SECONDS, batch=BATCH
            )
        )
    finally:
        schedule.stop()
        fleet.stop()
        toxiproxy.close()
    tally_and_check("network", postgres_url, ids, schedule, time.monotonic() - started)
