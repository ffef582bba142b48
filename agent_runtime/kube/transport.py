"""The HTTP transport under lightkube: TLS as lightkube sets it up, plus what its API leaves out.

lightkube's watch does not ask for bookmarks and never times out a silent stream; both are set
here, on the watch requests only, and every request is reported (the operator counts them).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable

import httpx2
from lightkube import SingleConfig
from lightkube.config.client_adapter import verify_cluster

#: A watch stream open this long past the server's own timeout is taken as dead.
SILENCE_GRACE = 30.0


class ApiTransport(httpx2.AsyncBaseTransport):
    def __init__(
        self,
        config: SingleConfig,
        *,
        on_request: Callable[[str], None] | None = None,
        max_connections: int = 20,
    ) -> None:
        assert config.user is not None, "load_configuration refuses a context without a user"
        self.inner = httpx2.AsyncHTTPTransport(
            verify=verify_cluster(config.cluster, config.user, config.abs_file),
            limits=httpx2.Limits(
                max_connections=max_connections, max_keepalive_connections=max_connections
            ),
        )
        self.on_request = on_request
        # Requests wait here, not in the connection pool: the pool walks its whole queue each
        # time a connection frees, which with a thousand queued requests (an operator creating
        # as many pools at once) was about 5% of the operator's CPU.
        self.slots = asyncio.Semaphore(max_connections)

    async def handle_async_request(self, request: httpx2.Request) -> httpx2.Response:
        if self.on_request is not None:
            self.on_request(request.method.lower())
        params = request.url.params
        if params.get("watch") == "true":
            # A bookmark moves the version on without a change, so a quiet watch resumes after
            # the server's timeout instead of finding its version compacted (410) and re-listing.
            request.url = request.url.copy_set_param("allowWatchBookmarks", "true")
            server_timeout = float(params.get("timeoutSeconds") or 0)
            if server_timeout:
                timeout = dict(request.extensions.get("timeout") or {})
                timeout["read"] = server_timeout + SILENCE_GRACE
                request.extensions["timeout"] = timeout
        async with self.slots:  # until the answer's headers: a watch does not hold one
            return await self.inner.handle_async_request(request)

    async def aclose(self) -> None:
        await self.inner.aclose()
