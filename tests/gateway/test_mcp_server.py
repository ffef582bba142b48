"""MCP at /mcp through the real ``mcp`` client over Streamable HTTP against a ``serve`` process:
each Workflow a tool with its fields' schemas, a call with a progress notification per step,
cancellation, a human node answered by elicitation (on the 2026-07-28 protocol and on the
session protocol before it) or through ``resume_run``, and bad arguments named."""

from __future__ import annotations

import asyncio
import contextlib
import signal
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import mcp_types as types
import pytest
from mcp import Client
from mcp.client.context import ClientRequestContext
from mcp.shared.exceptions import MCPError
from mcp_types import INVALID_PARAMS
from mcp_types.version import MODERN_PROTOCOL_VERSIONS

from tests.gateway.conftest import GatewayProcess, protocol_folder

LINEAR = "default.linear-chain"
APPROVAL = "default.human-approval"


@pytest.fixture
def gateway(
    start_gateway: Callable[..., GatewayProcess], sqlite_url: str, tmp_path: Path
) -> GatewayProcess:
    return start_gateway(sqlite_url, workflows=protocol_folder(tmp_path / "workflows"))


def mcp_url(gateway: GatewayProcess) -> str:
    return f"{gateway.url}/mcp"


async def run_of(gateway: GatewayProcess, run_id: str) -> dict[str, Any]:
    async with httpx.AsyncClient(base_url=gateway.url) as http:
        answer: dict[str, Any] = (await http.get(f"/v1/runs/{run_id}")).json()
    return answer


async def runs_of(gateway: GatewayProcess) -> list[dict[str, Any]]:
    async with httpx.AsyncClient(base_url=gateway.url) as http:
        runs: list[dict[str, Any]] = (await http.get("/v1/runs")).json()["items"]
    return runs


async def test_each_workflow_is_a_tool_with_its_fields_schemas(gateway: GatewayProcess) -> None:
    async with Client(mcp_url(gateway)) as client:
        tools = {t.name: t for t in (await client.list_tools()).tools}
    assert sorted(tools) == [APPROVAL, LINEAR, "default.pay", "default.slow", "resume_run"]
    chain = tools[LINEAR]
    assert chain.description == "Research a topic, then write a short brief from the notes"
    assert chain.input_schema == {
        "type": "object",
        "properties": {"topic": {"type": "string"}},
        "required": ["topic"],
        "additionalProperties": False,
    }
    assert chain.output_schema == {
        "type": "object",
        "properties": {
            "draft": {"type": "string"},
            "sources": {"type": "array", "items": {"type": "string"}},
        },
    }
    assert tools["resume_run"].input_schema["required"] == ["run_id", "input"]


@pytest.mark.parametrize("mode", ["auto", "legacy"])
async def test_a_call_runs_the_workflow_and_reports_each_step(
    gateway: GatewayProcess, mode: Any
) -> None:
    reported: list[tuple[float, str | None]] = []

    async def on_progress(progress: float, total: float | None, message: str | None) -> None:
        reported.append((progress, message))

    async with Client(mcp_url(gateway), mode=mode) as client:
        result = await client.call_tool(LINEAR, {"topic": "leases"}, progress_callback=on_progress)
    assert not result.is_error
    assert result.structured_content == {
        "draft": "Brief: durable agents checkpoint every step, so a run survives any crash.",
        "sources": ["https://example.org/durable-execution"],
    }
    assert reported == [(1, "research finished"), (2, "write finished")]


