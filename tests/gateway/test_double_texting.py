"""Double texting under two gateways on one Postgres: a second message sent to a thread while a
run of another gateway's is still answering the first, with each multitask strategy, through the
Runs API (``multitaskStrategy``) and the LangGraph API (langgraph-sdk's ``multitask_strategy``).

The workflow echoes the last user message after a delay, so the thread's messages say which runs
got to the thread and how far: ``0 0`` (a first turn) then, for a first message ``A`` sent and a
second ``B`` sent while ``A`` is being answered:
enqueue ``0 0 A A B B``; interrupt ``0 0 A B B`` (A stopped, its message kept); rollback
``0 0 B B`` (A erased); reject: 409 and ``0 0 A A``.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
from langgraph_sdk import get_client

from tests.gateway.conftest import GatewayProcess
from tests.operator_harness import eventually

pytestmark = pytest.mark.usefixtures("postgres_url")

ECHO = """
apiVersion: configurable-agents.io/v1alpha1
kind: Workflow
metadata: {name: echo, namespace: default}
spec:
  state: {messages: {type: messages}}
  input: [messages]
  output: [messages]
  models: {m: {provider: scripted, delay: 2s}}
  nodes:
    - {name: reply, type: llm, model: m, messages: messages, output: messages}
  edges:
    - {from: START, to: reply}
    - {from: reply, to: END}
"""
#: The thread's messages after a first turn "0", then "A" and "B" as each strategy treats them.
EXPECTED = {
    "enqueue": ["0", "0", "A", "A", "B", "B"],
    "interrupt": ["0", "0", "A", "B", "B"],
    "rollback": ["0", "0", "B", "B"],
}
#: What becomes of run A with each strategy (None: erased).
FIRST_ENDS = {"enqueue": "succeeded", "interrupt": "cancelled", "rollback": None}


def user(text: str) -> dict[str, Any]:
    return {"messages": [{"role": "user", "content": text}]}


@pytest.fixture
def two(
    start_gateway: Callable[..., GatewayProcess], postgres_url: str, tmp_path: Path
) -> tuple[GatewayProcess, GatewayProcess]:
    folder = tmp_path / "workflows"
    folder.mkdir()
    (folder / "echo.yaml").write_text(ECHO)
    return (
        start_gateway(postgres_url, workflows=folder),
        start_gateway(postgres_url, workflows=folder),
    )


def run_of(gw: GatewayProcess, run_id: str) -> dict[str, Any] | None:
    got = httpx.get(f"{gw.url}/v1/runs/{run_id}", timeout=10)
    if got.status_code == 404:
        return None
    got.raise_for_status()
    body: dict[str, Any] = got.json()
    return body


def settled(gw: GatewayProcess, run_id: str) -> dict[str, Any] | None:
    """The run once it finished (None once it is erased)."""
    found: list[dict[str, Any] | None] = []

    def done() -> bool:
        found[:] = [run_of(gw, run_id)]
        return found[0] is None or found[0]["status"] in ("succeeded", "failed", "cancelled")

    eventually(done, timeout=30)
    return found[0]


def answering(gw: GatewayProcess, run_id: str) -> None:
    """Wait until the run's model call has begun (its first step is under way)."""
    eventually(lambda: bool((run_of(gw, run_id) or {}).get("steps")), timeout=20)


def said(gw: GatewayProcess, thread_id: str) -> list[str]:
    values = httpx.get(f"{gw.url}/v1/threads/{thread_id}", timeout=10).json()["values"]
    return [m["content"] for m in values.get("messages", [])]


def runs_api_turn(gw: GatewayProcess, thread_id: str, text: str, strategy: str) -> httpx.Response:
    return httpx.post(
        f"{gw.url}/v1/workflows/default/echo/runs",
        json={"input": user(text), "threadId": thread_id, "multitaskStrategy": strategy},
        timeout=30,
    )


def at(text: str | None) -> datetime:
    assert text is not None
    return datetime.fromisoformat(text)


def check_outcome(
    gw: GatewayProcess, thread_id: str, strategy: str, first: str, second: str
) -> None:
    last = settled(gw, second)
    assert last is not None and last["status"] == "succeeded", last
    before = settled(gw, first)
    if FIRST_ENDS[strategy] is None:
        assert before is None  # rolled back: erased
        history = httpx.get(f"{gw.url}/v1/threads/{thread_id}/history?limit=100", timeout=10)
        assert first not in {s["runId"] for s in history.json()["items"]}
    else:
        assert before is not None and before["status"] == FIRST_ENDS[strategy], before
        # the second started only once the first could write no more
        assert at(last["startedAt"]) >= at(before["finishedAt"])
    assert said(gw, thread_id) == EXPECTED[strategy]


@pytest.mark.parametrize("strategy", ["enqueue", "interrupt", "rollback"])
def test_runs_api_strategies_under_two_gateways(
    two: tuple[GatewayProcess, GatewayProcess], strategy: str
) -> None:
    one, other = two
    thread_id = httpx.post(f"{one.url}/v1/threads", json={}, timeout=10).json()["id"]
    zero = runs_api_turn(one, thread_id, "0", "reject").json()["id"]
    settled(one, zero)
    first = runs_api_turn(one, thread_id, "A", "reject").json()["id"]
    answering(one, first)
    sent = runs_api_turn(other, thread_id, "B", strategy)
    assert sent.status_code == 202, sent.text
    second = sent.json()["id"]
    if strategy == "enqueue":
        assert sent.json()["status"] == "queued"
        time.sleep(0.5)
        assert run_of(other, second)["status"] == "queued"  # type: ignore[index]
    check_outcome(one, thread_id, strategy, first, second)


