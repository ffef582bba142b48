"""List-then-watch of one resource, reconnecting and re-listing as controllers do.

lightkube streams the changes and resumes after the server's timeout from the newest version
it saw (bookmarks included); this adds what a cache needs around it: a full list first and after
every 410 Gone, told to the handler as SYNCED, and retries with backoff on any other failure.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import Any

import httpx2

from agent_runtime.kube.client import KubeClient, KubeError, Labels, kube_error, scope
from agent_runtime.kube.resources import path_of, resource

log = logging.getLogger(__name__)

#: (event type: ADDED | MODIFIED | DELETED | SYNCED, object). SYNCED carries the full list.
Handler = Callable[[str, dict[str, Any]], Awaitable[None] | None]
#: What a watch retries on: the API server's refusals, the transport's failures, bad JSON.
#: lightkube raises KeyError for an error answer without a Content-Type (a proxy's 502, say).
WATCH_ERRORS = (KubeError, httpx2.HTTPError, OSError, ValueError, KeyError)


class Watch:
    """Keeps a handler told of every change of a resource, until stopped.

    After each (re)list it calls the handler with ``("SYNCED", {"items": [...]})`` so a cache can
    drop what disappeared while it was disconnected; then it streams changes from that version.
    ``namespace`` None: every namespace.
    """

    def __init__(
        self,
        client: KubeClient,
        api_version: str,
        kind: str,
        handler: Handler,
        *,
        namespace: str | None = None,
        labels: Labels | None = None,
        timeout_seconds: int = 300,
    ) -> None:
        self.client = client
        self.api_version, self.kind = api_version, kind
        self.namespace = namespace
        self.handler = handler
        self.labels = labels
        self.timeout_seconds = timeout_seconds
        #: The collection watched, for logs and readiness reports.
        self.path = path_of(resource(api_version, kind), namespace)
        self.synced = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name=f"watch {self.path}")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)

    async def _emit(self, kind: str, obj: dict[str, Any]) -> None:
        result = self.handler(kind, obj)
        if result is not None:
            await result

    async def _run(self) -> None:
        delay = 0.5
        while True:
            try:
                version: str | None = await self._list()
                delay = 0.5
                while version is not None:
                    version = await self._watch(version)
            except asyncio.CancelledError:
                raise
            except WATCH_ERRORS as exc:
                log.warning("watch %s failed: %s; retrying in %.1fs", self.path, exc, delay)
                await asyncio.sleep(delay)
                delay = min(delay * 2, 30.0)

    async def _list(self) -> str:
        try:
            items, version = await self.client.list(
                self.api_version, self.kind, self.namespace, labels=self.labels
            )
        except KubeError as exc:
            if exc.status == 404:
                raise KubeError(
                    404, f"{self.path} is not served (are the CRDs installed?)"
                ) from None
            raise
        await self._emit("SYNCED", {"items": items})
        self.synced.set()
        return version

    async def _watch(self, version: str) -> str | None:
        """Stream changes; None when the version is too old and a re-list is needed."""
        changes = self.client.api.watch(
            resource(self.api_version, self.kind),
            namespace=scope(self.namespace),
            labels=self.labels,
            server_timeout=self.timeout_seconds,
            resource_version=version,
        )
        try:
            async for kind, obj in changes:
                if kind != "BOOKMARK":
                    await self._emit(kind, dict(obj))
        except httpx2.HTTPStatusError as exc:
            error = kube_error(exc)
            if error.status == 410:
                return None
            raise error from None
        return None  # lightkube watches on until an error: a stream that ends is re-listed
