"""SSRF probes through ``http_get`` and MCP tools under the cluster preset: all refused.

Metadata, link-local, private and unspecified targets are refused by the guard before any
connection is opened (names come from the test's own resolver; the tripwire fails any connection
or lookup outside the loopback range). Only loopback targets could be reached over a real socket:
they point at a server on 127.0.0.1 (and ::1) that counts connections, which must stay at 0 (or
at 1, the allowed first hop, for redirects).
"""

from __future__ import annotations

import asyncio
import socket
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from agent_runtime.policy import ToolPolicy
from agent_runtime.spec.workflow import ToolSpec
from agent_runtime.tools import ToolBox, ToolError
from agent_runtime.tools import mcp as mcp_tool
from agent_runtime.tools.egress import EgressGuard, EgressRefused
from agent_runtime.tools.http_get import HttpGetTool
from agent_runtime.tools.mcp import McpTool
from tests.tools.ssrf_harness import (
    CountingServer,
    FakeResolver,
    Tripwire,
    counting_server,
    ipv6_loopback,
    tripwire,
)

HAS_IPV6 = ipv6_loopback()


@pytest.fixture(scope="module")
def v4() -> Iterator[CountingServer]:
    with counting_server("127.0.0.1", socket.AF_INET) as server:
        yield server


@pytest.fixture(scope="module")
def v6() -> Iterator[CountingServer | None]:
    if not HAS_IPV6:
        yield None
        return
    with counting_server("::1", socket.AF_INET6) as server:
        yield server


@pytest.fixture
def servers(v4: CountingServer, v6: CountingServer | None) -> Iterator[list[CountingServer]]:
    every = [s for s in (v4, v6) if s is not None]
    for server in every:
        server.reset()
    yield every


@pytest.fixture
def wire(monkeypatch: pytest.MonkeyPatch) -> Iterator[Tripwire]:
    with tripwire(monkeypatch) as found:
        yield found
    assert found.violations == [], "the guard let a connection or lookup leave loopback"


def resolver(v4: CountingServer) -> FakeResolver:
    return FakeResolver(
        {
            "meta.test": ["169.254.169.254"],
            "meta6.test": ["fd00:ec2::254"],
            "linklocal.test": ["169.254.10.1"],
            "loop.test": ["127.0.0.1"],
            "loop6.test": ["::1"],
            "mapped.test": ["::ffff:127.0.0.1"],
            "zero.test": ["0.0.0.0"],
            "private.test": ["10.0.0.7"],
            "cgnat.test": ["100.64.1.2"],
            "ula.test": ["fd12:3456::1"],
            # One refused address among allowed ones refuses the name whole (and the public
            # address is never tried: the tripwire would fail the test).
            "mixed.test": ["93.184.216.34", "127.0.0.1"],
        }
    )


def targets(port: int, port6: int) -> list[str]:
    """Every spelling of a forbidden destination; loopback ones point at the counting servers."""
    return [
        "http://169.254.169.254/latest/meta-data/",
        "http://[fd00:ec2::254]/latest/meta-data/",
        "http://100.100.100.200/latest/meta-data/",
        "http://metadata.google.internal/computeMetadata/v1/",
        "http://[::ffff:169.254.169.254]/",
        "http://[::ffff:a9fe:a9fe]/",
        "http://[64:ff9b::a9fe:a9fe]/",
        "http://2852039166/",  # 169.254.169.254 in decimal
        "http://169.254.1.1/",
        "http://[fe80::1]/",
        f"http://127.0.0.1:{port}/",
        f"http://[::1]:{port6}/",
        f"http://0.0.0.0:{port}/",
        f"http://0:{port}/",
        f"http://[::]:{port6}/",
        f"http://2130706433:{port}/",  # 127.0.0.1 in decimal
        f"http://0x7f000001:{port}/",  # in hex
        f"http://0x7f.0.0.1:{port}/",
        f"http://127.1:{port}/",  # short form
        f"http://127.000.000.001:{port}/",  # octal parts
        f"http://[::ffff:127.0.0.1]:{port}/",
        f"http://localhost:{port}/",
        f"http://LOCALHOST.:{port}/",
        f"http://api.localhost:{port}/",
        "http://10.0.0.7/",
        "http://192.168.1.1/",
        "http://172.16.0.1/",
        "http://100.64.1.2/",
        "http://[fd12:3456::1]/",
        "http://meta.test/",
        "http://meta6.test/",
        "http://linklocal.test/",
        f"http://loop.test:{port}/",
        f"http://loop6.test:{port6}/",
        f"http://mapped.test:{port}/",
        f"http://zero.test:{port}/",
        "http://private.test/",
        "http://cgnat.test/",
        "http://ula.test/",
        f"http://mixed.test:{port}/",
    ]


