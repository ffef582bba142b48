"""Claims from a crowded queue: 10,000 runs queued in one namespace, then 10 in another.

    ~/.cache/configurable-agents/venv/bin/python bench/queue_fairness.py --big 10000 --small 10

For each store (Postgres with fsync on unless ``--no-fsync``, and SQLite), ``--big`` runs are
created in namespace ``big`` and then ``--small`` in namespace ``small`` (``create_run``, the
store API, no gateway); then ``--claimers`` claim loops in one process drain the queue: each
claims a run (``claim_run``), marks it running and succeeded (two transitions, as the engine
does), ``--work-ms`` apart, and claims the next until no run is left. Two claim orders, each on a
fresh database: ``fifo``, the claim statement as it was before claims were fair (copied here:
the oldest claimable run, every namespace alike, with the Postgres index it used; the database
also has the indexes fair claims added, which its writes pay for), and ``fair``, the store's
``claim_run``.

``--crowd K`` spreads the first runs over K namespaces (what a claim costs when many namespaces
have runs queued); ``--rounds`` repeats the variants, every other round backwards.

Figures: the latency of the ``claim_run`` call itself (p50 and p99 over the first 1,000 claims,
with 9,000-10,000 runs still queued, and p99 over the whole drain); for each namespace how long
its runs waited from being created to being claimed (p50, max); and at which places in the
order of claims the small namespace's first and last runs were claimed.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
from _postgres import postgres_server, settings  # noqa: E402
from http_runs import pct  # noqa: E402

from agent_runtime.stores import RunRecord, RunStatus, RunStore, open_store  # noqa: E402
from agent_runtime.stores.postgres import PostgresStore  # noqa: E402
from agent_runtime.stores.postgres.leases import lease_args  # noqa: E402
from agent_runtime.stores.records import utcnow  # noqa: E402
from agent_runtime.stores.sqlite import SqliteStore  # noqa: E402
from agent_runtime.stores.sqlite.schema import ts  # noqa: E402

SPEC = {
    "apiVersion": "agents.example.com/v1alpha1",
    "kind": "Workflow",
    "metadata": {"name": "trivial", "generation": 1},
    "spec": {"nodes": [{"name": "a"}]},
}

#: The Postgres claim before claims were fair: the oldest claimable run, whatever its namespace.
FIFO_POSTGRES = (
    "WITH candidate AS ("
    " SELECT id FROM ca_runs WHERE status IN ('queued', 'running')"
    " AND (lease_expires_at IS NULL OR lease_expires_at < %(now)s)"
    " ORDER BY created_at, id LIMIT 1 FOR UPDATE SKIP LOCKED)"
    " UPDATE ca_runs AS r SET lease_owner = %(owner)s, lease_expires_at = %(expires)s,"
    " record = r.record || jsonb_build_object("
    "'lease_owner', %(owner)s::text, 'lease_expires_at', %(expires_json)s::text)"
    " FROM candidate WHERE r.id = candidate.id RETURNING r.record::text AS record"
)
#: The index the Postgres claim above was written for (schema version 7 replaced it).
FIFO_POSTGRES_INDEX = (
    "CREATE INDEX IF NOT EXISTS ca_runs_claimable ON ca_runs (created_at, id)"
    " INCLUDE (lease_expires_at) WHERE status IN ('queued', 'running')"
)
#: The SQLite claim before claims were fair (on the index it used, ``ca_runs_by_status``).
FIFO_SQLITE = (
    "SELECT record FROM ca_runs WHERE status IN ('queued','running')"
    " AND (lease_expires_at IS NULL OR lease_expires_at < ?) ORDER BY created_at, id LIMIT 1"
)

Claim = Callable[[str, float], Awaitable[RunRecord | None]]


def fifo_claim(store: RunStore) -> Claim:
    """The claim as it was, on the store's own connection (its private helpers, for the baseline)."""
    if isinstance(store, PostgresStore):

        async def postgres(owner: str, ttl: float) -> RunRecord | None:
            params = lease_args(owner, ttl)
            async with store._connection() as conn:
                row = await (await conn.execute(FIFO_POSTGRES.encode(), params)).fetchone()
            return RunRecord.model_validate_json(row["record"]) if row else None

        return postgres
    if isinstance(store, SqliteStore):

        async def sqlite(owner: str, ttl: float) -> RunRecord | None:
            async with store._tx() as db:
                now = utcnow()
                async with db.execute(FIFO_SQLITE, (ts(now),)) as cur:
                    row = await cur.fetchone()
                if row is None:
                    return None
                run = RunRecord.model_validate_json(row[0]).model_copy(
                    update={"lease_owner": owner, "lease_expires_at": now + timedelta(seconds=ttl)}
                )
                await store._write_run(run)
            return run

        return sqlite
    raise SystemExit(f"no FIFO baseline for {type(store).__name__}")


