"""The egress guard of ``http_get`` and MCP tools: resolve, check, connect to what was checked.

Every request a guarded client sends, redirects included, goes through ``GuardedTransport``: the
URL must pass the platform's egress rules (``agent_runtime.policy.egress``), its host is resolved
once through the guard's resolver, every address found must be allowed, and the connection goes
to one of those addresses, never to a name resolved again later (which would let DNS rebinding
swap in another address). TLS still verifies the certificate against the host's name (SNI), and
the ``Host`` header is the URL's own. Each host gets its own connection pool, so a connection made
for one name is never reused for another name on the same address.

A lookup never holds its caller: cancelled (a tool's timeout), the request ends at once and the
lookup is left to finish on its own, whether or not the resolver heeds the cancellation.

Guarded clients ignore ``HTTP(S)_PROXY``: through a proxy the guard would check the proxy's
address instead of the destination's.
"""

from __future__ import annotations

import asyncio
import functools
import ipaddress
import socket
from collections.abc import Awaitable, Callable, Sequence
from types import ModuleType
from typing import Any

import anyio
import httpx

from agent_runtime.policy import EgressRefusal, EgressRule, ToolPolicy
from agent_runtime.policy.addresses import IPAddress
from agent_runtime.policy.egress import Admitted
from agent_runtime.policy.prefixes import port_of
from agent_runtime.tools.base import ToolError

#: Resolves a host name (never an address) for a port to the addresses it has.
Resolver = Callable[[str, int], Awaitable[Sequence[str]]]


#: Lookups whose callers gave up on them, kept referenced until they end by themselves.
_ABANDONED: set[asyncio.Future[Sequence[str]]] = set()


class EgressRefused(ToolError):
    """The platform policy refuses a URL or the address it resolves to; never retried."""


async def system_resolver(host: str, port: int) -> list[str]:
    """The addresses the operating system's resolver gives ``host``, in its order."""
    infos = await anyio.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    found: list[str] = []
    for _family, _type, _proto, _name, sockaddr in infos:
        address = str(sockaddr[0]).partition("%")[0]
        if address not in found:
            found.append(address)
    return found


class EgressGuard:
    """The platform's egress rules plus a resolver: what may be reached, and at which address."""

    def __init__(self, policy: ToolPolicy, *, resolver: Resolver | None = None) -> None:
        self.rule = EgressRule(policy)
        self.resolver = resolver or system_resolver

    def admit(self, url: str | httpx.URL) -> Admitted:
        """The URL when the rules may allow it (no DNS); EgressRefused naming the rule if not."""
        try:
            return self.rule.admit(url)
        except EgressRefusal as exc:
            raise EgressRefused(f"refused {str(url)!r}: {exc}") from None

    async def addresses(self, url: str | httpx.URL) -> list[IPAddress]:
        """The checked addresses to connect to for ``url``; EgressRefused if any is refused."""
        return (await self.plan(url))[1]

    async def plan(self, url: str | httpx.URL) -> tuple[Admitted, list[IPAddress]]:
        """The admitted URL and the checked addresses to connect to, in the resolver's order.

        A name with one refused address among allowed ones is refused whole: it is more likely a
        trick than a mistake.
        """
        admitted = self.admit(url)
        if admitted.address is not None:
            return admitted, [admitted.address]
        try:
            found = await _abandonable(self.resolver(admitted.host, port_of(admitted.url)))
        except OSError as exc:
            raise ToolError(
                f"cannot resolve {admitted.host}: {exc.strerror or exc}", retryable=True
            ) from None
        if not found:
            raise ToolError(f"cannot resolve {admitted.host}: no addresses", retryable=True)
        addresses: list[IPAddress] = []
        for text in found:
            try:
                address = ipaddress.ip_address(text.partition("%")[0])
            except ValueError:
                raise EgressRefused(
                    f"refused {str(url)!r}: {admitted.host} resolved to {text!r}, not an address"
                ) from None
            try:
                self.rule.check_address(address, admitted)
            except EgressRefusal as exc:
                raise EgressRefused(f"refused {str(url)!r}: {exc}") from None
            addresses.append(address)
        return admitted, addresses


async def _abandonable(lookup: Awaitable[Sequence[str]]) -> Sequence[str]:
    """The lookup's answer. Cancelled, the caller goes at once; the lookup is cancelled too but
    not waited for: a resolver may not heed it (one that waits for its thread in ``getaddrinfo``,
    which nothing can stop), and the caller's timeout must bound the whole call."""
    task = asyncio.ensure_future(lookup)
    try:
        return await asyncio.shield(task)
    except asyncio.CancelledError:
        task.cancel()
        _ABANDONED.add(task)
        task.add_done_callback(_forget)
        raise


def _forget(task: asyncio.Future[Sequence[str]]) -> None:
    _ABANDONED.discard(task)
    if not task.cancelled():
        task.exception()  # read, so that an abandoned failure is not logged as never retrieved


class _Guarded:
    """The transport logic, for httpx and for the httpx fork the MCP SDK may use (``_http``)."""

    _http: ModuleType

    def __init__(self, guard: EgressGuard, **options: Any) -> None:
        self.guard = guard
        self._options = {**options, "proxy": None}
        self._pools: dict[tuple[str, bytes, int], Any] = {}

    def _pool(self, url: Any) -> Any:
        key = (url.scheme, url.raw_host, port_of(url))
        pool = self._pools.get(key)
        if pool is None:
            pool = self._pools[key] = self._http.AsyncHTTPTransport(**self._options)
        return pool

    async def handle_async_request(self, request: Any) -> Any:
        admitted, addresses = await self.guard.plan(str(request.url))
        pool = self._pool(request.url)
        extensions = dict(request.extensions)
        if request.url.scheme == "https" and admitted.address is None:
            extensions.setdefault("sni_hostname", request.url.raw_host.decode("ascii"))
        failure: Exception | None = None
        for address in addresses:  # in the resolver's order, like a plain client
            forwarded = self._http.Request(
                request.method,
                request.url.copy_with(host=str(address)),
                headers=request.headers,
                stream=request.stream,
                extensions=extensions,
            )
            try:
                return await pool.handle_async_request(forwarded)
            except self._http.ConnectError as exc:
                failure = exc
        assert failure is not None
        raise failure

    async def aclose(self) -> None:
        pools, self._pools = list(self._pools.values()), {}
        for pool in pools:
            await pool.aclose()


class GuardedTransport(_Guarded, httpx.AsyncBaseTransport):
    """An httpx transport that connects only where the egress guard allows."""

    _http = httpx


@functools.cache
def _transport_class(http: ModuleType) -> type[_Guarded]:
    if http is httpx:
        return GuardedTransport
    return type("GuardedTransport", (_Guarded, http.AsyncBaseTransport), {"_http": http})


def guarded_client(
    guard: EgressGuard, *, http: ModuleType = httpx, verify: Any = True, **client: Any
) -> Any:
    """An ``AsyncClient`` of ``http`` (httpx or a fork with its API) behind the guard."""
    transport = _transport_class(http)(guard, verify=verify)
    return http.AsyncClient(transport=transport, trust_env=False, **client)
