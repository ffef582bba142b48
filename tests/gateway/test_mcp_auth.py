"""MCP under real authentication and RBAC: a caller's tool list holds only the Workflows whose
runs it may create; another tenant's Workflow is an unknown tool, a viewer sees no tools, and a
bad token is a 401 before any MCP is spoken; with real tokens from the test control plane."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import httpx2
import pytest
from mcp import Client
from mcp.client.streamable_http import streamable_http_client
from mcp.shared.exceptions import MCPError
from mcp_types import INVALID_PARAMS

from tests.gateway.auth_harness import Tenants, kube_auth_gateway, tenants_in
from tests.gateway.conftest import GatewayProcess

pytestmark = [pytest.mark.cluster, pytest.mark.slow]


@pytest.fixture(scope="module")
def tenants(control_plane: Any, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Tenants]:
    with tenants_in(control_plane, tmp_path_factory.mktemp("mcp-auth")) as made:
        yield made


@pytest.fixture(scope="module")
def served(tenants: Tenants) -> Iterator[GatewayProcess]:
    with kube_auth_gateway(tenants) as started:
        yield started


def as_caller(served: GatewayProcess, token: str) -> Client:
    http = httpx2.AsyncClient(headers={"Authorization": f"Bearer {token}"})
    return Client(streamable_http_client(f"{served.url}/mcp", http_client=http))


async def tool_names(served: GatewayProcess, token: str) -> list[str]:
    async with as_caller(served, token) as client:
        return [t.name for t in (await client.list_tools()).tools]


async def test_tools_are_each_tenants_own(tenants: Tenants, served: GatewayProcess) -> None:
    mine, theirs = f"{tenants.a}.approve", f"{tenants.b}.approve"
    assert await tool_names(served, tenants.tokens["runner-a"]) == [mine, "resume_run"]
    assert await tool_names(served, tenants.tokens["runner-b"]) == [theirs, "resume_run"]
    assert await tool_names(served, tenants.tokens["viewer-a"]) == []  # reads runs, starts none
    async with as_caller(served, tenants.tokens["runner-a"]) as client:
        waiting = await client.call_tool(mine, {"topic": "x"})
    assert isinstance(waiting.structured_content, dict)
    run_id = waiting.structured_content["runId"]
    async with as_caller(served, tenants.tokens["runner-b"]) as intruder:
        with pytest.raises(MCPError) as hidden:
            await intruder.call_tool(mine, {"topic": "x"})
        with pytest.raises(MCPError) as not_theirs:
            await intruder.call_tool("resume_run", {"run_id": run_id, "input": {"approved": True}})
    assert hidden.value.code == INVALID_PARAMS
    assert hidden.value.message == f"Unknown tool: {mine}"  # as if there were none
    assert not_theirs.value.data["details"] == [{"field": "run_id", "message": "no such run"}]
    async with as_caller(served, tenants.tokens["viewer-a"]) as viewer:
        with pytest.raises(MCPError) as forbidden:
            await viewer.call_tool(mine, {"topic": "x"})
    assert forbidden.value.data["code"] == "forbidden"
    admin = {"Authorization": f"Bearer {tenants.tokens['admin']}"}
    async with httpx.AsyncClient(base_url=served.url, headers=admin) as http:
        run = (await http.get(f"/v1/runs/{run_id}")).json()
        runs = (await http.get("/v1/runs")).json()["items"]
    assert run["status"] == "interrupted"  # nobody else answered it
    assert [r["createdBy"]["username"] for r in runs] == [
        f"system:serviceaccount:{tenants.a}:runner-a"
    ]  # the intruder and the viewer started nothing


async def test_a_bad_token_is_refused_before_mcp(served: GatewayProcess) -> None:
    async with httpx.AsyncClient(base_url=served.url) as http:
        answer = await http.post(
            "/mcp",
            json={"jsonrpc": "2.0", "id": 1, "method": "tools/list"},
            headers={
                "Authorization": "Bearer not-a-token",
                "Accept": "application/json, text/event-stream",
            },
        )
    assert answer.status_code == 401
    assert answer.headers["WWW-Authenticate"].startswith("Bearer")
    with pytest.raises(ExceptionGroup) as refused:  # the client's task group, around its error
        await tool_names(served, "not-a-token")
    assert refused.group_contains(MCPError, match="error response")
