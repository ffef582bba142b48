"""The built-in ``http_get`` tool: fetch a URL under an allow-list of prefixes.

A URL is allowed when its scheme, host and port equal those of an allowed prefix and its path
lies under the prefix's path, in whole segments: ``/docs`` allows ``/docs`` and ``/docs/a``, not
``/docsx``.
URLs with user info, dot segments, or a scheme other than http(s) are refused. Redirects are
followed one hop at a time, each hop checked against the same list.
"""

from __future__ import annotations

import asyncio
import codecs
import logging
from dataclasses import dataclass
from typing import Any

import httpx

from agent_runtime.spec.workflow import ToolSpec
from agent_runtime.tools.base import Tool, ToolError

logger = logging.getLogger(__name__)

MAX_REDIRECTS = 10
_DEFAULT_PORTS = {"http": 80, "https": 443}
_TEXT_TYPES = ("json", "xml", "javascript", "x-www-form-urlencoded", "yaml", "csv")
_ALLOW_HINT = "list the URL prefixes it may fetch under spec.tools[].httpGet.allow"


@dataclass(frozen=True)
class _Prefix:
    scheme: str
    host: str
    port: int
    path: str  # decoded; "/" or a path with no trailing slash

    @classmethod
    def parse(cls, text: str) -> _Prefix:
        try:
            url = httpx.URL(text)
        except (httpx.InvalidURL, TypeError) as exc:
            raise ToolError(f"invalid allow prefix {text!r}: {exc}") from None
        problem = _shape_problem(url)
        if problem is None and (url.query or url.fragment):
            problem = "a prefix takes no query or fragment"
        if problem is not None:
            raise ToolError(f"invalid allow prefix {text!r}: {problem}")
        path = url.path.rstrip("/") or "/"
        return cls(url.scheme, url.host, _port(url), path)

    def admits(self, url: httpx.URL) -> bool:
        if (url.scheme, url.host, _port(url)) != (self.scheme, self.host, self.port):
            return False
        if self.path == "/":
            return True
        return url.path == self.path or url.path.startswith(self.path + "/")

    def __str__(self) -> str:
        default = _DEFAULT_PORTS[self.scheme] == self.port
        netloc = self.host if default else f"{self.host}:{self.port}"
        return f"{self.scheme}://{netloc}{self.path}"


def _port(url: httpx.URL) -> int:
    return url.port or _DEFAULT_PORTS[url.scheme]


def _shape_problem(url: httpx.URL) -> str | None:
    """Why a URL can never be allowed, whatever the list holds; None when its shape is fine."""
    if url.scheme not in _DEFAULT_PORTS:
        return f"scheme {url.scheme or '(none)'!r} is not http or https"
    if not url.host:
        return "it has no host"
    if url.userinfo:
        return "it carries user info (user:password@) before the host"
    # url.path is percent-decoded, so %2e%2e and %2f are caught too.
    if any(segment in (".", "..") for segment in url.path.split("/")):
        return "its path holds '.' or '..' segments"
    if "\\" in url.path:
        return "its path holds a backslash"
    return None


def _is_text(content_type: str) -> bool:
    media = content_type.split(";", 1)[0].strip().lower()
    return not media or media.startswith("text/") or any(t in media for t in _TEXT_TYPES)