@pytest.mark.parametrize("mode", ["auto", "legacy"])
async def test_cancelling_the_call_cancels_the_run(gateway: GatewayProcess, mode: Any) -> None:
    async with Client(mcp_url(gateway), mode=mode) as client:
        call = asyncio.create_task(client.call_tool("default.slow", {"topic": "x"}))
        runs: list[dict[str, Any]] = []
        for _ in range(100):
            runs = await runs_of(gateway)
            if runs and runs[0]["status"] == "running":
                break
            await asyncio.sleep(0.1)
        assert runs and runs[0]["status"] == "running", runs
        call.cancel()
        with pytest.raises(asyncio.CancelledError):
            await call
        for _ in range(100):
            if (await run_of(gateway, runs[0]["id"]))["status"] == "cancelled":
                break
            await asyncio.sleep(0.1)
    cancelled = await run_of(gateway, runs[0]["id"])
    assert cancelled["status"] == "cancelled"
    assert cancelled["cancelledBy"]["username"] == "system:anonymous"  # by the call's caller


async def running_run(gateway: GatewayProcess) -> dict[str, Any]:
    for _ in range(100):
        runs = await runs_of(gateway)
        if runs and runs[0]["status"] == "running":
            return runs[0]
        await asyncio.sleep(0.1)
    raise AssertionError(f"no run is running: {runs}")


@pytest.mark.slow  # the gateway gives waiting clients 15 s before it cuts them off
@pytest.mark.parametrize("mode", ["auto", "legacy"])
async def test_a_gateway_stopping_leaves_the_run_of_a_call_to_go_on(
    gateway: GatewayProcess,
    start_gateway: Callable[..., GatewayProcess],
    sqlite_url: str,
    tmp_path: Path,
    mode: Any,
) -> None:
    async with Client(mcp_url(gateway), mode=mode) as client:
        call = asyncio.create_task(client.call_tool("default.slow", {"topic": "x"}))
        run = await running_run(gateway)
        await asyncio.to_thread(gateway.kill, signal.SIGTERM)  # the call is cut short
        call.cancel()
        with contextlib.suppress(BaseException):
            await call
    after = start_gateway(sqlite_url, workflows=tmp_path / "workflows")
    left = await run_of(after, run["id"])
    assert left["status"] in ("running", "queued"), left  # not cancelled: this one takes it over
    assert left.get("cancelledBy") is None


def approving(seen: list[str]) -> Callable[..., Any]:
    async def elicit(
        _: ClientRequestContext, params: types.ElicitRequestParams
    ) -> types.ElicitResult:
        assert isinstance(params, types.ElicitRequestFormParams)
        seen.append(params.message)
        assert params.requested_schema["properties"] == {
            "approved": {"type": "boolean"},
            "feedback": {"type": "string"},
        }
        return types.ElicitResult(action="accept", content={"approved": True, "feedback": "ok"})

    return elicit


@pytest.mark.parametrize("mode", ["auto", "legacy"])
async def test_a_human_node_is_answered_by_elicitation(gateway: GatewayProcess, mode: Any) -> None:
    seen: list[str] = []
    async with Client(mcp_url(gateway), mode=mode, elicitation_callback=approving(seen)) as client:
        # auto: the 2026-07-28 protocol (InputRequiredResult); legacy: elicitation/create
        assert (client.protocol_version in MODERN_PROTOCOL_VERSIONS) == (mode == "auto")
        result = await client.call_tool(APPROVAL, {"topic": "leases"})
    assert seen == [
        "Approve this brief? Leases let another gateway take over a run whose owner died."
    ]
    assert not result.is_error, result
    assert result.structured_content == {
        "draft": "Leases let another gateway take over a run whose owner died.",
        "approved": True,
        "published": "PUBLISHED: Leases let another gateway take over a run whose owner died.",
    }


async def test_without_elicitation_the_call_returns_the_interrupt_and_resume_goes_on(
    gateway: GatewayProcess,
) -> None:
    async with Client(mcp_url(gateway)) as client:
        waiting = await client.call_tool(APPROVAL, {"topic": "leases"})
        assert not waiting.is_error
        asked = waiting.structured_content
        assert isinstance(asked, dict) and asked["status"] == "interrupted"
        assert asked["interrupt"]["node"] == "review"
        assert asked["interrupt"]["fields"] == {
            "approved": {"type": "boolean"},
            "feedback": {"type": "string"},
        }
        run_id = asked["runId"]
        assert (await run_of(gateway, run_id))["status"] == "interrupted"
        with pytest.raises(MCPError) as bad:
            await client.call_tool("resume_run", {"run_id": run_id, "input": {"approved": "yes"}})
        assert bad.value.code == INVALID_PARAMS
        assert bad.value.data["details"][0]["field"] == "input.approved"
        done = await client.call_tool(
            "resume_run", {"run_id": run_id, "input": {"approved": True, "feedback": "ok"}}
        )
    assert not done.is_error, done
    assert isinstance(done.structured_content, dict)
    assert done.structured_content["approved"] is True
    assert (await run_of(gateway, run_id))["status"] == "succeeded"


