"""McpTool against a real MCP server (mcp_server.py) in a subprocess, over Streamable HTTP."""

from __future__ import annotations

import asyncio
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from agent_runtime.policy import ToolPolicy
from agent_runtime.spec.workflow import ToolSpec
from agent_runtime.tools import ToolBox, ToolError
from agent_runtime.tools.mcp import McpTool

SERVER = Path(__file__).with_name("mcp_server.py")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture(scope="module")
def url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    port = free_port()
    log_path = tmp_path_factory.mktemp("mcp") / "server.log"
    with log_path.open("wb") as log:
        proc = subprocess.Popen(
            [sys.executable, str(SERVER), str(port)], stdout=log, stderr=subprocess.STDOUT
        )
    endpoint = f"http://127.0.0.1:{port}/mcp"
    try:
        deadline = time.monotonic() + 30
        while True:
            if proc.poll() is not None:
                pytest.fail(f"MCP server exited ({proc.returncode}):\n{log_path.read_text()}")
            try:
                httpx.get(endpoint, timeout=1)  # any HTTP answer means it is serving
                break
            except httpx.TransportError:
                if time.monotonic() > deadline:
                    pytest.fail(f"MCP server did not answer:\n{log_path.read_text()}")
                time.sleep(0.05)
        yield endpoint
    finally:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


async def test_schema_and_description_come_from_the_server(url: str) -> None:
    box = ToolBox()
    tool = await box.get(ToolSpec(name="add", mcp={"url": url}))
    assert isinstance(tool, McpTool)
    assert tool.description == "Add two integers.\n\nReturns their sum."
    assert tool.parameters["type"] == "object"
    assert {k: v["type"] for k, v in tool.parameters["properties"].items()} == {
        "a": "integer",
        "b": "integer",
    }
    assert sorted(tool.parameters["required"]) == ["a", "b"]
    await box.aclose()


async def test_structured_result(url: str) -> None:
    box = ToolBox()
    tool = await box.get(ToolSpec(name="add", mcp={"url": url}))
    assert await tool.call({"a": 2, "b": 3}) == {"result": 5}
    await box.aclose()


async def test_text_result_and_remote_name(url: str) -> None:
    box = ToolBox()
    tool = await box.get(
        ToolSpec(name="loud", description="Shout.", mcp={"url": url, "tool": "shout"})
    )
    assert (tool.name, tool.description) == ("loud", "Shout.")
    assert await tool.call({"text": "hi"}) == "HI"
    await box.aclose()


async def test_error_result_is_a_tool_error(url: str) -> None:
    box = ToolBox()
    tool = await box.get(ToolSpec(name="fail", mcp={"url": url}))
    with pytest.raises(ToolError, match="the disk is on fire") as caught:
        await tool.call({"message": "the disk is on fire"})
    assert caught.value.retryable  # the node retry policy decides
    adder = await box.get(ToolSpec(name="add", mcp={"url": url}))
    with pytest.raises(ToolError, match="validation error"):
        await adder.call({"a": "x", "b": 1})
    await box.aclose()


async def test_unknown_tool_lists_what_the_server_has(url: str) -> None:
    with pytest.raises(ToolError, match="has no tool 'nope'; it has: add, fail, shout"):
        await ToolBox().get(ToolSpec(name="nope", mcp={"url": url}))


async def test_unreachable_server_is_retryable() -> None:
    port = free_port()
    with pytest.raises(ToolError, match="listing tools failed") as caught:
        await ToolBox().get(ToolSpec(name="add", mcp={"url": f"http://127.0.0.1:{port}/mcp"}))
    assert caught.value.retryable


async def test_calls_from_many_tasks_then_close(url: str) -> None:
    box = ToolBox()
    tool = await box.get(ToolSpec(name="add", mcp={"url": url}))
    results = await asyncio.gather(*(tool.call({"a": i, "b": 1}) for i in range(10)))
    assert results == [{"result": i + 1} for i in range(10)]
    # A task that ends before the next one calls: nothing of the session outlives its task.
    assert await asyncio.create_task(tool.call({"a": 1, "b": 1})) == {"result": 2}
    assert await asyncio.create_task(tool.call({"a": 2, "b": 2})) == {"result": 4}
    await box.aclose()
    await box.aclose()  # closing twice is harmless


def test_usable_from_another_event_loop(url: str) -> None:
    """A tool made in one loop still works in others: the loop that owns the HTTP client is gone."""

    async def make() -> McpTool:
        return await McpTool.create(ToolSpec(name="add", mcp={"url": url}))

    async def use(tool: McpTool, *, close: bool) -> object:
        result = await tool.call({"a": 1, "b": 2})
        if close:
            await tool.aclose()
        return result

    tool = asyncio.run(make())
    results = [asyncio.run(use(tool, close=close)) for close in (False, False, True)]
    assert results == [{"result": 3}] * 3


async def test_per_call_cost_is_modest(url: str) -> None:
    tool = await McpTool.create(ToolSpec(name="add", mcp={"url": url}))
    await tool.call({"a": 0, "b": 0})
    started = time.perf_counter()
    for i in range(10):
        await tool.call({"a": i, "b": 0})
    per_call = (time.perf_counter() - started) / 10
    await tool.aclose()
    assert per_call < 0.5, f"{per_call * 1000:.0f} ms per call"


async def test_a_same_origin_redirect_to_an_allowed_endpoint_is_followed(url: str) -> None:
    """``/mcp/`` answers 307 to ``/mcp`` on the same server: a hop the policy allows, checked by
    the egress guard and followed (``test_ssrf`` has the hops it refuses)."""
    slash = url + "/"
    async with httpx.AsyncClient() as client:
        assert (await client.post(slash, json={})).status_code == 307
    box = ToolBox(policy=ToolPolicy(egress_allow=["*", url]))
    tool = await box.get(ToolSpec(name="add", mcp={"url": slash}))
    assert await tool.call({"a": 2, "b": 3}) == {"result": 5}
    await box.aclose()
