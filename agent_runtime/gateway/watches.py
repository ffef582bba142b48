"""One list-then-watch per served namespace (or one cluster-wide), run and judged together.

A gateway limited to some namespaces may not list anything cluster-wide (its RBAC is RoleBindings
in those namespaces), so each namespace gets its own watch; the handler is told which one spoke,
so a re-list replaces only that namespace's part of a shared cache.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

from agent_runtime.kube import KubeClient, Watch

#: (namespace, or None for the cluster-wide watch; event type; object)
ScopedHandler = Callable[[str | None, str, dict[str, Any]], Awaitable[None] | None]


def resource_path(api: str, resource: str, namespace: str | None) -> str:
    """``/apis/group/version[/namespaces/ns]/resource``."""
    return f"{api}/namespaces/{namespace}/{resource}" if namespace else f"{api}/{resource}"


class NamespacedWatches:
    """The watches of one resource over the served namespaces; empty namespaces means all."""

    def __init__(
        self,
        client: KubeClient,
        api: str,
        resource: str,
        handler: ScopedHandler,
        *,
        namespaces: Sequence[str] = (),
        label_selector: str = "",
    ) -> None:
        scopes: list[str | None] = list(dict.fromkeys(namespaces)) or [None]
        self.watches = [
            Watch(
                client,
                resource_path(api, resource, scope),
                self._bound(handler, scope),
                label_selector=label_selector,
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

    async def wait_synced(self) -> None:
        """Until every watch has listed once (a cache is complete only then)."""
        await asyncio.gather(*(watch.synced.wait() for watch in self.watches))