def test_runs_api_rejects_by_default_naming_the_active_run(
    two: tuple[GatewayProcess, GatewayProcess],
) -> None:
    one, other = two
    thread_id = httpx.post(f"{one.url}/v1/threads", json={}, timeout=10).json()["id"]
    first = runs_api_turn(one, thread_id, "A", "reject").json()["id"]
    refused = httpx.post(
        f"{other.url}/v1/workflows/default/echo/runs",
        json={"input": user("B"), "threadId": thread_id},
        timeout=30,
    )
    assert refused.status_code == 409, refused.text
    assert refused.json()["error"]["details"] == {"thread": thread_id, "activeRun": first}
    bad = runs_api_turn(other, thread_id, "B", "later")
    assert bad.status_code == 422 and "multitaskStrategy" in bad.text
    assert settled(one, first)["status"] == "succeeded"  # type: ignore[index]
    assert said(one, thread_id) == ["A", "A"]


async def langgraph_scenario(
    one: GatewayProcess, other: GatewayProcess, strategy: str | None
) -> tuple[str, str, str]:
    """A first turn, A on one gateway and B on the other with ``strategy`` (None: the SDK's
    default); the thread and the two runs."""
    first_client = get_client(url=f"{one.url}/langgraph")
    second_client = get_client(url=f"{other.url}/langgraph")
    thread = await first_client.threads.create()
    thread_id = thread["thread_id"]
    zero = await first_client.runs.create(thread_id, "default/echo", input=user("0"))
    await first_client.runs.join(thread_id, zero["run_id"])
    first = await first_client.runs.create(thread_id, "default/echo", input=user("A"))
    await asyncio.to_thread(answering, one, first["run_id"])
    extra = {} if strategy is None else {"multitask_strategy": strategy}
    second = await second_client.runs.create(
        thread_id,
        "default/echo",
        input=user("B"),
        **extra,  # type: ignore[arg-type]
    )
    assert second["status"] == "pending"
    joined = await second_client.runs.join(thread_id, second["run_id"])
    assert [m["content"] for m in joined["messages"]] == EXPECTED[strategy or "enqueue"]
    state = await first_client.threads.get_state(thread_id)
    assert [m["content"] for m in state["values"]["messages"]] == EXPECTED[strategy or "enqueue"]
    return thread_id, first["run_id"], second["run_id"]


@pytest.mark.parametrize("strategy", ["enqueue", "interrupt", "rollback", None])
def test_langgraph_api_strategies_under_two_gateways(
    two: tuple[GatewayProcess, GatewayProcess], strategy: str | None
) -> None:
    one, other = two
    thread_id, first, second = asyncio.run(langgraph_scenario(one, other, strategy))
    check_outcome(one, thread_id, strategy or "enqueue", first, second)


def test_langgraph_api_reject_and_cancel_with_rollback(
    two: tuple[GatewayProcess, GatewayProcess],
) -> None:
    one, other = two

    async def scenario() -> None:
        client = get_client(url=f"{one.url}/langgraph")
        elsewhere = get_client(url=f"{other.url}/langgraph")
        thread_id = (await client.threads.create())["thread_id"]
        zero = await client.runs.create(thread_id, "default/echo", input=user("0"))
        await client.runs.join(thread_id, zero["run_id"])
        first = await client.runs.create(thread_id, "default/echo", input=user("A"))
        with pytest.raises(Exception) as refused:
            await elsewhere.runs.create(
                thread_id, "default/echo", input=user("B"), multitask_strategy="reject"
            )
        assert getattr(refused.value, "status_code", None) == 409 or "409" in str(refused.value)
        await asyncio.to_thread(answering, one, first["run_id"])
        await elsewhere.runs.cancel(thread_id, first["run_id"], action="rollback")
        assert await asyncio.to_thread(run_of, one, first["run_id"]) is None
        assert (await client.threads.get(thread_id))["status"] == "idle"
        state = await client.threads.get_state(thread_id)
        assert [m["content"] for m in state["values"]["messages"]] == ["0", "0"]
        again = await client.runs.create(thread_id, "default/echo", input=user("C"))
        joined = await client.runs.join(thread_id, again["run_id"])
        assert [m["content"] for m in joined["messages"]] == ["0", "0", "C", "C"]

    asyncio.run(scenario())


def test_langgraph_stream_of_an_enqueued_run_shows_the_state_it_starts_from(
    two: tuple[GatewayProcess, GatewayProcess],
) -> None:
    one, other = two

    async def scenario() -> list[list[str]]:
        client = get_client(url=f"{one.url}/langgraph")
        thread_id = (await client.threads.create())["thread_id"]
        first = await client.runs.create(thread_id, "default/echo", input=user("A"))
        await asyncio.to_thread(answering, one, first["run_id"])
        shown = []
        async for part in get_client(url=f"{other.url}/langgraph").runs.stream(
            thread_id, "default/echo", input=user("B"), stream_mode="values"
        ):
            if part.event == "values":
                shown.append([m["content"] for m in part.data["messages"]])
        return shown

    shown = asyncio.run(scenario())
    # from A's answer on, not from the thread as it was when B was sent
    assert shown == [["A", "A", "B"], ["A", "A", "B", "B"]]