def fair_claim(store: RunStore) -> Claim:
    async def claim(owner: str, ttl: float) -> RunRecord | None:
        return await store.claim_run(owner=owner, ttl=ttl)

    return claim


@dataclass
class Drain:
    """What one drain saw: claim latencies in order, and each run's wait and place."""

    latencies: list[float] = field(default_factory=list)  # seconds, in the order of claims
    waits: dict[str, list[float]] = field(default_factory=dict)  # namespace -> seconds
    places: dict[str, list[int]] = field(default_factory=dict)  # namespace -> 1-based places
    seconds: float = 0.0


async def fill(store: RunStore, args: argparse.Namespace) -> dict[str, float]:
    """Create the runs, the big namespace's first; when each was created (perf_counter)."""
    created: dict[str, float] = {}
    crowd = [f"big-{k:04d}" for k in range(args.crowd)] if args.crowd > 1 else ["big"]
    todo = [(crowd[i % len(crowd)], i) for i in range(args.big)]
    todo += [("small", i) for i in range(args.small)]

    async def create(batch: list[tuple[str, int]]) -> None:
        for namespace, i in batch:
            run = RunRecord(
                id=f"{namespace}-{i:06d}",
                namespace=namespace,
                workflow="trivial",
                generation=1,
                spec_hash="sha256:bench",
                spec=SPEC,
                input={"i": i},
            )
            await store.create_run(run)
            created[run.id] = time.perf_counter()

    # the big namespace in parallel batches, then the small one after all of it
    big = todo[: args.big]
    step = -(-len(big) // args.creators) if big else 1
    await asyncio.gather(*(create(big[k : k + step]) for k in range(0, len(big), step)))
    await create(todo[args.big :])
    return created


async def drain(
    store: RunStore, claim: Claim, created: dict[str, float], claimers: int, work: float
) -> Drain:
    out = Drain()
    began = time.perf_counter()

    async def loop(owner: str) -> None:
        while True:
            t0 = time.perf_counter()
            run = await claim(owner, 60.0)
            t1 = time.perf_counter()
            if run is None:
                return
            out.latencies.append(t1 - t0)
            group = "small" if run.namespace == "small" else "big"
            out.waits.setdefault(group, []).append(t1 - created[run.id])
            out.places.setdefault(group, []).append(len(out.latencies))
            await store.transition(run.id, RunStatus.RUNNING)
            if work:
                await asyncio.sleep(work)
            await store.transition(run.id, RunStatus.SUCCEEDED, output={})

    await asyncio.gather(*(loop(f"claimer-{i}") for i in range(claimers)))
    out.seconds = time.perf_counter() - began
    claimed = sum(len(w) for w in out.waits.values())
    if claimed != len(created):
        raise RuntimeError(f"{claimed} of {len(created)} runs claimed")
    return out


async def measure(url: str, variant: str, args: argparse.Namespace) -> dict[str, Any]:
    async with open_store(url) as store:
        if variant == "fifo" and isinstance(store, PostgresStore):
            async with store._connection() as conn:
                await conn.execute(FIFO_POSTGRES_INDEX.encode())
        created = await fill(store, args)
        claim = fifo_claim(store) if variant == "fifo" else fair_claim(store)
        d = await drain(store, claim, created, args.claimers, args.work_ms / 1000)
    ms = [x * 1000 for x in d.latencies]
    first = ms[:1000]
    small, big = d.waits.get("small", [0.0]), d.waits["big"]
    places = d.places.get("small", [0])
    return {
        "p50 first": pct(first, 0.5),
        "p99 first": pct(first, 0.99),
        "p99 all": pct(ms, 0.99),
        "small places": f"{places[0]}-{places[-1]}",
        "small p50": pct(small, 0.5),
        "small max": max(small),
        "big p50": pct(big, 0.5),
        "big max": max(big),
        "runs/s": len(created) / d.seconds,
    }


async def main(args: argparse.Namespace) -> None:
    load_before = os.getloadavg()
    rows: list[tuple[str, str, dict[str, Any]]] = []
    stores = args.stores.split(",")
    variants = args.variants.split(",")
    # rounds take the variants in turn, every other one backwards (ABBA): the first database
    # of a fresh server is slower, and the machine's load drifts
    order = [variants if r % 2 == 0 else variants[::-1] for r in range(args.rounds)]
    server = ""
    with tempfile.TemporaryDirectory(prefix="configurable-agents-bench-") as tmp:
        if "postgres" in stores:
            with postgres_server(durable=not args.no_fsync) as pg:
                server = ", ".join(f"{k}={v}" for k, v in settings(pg).items())
                for variant in (v for turn in order for v in turn):
                    url = pg.url(pg.create_database())
                    rows.append(("Postgres", variant, await measure(url, variant, args)))
        if "sqlite" in stores:
            for n, variant in enumerate(v for turn in order for v in turn):
                url = f"sqlite:///{Path(tmp) / f'{variant}-{n}.db'}"
                rows.append(("SQLite", variant, await measure(url, variant, args)))
    load = os.getloadavg()
    where = f"{args.crowd} namespaces big-*" if args.crowd > 1 else "namespace big"
    print(
        f"{args.big} runs queued in {where},"
        f" then {args.small} in small; {args.claimers} claim loops,"
        f" {args.work_ms:g} ms of work a run; load average (1 min) {load_before[0]:.1f} before,"
        f" {load[0]:.1f} after" + (f"; Postgres {server}" if server else "") + "\n"
    )
    print(
        "| store | claims | claim p50 ms (first 1,000) | claim p99 ms (first 1,000) |"
        " claim p99 ms (all) | small claimed at | small wait p50 / max s |"
        " big wait p50 / max s | runs/s |"
    )
    print("| --- | --- | --- | --- | --- | --- | --- | --- | --- |")
    for name, variant, f in rows:
        print(
            f"| {name} | {variant} | {f['p50 first']:.2f} | {f['p99 first']:.2f} |"
            f" {f['p99 all']:.2f} | {f['small places']} |"
            f" {f['small p50']:.2f} / {f['small max']:.2f} |"
            f" {f['big p50']:.1f} / {f['big max']:.1f} | {f['runs/s']:.0f} |"
        )


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--big", type=int, default=10_000, help="runs in namespace big")
    parser.add_argument("--small", type=int, default=10, help="runs in namespace small")
    parser.add_argument(
        "--crowd", type=int, default=1, help="namespaces the big runs are spread over (default 1)"
    )
    parser.add_argument("--claimers", type=int, default=4, help="claim loops (default 4)")
    parser.add_argument("--creators", type=int, default=8, help="creating big's runs at once")
    parser.add_argument("--work-ms", type=float, default=0.0, help="between claim and finish")
    parser.add_argument("--variants", default="fifo,fair", help="claim orders (default both)")
    parser.add_argument("--rounds", type=int, default=1, help="of the variants, ABBA (default 1)")
    parser.add_argument("--stores", default="postgres,sqlite", help="which (default both)")
    parser.add_argument("--no-fsync", action="store_true", help="Postgres: fsync off")
    return parser.parse_args()


if __name__ == "__main__":
    asyncio.run(main(parse_args()))