def port6(v6: CountingServer | None) -> int:
    return v6.port if v6 is not None else 9


def allow(*urls: str) -> list[str]:
    """The origins of ``urls`` as an allow-list (httpx cannot even parse some spellings)."""
    found = []
    for url in urls:
        try:
            parsed = httpx.URL(url)
        except httpx.InvalidURL:
            continue
        found.append(str(parsed.copy_with(path="/", query=None, fragment=None)))
    return found


def parseable(url: str) -> bool:
    """Whether httpx reads ``url`` at all (it refuses some spellings before any guard could)."""
    try:
        httpx.URL(url)
    except httpx.InvalidURL:
        return False
    return True


def assert_one_line(exc: BaseException) -> str:
    text = str(exc)
    assert text and "\n" not in text and "Traceback" not in text
    return text


def probes(v4: CountingServer, v6: CountingServer | None) -> list[str]:
    return targets(v4.port, port6(v6))


PROBE_COUNT = len(targets(1, 2))


@pytest.mark.parametrize("index", range(PROBE_COUNT))
async def test_http_get_refuses(
    index: int,
    v4: CountingServer,
    v6: CountingServer | None,
    servers: list[CountingServer],
    wire: Tripwire,
) -> None:
    url = probes(v4, v6)[index]
    tool = await HttpGetTool.create(
        ToolSpec(name="fetch", http_get={"allow": allow(url)}),
        policy=ToolPolicy.cluster(),
        resolver=resolver(v4),
    )
    with pytest.raises(ToolError) as caught:
        await tool.call({"url": url})
    message = assert_one_line(caught.value)
    if parseable(url):
        assert isinstance(caught.value, EgressRefused), message  # the guard, not the allow-list
        assert message.startswith("fetch: refused"), message
    else:
        assert message.startswith("fetch: invalid URL"), message
    assert not caught.value.retryable
    await tool.aclose()
    assert [s.connections for s in servers] == [0] * len(servers)


@pytest.mark.parametrize("index", range(PROBE_COUNT))
async def test_mcp_refuses(
    index: int,
    v4: CountingServer,
    v6: CountingServer | None,
    servers: list[CountingServer],
    wire: Tripwire,
) -> None:
    url = probes(v4, v6)[index] + "mcp"
    with pytest.raises(ToolError) as caught:
        await ToolBox(policy=ToolPolicy.cluster(), resolver=resolver(v4)).get(
            ToolSpec(name="remote", mcp={"url": url})
        )
    message = assert_one_line(caught.value)
    assert message.startswith("tool 'remote': spec.tools[].mcp.url refused")
    assert isinstance(caught.value, EgressRefused)
    assert [s.connections for s in servers] == [0] * len(servers)


def assert_refused_after_the_first_hop(
    exc: BaseException, prefix: str, target: str, index: int, servers: list[CountingServer]
) -> None:
    """The guard refused the redirect to ``target`` (EgressRefused, one line starting with
    ``prefix``), or the HTTP library could not even read that spelling; either way only the
    first hop, ``/start/{index}`` on the IPv4 server, was ever reached."""
    message = assert_one_line(exc)
    if parseable(target):
        assert isinstance(exc, EgressRefused), repr(exc)
        assert message.startswith(prefix), message
    else:
        assert "Invalid URL in location header" in message, message
    assert servers[0].paths == [f"/start/{index}"]
    assert sum(s.connections for s in servers) == 1


def redirect_policy(v4: CountingServer) -> ToolPolicy:
    """The cluster preset, trusting one loopback prefix: the start of every redirect."""
    return ToolPolicy(egress_allow=["*", f"http://127.0.0.1:{v4.port}/start/"])


