"""http_get against a real HTTP server on 127.0.0.1: the allow-list, redirects, limits, errors."""

from __future__ import annotations

import asyncio
import socket
import threading
import time
from collections.abc import AsyncIterator, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from agent_runtime.policy import ToolPolicy
from agent_runtime.spec.workflow import HttpGetTool as HttpGetSpec
from agent_runtime.spec.workflow import ToolSpec
from agent_runtime.tools import ToolBox, ToolError
from agent_runtime.tools.egress import Resolver
from agent_runtime.tools.http_get import HttpGetTool

BIG = "0123456789" * 1000


class Handler(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        port = self.server.server_address[1]
        routes = {
            "/docs/page": (200, "text/plain; charset=utf-8", "hello"),
            "/docs/json": (200, "application/json", '{"ok": true}'),
            "/docs/big": (200, "text/plain", BIG),
            "/docs/utf8": (200, "text/plain; charset=utf-8", "é" * 10),
            "/docs/missing": (404, "text/plain", "no such page"),
            "/docs/boom": (500, "text/plain", "internal error"),
            "/private/secret": (200, "text/plain", "secret"),
        }
        redirects = {
            "/docs/redirect-in": "/docs/page",
            "/docs/redirect-out": f"http://localhost:{port}/docs/page",
            "/docs/redirect-private": "/private/secret",
            "/docs/loop": "/docs/loop",
        }
        if self.path == "/docs/slow":
            time.sleep(2)
        if self.path in redirects:
            self.send_response(302)
            self.send_header("Location", redirects[self.path])
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        status, content_type, body = routes.get(self.path, (404, "text/plain", "not found"))
        data = body.encode()
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, *args: object) -> None:  # quiet
        pass


@pytest.fixture(scope="module")
def base() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()
    thread.join(5)


def spec(allow: list[str], **options: object) -> ToolSpec:
    return ToolSpec(name="fetch", http_get={"allow": allow, **options})


@pytest.fixture
async def fetch(base: str) -> AsyncIterator[HttpGetTool]:
    box = ToolBox()
    tool = await box.get(spec([f"{base}/docs/"], timeout=0.5, max_bytes=100))
    assert isinstance(tool, HttpGetTool)
    yield tool
    await box.aclose()


async def test_allowed_url(fetch: HttpGetTool, base: str) -> None:
    result = await fetch.call({"url": f"{base}/docs/page"})
    assert result["status"] == 200
    assert result["contentType"].startswith("text/plain")
    assert result["body"] == "hello"
    assert result["truncated"] is False
    json_result = await fetch.call({"url": f"{base}/docs/json"})
    assert json_result["body"] == '{"ok": true}'


def test_schema_and_description(fetch: HttpGetTool, base: str) -> None:
    assert fetch.parameters["required"] == ["url"]
    assert f"{base}/docs" in fetch.description


@pytest.mark.parametrize(
    ("url", "why"),
    [
        ("http://localhost:{port}/docs/page", "not under an allowed prefix"),  # other host
        ("http://127.0.0.1:1/docs/page", "not under an allowed prefix"),  # other port
        ("https://127.0.0.1:{port}/docs/page", "not under an allowed prefix"),  # other scheme
        ("http://127.0.0.1:{port}@localhost:{port}/docs/page", "user info"),
        ("http://user:pw@127.0.0.1:{port}/docs/page", "user info"),
        ("file:///etc/passwd", "not http or https"),
        ("ftp://127.0.0.1:{port}/docs/page", "not http or https"),
        ("http://127.0.0.1:{port}/private/secret", "not under an allowed prefix"),
        ("http://127.0.0.1:{port}/docsx", "not under an allowed prefix"),
        ("http://127.0.0.1:{port}\\@localhost:{port}/docs/page", "user info"),
        ("http://127.0.0.1:{port}/docs/../private/secret", "not under an allowed prefix"),
        ("http://127.0.0.1:{port}/docs/%2e%2e/private/secret", "'..' segments"),
        ("http://127.0.0.1:{port}/docs%2F..%2Fprivate/secret", "'..' segments"),
        ("http://127.0.0.1:{port}/docs/..%5c..%5cprivate", "'..' segments|backslash"),
        ("/docs/page", "not http or https"),
    ],
)
async def test_refused(fetch: HttpGetTool, base: str, url: str, why: str) -> None:
    port = base.rsplit(":", 1)[1]
    with pytest.raises(ToolError, match=why) as caught:
        await fetch.call({"url": url.format(port=port)})
    assert not caught.value.retryable
    assert "httpGet.allow" in str(caught.value) or why != "not under an allowed prefix"


async def test_prefix_without_trailing_slash_matches_whole_segments(base: str) -> None:
    tool = await HttpGetTool.create(spec([f"{base}/docs"]))
    assert (await tool.call({"url": f"{base}/docs/page"}))["body"] == "hello"
    with pytest.raises(ToolError):
        await tool.call({"url": f"{base}/docsx"})
    await tool.aclose()


async def test_empty_allow_list_refuses_everything(base: str) -> None:
    tool = await HttpGetTool.create(ToolSpec(name="http_get", http_get={}))
    with pytest.raises(ToolError, match=r"allow-list is empty.*spec\.tools\[\]\.httpGet\.allow"):
        await tool.call({"url": f"{base}/docs/page"})
    await tool.aclose()


