"""Store calls tried again, in one place for every backend, and faults injected there for tests.

A call is tried again (up to ``ATTEMPTS`` times, backing off from ``BACKOFF`` seconds) when its
error is retryable and either nothing of it reached the store (``StoreError.unsent``: a fault
injected here, a connection never made) or trying again cannot do anything twice (reads, lease
renewals and releases, claims, retention). A write that may have reached the store (a step's
commit, an appended event) is not repeated blindly: the error goes up, and the engine leaves the
run to be resumed from its last checkpoint.

``CONFIGURABLE_AGENTS_STORE_FAULTS=RATE[:SEED]`` makes that fraction of calls (and of the LangGraph
saver's commits and reads) fail here before they start, as Temporal's test runs fail 0.5% of
persistence calls: the platform must go on as if nothing happened.
"""

from __future__ import annotations

import asyncio
import logging
import os
import random
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from agent_runtime.stores.base import RunStore
from agent_runtime.stores.errors import StoreError

log = logging.getLogger(__name__)

FAULTS_ENV = "CONFIGURABLE_AGENTS_STORE_FAULTS"
ATTEMPTS = 5
BACKOFF = 0.01

#: The interface's calls, and those that may be tried again whatever their error.
STORE_CALLS: dict[str, bool] = {
    "create_run": False,
    "get_run": True,
    "list_runs": True,
    "count_runs": True,
    "transition": False,
    "transition_and_emit": False,
    "is_cancelled": True,
    "record_step": False,
    "list_steps": True,
    "append_event": False,
    "list_events": True,
    "claim_run": True,
    "renew_lease": True,
    "release_lease": True,
    "take_token": False,
    "delete_runs": True,
    "add_spend": False,
    "get_spend": True,
}
#: The LangGraph saver's calls into its backend (``coalescing.CoalescingSaver``).
SAVER_CALLS: dict[str, bool] = {
    "_write_step": False,
    "_read_one": True,
    "_read_many": True,
    "_prune": True,
}


class InjectedFault(StoreError):
    """A failure made on purpose before the call started (``CONFIGURABLE_AGENTS_STORE_FAULTS``)."""

    code = "store_unavailable"
    retryable = True
    unsent = True


@dataclass
class Faults:
    """Fail ``rate`` of calls before they start; counts what it did."""

    rate: float
    rng: random.Random = field(default_factory=random.Random)
    injected: int = 0
    calls: int = 0

    def check(self, call: str) -> None:
        self.calls += 1
        if self.rng.random() < self.rate:
            self.injected += 1
            raise InjectedFault(f"injected store fault in {call}")

    @classmethod
    def from_env(cls) -> Faults | None:
        value = os.environ.get(FAULTS_ENV, "").strip()
        if not value:
            return None
        rate, _, seed = value.partition(":")
        try:
            faults = cls(float(rate), random.Random(int(seed) if seed else None))
        except ValueError:
            raise StoreError(f"{FAULTS_ENV}: expected RATE or RATE:SEED, such as 0.005") from None
        if not 0 <= faults.rate < 1:
            raise StoreError(f"{FAULTS_ENV}: the rate must be at least 0 and below 1")
        log.info("failing %.2f%% of store calls on purpose (%s)", faults.rate * 100, FAULTS_ENV)
        return faults


def with_retries(store: RunStore, faults: Faults | None = None) -> RunStore:
    """The same store object, its calls (and its saver's) tried again as the module says."""
    store.__class__ = _retrying(type(store), STORE_CALLS, saver=True)
    store._faults = faults  # type: ignore[attr-defined]
    return store


_CLASSES: dict[tuple[type, bool], type] = {}


def _retrying(cls: type, calls: dict[str, bool], *, saver: bool) -> type:
    key = (cls, saver)
    if key not in _CLASSES:
        members: dict[str, Any] = {
            name: _retried(name, getattr(cls, name), safe)
            for name, safe in calls.items()
            if hasattr(cls, name)
        }
        if saver:
            members["_new_saver"] = _retried_saver(cls._new_saver)  # type: ignore[attr-defined]
        _CLASSES[key] = type(cls.__name__, (cls,), {"__module__": cls.__module__, **members})
    return _CLASSES[key]


def _retried(
    call: str, method: Callable[..., Awaitable[Any]], safe: bool
) -> Callable[..., Awaitable[Any]]:
    async def retried(self: Any, *args: Any, **kwargs: Any) -> Any:
        faults: Faults | None = getattr(self, "_faults", None)
        for attempt in range(ATTEMPTS):
            try:
                if faults is not None:
                    faults.check(call)
                return await method(self, *args, **kwargs)
            except StoreError as exc:
                again = exc.retryable and (safe or exc.unsent)
                if not again or attempt == ATTEMPTS - 1:
                    raise
                log.debug("store call %s failed (%s); trying again", call, exc)
            await asyncio.sleep(BACKOFF * 2**attempt * random.uniform(0.5, 1.0))
        raise AssertionError("unreachable")  # pragma: no cover

    retried.__name__ = retried.__qualname__ = call
    retried.__doc__ = method.__doc__
    return retried


def _retried_saver(make: Callable[[Any], Any]) -> Callable[[Any], Any]:
    def new_saver(self: Any) -> Any:
        saver = make(self)
        saver.__class__ = _retrying(type(saver), SAVER_CALLS, saver=False)
        saver._faults = self._faults
        return saver

    return new_saver
