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
