"""Tasks for external agents that pull them (behind NAT: the gateway cannot reach them).

Such an agent long-polls ``POST .../members/{name}/tasks`` on the gateway; a dispatch to its
``pull://`` endpoint hands the task to one of its waiting polls, under a lease with an id, and waits
for ``POST .../tasks/{lease}/result``. The task is the same ``NodeTask`` a pushed agent gets, with
the same idempotency key; its outcome maps to the same errors, so the node's retry policy decides
as for a push. The agent renews the leases of the tasks it holds with its heartbeat; a lease not
renewed within the member's TTL, or a member whose registration lapsed, is ``AgentLost``: the
engine retries the task, on another member when one serves it.

Polls and leases are in the memory of the replica that holds the connection (a task holds prompts
and data, which belong in no cluster object): a task dispatched by a replica is handed only to
polls waiting at that replica. A pull agent keeps several polls open (one per task slot), which a
Service spreads over the replicas; a replica with no poll waiting passes the task over, like a
busy agent, and the run waits ``queued`` until one comes.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
import uuid
from collections import defaultdict, deque
from dataclasses import dataclass, field

from agent_runtime.engine.remote import PULL_SCHEME, PassOver
from agent_runtime.executors import AgentLost, NodeTask, TaskResult
from agent_runtime.gateway.members import Member, MemberStore

log = logging.getLogger(__name__)

#: How long a dispatch waits for a poll of the member to come before passing the task over.
OFFER_WAIT = 1.0
#: How often a waiting dispatch checks that its member and lease are still alive.
CHECK_EVERY = 0.5

Key = tuple[str, str, str]


@dataclass
class Held:
    """A task handed to a member, under a lease, until its result comes back."""

    lease: str
    member: Key
    task: NodeTask
    #: Epoch seconds after which the lease lapses unless renewed.
    until: float
    outcome: asyncio.Future[TaskResult] = field(
        default_factory=lambda: asyncio.get_running_loop().create_future()
    )


class PullQueues:
    """This replica's waiting polls and leased tasks; see the module docstring."""

    def __init__(self, members: MemberStore, *, offer_wait: float = OFFER_WAIT) -> None:
        self.members = members
        self.offer_wait = offer_wait
        self._polls: defaultdict[Key, deque[asyncio.Future[Held]]] = defaultdict(deque)
        self._held: dict[str, Held] = {}
        #: idempotency key -> lease: a task dispatched again while held waits for the same one.
        self._by_key: dict[str, str] = {}
        self._arrived = asyncio.Condition()

    # --- the dispatcher's side ------------------------------------------------------------

    async def handoff(self, url: str, task: NodeTask) -> TaskResult:
        key = _key(url)
        member = self.members.get(*key)
        if member is None:
            raise PassOver(f"{url} is no longer registered")
        lease = self._by_key.get(task.idempotency_key)
        held = self._held.get(lease) if lease else None
        if held is None:
            poll = await self._waiting_poll(key)
            if poll is None:
                raise PassOver(f"{url} is not polling this gateway")
            held = Held(str(uuid.uuid4()), key, task, time.time() + member.ttl)
            self._held[held.lease] = held
            self._by_key[task.idempotency_key] = held.lease
            poll.set_result(held)
            log.debug("task %s handed to %s under lease %s", task.idempotency_key, url, held.lease)
        try:
            return await self._outcome(held)
        except asyncio.CancelledError:
            # the engine stopped waiting (the node's timeout, a cancelled run): the lease goes,
            # so the agent's result is refused and its heartbeat told the task is lost
            self._forget(held)
            raise
        finally:
            if held.outcome.done():
                self._forget(held)

    async def _waiting_poll(self, key: Key) -> asyncio.Future[Held] | None:
        deadline = time.monotonic() + self.offer_wait
        async with self._arrived:
            while True:
                polls = self._polls[key]
                while polls:
                    poll = polls.popleft()
                    if not poll.done():
                        return poll
                left = deadline - time.monotonic()
                if left <= 0:
                    return None
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout(left):
                        await self._arrived.wait()

    async def _outcome(self, held: Held) -> TaskResult:
        while True:
            done, _ = await asyncio.wait([held.outcome], timeout=CHECK_EVERY)
            if done:
                return held.outcome.result()
            member = self.members.get(*held.member)
            if member is None or held.until <= time.time():
                why = "its registration lapsed" if member is None else "its lease lapsed"
                self._forget(held)
                raise AgentLost(
                    f"external agent {'/'.join(held.member)} went away holding the task ({why})"
                )

    def _forget(self, held: Held) -> None:
        self._held.pop(held.lease, None)
        if self._by_key.get(held.task.idempotency_key) == held.lease:
            del self._by_key[held.task.idempotency_key]

    # --- the member's side ------------------------------------------------------------------

    async def next(self, member: Member, wait: float) -> Held | None:
        """A task for the member within ``wait`` seconds, or None."""
        poll: asyncio.Future[Held] = asyncio.get_running_loop().create_future()
        self._polls[member.key].append(poll)
        async with self._arrived:
            self._arrived.notify_all()
        try:
            await asyncio.wait([poll], timeout=wait)
        finally:
            if not poll.done():
                poll.cancel()
                with contextlib.suppress(ValueError):
                    self._polls[member.key].remove(poll)
        return poll.result() if poll.done() and not poll.cancelled() else None

    def renew(self, member: Member, leases: list[str]) -> list[str]:
        """Renew the member's leases among ``leases``; the ones it holds no more are returned."""
        lost = []
        for lease in leases:
            held = self._held.get(lease)
            if held is None or held.member != member.key:
                lost.append(lease)
            else:
                held.until = time.time() + member.ttl
        return lost

    def held_by(self, member: Member, lease: str) -> Held | None:
        held = self._held.get(lease)
        return held if held is not None and held.member == member.key else None

    def complete(self, held: Held, outcome: TaskResult | BaseException) -> bool:
        """Settle the lease; False when it was settled already (a duplicate result)."""
        if held.outcome.done():
            return False
        if isinstance(outcome, BaseException):
            held.outcome.set_exception(outcome)
        else:
            held.outcome.set_result(outcome)
        return True

    def polling(self, member: Member) -> int:
        return sum(not p.done() for p in self._polls.get(member.key, ()))


def _key(url: str) -> Key:
    namespace, pool, name = url.removeprefix(PULL_SCHEME).split("/", 2)
    return (namespace, pool, name)
