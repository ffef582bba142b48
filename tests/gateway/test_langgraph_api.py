"""The LangGraph server API at /langgraph, driven by the real clients: ``langgraph_sdk`` and
``RemoteGraph`` as a node of a local LangGraph graph, against a gateway on Postgres."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypedDict

import httpx
import pytest
from langgraph.graph import END, START, StateGraph
from langgraph.pregel.remote import RemoteGraph
from langgraph_sdk import get_client

from tests.gateway.conftest import GatewayProcess

pytestmark = pytest.mark.usefixtures("postgres_url")


@pytest.fixture
def served(start_gateway: Callable[..., GatewayProcess], postgres_url: str) -> GatewayProcess:
    return start_gateway(postgres_url)


def api(gateway: GatewayProcess) -> Any:
    return get_client(url=f"{gateway.url}/langgraph")


async def test_every_workflow_is_an_assistant_found_by_id_graph_id_or_name(
    served: GatewayProcess,
) -> None:
    client = api(served)
    found = await client.assistants.search(limit=100)
    graphs = {a["graph_id"] for a in found}
    assert "default/linear-chain" in graphs and "default/human-approval" in graphs
    chain = next(a for a in found if a["graph_id"] == "default/linear-chain")
    for key in (chain["assistant_id"], "default/linear-chain", "linear-chain"):
        assert (await client.assistants.get(key))["assistant_id"] == chain["assistant_id"]
    assert await client.assistants.count(graph_id="default/linear-chain") == 1
    schemas = await client.assistants.get_schemas(chain["assistant_id"])
    assert schemas["input_schema"]["required"] == ["topic"]
    assert set(schemas["output_schema"]["properties"]) == {"draft", "sources"}
    graph = await client.assistants.get_graph("linear-chain")
    edges = {(e["source"], e["target"]) for e in graph["edges"]}
    assert edges == {("__start__", "research"), ("research", "write"), ("write", "__end__")}
    with pytest.raises(httpx.HTTPStatusError) as missing:
        await client.assistants.get("default/no-such-workflow")
    assert missing.value.response.status_code == 404


async def test_a_stateless_run_streams_values_and_updates_then_waits(
    served: GatewayProcess,
) -> None:
    client = api(served)
    parts = [
        part
        async for part in client.runs.stream(
            None, "linear-chain", input={"topic": "leases"}, stream_mode=["values", "updates"]
        )
    ]
    kinds = [p.event for p in parts]
    assert kinds[0] == "metadata" and kinds[-1] == "end"
    assert kinds[1:-1] == ["values", "updates", "values", "updates", "values"]
    assert parts[1].data["topic"] == "leases" and parts[1].data["draft"] == ""
    assert set(parts[2].data) == {"research"} and set(parts[4].data) == {"write"}
    assert parts[-2].data["draft"].startswith("Brief:")
    assert parts[-2].data["sources"] == ["https://example.org/durable-execution"]
    run_id = parts[0].data["run_id"]
    async with httpx.AsyncClient(base_url=served.url) as plain:
        shown = (await plain.get(f"/v1/runs/{run_id}")).json()
    assert shown["status"] == "succeeded"  # the same run, on the Runs API

    final = await client.runs.wait(None, "linear-chain", input={"topic": "again"})
    assert final["topic"] == "again" and final["draft"].startswith("Brief:")


async def test_bad_input_and_unsupported_options_are_422_naming_the_field(
    served: GatewayProcess,
) -> None:
    client = api(served)
    with pytest.raises(httpx.HTTPStatusError) as bad:
        await client.runs.wait(None, "linear-chain", input={"topic": 3})
    assert bad.value.response.status_code == 422
    assert bad.value.response.json()["error"]["details"][0]["field"] == "input.topic"
    with pytest.raises(httpx.HTTPStatusError) as unsupported:
        await client.runs.create(
            None, "linear-chain", input={"topic": "x"}, interrupt_before=["write"]
        )
    assert unsupported.value.response.status_code == 422
    assert "interrupt_before" in unsupported.value.response.text


class Outer(TypedDict, total=False):
    topic: str
    draft: str
    sources: list[str]
    checked: bool


async def test_a_deployed_workflow_is_a_node_of_a_local_graph_through_remote_graph(
    served: GatewayProcess,
) -> None:
    remote = RemoteGraph("default/linear-chain", url=f"{served.url}/langgraph")
    graph = StateGraph(Outer)
    graph.add_node("brief", remote)
    graph.add_node("check", lambda state: {"checked": state["draft"].startswith("Brief:")})
    graph.add_edge(START, "brief")
    graph.add_edge("brief", "check")
    graph.add_edge("check", END)
    app = graph.compile()
    out = await app.ainvoke({"topic": "remote graphs"})
    assert out["checked"] is True and out["sources"]

    chunks = [c async for c in remote.astream({"topic": "x"}, stream_mode="updates")]
    assert [set(c) for c in chunks] == [{"research"}, {"write"}]


def chat_input(text: str) -> dict[str, Any]:
    return {"messages": [{"role": "user", "content": text}]}


async def test_a_conversation_on_a_thread_carries_its_messages_and_history(
    served: GatewayProcess,
) -> None:
    client = api(served)
    thread = await client.threads.create(metadata={"user": "ann"})
    tid = thread["thread_id"]
    assert thread["status"] == "idle" and thread["values"] is None
    for turn in range(3):
        parts = [
            p
            async for p in client.runs.stream(
                tid, "chat", input=chat_input(f"turn {turn}"), stream_mode="messages-tuple"
            )
        ]
        said = [p.data[0] for p in parts if p.event == "messages"]
        assert said and said[-1]["type"] == "ai" and said[-1]["content"]
        assert parts[-1].event == "end"
    state = await client.threads.get_state(tid)
    kinds = [m["type"] for m in state["values"]["messages"]]
    assert kinds.count("human") == 3 and kinds[0] == "human" and kinds[-1] == "ai"
    assert state["next"] == [] and state["checkpoint"]["checkpoint_id"]
    history = await client.threads.get_history(tid, limit=4)
    assert len(history) == 4
    older = await client.threads.get_history(tid, limit=2, before=history[1]["checkpoint"])
    assert older[0]["checkpoint"] == history[2]["checkpoint"]
    runs = await client.runs.list(tid)
    assert len(runs) == 3 and {r["status"] for r in runs} == {"success"}
    assert (await client.runs.get(tid, runs[0]["run_id"]))["thread_id"] == tid
    joined = await client.runs.join(tid, runs[0]["run_id"])
    assert joined["messages"][-1]["type"] == "ai"
    # joined after its end: nothing more to send; from an event on: what followed it
    rejoined = [p async for p in client.runs.join_stream(tid, runs[0]["run_id"])]
    assert [p.event for p in rejoined] == ["metadata", "end"]
    replayed = [
        p
        async for p in client.runs.join_stream(
            tid, runs[0]["run_id"], stream_mode="updates", last_event_id="1"
        )
    ]
    assert [p.event for p in replayed if p.event == "updates"] == ["updates"]
    assert [t["thread_id"] for t in await client.threads.search(metadata={"user": "ann"})] == [tid]
    assert await client.threads.count(metadata={"user": "ann"}) == 1
    await client.threads.update(tid, metadata={"topic": "tests"})
    assert (await client.threads.get(tid))["metadata"]["topic"] == "tests"
    await client.threads.update_state(tid, {"messages": [{"role": "user", "content": "hint"}]})
    grown = (await client.threads.get_state(tid))["values"]["messages"]
    assert len(grown) == len(state["values"]["messages"]) + 1 and grown[-1]["content"] == "hint"
    copied = await client.threads.copy(tid)
    assert len(copied["values"]["messages"]) == len(grown)
    await client.threads.delete(copied["thread_id"])
    with pytest.raises(httpx.HTTPStatusError) as gone:
        await client.threads.get(copied["thread_id"])
    assert gone.value.response.status_code == 404
    assert len((await client.threads.get_state(tid))["values"]["messages"]) == len(grown)


async def test_an_interrupt_is_answered_with_command_resume(served: GatewayProcess) -> None:
    client = api(served)
    tid = (await client.threads.create())["thread_id"]
    waiting = await client.runs.wait(tid, "human-approval", input={"topic": "leases"})
    (interrupt,) = waiting["__interrupt__"]
    assert interrupt["value"]["node"] == "review" and waiting["draft"]
    thread = await client.threads.get(tid)
    assert thread["status"] == "interrupted" and list(thread["interrupts"].values()) == [
        [interrupt]
    ]
    state = await client.threads.get_state(tid)
    assert state["next"] == ["review"] and state["tasks"][0]["interrupts"] == [interrupt]
    with pytest.raises(httpx.HTTPStatusError) as busy:
        await client.runs.create(
            tid, "human-approval", input={"topic": "again"}, multitask_strategy="reject"
        )
    assert busy.value.response.status_code == 409
    parts = [
        p
        async for p in client.runs.stream(
            tid,
            "human-approval",
            command={"resume": {"approved": True, "feedback": "ok"}},
            stream_mode="updates",
        )
    ]
    assert [list(p.data) for p in parts if p.event == "updates"] == [["review"], ["publish"]]
    assert (await client.threads.get(tid))["status"] == "idle"
    assert (await client.threads.get_state(tid))["values"]["published"].startswith("PUBLISHED")


async def test_remote_graph_keeps_a_conversation_on_a_thread_it_creates(
    served: GatewayProcess,
) -> None:
    remote = RemoteGraph("default/chat", url=f"{served.url}/langgraph")
    config = {"configurable": {"thread_id": "remote-conversation"}}
    first = await remote.ainvoke(chat_input("hello"), config)
    second = await remote.ainvoke(chat_input("and again"), config)
    assert len(second["messages"]) > len(first["messages"])
    snapshot = await remote.aget_state(config)
    assert snapshot.values["messages"] == second["messages"]
    assert [s.values async for s in remote.aget_state_history(config, limit=2)]