class HttpGetTool(Tool):
    """GET a URL under the allow-list; return status, content type and (text) body."""

    parameters = {
        "type": "object",
        "properties": {
            "url": {"type": "string", "description": "The absolute http(s) URL to fetch."},
        },
        "required": ["url"],
        "additionalProperties": False,
    }

    def __init__(
        self,
        *,
        name: str,
        description: str,
        allow: list[str],
        timeout: float,
        max_bytes: int,
    ) -> None:
        self.name = name
        self._prefixes = [_Prefix.parse(p) for p in allow]
        self._timeout = timeout
        self._max_bytes = max_bytes
        self.description = description or self._default_description()
        self._client = httpx.AsyncClient(
            follow_redirects=False,
            timeout=httpx.Timeout(timeout),
            headers={"User-Agent": "configurable-agents-http-get/0.1"},
        )

    @classmethod
    async def create(cls, spec: ToolSpec) -> HttpGetTool:
        options = spec.http_get
        if options is None:
            raise ToolError(f"tool '{spec.name}' is not an httpGet tool")
        return cls(
            name=spec.name,
            description=spec.description,
            allow=list(options.allow),
            timeout=float(options.timeout),
            max_bytes=options.max_bytes,
        )

    def _default_description(self) -> str:
        where = ", ".join(str(p) for p in self._prefixes) or "nothing (the allow-list is empty)"
        return (
            "Fetch a web page or API response with HTTP GET. Returns status, contentType and body "
            f"(text, at most {self._max_bytes} bytes). Allowed URL prefixes: {where}."
        )

    def check(self, url: str | httpx.URL) -> httpx.URL:
        """The parsed URL when the allow-list admits it; ToolError saying why not otherwise."""
        try:
            parsed = url if isinstance(url, httpx.URL) else httpx.URL(url)
        except (httpx.InvalidURL, TypeError) as exc:
            raise ToolError(f"{self.name}: invalid URL {url!r}: {exc}") from None
        if not self._prefixes:
            raise ToolError(
                f"{self.name}: refused {str(parsed)!r}: the allow-list is empty, so every URL is "
                f"refused; {_ALLOW_HINT}"
            )
        problem = _shape_problem(parsed)
        if problem is not None:
            raise ToolError(f"{self.name}: refused {str(parsed)!r}: {problem}")
        if not any(prefix.admits(parsed) for prefix in self._prefixes):
            allowed = ", ".join(str(p) for p in self._prefixes)
            raise ToolError(
                f"{self.name}: refused {str(parsed)!r}: not under an allowed prefix ({allowed}); "
                f"to allow it, {_ALLOW_HINT}"
            )
        return parsed

    async def call(self, args: dict[str, Any]) -> dict[str, Any]:
        url = args.get("url") if isinstance(args, dict) else None
        extra = sorted(set(args) - {"url"}) if isinstance(args, dict) else []
        if not isinstance(url, str) or extra:
            raise ToolError(
                f"{self.name}: takes exactly one argument, 'url' (a string); got {args!r}"
            )
        target = self.check(url)
        try:
            async with asyncio.timeout(self._timeout):
                return await self._fetch(target)
        except (TimeoutError, httpx.TimeoutException):
            raise ToolError(
                f"{self.name}: GET {target} timed out after {self._timeout:g}s", retryable=True
            ) from None
        except httpx.TransportError as exc:
            raise ToolError(
                f"{self.name}: GET {target} failed: {type(exc).__name__}: {exc}", retryable=True
            ) from exc

    async def _fetch(self, url: httpx.URL) -> dict[str, Any]:
        for _hop in range(MAX_REDIRECTS + 1):
            async with self._client.stream("GET", url) as response:
                location = response.headers.get("location")
                if response.is_redirect and location:
                    url = self.check(url.join(location))
                    logger.debug("http_get: following redirect to %s", url)
                    continue
                if response.status_code >= 500:
                    raise ToolError(
                        f"{self.name}: GET {url} answered {response.status_code} "
                        f"{response.reason_phrase}",
                        retryable=True,
                    )
                return await self._result(url, response)
        raise ToolError(f"{self.name}: GET {url}: more than {MAX_REDIRECTS} redirects")

    async def _result(self, url: httpx.URL, response: httpx.Response) -> dict[str, Any]:
        data = bytearray()
        truncated = False
        async for chunk in response.aiter_bytes():
            data += chunk
            if len(data) > self._max_bytes:
                del data[self._max_bytes :]
                truncated = True
                break
        content_type = response.headers.get("content-type", "")
        if _is_text(content_type):
            try:
                decoder = codecs.getincrementaldecoder(response.encoding or "utf-8")("replace")
            except LookupError:
                decoder = codecs.getincrementaldecoder("utf-8")("replace")
            # Not final when truncated: a character cut in half at the end is dropped.
            body = decoder.decode(bytes(data), final=not truncated)
        else:
            body = f"<{len(data)} bytes of {content_type}, not shown>"
        if truncated:
            body += f"\n[truncated: only the first {self._max_bytes} bytes were read]"
        return {
            "url": str(url),
            "status": response.status_code,
            "contentType": content_type,
            "body": body,
            "truncated": truncated,
        }

    async def aclose(self) -> None:
        await self._client.aclose()
