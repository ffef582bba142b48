"""Run submissions accepted by one gateway while it executes them, on Postgres and on SQLite.

    ~/.cache/configurable-agents/venv/bin/python bench/submissions.py --runs 1500

Starts one ``configurable-agents serve`` process per store serving the 5-node linear workflow
of ``bench/step_overhead.py`` (``scripted`` provider, no delay, agents in-process) and submits
``--runs`` runs without waiting (``POST /v1/workflows/default/five-steps/runs``, answered 202
once the run is queued), ``--concurrency`` requests in flight from one asyncio client. Figures:
submissions accepted per second and each submission's latency (p50, p99, max), measured while
the gateway's worker executes the runs it already accepted; then how long the worker took to
finish them all (runs/s executed). A 429 (the gateway's admission says later) is counted and the
submission sent again after its Retry-After, as a client does; its latency counts from the first
try. The Postgres server has fsync on unless ``--no-fsync``.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
from _postgres import postgres_server, settings  # noqa: E402
from http_runs import pct, serving  # noqa: E402

PATH = "/v1/workflows/default/five-steps/runs"


async def submit_all(base: str, runs: int, concurrency: int) -> dict[str, Any]:
    """Submit ``runs`` runs, ``concurrency`` at a time; latencies, 429s, then the drain time."""
    latencies: list[float] = []
    refused = 0
    queue: asyncio.Queue[int] = asyncio.Queue()
    for i in range(runs):
        queue.put_nowait(i)
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    async with httpx.AsyncClient(base_url=base, timeout=60, limits=limits) as client:

        async def one(i: int) -> None:
            nonlocal refused
            began = time.perf_counter()
            while True:
                response = await client.post(PATH, json={"input": {"topic": f"t{i}"}})
                if response.status_code == 202:
                    latencies.append(time.perf_counter() - began)
                    return
                if response.status_code != 429:
                    raise RuntimeError(f"gateway answered {response.status_code}: {response.text}")
                refused += 1
                await asyncio.sleep(float(response.headers.get("retry-after", "0.1")))

        async def worker() -> None:
            while not queue.empty():
                await one(queue.get_nowait())

        began = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(concurrency)))
        accepting = time.perf_counter() - began
        # every run executed (the worker started on them while they came in); cheap polls, so
        # that the benchmark does not load the gateway it measures
        while await unfinished(client):  # noqa: ASYNC110 (polling another process)
            await asyncio.sleep(0.5)
        if (count := await succeeded(client)) != runs:
            raise RuntimeError(f"{count} of {runs} runs succeeded")
        draining = time.perf_counter() - began
    ms = [x * 1000 for x in latencies]
    return {
        "accepted/s": runs / accepting,
        "p50": pct(ms, 0.5),
        "p99": pct(ms, 0.99),
        "max": max(ms),
        "429s": refused,
        "executed/s": runs / draining,
    }


async def unfinished(client: httpx.AsyncClient) -> bool:
    """Whether any run is still queued or running (one item asked for of each)."""
    for status in ("queued", "running"):
        page = (await client.get("/v1/runs", params={"status": status, "limit": 1})).json()
        if page["items"]:
            return True
    return False


async def succeeded(client: httpx.AsyncClient) -> int:
    """How many runs succeeded, page by page."""
    count, cursor = 0, None
    while True:
        params: dict[str, Any] = {"status": "succeeded", "limit": 1000}
        if cursor:
            params["cursor"] = cursor
        page = (await client.get("/v1/runs", params=params)).json()
        count += len(page["items"])
        cursor = page.get("nextCursor")
        if not cursor:
            return count


def gateway(args: argparse.Namespace, work: Path, store_url: str, name: str) -> dict[str, Any]:
    with serving(work, store_url, name=f"gateway-{name}") as (base, proc):
        spy = None
        if args.py_spy:  # where the gateway's time goes: py-spy's folded stacks, one file a store
            out_file = Path(args.py_spy) / f"submissions-{name}.folded"
            spy = subprocess.Popen(
                [
                    "py-spy",
                    "record",
                    "--format",
                    "raw",
                    "-o",
                    str(out_file),
                    "--pid",
                    str(proc.pid),
                ],
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            )
        try:
            return asyncio.run(submit_all(base, args.runs, args.concurrency))
        finally:
            if spy is not None:
                spy.send_signal(signal.SIGINT)  # py-spy writes its file when interrupted
                spy.wait(30)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--runs", type=int, default=1500, help="runs per store (default 1500)")
    parser.add_argument("--concurrency", type=int, default=32, help="in flight (default 32)")
    parser.add_argument("--no-fsync", action="store_true", help="Postgres: fsync off")
    parser.add_argument("--stores", default="postgres,sqlite", help="which (default both)")
    parser.add_argument("--py-spy", metavar="DIR", help="profile each gateway with py-spy into DIR")
    args = parser.parse_args()

    rows: dict[str, dict[str, Any]] = {}
    started = time.perf_counter()
    stores = args.stores.split(",")
    server = ""
    with tempfile.TemporaryDirectory(prefix="configurable-agents-bench-") as tmp:
        work = Path(tmp)
        if "postgres" in stores:
            with postgres_server(durable=not args.no_fsync) as pg:
                server = ", ".join(f"{k}={v}" for k, v in settings(pg).items())
                url = pg.url(pg.create_database())
                rows["serve, Postgres"] = gateway(args, work, url, "postgres")
        if "sqlite" in stores:
            url = f"sqlite:///{work / 'runs.db'}"
            rows["serve, SQLite"] = gateway(args, work, url, "sqlite")
    elapsed = time.perf_counter() - started

    header = (
        f"{'store':<18} {'accepted/s':>10} {'p50 ms':>8} {'p99 ms':>8} {'max ms':>8} "
        f"{'429s':>6} {'executed/s':>10}"
    )
    print()
    print(header)
    print("-" * len(header))
    for name, row in rows.items():
        print(
            f"{name:<18} {row['accepted/s']:>10.1f} {row['p50']:>8.1f} {row['p99']:>8.1f} "
            f"{row['max']:>8.1f} {row['429s']:>6} {row['executed/s']:>10.1f}"
        )
    print(
        f"({args.runs} submissions per store, {args.concurrency} in flight, without waiting, "
        f"while the gateway executes them; PostgreSQL {server or 'not run'}; load average "
        f"{os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs; {elapsed:.0f} s in all)"
    )


if __name__ == "__main__":
    main()
