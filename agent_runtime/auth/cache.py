"""Decisions remembered for seconds, and one question asked once however many wait for it.

kube-rbac-proxy caches TokenReview and SubjectAccessReview answers the same way: without it every
request would cost one or two API-server round trips.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Hashable
from typing import Generic, TypeVar

from cachetools import TLRUCache

V = TypeVar("V")


class DecisionCache(Generic[V]):
    """A bounded cache whose entries live ``ttl(value)`` seconds; concurrent misses coalesce."""

    def __init__(self, ttl: Callable[[V], float], *, maxsize: int = 10_000) -> None:
        self._cache: TLRUCache[Hashable, V] = TLRUCache(
            maxsize=maxsize, ttu=lambda _key, value, now: now + ttl(value), timer=time.monotonic
        )
        self._pending: dict[Hashable, asyncio.Future[V]] = {}

    async def get(self, key: Hashable, ask: Callable[[], Awaitable[V]]) -> V:
        try:
            return self._cache[key]
        except KeyError:
            pass
        while (pending := self._pending.get(key)) is not None:
            try:
                return await asyncio.shield(pending)
            except asyncio.CancelledError:
                if not pending.cancelled():
                    raise  # this waiter was cancelled, not the question
        future: asyncio.Future[V] = asyncio.get_running_loop().create_future()
        self._pending[key] = future
        try:
            value = await ask()
        except asyncio.CancelledError:
            future.cancel()  # waiters ask again themselves
            raise
        except BaseException as exc:
            future.set_exception(exc)
            future.exception()  # retrieved: nobody else may be waiting
            raise
        finally:
            self._pending.pop(key, None)
        future.set_result(value)
        self._cache[key] = value
        return value