@pytest.mark.parametrize("index", range(PROBE_COUNT))
async def test_http_get_refuses_a_redirect(
    index: int,
    v4: CountingServer,
    v6: CountingServer | None,
    servers: list[CountingServer],
    wire: Tripwire,
) -> None:
    target = probes(v4, v6)[index]
    start = f"http://127.0.0.1:{v4.port}/start/{index}"
    v4.routes[f"/start/{index}"] = target
    tool = await HttpGetTool.create(
        ToolSpec(name="fetch", http_get={"allow": allow(start, target)}),
        policy=redirect_policy(v4),
        resolver=resolver(v4),
    )
    with pytest.raises(ToolError) as caught:
        await tool.call({"url": start})
    await tool.aclose()
    assert_refused_after_the_first_hop(caught.value, "fetch: refused", target, index, servers)


async def test_http_get_refuses_a_redirect_within_the_same_origin(
    v4: CountingServer, servers: list[CountingServer], wire: Tripwire
) -> None:
    """The trusted prefix is /start/: a redirect to /secret on the same server is loopback again."""
    v4.routes["/start/same"] = "/secret"
    tool = await HttpGetTool.create(
        ToolSpec(name="fetch", http_get={"allow": [f"http://127.0.0.1:{v4.port}/"]}),
        policy=redirect_policy(v4),
    )
    with pytest.raises(ToolError, match="loopback address: refused unless") as caught:
        await tool.call({"url": f"http://127.0.0.1:{v4.port}/start/same"})
    assert_one_line(caught.value)
    await tool.aclose()
    assert v4.paths == ["/start/same"]


async def test_allowed_first_hop_is_fetched(
    v4: CountingServer, servers: list[CountingServer], wire: Tripwire
) -> None:
    """The control: a trusted prefix does reach the loopback server."""
    tool = await HttpGetTool.create(
        ToolSpec(name="fetch", http_get={"allow": [f"http://127.0.0.1:{v4.port}/"]}),
        policy=redirect_policy(v4),
    )
    result = await tool.call({"url": f"http://127.0.0.1:{v4.port}/start/ok"})
    assert (result["status"], result["body"]) == (200, "ok")
    await tool.aclose()
    assert (v4.connections, v4.paths) == (1, ["/start/ok"])


async def test_a_name_is_resolved_once_and_the_checked_address_is_used(
    v4: CountingServer, servers: list[CountingServer], wire: Tripwire
) -> None:
    """DNS rebinding: the second request re-resolves, and the new answer is checked again."""
    names = FakeResolver({"rebind.test": ["127.0.0.1"]})
    policy = ToolPolicy(egress_allow=["*", f"http://rebind.test:{v4.port}/"])
    tool = await HttpGetTool.create(
        ToolSpec(name="fetch", http_get={"allow": [f"http://rebind.test:{v4.port}/"]}),
        policy=policy,
        resolver=names,
    )
    first = await tool.call({"url": f"http://rebind.test:{v4.port}/a"})
    assert first["body"] == "ok"
    names.names["rebind.test"] = ["169.254.169.254"]
    with pytest.raises(ToolError, match=r"rebind\.test resolves to 169\.254\.169\.254") as caught:
        await tool.call({"url": f"http://rebind.test:{v4.port}/b"})
    assert_one_line(caught.value)
    await tool.aclose()
    assert v4.paths == ["/a"]
    assert wire.connects == ["127.0.0.1"]  # one connection, to the checked address


@pytest.mark.parametrize("index", range(PROBE_COUNT))
async def test_the_mcp_client_refuses_a_redirect_to_a_forbidden_target(
    index: int,
    v4: CountingServer,
    v6: CountingServer | None,
    servers: list[CountingServer],
    wire: Tripwire,
) -> None:
    """The HTTP client an MCP tool hands the SDK, told to follow every redirect (as mcp 1.x's
    transport did): our guard refuses each forbidden hop, whatever the SDK would do with it."""
    target = probes(v4, v6)[index] + "mcp"
    start = f"http://127.0.0.1:{v4.port}/start/{index}"
    v4.routes[f"/start/{index}"] = target
    client = mcp_tool._new_client(
        EgressGuard(redirect_policy(v4), resolver=resolver(v4)), follow_redirects=True
    )
    try:
        with pytest.raises(Exception) as caught:
            await client.post(start, json={"jsonrpc": "2.0", "id": 1, "method": "initialize"})
    finally:
        await client.aclose()
    assert_refused_after_the_first_hop(caught.value, "refused 'http", target, index, servers)


