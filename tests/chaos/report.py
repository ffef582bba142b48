"""The figures of a chaos run, read from the store and the counting tool, and what they must be.

Runs acknowledged, succeeded, lost (0), stuck (0), side effects repeated (0), events written after
the run finished (0), node executions run again, and how long runs stood still before a survivor
took them over.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import math
import os
import statistics
from collections import Counter
from pathlib import Path
from typing import Any

from agent_runtime.stores import RunNotFound, RunStatus, open_store
from tests.chaos.fleet import FaultSchedule
from tests.counting_tools import counts


def stalls(events: dict[str, list[Any]]) -> list[tuple[float, str]]:
    """How long runs stood still before going on after a fault: seconds from a run's last event
    to its ``run.resumed`` when no person's answer or agent wait caused it (a lease taken over
    from a dead or paused gateway, an execution the store's crash sent back to the queue), with
    the run's id."""
    out = []
    for run_id, run_events in events.items():
        for before, event in itertools.pairwise(run_events):
            if event.type == "run.resumed" and before.type not in (
                "run.interrupted",
                "run.waiting",
            ):
                out.append(((event.at - before.at).total_seconds(), run_id))
    return out


def after_finish(run_events: list[Any]) -> int:
    """Events written after the run's ``run.finished``: what a process that lost the run's
    lease (paused, cut off) would still write once it went on, if the store did not refuse its
    writes (``stores.fencing``); asserted 0."""
    ends = [e.seq for e in run_events if e.type == "run.finished"]
    return sum(1 for e in run_events if ends and e.seq > ends[-1])


def history(run_events: list[Any]) -> list[str]:
    """A run's events, one short line each (the report shows the slowest takeovers')."""
    return [
        f"{e.seq} {e.type} {e.at:%H:%M:%S.%f}"[:-3]
        + (f" {e.data['node']}" if "node" in e.data else "")
        for e in run_events
    ]


async def _records(
    store_url: str, ids: list[str]
) -> tuple[dict[str, Any], dict[str, list[Any]], Counter[str]]:
    async with open_store(store_url) as store:
        runs = {}
        for i in dict.fromkeys(ids):  # an acknowledged run the store no longer has is lost
            with contextlib.suppress(RunNotFound):
                runs[i] = await store.get_run(i)
        events = {i: await store.list_events(i) for i in runs}
        reruns: Counter[str] = Counter()
        for i in runs:
            done = Counter(
                (s.node, s.visit)
                for s in await store.list_steps(i)
                if s.status.value == "succeeded"
            )
            reruns.update({"node executions run again": sum(n - 1 for n in done.values())})
        return runs, events, reruns


def tally_and_check(
    name: str, store_url: str, ids: list[str], schedule: FaultSchedule, elapsed: float
) -> dict[str, Any]:
    """Print the figures (``-s`` shows them; also written to $CONFIGURABLE_AGENTS_CHAOS_REPORT
    when set, suffixed with ``name``), then assert them: every acknowledged run succeeded, none
    lost or stuck, no side effect repeated, no event written after a run finished, every kind
    of fault done and healed."""
    runs, events, reruns = asyncio.run(_records(store_url, ids))
    statuses = Counter(r.status.value for r in runs.values())
    charged = {k: v for k, v in counts().items() if k.startswith("charge-")}
    slowest = sorted(stalls(events), reverse=True)
    stalled = sorted(seconds for seconds, _ in slowest)
    resumed_after = Counter(
        before.type
        for run_events in events.values()
        for before, event in itertools.pairwise(run_events)
        if event.type == "run.resumed"
    )
    report = {
        "runs acknowledged": len(ids),
        "succeeded": statuses.get("succeeded", 0),
        "lost": len(set(ids)) - len(runs),
        "stuck": sum(1 for r in runs.values() if not r.status.finished),
        "failed": statuses.get("failed", 0),
        "faults": dict(Counter(f.kind for f in schedule.faults)),
        "faults that did not heal": [f.__dict__ for f in schedule.faults if f.error],
        "side effects repeated": sum(n - 1 for n in charged.values() if n > 1),
        "charges": len(charged),
        "unknown outcomes asked": sum(
            1 for r in runs.values() for a in r.approvals if a.reason == "unknownOutcome"
        ),
        **reruns,
        "runs taken over": len(stalled),
        "resumed after": dict(resumed_after),
        "takeover p50 s": round(statistics.median(stalled), 2) if stalled else None,
        "takeover p99 s": round(stalled[math.ceil(0.99 * len(stalled)) - 1], 2)
        if stalled
        else None,
        "seconds": round(elapsed, 1),
        "events written after the run finished": sum(map(after_finish, events.values())),
        "slowest takeover": {run: history(events[run]) for _, run in slowest[:1]},
        "fault timeline (s after the schedule began)": [
            f"{f.kind} {f.target} at {f.at - schedule.began:.0f} s"
            f" for {(f.healed or f.at) - f.at:.1f} s"
            for f in schedule.faults
        ],
    }
    print(f"\n{name}:", json.dumps(report))
    if path := os.environ.get("CONFIGURABLE_AGENTS_CHAOS_REPORT"):
        Path(f"{path}.{name}" if name != "chaos" else path).write_text(json.dumps(report, indent=2))
    failed = [r.error for r in runs.values() if r.status == RunStatus.FAILED][:3]
    assert len(set(ids)) == len(ids), "one run acknowledged twice"
    assert report["lost"] == 0 and report["stuck"] == 0, report
    assert report["succeeded"] == len(ids), (report, failed)
    assert report["side effects repeated"] == 0, (report, charged)
    assert report["charges"] == len(ids), report
    assert report["events written after the run finished"] == 0, report
    assert not report["faults that did not heal"], report
    assert {f.kind for f in schedule.faults} == set(schedule.kinds), report
    return report
