"""List-then-watch of one resource, reconnecting and re-listing as controllers do."""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Awaitable, Callable
from typing import Any

import httpx

from agent_runtime.kube.client import KubeClient, KubeError

log = logging.getLogger(__name__)

#: (event type: ADDED | MODIFIED | DELETED | SYNCED, object). SYNCED carries the full list.
Handler = Callable[[str, dict[str, Any]], Awaitable[None] | None]


class Watch:
    """Keeps a handler told of every change of a resource, until stopped.

    After each (re)list it calls the handler with ``("SYNCED", {"items": [...]})`` so a cache can
    drop what disappeared while it was disconnected; then it streams changes from that version.
    """

    def __init__(
        self,
        client: KubeClient,
        path: str,
        handler: Handler,
        *,
        label_selector: str = "",
        timeout_seconds: int = 300,
    ) -> None:
        self.client = client
        self.path = path
        self.handler = handler
        self.label_selector = label_selector
        self.timeout_seconds = timeout_seconds
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
            except (KubeError, httpx.HTTPError, OSError, ValueError) as exc:
                log.warning("watch %s failed: %s; retrying in %.1fs", self.path, exc, delay)
                await asyncio.sleep(delay)
                delay = min(delay * 2, 30.0)

    def _params(self) -> dict[str, str]:
        return {"labelSelector": self.label_selector} if self.label_selector else {}

    async def _list(self) -> str:
        listed = await self.client.request("GET", self.path, params=self._params())
        if listed is None:
            raise KubeError(404, f"{self.path} is not served (are the CRDs installed?)")
        await self._emit("SYNCED", {"items": listed.get("items", [])})
        self.synced.set()
        return str(listed.get("metadata", {}).get("resourceVersion", ""))

    async def _watch(self, version: str) -> str | None:
        """Stream changes; the new version to go on from, or None when a re-list is needed."""
        params = {
            **self._params(),
            "watch": "true",
            "resourceVersion": version,
            "allowWatchBookmarks": "true",
            "timeoutSeconds": str(self.timeout_seconds),
        }
        timeout = httpx.Timeout(10.0, read=self.timeout_seconds + 30.0)
        async with self.client.http.stream(
            "GET", self.path, params=params, headers=self.client.headers(), timeout=timeout
        ) as response:
            if response.status_code == 410:
                return None
            if response.status_code >= 400:
                await response.aread()
                raise KubeError(response.status_code, response.text)
            async for line in response.aiter_lines():
                if not line:
                    continue
                event = json.loads(line)
                kind, obj = event.get("type"), event.get("object") or {}
                if kind == "ERROR":
                    if obj.get("code") == 410:
                        return None
                    raise KubeError(int(obj.get("code", 500)), str(obj.get("message")))
                version = str(obj.get("metadata", {}).get("resourceVersion", version))
                if kind != "BOOKMARK":
                    await self._emit(str(kind), obj)
        return version
