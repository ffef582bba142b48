"""The built-in ``http_get`` tool: fetch a URL under an allow-list of prefixes.

A URL is allowed when its scheme, host and port equal those of an allowed prefix and its path
lies under the prefix's path, in whole segments: ``/docs`` allows ``/docs`` and ``/docs/a``, not
``/docsx``.
URLs with user info, dot segments, or a scheme other than http(s) are refused. Above the
Workflow's list stands the platform's egress policy: every request goes through the egress guard
(``tools.egress``), which refuses metadata, link-local and (unless allowed) loopback and private
addresses, after resolving the host. Redirects are followed one hop at a time, each hop checked
against the same list and the same guard.
"""

from __future__ import annotations

import asyncio
import codecs
import logging
from typing import Any

import httpx

from agent_runtime.policy import ToolPolicy, UrlPrefix, url_shape_problem
from agent_runtime.spec.workflow import ToolSpec
from agent_runtime.tools.base import Tool, ToolError
from agent_runtime.tools.egress import EgressGuard, EgressRefused, Resolver, guarded_client
from agent_runtime.tools.policy import policy_or_default

logger = logging.getLogger(__name__)

MAX_REDIRECTS = 10
_TEXT_TYPES = ("json", "xml", "javascript", "x-www-form-urlencoded", "yaml", "csv")
_ALLOW_HINT = "list the URL prefixes it may fetch under spec.tools[].httpGet.allow"


def _prefix(text: str) -> UrlPrefix:
    try:
        return UrlPrefix.parse(text)
    except ValueError as exc:
        raise ToolError(f"invalid allow prefix {text!r}: {exc}") from None


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
        guard: EgressGuard,
    ) -> None:
        self.name = name
        self._prefixes = [_prefix(p) for p in allow]
        self._timeout = timeout
        self._max_bytes = max_bytes
        self._guard = guard
        self.description = description or self._default_description()
        self._client: httpx.AsyncClient = guarded_client(
            guard,
            follow_redirects=False,
            timeout=httpx.Timeout(timeout),
            headers={"User-Agent": "configurable-agents-http-get/0.1"},
        )

    @classmethod
    async def create(
        cls, spec: ToolSpec, *, policy: ToolPolicy | None = None, resolver: Resolver | None = None
    ) -> HttpGetTool:
        """The tool ``spec`` declares, behind the platform ``policy`` (else the environment's)."""
        options = spec.http_get
        if options is None:
            raise ToolError(f"tool '{spec.name}' is not an httpGet tool")
        return cls(
            name=spec.name,
            description=spec.description,
            allow=list(options.allow),
            timeout=float(options.timeout),
            max_bytes=options.max_bytes,
            guard=EgressGuard(policy_or_default(policy), resolver=resolver),
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
        problem = url_shape_problem(parsed)
        if problem is not None:
            raise ToolError(f"{self.name}: refused {str(parsed)!r}: {problem}")
        if not any(prefix.admits(parsed) for prefix in self._prefixes):
            allowed = ", ".join(str(p) for p in self._prefixes)
            raise ToolError(
                f"{self.name}: refused {str(parsed)!r}: not under an allowed prefix ({allowed}); "
                f"to allow it, {_ALLOW_HINT}"
            )
        try:
            self._guard.admit(parsed)
        except EgressRefused as exc:
            raise EgressRefused(f"{self.name}: {exc}") from None
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
            try:
                async with self._client.stream("GET", url) as response:
                    location = response.headers.get("location")
                    if not (response.is_redirect and location):
                        if response.status_code >= 500:
                            raise ToolError(
                                f"{self.name}: GET {url} answered {response.status_code} "
                                f"{response.reason_phrase}",
                                retryable=True,
                            )
                        return await self._result(url, response)
            except EgressRefused as exc:  # by the guard: what the host resolved to
                raise EgressRefused(f"{self.name}: {exc}") from None
            try:
                target = url.join(location)
            except httpx.InvalidURL as exc:
                raise ToolError(
                    f"{self.name}: GET {url}: bad redirect {location!r}: {exc}"
                ) from None
            url = self.check(target)  # the allow-list and the platform's rules, every hop
            logger.debug("http_get: following redirect to %s", url)
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