async def test_the_mcp_client_follows_a_redirect_the_policy_allows(
    v4: CountingServer, servers: list[CountingServer], wire: Tripwire
) -> None:
    """The control: a hop within the trusted prefix is followed and answered."""
    v4.routes["/start/hop"] = "/start/ok"
    client = mcp_tool._new_client(EgressGuard(redirect_policy(v4)), follow_redirects=True)
    try:
        answer = await client.post(f"http://127.0.0.1:{v4.port}/start/hop", json={})
    finally:
        await client.aclose()
    assert (answer.status_code, answer.text) == (200, "ok")
    assert v4.paths == ["/start/hop", "/start/ok"]


@pytest.mark.parametrize("index", range(PROBE_COUNT))
async def test_an_mcp_tool_reaches_nothing_past_the_first_hop(
    index: int,
    v4: CountingServer,
    v6: CountingServer | None,
    servers: list[CountingServer],
    wire: Tripwire,
) -> None:
    """End to end through the SDK: mcp 2.x follows redirects within the endpoint's origin only
    (and our guard checks those, see below); a redirect anywhere else fails the tool cleanly."""
    target = probes(v4, v6)[index] + "mcp"
    v4.routes[f"/start/{index}"] = target
    with pytest.raises(ToolError) as caught:
        await ToolBox(policy=redirect_policy(v4), resolver=resolver(v4)).get(
            ToolSpec(name="remote", mcp={"url": f"http://127.0.0.1:{v4.port}/start/{index}"})
        )
    assert_one_line(caught.value)
    assert not caught.value.retryable
    assert v4.paths == [f"/start/{index}"]
    assert sum(s.connections for s in servers) == 1


async def test_mcp_refuses_a_redirect_within_the_same_origin(
    v4: CountingServer, servers: list[CountingServer], wire: Tripwire
) -> None:
    """The SDK follows this one itself; the guard stops it (the trusted prefix is /start/)."""
    v4.routes["/start/same"] = f"http://127.0.0.1:{v4.port}/secret"
    with pytest.raises(ToolError, match="loopback address: refused unless") as caught:
        await ToolBox(policy=redirect_policy(v4)).get(
            ToolSpec(name="remote", mcp={"url": f"http://127.0.0.1:{v4.port}/start/same"})
        )
    assert assert_one_line(caught.value).startswith("tool 'remote': spec.tools[].mcp.url: ")
    assert set(v4.paths) == {"/start/same"}


async def test_mcp_call_re_checks_the_address(
    v4: CountingServer, servers: list[CountingServer], wire: Tripwire
) -> None:
    """A tool made while its name was allowed is refused once the name resolves elsewhere."""
    names = FakeResolver({"rebind.test": ["127.0.0.1"]})
    guard = EgressGuard(
        ToolPolicy(egress_allow=["*", f"http://rebind.test:{v4.port}/"]), resolver=names
    )
    tool = McpTool(
        name="add",
        description="",
        parameters={"type": "object", "properties": {}},
        url=f"http://rebind.test:{v4.port}/mcp",
        remote_name="add",
        guard=guard,
    )
    names.names["rebind.test"] = ["169.254.169.254"]
    with pytest.raises(ToolError, match="always refused") as caught:
        await tool.call({"a": 1, "b": 2})
    assert_one_line(caught.value)
    await tool.aclose()
    assert v4.connections == 0


def test_every_probe_is_refused_by_the_guard_itself(v4: CountingServer) -> None:
    """The refusals above come from the egress rules, not from a failed connection."""
    guard = EgressGuard(ToolPolicy.cluster(), resolver=resolver(v4))
    refused: list[Any] = []
    for url in probes(v4, None):
        try:
            asyncio.run(guard.addresses(url))
        except EgressRefused as exc:
            refused.append(str(exc))
    assert len(refused) == PROBE_COUNT
