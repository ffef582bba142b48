"""Runs through HTTP: one gateway process on Postgres, side by side with ``langgraph dev``.

    ~/.cache/configurable-agents/venv/bin/python bench/http_runs.py --runs 200

Starts a throwaway PostgreSQL (``--no-fsync`` for the tests' settings), one
``configurable-agents serve`` process serving the 5-node linear workflow of
``bench/step_overhead.py`` (``scripted`` provider, no delay, agents in-process), and submits
``--runs`` runs with ``{"wait": true}``: one at a time (latency p50, p99, runs/s), then
``--concurrency`` in flight (runs/s), each request on a thread of its own (httpx, one client).
The same runs are then made in this process, without HTTP (the engine and store of
``bench/step_overhead.py`` on a database of the same server): what the gateway adds.

Then the same graph in plain LangGraph under LangGraph's own server, ``langgraph dev`` (in-memory
runtime, no reload, no browser, tracing and analytics off, its default 10 jobs per worker unless
``--langgraph-jobs``), driven by langgraph-sdk ``client.runs.wait(None, ...)`` (stateless runs) on
a thread per run. ``langgraph`` is looked up next to this Python, then in
~/.cache/configurable-agents/bench-langgraph-venv (``pip install "langgraph-cli[inmem]"`` there
keeps uvloop and httptools, which uvicorn would pick up, out of the project's environment), then
on PATH; ``--langgraph-bin`` names it.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import AsyncExitStack, contextmanager
from pathlib import Path
from typing import Any

import httpx

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
from _chart import OUT, Panel, write_chart  # noqa: E402
from _postgres import REPO, postgres_server, settings  # noqa: E402
from step_overhead import WORKFLOW_YAML, engine_variant  # noqa: E402

SIDE_VENV = Path.home() / ".cache" / "configurable-agents" / "bench-langgraph-venv"
SERVE = "configurable-agents serve (postgres)"
IN_PROCESS = "the same runs in process (no HTTP)"
LANGGRAPH_DEV = "langgraph dev (inmem)"


def aim(met: bool) -> str:
    return "met" if met else "NOT met"


GRAPH_PY = '''\
"""The 5-node linear graph of bench/step_overhead.py, for `langgraph dev`."""

from typing import TypedDict

from langgraph.graph import END, START, StateGraph


class State(TypedDict, total=False):
    topic: str
    s1: str
    s2: str
    s3: str
    s4: str
    s5: str


def _node(key):
    async def node(state: State) -> dict:
        return {key: "ok"}

    return node


builder = StateGraph(State)
previous = START
for i in range(1, 6):
    builder.add_node(f"n{i}", _node(f"s{i}"))
    builder.add_edge(previous, f"n{i}")
    previous = f"n{i}"
builder.add_edge(previous, END)
graph = builder.compile()
'''

LANGGRAPH_JSON = '{"dependencies": ["."], "graphs": {"five_steps": "./graph.py:graph"}}\n'

QUIET_ENV = {
    "LANGSMITH_TRACING": "false",
    "LANGCHAIN_TRACING_V2": "false",
    "LANGCHAIN_TRACING": "false",
    "LANGGRAPH_CLI_NO_ANALYTICS": "1",
    "LANGSMITH_API_KEY": "",
    "LANGCHAIN_API_KEY": "",
    "DO_NOT_TRACK": "1",
}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def wait_ready(url: str, proc: subprocess.Popen[bytes], log: Path, timeout: float) -> str:
    """'' once ``url`` answers 200, else why not."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            return f"exited with status {proc.returncode}: {tail(log)}"
        try:
            if httpx.get(url, timeout=2).status_code == 200:
                return ""
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    return f"not ready after {timeout:.0f} s: {tail(log)}"


def tail(log: Path, lines: int = 12) -> str:
    text = log.read_text(errors="replace").splitlines() if log.exists() else []
    return " | ".join(line.strip() for line in text[-lines:] if line.strip())


