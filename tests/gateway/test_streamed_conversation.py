"""Model tokens end to end through a gateway and a separate agent process: a 20-turn conversation
on one thread through ``langgraph_sdk`` (``messages-tuple``), the Runs API's SSE carrying
``node.delta``, and an OpenAI-protocol model's stream relayed the same way."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from langgraph_sdk import get_client

from agent_runtime.testing.openai_server import OpenAICompatibleServer
from tests.agent.harness import AgentProcess
from tests.gateway.conftest import GatewayProcess

#: The gateway writes an event per 10 ms of text, so a 50 ms answer comes in several parts.
FAST_DELTAS = {"CONFIGURABLE_AGENTS_DELTA_INTERVAL": "0.01"}

TALK = """
apiVersion: configurable-agents.io/v1alpha1
kind: Workflow
metadata: {{name: talk, namespace: default}}
spec:
  state: {{messages: {{type: messages, reducer: append}}}}
  input: [messages]
  output: [messages]
  models: {{m: {model}}}
  nodes:
    - {{name: reply, type: llm, model: m, messages: messages, output: messages}}
  edges: [{{from: START, to: reply}}, {{from: reply, to: END}}]
"""

#: With no responses the scripted model answers the last user message, word by word.
SCRIPTED = "{provider: scripted, delay: 50ms}"


def talk_folder(folder: Path, model: str = SCRIPTED) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "talk.yaml").write_text(TALK.format(model=model))
    return folder


def said(turn: int) -> str:
    return f"turn {turn}: " + " ".join(f"word{turn}-{i}" for i in range(12))


@pytest.fixture
def agent(tmp_path: Path) -> Iterator[AgentProcess]:
    started = AgentProcess(tmp_path, capabilities=("llm",), max_concurrent_tasks=4)
    started.wait_ready()
    yield started
    started.stop()


def serve_talk(
    start_gateway: Callable[..., GatewayProcess], store_url: str, agent: AgentProcess, work: Path
) -> GatewayProcess:
    """A gateway serving ``talk``, its tasks sent to ``agent``."""
    return start_gateway(
        store_url,
        "--agents",
        f"llm={agent.url}",
        workflows=talk_folder(work / "wf"),
        env=FAST_DELTAS,
    )


async def test_twenty_turns_on_a_thread_stream_token_by_token_through_the_sdk(
    start_gateway: Callable[..., GatewayProcess],
    postgres_url: str,
    agent: AgentProcess,
    tmp_path: Path,
) -> None:
    served = serve_talk(start_gateway, postgres_url, agent, tmp_path)
    client = get_client(url=f"{served.url}/langgraph")
    thread = await client.threads.create(metadata={"test": "streamed"})
    loop = asyncio.get_running_loop()
    for turn in range(20):
        chunks: list[tuple[float, dict[str, Any]]] = []
        whole: list[dict[str, Any]] = []
        async for part in client.runs.stream(
            thread["thread_id"],
            "default/talk",
            input={"messages": [{"role": "user", "content": said(turn)}]},
            stream_mode="messages-tuple",
        ):
            if part.event == "messages":
                message, metadata = part.data
                assert metadata["langgraph_node"] == "reply"
                if message["type"] == "AIMessageChunk":
                    chunks.append((loop.time(), message))
                else:
                    whole.append(message)
        ended = loop.time()
        texts = [m["content"] for _, m in chunks]
        assert len(texts) >= 3, f"turn {turn}: {texts}"
        assert "".join(texts) == said(turn)
        assert whole == [], "a streamed answer is not sent again whole"
        assert ended - chunks[0][0] > 0.02, "the first part came before the answer was written"
        state = await client.threads.get_state(thread["thread_id"])
        messages = state["values"]["messages"]
        assert len(messages) == 2 * (turn + 1)
        assert {m["id"] for _, m in chunks} == {messages[-1]["id"]}
        assert messages[-1]["content"] == said(turn)
    history = [(m["type"], m["content"]) for m in messages]
    assert history == [(kind, said(t)) for t in range(20) for kind in ("human", "ai")]


def sse_events(lines: list[str]) -> list[tuple[str, dict[str, Any]]]:
    out: list[tuple[str, dict[str, Any]]] = []
    event, data = "", ""
    for line in lines:
        if line.startswith("event:"):
            event = line.split(":", 1)[1].strip()
        elif line.startswith("data:"):
            data += line.split(":", 1)[1].strip()
        elif not line and event:
            out.append((event, json.loads(data) if data else {}))
            event, data = "", ""
    return out


async def run_and_follow(
    served: GatewayProcess, text: str
) -> tuple[dict[str, Any], list[tuple[float, str, dict[str, Any]]]]:
    """Start a turn of ``talk`` and read its Runs API SSE as it comes."""
    loop = asyncio.get_running_loop()
    timed: list[tuple[float, str, dict[str, Any]]] = []
    async with httpx.AsyncClient(base_url=served.url, timeout=30) as http:
        started = await http.post(
            "/v1/workflows/default/talk/runs",
            json={"input": {"messages": [{"role": "user", "content": text}]}},
        )
        run_id = started.json()["id"]
        lines: list[str] = []
        async with http.stream("GET", f"/v1/runs/{run_id}/events") as response:
            async for line in response.aiter_lines():
                lines.append(line)
                if not line:
                    for event, data in sse_events(lines):
                        timed.append((loop.time(), event, data))
                    lines = []
        run = (await http.get(f"/v1/runs/{run_id}")).json()
    return run, timed


async def test_the_runs_api_sse_carries_an_agents_deltas(
    start_gateway: Callable[..., GatewayProcess],
    sqlite_url: str,
    agent: AgentProcess,
    tmp_path: Path,
) -> None:
    served = serve_talk(start_gateway, sqlite_url, agent, tmp_path)
    run, timed = await run_and_follow(served, said(7))
    assert run["status"] == "succeeded"
    deltas = [(t, d) for t, e, d in timed if e == "node.delta"]
    assert len(deltas) >= 3
    assert "".join(d["text"] for _, d in deltas) == said(7)
    reply = run["output"]["messages"][-1]
    assert {d["messageId"] for _, d in deltas} == {reply["id"]}
    finished = next(t for t, e, _ in timed if e == "node.finished")
    assert finished - deltas[0][0] > 0.02
    assert agent.tasks_done() == 1  # the agent ran it, and streamed it back


async def test_an_openai_protocol_stream_is_relayed_through_the_gateway(
    start_gateway: Callable[..., GatewayProcess],
    sqlite_url: str,
    tmp_path: Path,
) -> None:
    """The openai adapter reads the stub's stream (a chunk per 5 ms); the gateway (its agents
    in-process here) writes the pieces as node.delta events, read by a LangGraph client."""
    with OpenAICompatibleServer(token_delay=0.005) as stub:
        model = f"{{provider: openai, model: gpt-test, baseUrl: '{stub.base_url}'}}"
        served = start_gateway(
            sqlite_url,
            workflows=talk_folder(tmp_path / "wf", model),
            env={**FAST_DELTAS, "OPENAI_API_KEY": "stub-key"},
        )
        client = get_client(url=f"{served.url}/langgraph")
        parts = [
            part
            async for part in client.runs.stream(
                None,
                "default/talk",
                input={"messages": [{"role": "user", "content": said(3)}]},
                stream_mode="messages-tuple",
            )
        ]
        assert stub.requests and stub.requests[-1]["stream"] is True
    chunks = [p.data[0] for p in parts if p.event == "messages"]
    assert len(chunks) >= 3 and {c["type"] for c in chunks} == {"AIMessageChunk"}
    assert "".join(c["content"] for c in chunks) == said(3)
