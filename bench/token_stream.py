"""Streamed model tokens through an agent and a gateway, and a thread's state read as it grows.

    ~/.cache/configurable-agents/venv/bin/python bench/token_stream.py --tokens 300

1. Time to first token and tokens per second, side by side in one run: the OpenAI-protocol stub
   server (``agent_runtime.testing.openai_server``, one word a chunk, ``--token-delay`` apart)
   read by the ``openai`` SDK alone; then the same stream behind an agent process behind a
   gateway (``configurable-agents serve --agents``, PostgreSQL), read as a client of the Runs
   API's SSE (``node.delta`` events) and of the LangGraph API (``messages-tuple``, langgraph-sdk).
   Each path answers ``--turns`` messages of ``--tokens`` words; the medians are printed. The
   time to first token is from the request to the first piece of text; tokens per second are
   the answer's tokens over the time from its first piece to its last.
2. The thread state read per turn: one thread of the ``chat`` workflow (a messages field, a
   scripted model) grows to ``--thread-turns`` turns; at turns 1, 50, 100 and 200 the state is
   read ``--reads`` times through ``GET /langgraph/threads/{id}/state`` and
   ``GET /v1/threads/{id}`` (median, and the body's size).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
from langgraph_sdk import get_sync_client
from openai import OpenAI

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(HERE.parent))
from _postgres import REPO, postgres_server  # noqa: E402
from http_runs import free_port, stop, wait_ready  # noqa: E402

from agent_runtime.testing.openai_server import OpenAICompatibleServer  # noqa: E402

KEY = "bench-stub-key"

TALK = """
apiVersion: configurable-agents.io/v1alpha1
kind: Workflow
metadata: {{name: {name}, namespace: default}}
spec:
  state: {{messages: {{type: messages, reducer: append}}}}
  input: [messages]
  output: [messages]
  models: {{m: {model}}}
  nodes:
    - {{name: reply, type: llm, model: m, messages: messages, output: messages}}
  edges: [{{from: START, to: reply}}, {{from: reply, to: END}}]
"""

#: One stream's figures: seconds to the first token, tokens per second, tokens.
Stream = tuple[float, float, int]


def words(count: int, turn: int) -> str:
    return " ".join(f"t{turn}w{i}" for i in range(count))


def rate(first: float, last: float, tokens: int) -> float:
    return (tokens - 1) / (last - first) if last > first and tokens > 1 else float("nan")


def stub_alone(base_url: str, text: str) -> Stream:
    """The openai SDK streaming straight from the stub."""
    client = OpenAI(base_url=base_url, api_key=KEY)
    began = time.perf_counter()
    stream = client.chat.completions.create(
        model="gpt-bench", messages=[{"role": "user", "content": text}], stream=True
    )
    times: list[float] = []
    for chunk in stream:
        if chunk.choices and chunk.choices[0].delta.content:
            times.append(time.perf_counter())
    return times[0] - began, rate(times[0], times[-1], len(times)), len(times)


def runs_api(base: str, text: str) -> Stream:
    """A run of ``talk`` started on the Runs API and read from its SSE: ``node.delta`` events."""
    with httpx.Client(base_url=base, timeout=60) as client:
        began = time.perf_counter()
        run = client.post(
            "/v1/workflows/default/talk/runs",
            json={"input": {"messages": [{"role": "user", "content": text}]}},
        ).json()
        first, last, tokens = 0.0, 0.0, 0
        with client.stream("GET", f"/v1/runs/{run['id']}/events") as response:
            event = ""
            for line in response.iter_lines():
                if line.startswith("event:"):
                    event = line.split(":", 1)[1].strip()
                elif line.startswith("data:") and event == "node.delta":
                    piece = json.loads(line.split(":", 1)[1])["text"]
                    last = time.perf_counter()
                    first = first or last
                    tokens += len(piece.split())
    return first - began, rate(first, last, tokens), tokens


def langgraph_api(base: str, text: str) -> Stream:
    """A stateless run streamed by langgraph-sdk in ``messages-tuple`` mode."""
    client = get_sync_client(url=f"{base}/langgraph")
    given: Any = {"messages": [{"role": "user", "content": text}]}
    began = time.perf_counter()
    first, last, tokens = 0.0, 0.0, 0
    for part in client.runs.stream(
        None,
        "default/talk",
        input=given,
        stream_mode="messages-tuple",
    ):
        if part.event == "messages" and part.data[0].get("type") == "AIMessageChunk":
            last = time.perf_counter()
            first = first or last
            tokens += len(str(part.data[0]["content"]).split())
    return first - began, rate(first, last, tokens), tokens


@contextmanager
def process(command: list[str], env: dict[str, str], log: Path, ready: str) -> Iterator[None]:
    with log.open("wb") as out:
        proc = subprocess.Popen(
            command,
            stdout=out,
            stderr=subprocess.STDOUT,
            env={**os.environ, "PYTHONPATH": str(REPO), **env},
            start_new_session=True,
        )
    try:
        why = wait_ready(ready, proc, log, 60)
        if why:
            raise RuntimeError(f"{' '.join(command[2:4])} {why}")
        yield
    finally:
        stop(proc)


@contextmanager
def agent_and_gateway(work: Path, store_url: str, stub_url: str) -> Iterator[str]:
    """An agent (llm) and a gateway sending it tasks; the gateway's base URL."""
    folder = work / "workflows"
    folder.mkdir()
    openai = f"{{provider: openai, model: gpt-bench, baseUrl: '{stub_url}'}}"
    (folder / "talk.yaml").write_text(TALK.format(name="talk", model=openai))
    (folder / "chat.yaml").write_text(TALK.format(name="chat", model="{provider: scripted}"))
    agent_port, gateway_port = free_port(), free_port()
    agent_env = {
        "CONFIGURABLE_AGENTS_HOST": "127.0.0.1",
        "CONFIGURABLE_AGENTS_PORT": str(agent_port),
        "CONFIGURABLE_AGENTS_CAPABILITIES": "llm",
        "OPENAI_API_KEY": KEY,
    }
    agent = [sys.executable, "-m", "agent_runtime.agent"]
    agent_url = f"http://127.0.0.1:{agent_port}"
    gateway = [sys.executable, "-m", "agent_runtime", "serve", "--port", str(gateway_port)]
    gateway += ["--store", store_url, "--workflows", str(folder), "--agents", f"llm={agent_url}"]
    base = f"http://127.0.0.1:{gateway_port}"
    with (
        process(agent, agent_env, work / "agent.log", f"{agent_url}/readyz"),
        process(gateway, {}, work / "gateway.log", f"{base}/readyz"),
    ):
        yield base


