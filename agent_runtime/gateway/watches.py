"""One list-then-watch per served namespace (or one cluster-wide), run and judged together.

A gateway limited to some namespaces may not list anything cluster-wide (its RBAC is RoleBindings
in those namespaces), so each namespace gets its own watch; the handler is told which one spoke,
so a re-list replaces only that namespace's part of a shared cache.

Each watch also keeps its current run of failures: a watch that has listed once but then cannot
re-list or re-watch (its RoleBinding removed, say) leaves its cache going stale, and readiness
reports it once the run is long enough (``failing``).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

from agent_runtime.kube import WATCH_ERRORS, KubeClient, Labels, Watch

#: (namespace, or None for the cluster-wide watch; event type; object)
ScopedHandler = Callable[[str | None, str, dict[str, Any]], Awaitable[None] | None]
#: A watch counts as failing after this many errors in a row spanning at least ``STALE_AFTER``
#: seconds: a short blip of the API server (a restart, an upgrade) must not take every gateway
#: replica out of its Service at once, while a lost permission shows within about half a minute.
STALE_FAILURES = 3
STALE_AFTER = 30.0


class TrackedWatch(Watch):
    """A ``Watch`` that remembers its current run of failures; a successful list ends it.

    The API server authorises a watch only when it opens, so a revoked permission shows when the
    open stream ends (its timeout, a reconnect) and the re-list is refused.
    """

    def __init__(
        self,
        client: KubeClient,
        api_version: str,
        kind: str,
        handler: Callable[[str, dict[str, Any]], Awaitable[None] | None],
        *,
        namespace: str | None = None,
        labels: Labels | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        super().__init__(client, api_version, kind, handler, namespace=namespace, labels=labels)
        self.clock = clock
        self.failures = 0
        self.failing_since: float | None = None
        self.last_error = ""

    def _failed(self, exc: BaseException) -> None:
        self.failures += 1
        if self.failing_since is None:
            self.failing_since = self.clock()
        self.last_error = str(exc)[:300] or type(exc).__name__

    async def _list(self) -> str:
        try:
            version = await super()._list()
        except WATCH_ERRORS as exc:
            self._failed(exc)
            raise
        self.failures, self.failing_since, self.last_error = 0, None, ""
        return version

    async def _watch(self, version: str) -> str | None:
        try:
            return await super()._watch(version)
        except WATCH_ERRORS as exc:
            self._failed(exc)
            raise

    def failing(self, *, failures: int = STALE_FAILURES, seconds: float = STALE_AFTER) -> bool:
        """Whether the current run of failures has reached both bounds."""
        since = self.failing_since
        return self.failures >= failures and since is not None and self.clock() - since >= seconds


class NamespacedWatches:
    """The watches of one resource over the served namespaces; empty namespaces means all."""

    def __init__(
        self,
        client: KubeClient,
        api_version: str,
        kind: str,
        handler: ScopedHandler,
        *,
        namespaces: Sequence[str] = (),
        labels: Labels | None = None,
    ) -> None:
        scopes: list[str | None] = list(dict.fromkeys(namespaces)) or [None]
        self.watches = [
            TrackedWatch(
                client,
                api_version,
                kind,
                self._bound(handler, scope),
                namespace=scope,
                labels=labels,
            )
            for scope in scopes
        ]

    @staticmethod
    def _bound(
        handler: ScopedHandler, scope: str | None
    ) -> Callable[[str, dict[str, Any]], Awaitable[None] | None]:
        def handle(kind: str, obj: dict[str, Any]) -> Awaitable[None] | None:
            return handler(scope, kind, obj)

        return handle

    def start(self) -> None:
        for watch in self.watches:
            watch.start()

    async def stop(self) -> None:
        await asyncio.gather(*(watch.stop() for watch in self.watches))

    def pending(self) -> list[str]:
        """Paths of the watches that have not completed their first list yet."""
        return [watch.path for watch in self.watches if not watch.synced.is_set()]

    def failing(self) -> dict[str, str]:
        """Paths of listed watches that have failed to re-list or re-watch for too long, with
        their last error (the cache they feed is stale)."""
        return {
            watch.path: watch.last_error
            for watch in self.watches
            if watch.synced.is_set() and watch.failing()
        }

    async def wait_synced(self) -> None:
        """Until every watch has listed once (a cache is complete only then)."""
        await asyncio.gather(*(watch.synced.wait() for watch in self.watches))