async def test_bad_arguments(fetch: HttpGetTool) -> None:
    with pytest.raises(ToolError, match="'url'"):
        await fetch.call({})
    with pytest.raises(ToolError, match="'url'"):
        await fetch.call({"url": 3})


async def test_redirect_within_allow_list_is_followed(fetch: HttpGetTool, base: str) -> None:
    result = await fetch.call({"url": f"{base}/docs/redirect-in"})
    assert (result["status"], result["body"], result["url"]) == (200, "hello", f"{base}/docs/page")


@pytest.mark.parametrize("path", ["/docs/redirect-out", "/docs/redirect-private"])
async def test_redirect_outside_allow_list_is_refused(
    fetch: HttpGetTool, base: str, path: str
) -> None:
    with pytest.raises(ToolError, match="not under an allowed prefix"):
        await fetch.call({"url": f"{base}{path}"})


async def test_redirect_loop_stops(fetch: HttpGetTool, base: str) -> None:
    with pytest.raises(ToolError, match="redirects"):
        await fetch.call({"url": f"{base}/docs/loop"})


async def test_body_truncated_at_max_bytes(fetch: HttpGetTool, base: str) -> None:
    result = await fetch.call({"url": f"{base}/docs/big"})
    assert result["truncated"] is True
    assert result["body"].startswith(BIG[:100])
    assert BIG[:101] not in result["body"]
    assert "truncated" in result["body"]


async def test_truncation_never_splits_a_character(base: str) -> None:
    tool = await HttpGetTool.create(spec([f"{base}/docs/"], max_bytes=5))  # "é" is 2 bytes
    result = await tool.call({"url": f"{base}/docs/utf8"})
    assert result["body"].startswith("éé\n[truncated")
    await tool.aclose()


async def test_4xx_is_a_result(fetch: HttpGetTool, base: str) -> None:
    result = await fetch.call({"url": f"{base}/docs/missing"})
    assert (result["status"], result["body"]) == (404, "no such page")


async def test_5xx_is_retryable(fetch: HttpGetTool, base: str) -> None:
    with pytest.raises(ToolError, match="500") as caught:
        await fetch.call({"url": f"{base}/docs/boom"})
    assert caught.value.retryable


async def test_timeout_is_retryable(fetch: HttpGetTool, base: str) -> None:
    started = time.monotonic()
    with pytest.raises(ToolError, match="timed out") as caught:
        await fetch.call({"url": f"{base}/docs/slow"})
    assert caught.value.retryable
    assert time.monotonic() - started < 1.5


async def test_connection_refused_is_retryable() -> None:
    import socket

    with socket.socket() as sock:  # a port nobody listens on
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    tool = await HttpGetTool.create(spec([f"http://127.0.0.1:{port}/"]))
    with pytest.raises(ToolError, match="ConnectError") as caught:
        await tool.call({"url": f"http://127.0.0.1:{port}/x"})
    assert caught.value.retryable
    await tool.aclose()


@pytest.mark.parametrize(
    "prefix", ["ftp://example.com/", "https://user@example.com/", "https://example.com/?q=1"]
)
async def test_invalid_prefix_is_refused_at_create(prefix: str) -> None:
    with pytest.raises(ToolError, match="invalid allow prefix"):
        await HttpGetTool.create(spec([prefix]))


async def assert_slow_test_times_out(resolver: Resolver | None = None) -> None:
    """GET http://slow.test/ with a timeout of 0.2 s ends in time, whatever its lookup does."""
    tool = await HttpGetTool.create(
        ToolSpec(name="fetch", http_get=HttpGetSpec(allow=["http://slow.test/"], timeout=0.2)),
        policy=ToolPolicy(egress_allow=["*"], allow_loopback=True),
        resolver=resolver,
    )
    started = time.monotonic()
    with pytest.raises(ToolError, match=r"timed out after 0\.2s") as caught:
        await tool.call({"url": "http://slow.test/page"})
    assert time.monotonic() - started < 1.2  # the lookup alone takes 2.5 s
    assert caught.value.retryable
    await tool.aclose()


async def test_a_slow_name_lookup_is_bounded_by_the_timeout(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The system resolver, its getaddrinfo slower than the tool's timeout: the call ends on time."""
    lookup = socket.getaddrinfo

    def slow_getaddrinfo(host: Any, *args: Any, **kwargs: Any) -> Any:
        if host in ("slow.test", b"slow.test"):
            time.sleep(2.5)
            return lookup("127.0.0.1", *args, **kwargs)
        return lookup(host, *args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", slow_getaddrinfo)
    await assert_slow_test_times_out()


async def test_a_resolver_deaf_to_cancellation_does_not_hold_the_call() -> None:
    """A resolver that goes on waiting when cancelled (as one waiting for its own thread) is
    left behind: the call still ends at its timeout, not when the lookup does."""
    finished = asyncio.Event()

    async def stubborn(host: str, port: int) -> list[str]:
        loop = asyncio.get_running_loop()
        end = loop.time() + 2.5
        while (left := end - loop.time()) > 0:
            try:
                await asyncio.sleep(left)
            except asyncio.CancelledError:
                continue
        finished.set()
        return ["127.0.0.1"]

    await assert_slow_test_times_out(resolver=stubborn)
    await asyncio.wait_for(finished.wait(), 5)  # the abandoned lookup ends by itself