async def test_bad_arguments_and_unknown_tools_are_mcp_errors_naming_the_field(
    gateway: GatewayProcess,
) -> None:
    async with Client(mcp_url(gateway)) as client:
        with pytest.raises(MCPError) as missing:
            await client.call_tool(LINEAR, {})
        with pytest.raises(MCPError) as wrong_type:
            await client.call_tool(LINEAR, {"topic": 7})
        with pytest.raises(MCPError) as unstorable:
            await client.call_tool(LINEAR, {"topic": "a\x00b"})  # no store keeps NUL
        with pytest.raises(MCPError) as unknown:
            await client.call_tool("default.no-such", {"topic": "x"})
        with pytest.raises(MCPError) as no_run:
            await client.call_tool("resume_run", {"run_id": "nope", "input": {}})
    assert missing.value.code == INVALID_PARAMS
    assert missing.value.data["details"] == [{"field": "topic", "message": "required"}]
    assert wrong_type.value.code == INVALID_PARAMS
    assert wrong_type.value.data["details"][0]["field"] == "topic"
    assert unstorable.value.data["details"] == [
        {"field": "topic", "message": "holds a NUL character (U+0000)"}
    ]
    assert unknown.value.code == INVALID_PARAMS
    assert unknown.value.message == "Unknown tool: default.no-such"
    assert no_run.value.data["details"] == [{"field": "run_id", "message": "no such run"}]


async def test_an_approval_is_elicited_as_yes_or_no(gateway: GatewayProcess) -> None:
    asked: list[types.ElicitRequestFormParams] = []

    async def deny(
        context: ClientRequestContext, params: types.ElicitRequestParams
    ) -> types.ElicitResult:
        assert isinstance(params, types.ElicitRequestFormParams)
        asked.append(params)
        return types.ElicitResult(action="accept", content={"approved": False, "reason": "no"})

    async with Client(mcp_url(gateway), elicitation_callback=deny) as client:
        result = await client.call_tool("default.pay", {})
    assert [a.requested_schema["required"] for a in asked] == [["approved"]]
    assert "charge" in asked[0].message
    assert not result.is_error, result
    assert isinstance(result.structured_content, dict)
    assert "a person denied this call of 'charge': no" in result.structured_content["out"]


async def test_a_declined_form_leaves_the_run_waiting_for_resume_run(
    gateway: GatewayProcess,
) -> None:
    async def decline(
        context: ClientRequestContext, params: types.ElicitRequestParams
    ) -> types.ElicitResult:
        return types.ElicitResult(action="decline")

    async with Client(mcp_url(gateway), elicitation_callback=decline) as client:
        waiting = await client.call_tool("default.pay", {})
        asked = waiting.structured_content
        assert isinstance(asked, dict) and asked["interrupt"]["kind"] == "approval"
        with pytest.raises(MCPError) as bad:
            await client.call_tool("resume_run", {"run_id": asked["runId"], "input": {}})
        assert bad.value.data["details"] == [
            {"field": "input.approved", "message": "Field required"}
        ]
        done = await client.call_tool(
            "resume_run", {"run_id": asked["runId"], "input": {"approved": True}}
        )
    assert not done.is_error, done
    run = await run_of(gateway, asked["runId"])
    assert run["status"] == "succeeded"
    assert [a["approved"] for a in run["approvals"]] == [True]