def medians(read: Callable[[str], Stream], turns: int, tokens: int) -> tuple[float, ...]:
    read(words(tokens, -1))  # warm-up: connections, the model client, the first run
    streams = [read(words(tokens, turn)) for turn in range(turns)]
    assert all(s[2] == tokens for s in streams), f"a stream lost tokens: {streams}"
    return tuple(statistics.median(s[i] for s in streams) for i in range(2))


def thread_reads(base: str, turns: int, reads: int, marks: set[int]) -> list[tuple[float, ...]]:
    """(turn, ms LangGraph state, bytes, ms Runs API thread, bytes) at each of ``marks``."""
    rows: list[tuple[float, ...]] = []
    with httpx.Client(base_url=base, timeout=60) as client:
        thread = client.post("/v1/threads", json={"workflow": "chat"}).json()["id"]
        paths = (f"/langgraph/threads/{thread}/state", f"/v1/threads/{thread}")
        for turn in range(1, turns + 1):
            text = f"turn {turn}: " + words(20, turn)
            done = client.post(
                "/v1/workflows/default/chat/runs",
                json={
                    "input": {"messages": [{"role": "user", "content": text}]},
                    "threadId": thread,
                    "wait": True,
                },
            )
            assert done.json()["status"] == "succeeded", done.text
            if turn not in marks:
                continue
            row: list[float] = [turn]
            for path in paths:
                timed = []
                for _ in range(reads):
                    began = time.perf_counter()
                    body = client.get(path)
                    timed.append((time.perf_counter() - began) * 1000)
                    assert body.status_code == 200, body.text
                row += [statistics.median(timed), len(body.content)]
            rows.append(tuple(row))
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--tokens", type=int, default=300, help="words an answer has")
    parser.add_argument("--token-delay", type=float, default=0.005, help="seconds per chunk")
    parser.add_argument("--turns", type=int, default=5, help="answers per path (medians)")
    parser.add_argument("--thread-turns", type=int, default=200, help="turns the thread grows to")
    parser.add_argument("--reads", type=int, default=10, help="state reads at each mark")
    args = parser.parse_args()
    marks = {m for m in (1, 50, 100, 200) if m <= args.thread_turns} | {args.thread_turns}
    with (
        tempfile.TemporaryDirectory(prefix="configurable-agents-bench-") as tmp,
        OpenAICompatibleServer(token_delay=args.token_delay) as stub,
        postgres_server() as pg,
        agent_and_gateway(Path(tmp), pg.url(pg.create_database()), stub.base_url) as base,
    ):
        figures = {
            "openai SDK <- stub (alone)": medians(
                lambda t: stub_alone(stub.base_url, t), args.turns, args.tokens
            ),
            "Runs API SSE <- gateway <- agent <- stub": medians(
                lambda t: runs_api(base, t), args.turns, args.tokens
            ),
            "LangGraph API <- gateway <- agent <- stub": medians(
                lambda t: langgraph_api(base, t), args.turns, args.tokens
            ),
        }
        print("  measured the streams; growing a thread", file=sys.stderr, flush=True)
        grown = thread_reads(base, args.thread_turns, args.reads, marks)

    print(
        f"\n{args.tokens} tokens an answer, the stub sending one every {args.token_delay * 1000:g}"
        f" ms (at most {1 / args.token_delay:.0f} tokens/s); median of {args.turns} answers"
    )
    header = f"{'path':<44} {'first token ms':>14} {'tokens/s':>9}"
    print(header + "\n" + "-" * len(header))
    for name, (to_first, per_second) in figures.items():
        print(f"{name:<44} {to_first * 1000:>14.1f} {per_second:>9.1f}")

    print(f"\nthread state read as the thread grows (median of {args.reads} reads)")
    header = f"{'turn':>5} {'LangGraph state ms':>18} {'bytes':>8} {'Runs API thread ms':>18} {'bytes':>8}"
    print(header + "\n" + "-" * len(header))
    for turn, lg_ms, lg_bytes, v1_ms, v1_bytes in grown:
        print(f"{turn:>5.0f} {lg_ms:>18.2f} {lg_bytes:>8.0f} {v1_ms:>18.2f} {v1_bytes:>8.0f}")
    first, last = grown[0], grown[-1]
    size, lg, v1 = last[2] / first[2], last[1] / first[1], last[3] / first[3]
    how = "slower than" if max(lg, v1) < size else "as fast as or faster than"
    print(
        f"\nfrom turn {first[0]:.0f} to {last[0]:.0f} the state (the conversation: 2 messages a turn) "
        f"grew {size:.0f}x and a read took {lg:.1f}x as long (LangGraph) and {v1:.1f}x (Runs "
        f"API): the read's cost grows {how} the state's size"
    )


if __name__ == "__main__":
    main()