def stop(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is None:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(15)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()


def measure(
    run: Callable[[], None], runs: int, concurrency: int, warmup: int, serial_runs: int = 0
) -> dict[str, float]:
    """Latencies and runs/s from ``serial_runs`` (default ``runs``) one at a time, then runs/s
    with ``concurrency`` in flight over ``runs``."""
    serial_runs = serial_runs or runs
    with ThreadPoolExecutor(max_workers=concurrency) as pool:
        for _ in range(warmup):
            run()
        list(pool.map(lambda _: run(), range(concurrency)))
        latencies: list[float] = []
        began = time.perf_counter()
        for _ in range(serial_runs):
            t0 = time.perf_counter()
            run()
            latencies.append(time.perf_counter() - t0)
        serial = time.perf_counter() - began
        began = time.perf_counter()
        list(pool.map(lambda _: run(), range(runs)))
        parallel = time.perf_counter() - began
    ms = [x * 1000 for x in latencies]
    return {
        "p50": statistics.median(ms),
        "p99": pct(ms, 0.99),
        "rps1": serial_runs / serial,
        "rpsN": runs / parallel,
        "serial_runs": serial_runs,
    }


def in_process(args: argparse.Namespace, store_url: str) -> dict[str, float]:
    """The same run without HTTP: ``bench/step_overhead.py``'s engine in this process, on a
    database of its own of the same server, so that what the gateway adds is seen."""

    async def go() -> dict[str, float]:
        async with AsyncExitStack() as stack:
            run = await engine_variant(stack, store_url)
            for _ in range(args.warmup):
                await run()
            latencies: list[float] = []
            began = time.perf_counter()
            for _ in range(args.runs):
                t0 = time.perf_counter()
                await run()
                latencies.append((time.perf_counter() - t0) * 1000)
            serial = time.perf_counter() - began
            gate = asyncio.Semaphore(args.concurrency)

            async def gated() -> None:
                async with gate:
                    await run()

            began = time.perf_counter()
            await asyncio.gather(*(gated() for _ in range(args.runs)))
            parallel = time.perf_counter() - began
        return {
            "p50": statistics.median(latencies),
            "p99": pct(latencies, 0.99),
            "rps1": args.runs / serial,
            "rpsN": args.runs / parallel,
            "serial_runs": args.runs,
        }

    return asyncio.run(go())


# ---------------------------------------------------------------- our gateway


@contextmanager
def serving(
    work: Path, store_url: str, *options: str, name: str = "gateway"
) -> Iterator[tuple[str, subprocess.Popen[bytes]]]:
    """A ``configurable-agents serve`` process serving the 5-step workflow (its base URL and
    process), ready; stopped afterwards."""
    folder = work / f"workflows-{name}"
    folder.mkdir()
    (folder / "five-steps.yaml").write_text(WORKFLOW_YAML)
    port = free_port()
    log = work / f"{name}.log"
    command = [
        *(sys.executable, "-m", "agent_runtime", "serve"),
        *("--workflows", str(folder), "--store", store_url, "--port", str(port), *options),
    ]
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    with log.open("wb") as out:
        proc = subprocess.Popen(
            command, stdout=out, stderr=subprocess.STDOUT, env=env, start_new_session=True
        )
    try:
        base = f"http://127.0.0.1:{port}"
        why = wait_ready(f"{base}/readyz", proc, log, 60)
        if why:
            raise RuntimeError(f"configurable-agents serve {why}")
        yield base, proc
    finally:
        stop(proc)


def gateway(args: argparse.Namespace, work: Path, store_url: str) -> dict[str, float]:
    with serving(work, store_url, "--concurrency", str(args.concurrency)) as (base, _):
        limits = httpx.Limits(max_connections=args.concurrency * 2)
        with httpx.Client(base_url=base, timeout=60, limits=limits) as client:

            def run() -> None:
                response = client.post(
                    "/v1/workflows/default/five-steps/runs",
                    json={"input": {"topic": "durability"}, "wait": True},
                )
                body = response.json()
                if response.status_code != 200 or body.get("status") != "succeeded":
                    raise RuntimeError(f"gateway answered {response.status_code}: {body}")
                if body.get("output") != {"s5": "ok"}:
                    raise RuntimeError(f"unexpected output: {body.get('output')}")

            return measure(run, args.runs, args.concurrency, args.warmup)


# ---------------------------------------------------------------- langgraph dev


def find_langgraph(given: str | None) -> str | None:
    if given:
        return given
    for candidate in (
        Path(sys.executable).parent / "langgraph",
        SIDE_VENV / "bin" / "langgraph",
    ):
        if candidate.exists():
            return str(candidate)
    return shutil.which("langgraph")


def langgraph_dev(args: argparse.Namespace, work: Path) -> tuple[dict[str, float] | None, str]:
    """The figures, or None and why not."""
    binary = find_langgraph(args.langgraph_bin)
    if binary is None:
        return None, (
            "`langgraph` not found: pip install 'langgraph-cli[inmem]' (here or in "
            f"{SIDE_VENV}), or name it with --langgraph-bin"
        )
    try:
        from langgraph_sdk import get_sync_client
    except ImportError as exc:
        return None, f"langgraph-sdk is not installed here ({exc}): pip install langgraph-sdk"
    folder = work / "lg"
    folder.mkdir()
    (folder / "graph.py").write_text(GRAPH_PY)
    (folder / "langgraph.json").write_text(LANGGRAPH_JSON)
    port = free_port()
    log = work / "langgraph-dev.log"
    command = [
        binary,
        "dev",
        "--no-browser",
        "--no-reload",
        "--port",
        str(port),
        *(["--n-jobs-per-worker", str(args.langgraph_jobs)] if args.langgraph_jobs else []),
        "--server-log-level",
        "WARNING",
        "--config",
        str(folder / "langgraph.json"),
    ]
    env = {**os.environ, **QUIET_ENV}
    for key in ("LANGSMITH_API_KEY", "LANGCHAIN_API_KEY"):
        env.pop(key, None)
    with log.open("wb") as out:
        proc = subprocess.Popen(
            command,
            cwd=folder,
            stdout=out,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            env=env,
            start_new_session=True,
        )
    try:
        base = f"http://127.0.0.1:{port}"
        why = wait_ready(f"{base}/ok", proc, log, 90)
        if why:
            return None, f"`langgraph dev` {why}"
        client = get_sync_client(url=base, api_key=None, timeout=60)

        def run() -> None:
            out: Any = client.runs.wait(
                None, "five_steps", input={"topic": "durability"}, raise_error=True
            )
            if not isinstance(out, dict) or out.get("s5") != "ok":
                raise RuntimeError(f"langgraph dev answered {out!r}")

        serial = min(args.runs, args.langgraph_serial_runs)
        return measure(run, args.runs, args.concurrency, min(args.warmup, 3), serial), ""
    except Exception as exc:
        return None, f"`langgraph dev` failed: {exc.__class__.__name__}: {exc}; log: {tail(log)}"
    finally:
        stop(proc)


# ---------------------------------------------------------------- main


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--runs", type=int, default=200, help="runs per server (default 200)")
    parser.add_argument("--concurrency", type=int, default=32, help="runs in flight (default 32)")
    parser.add_argument("--warmup", type=int, default=10, help="warm-up runs one at a time")
    parser.add_argument(
        "--no-fsync",
        action="store_true",
        help="fsync and synchronous_commit off, as in the tests (default: on)",
    )
    parser.add_argument(
        "--langgraph-serial-runs",
        type=int,
        default=30,
        help="runs one at a time on `langgraph dev` (default 30: each takes about 1 s there)",
    )
    parser.add_argument(
        "--langgraph-jobs",
        type=int,
        default=0,
        help="`langgraph dev --n-jobs-per-worker` (default: its own, 10, which was the fastest "
        "here at 32 in flight: 76 runs/s against 27 with 32 jobs and 25 with 64)",
    )
    parser.add_argument("--langgraph-bin", help="the `langgraph` CLI to run `langgraph dev` with")
    parser.add_argument("--no-langgraph", action="store_true", help="leave `langgraph dev` out")
    parser.add_argument(
        "--chart", type=Path, default=OUT / "http_runs.png", help="where the chart goes"
    )
    args = parser.parse_args()

    rows: dict[str, dict[str, float]] = {}
    notes: list[str] = []
    started = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="configurable-agents-bench-") as tmp:
        work = Path(tmp)
        with postgres_server(durable=not args.no_fsync) as pg:
            server = ", ".join(f"{k}={v}" for k, v in settings(pg).items())
            print(f"PostgreSQL on 127.0.0.1:{pg.port}: {server}", file=sys.stderr, flush=True)
            rows[SERVE] = gateway(args, work, pg.url(pg.create_database()))
            print("  measured our gateway", file=sys.stderr, flush=True)
            rows[IN_PROCESS] = in_process(args, pg.url(pg.create_database()))
            print("  measured the same runs in process", file=sys.stderr, flush=True)
            pg.settle()
        if args.no_langgraph:
            notes.append("langgraph dev: skipped (--no-langgraph)")
        else:
            figures, why = langgraph_dev(args, work)
            if figures is None:
                notes.append(f"langgraph dev: not measured: {why}")
            else:
                rows[LANGGRAPH_DEV] = figures
    elapsed = time.perf_counter() - started

    n = args.concurrency
    header = f"{'server':<38} {'p50 ms/run':>10} {'p99 ms/run':>10} {'runs/s @1':>9} "
    header += f"{f'runs/s @{n}':>10}"
    print()
    print(header)
    print("-" * len(header))
    for name, row in rows.items():
        print(
            f"{name:<38} {row['p50']:>10.1f} {row['p99']:>10.1f} {row['rps1']:>9.1f} "
            f"{row['rpsN']:>10.1f}"
            + (f"  (@1: {row['serial_runs']:.0f} runs)" if row["serial_runs"] != args.runs else "")
        )
    for note in notes:
        print(note)
    ours, alone, theirs = rows[SERVE], rows[IN_PROCESS], rows.get(LANGGRAPH_DEV)
    print(
        f"serve: p50 {ours['p50']:.1f} ms a run, {ours['p50'] / alone['p50']:.2f}x the same run in "
        f"process (aims 7 ms and 1.3x: {aim(ours['p50'] <= 7 and ours['p50'] <= 1.3 * alone['p50'])}); "
        f"{ours['rpsN']:.0f} runs/s at {n} in flight"
        + (f", {ours['rpsN'] / theirs['rpsN']:.2f}x langgraph dev" if theirs else "")
        + f" (aims 300 and 2x: {aim(ours['rpsN'] >= 300 and (not theirs or ours['rpsN'] >= 2 * theirs['rpsN']))})"
    )
    shown = list(rows)
    write_chart(
        args.chart,
        f"5-step runs over HTTP, wait=true (PostgreSQL {server}; {os.cpu_count()} CPUs)",
        shown,
        [
            Panel("p50 ms per run, one at a time", [rows[k]["p50"] for k in shown]),
            Panel(
                f"runs/s, {n} in flight", [rows[k]["rpsN"] for k in shown], lower_is_better=False
            ),
        ],
        ours=[SERVE, IN_PROCESS],
    )
    print(
        f"({args.runs} runs of the 5-step workflow per server, wait=true, PostgreSQL {server}; "
        f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs; {elapsed:.0f} s in all)"
    )


if __name__ == "__main__":
    main()
