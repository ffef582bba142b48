"""Model tokens streamed end to end in the engine: ``node.delta`` events, batched in time, named
for the message the node appends, never checkpointed, and refused once the lease is lost."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import pytest

from agent_runtime.engine import Engine, LocalDispatcher
from agent_runtime.engine.deltas import DeltaWriter
from agent_runtime.engine.errors import RunError
from agent_runtime.executors import TaskDelta
from agent_runtime.stores import RunEvent, RunStore, open_store
from tests.engine.conftest import workflow

WORDS = 40
ANSWER = " ".join(f"word{i}" for i in range(WORDS))


def chat(delay: str) -> Any:
    return workflow(
        f"""
state:
  messages: {{type: messages, reducer: append}}
input: [messages]
output: [messages]
models: {{default: {{provider: scripted, delay: {delay}, responses: ["{ANSWER}"]}}}}
nodes:
  - {{name: chat, type: llm, messages: messages, output: messages}}
edges: [{{from: START, to: chat}}, {{from: chat, to: END}}]
"""
    )


HELLO = {"messages": [{"role": "user", "content": "hello"}]}


@pytest.fixture
async def dispatcher() -> AsyncIterator[LocalDispatcher]:
    d = LocalDispatcher()
    yield d
    await d.aclose()


async def checkpoints(store: RunStore, run_id: str) -> int:
    config: Any = {"configurable": {"thread_id": run_id}}
    return len([c async for c in store.checkpointer().alist(config)])


async def test_an_answer_streams_in_batches_named_for_the_reply(
    store: RunStore, dispatcher: LocalDispatcher
) -> None:
    engine = Engine(store, dispatcher, delta_interval=0.1)
    record = await engine.create_run(chat("0.6s"), HELLO)
    heard: list[tuple[float, RunEvent]] = []
    loop = asyncio.get_running_loop()
    done = await engine.execute(record.id, listeners=[lambda e: heard.append((loop.time(), e))])
    assert done.status == "succeeded", done.error
    reply = done.output["messages"][-1]
    assert reply["role"] == "assistant" and reply["content"] == ANSWER

    deltas = [e for e in await store.list_events(record.id) if e.type == "node.delta"]
    assert "".join(e.data["text"] for e in deltas) == ANSWER
    assert {e.data["messageId"] for e in deltas} == {reply["id"]}
    assert {(e.data["node"], e.data["visit"], e.data["attempt"]) for e in deltas} == {
        ("chat", 0, 1)
    }
    # 40 words over 0.6s at one event per 0.1s: a handful of writes, not one per word
    assert 3 <= len(deltas) <= 12, [e.data["text"] for e in deltas]
    # the text came as it was written: the first piece long before the node finished
    times = {e.type: t for t, e in reversed(heard)}
    first_delta = next(t for t, e in heard if e.type == "node.delta")
    assert times["node.finished"] - first_delta > 0.3
    kinds = [e.type for e in await store.list_events(record.id)]
    assert kinds.index("node.started") < kinds.index("node.delta")
    assert len(kinds) - kinds[::-1].index("node.delta") - 1 < kinds.index("node.finished")

    # a step is still checkpointed once: as many checkpoints as without streaming
    plain = Engine(store, dispatcher, delta_interval=None)
    unstreamed = await plain.create_run(chat("0.6s"), HELLO)
    again = (await plain.execute(unstreamed.id)).output["messages"]
    assert [(m["role"], m["content"]) for m in again] == [("user", "hello"), ("assistant", ANSWER)]
    assert not [e for e in await store.list_events(unstreamed.id) if e.type == "node.delta"]
    assert await checkpoints(store, record.id) == await checkpoints(store, unstreamed.id)


async def test_an_answer_that_came_whole_is_not_streamed_again(
    store: RunStore, dispatcher: LocalDispatcher
) -> None:
    """Every piece came before the first write could start: node.finished carries it whole."""
    engine = Engine(store, dispatcher, delta_interval=0.1)
    record = await engine.create_run(chat("0s"), HELLO)
    done = await engine.execute(record.id)
    assert done.output["messages"][-1]["content"] == ANSWER
    assert "node.delta" not in [e.type for e in await store.list_events(record.id)]


async def test_the_writer_batches_pieces_and_raises_a_refused_write() -> None:
    written: list[tuple[int, str]] = []
    refuse = False

    async def write(message: int, text: str) -> None:
        if refuse:
            raise RuntimeError("refused")
        await asyncio.sleep(0.001)
        written.append((message, text))

    writer = DeltaWriter(write, interval=0.05)
    for i in range(30):
        await writer.add(TaskDelta(text=f"{i} ", message=0 if i < 20 else 2))
        await asyncio.sleep(0.005)
    await writer.close()
    assert "".join(t for m, t in written if m == 0) == "".join(f"{i} " for i in range(20))
    assert "".join(t for m, t in written if m == 2) == "".join(f"{i} " for i in range(20, 30))
    assert 3 <= len(written) <= 10, written  # 150 ms of pieces, a write per 50 ms (and per message)

    refuse = True
    failing = DeltaWriter(write, interval=0.05)
    await failing.add(TaskDelta(text="a"))
    await asyncio.sleep(0.01)  # the first piece's write runs, and is refused
    with pytest.raises(RuntimeError, match="refused"):
        await failing.add(TaskDelta(text="b"))
    with pytest.raises(RuntimeError, match="refused"):
        await failing.close()


async def test_a_delta_after_the_lease_was_taken_over_is_refused(
    store: RunStore, store_url: str, dispatcher: LocalDispatcher
) -> None:
    """The first piece is written; then the lease runs out and another replica takes the run:
    the next piece's write is refused, and nothing more of the node is written."""
    engine = Engine(store, dispatcher, delta_interval=0.05, owner="replica-old/1")
    record = await engine.create_run(chat("1.5s"), HELLO)
    async with open_store(store_url) as other:

        async def take_over(event: RunEvent) -> None:
            if event.type == "node.delta" and event.seq and not taken.is_set():
                taken.set()
                assert await store.renew_lease(record.id, owner="replica-old/1", ttl=0.2)
                await asyncio.sleep(0.3)
                claimed = await other.claim_run(owner="replica-new/2", ttl=30)
                assert claimed is not None and claimed.id == record.id

        taken = asyncio.Event()
        with pytest.raises(RunError) as caught:
            await engine.execute(record.id, listeners=[take_over])
        assert caught.value.code == "lease_lost"
    kinds = [e.type for e in await store.list_events(record.id)]
    assert kinds.count("node.delta") == 1, kinds
    assert "node.finished" not in kinds
