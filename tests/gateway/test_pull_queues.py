"""The pull queues of one gateway replica, in process: hand-off to a waiting poll, pass-over when
none waits, one lease for a task dispatched twice, renewals, and a lapsed lease or member."""

from __future__ import annotations

import asyncio
import dataclasses
import time

import pytest

from agent_runtime.engine.remote import PassOver
from agent_runtime.executors import AgentLost, NodeTask, TaskError, TaskResult
from agent_runtime.gateway import pull
from agent_runtime.gateway.members import Member, MemoryMembers, WithMembers


def member(name: str = "m", *, ttl: float = 30, address: str | None = None) -> Member:
    return Member(
        namespace="a",
        pool="p",
        name=name,
        capabilities=frozenset({"llm"}),
        address=address,
        holder="u",
        ttl=ttl,
        renewed=time.time(),
    )


def task(run: str = "r1", attempt: int = 1) -> NodeTask:
    return NodeTask(run_id=run, workflow="a/w", node="n", type="llm", attempt=attempt)


async def test_one_registry_lists_cluster_then_external_members() -> None:
    members = MemoryMembers()
    await members.put(member("pulls"))
    await members.put(member("pushed", address="http://127.0.0.9:8080"))
    await members.put(dataclasses.replace(member("lapsed"), renewed=time.time() - 60))

    class Inside:
        def endpoints(self, capability: str, namespace: str | None = None) -> list[str]:
            return ["http://127.0.0.8:8080"] if namespace == "a" else []

    source = WithMembers(Inside(), members)
    assert source.endpoints("llm", "a") == [
        "http://127.0.0.8:8080",
        "pull://a/p/pulls",
        "external+http://127.0.0.9:8080",
    ]
    assert source.endpoints("llm", "b") == []
    assert source.endpoints("other", "a") == ["http://127.0.0.8:8080"]


async def test_a_task_goes_to_a_waiting_poll_and_its_result_comes_back() -> None:
    members = MemoryMembers()
    m = await members.put(member())
    queues = pull.PullQueues(members, offer_wait=0.2)
    with pytest.raises(PassOver, match="not polling"):
        await queues.handoff(m.url, task())

    poll = asyncio.create_task(queues.next(m, 5))
    await asyncio.sleep(0)
    dispatched = asyncio.create_task(queues.handoff(m.url, task()))
    held = await poll
    assert held is not None and held.task.run_id == "r1"
    # dispatched again while held (the engine retrying the same key): the same lease, no new poll
    again = asyncio.create_task(queues.handoff(m.url, task()))
    await asyncio.sleep(0.05)
    assert queues.held_by(m, held.lease) is held
    assert queues.held_by(dataclasses.replace(m, name="other"), held.lease) is None
    assert queues.complete(held, TaskResult(output="done"))
    assert not queues.complete(held, TaskResult(output="twice"))
    assert (await dispatched).output == "done"
    assert (await again).output == "done"
    assert queues.held_by(m, held.lease) is None  # settled and forgotten


async def test_an_error_maps_like_a_pushed_one() -> None:
    members = MemoryMembers()
    m = await members.put(member())
    queues = pull.PullQueues(members, offer_wait=1)
    poll = asyncio.create_task(queues.next(m, 5))
    dispatched = asyncio.create_task(queues.handoff(m.url, task()))
    held = await poll
    assert held is not None
    queues.complete(held, TaskError("the model failed"))
    with pytest.raises(TaskError, match="the model failed"):
        await dispatched


async def test_a_lease_not_renewed_lapses_and_renewal_keeps_it(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(pull, "CHECK_EVERY", 0.05)
    members = MemoryMembers()
    m = await members.put(member(ttl=0.5))
    queues = pull.PullQueues(members, offer_wait=1)
    poll = asyncio.create_task(queues.next(m, 5))
    dispatched = asyncio.create_task(queues.handoff(m.url, task()))
    held = await poll
    assert held is not None
    for _ in range(4):  # heartbeats renewing the member and the lease
        await asyncio.sleep(0.2)
        m = await members.put(dataclasses.replace(m, renewed=time.time()))
        assert queues.renew(m, [held.lease, "unknown"]) == ["unknown"]
    assert not dispatched.done()
    # the heartbeat goes on but no longer names the lease (the agent lost the task)
    for _ in range(5):
        await asyncio.sleep(0.2)
        m = await members.put(dataclasses.replace(m, renewed=time.time()))
    with pytest.raises(AgentLost, match="lease lapsed"):
        await dispatched


async def test_a_member_lapsing_while_it_holds_a_task_loses_it(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(pull, "CHECK_EVERY", 0.05)
    members = MemoryMembers()
    m = await members.put(member(ttl=0.3))
    queues = pull.PullQueues(members, offer_wait=1)
    poll = asyncio.create_task(queues.next(m, 5))
    dispatched = asyncio.create_task(queues.handoff(m.url, task()))
    assert await poll is not None
    with pytest.raises(AgentLost, match="registration lapsed"):
        await dispatched
    with pytest.raises(PassOver, match="no longer registered"):
        await queues.handoff(m.url, task("r2"))


async def test_a_poll_with_nothing_to_do_ends_empty() -> None:
    members = MemoryMembers()
    m = await members.put(member())
    queues = pull.PullQueues(members)
    assert await queues.next(m, 0.1) is None
    assert queues.polling(m) == 0


async def test_a_dispatch_given_up_forgets_its_lease() -> None:
    """The node's timeout cancels the dispatch: the agent's late result finds no lease, and its
    heartbeat is told the task is lost."""
    members = MemoryMembers()
    m = await members.put(member())
    queues = pull.PullQueues(members, offer_wait=1)
    poll = asyncio.create_task(queues.next(m, 5))
    with pytest.raises(TimeoutError):
        async with asyncio.timeout(0.3):
            dispatched = asyncio.create_task(queues.handoff(m.url, task()))
            held = await poll
            await dispatched
    assert held is not None
    assert queues.held_by(m, held.lease) is None
    assert queues.renew(m, [held.lease]) == [held.lease]


async def test_a_task_the_agent_refused_unstarted_passes_over() -> None:
    """Busy or draining when the task came: the dispatcher goes on to the next agent."""
    members = MemoryMembers()
    m = await members.put(member())
    queues = pull.PullQueues(members, offer_wait=1)
    poll = asyncio.create_task(queues.next(m, 5))
    dispatched = asyncio.create_task(queues.handoff(m.url, task()))
    held = await poll
    assert held is not None
    queues.complete(held, PassOver("external agent a/p/m draining"))
    with pytest.raises(PassOver, match="draining"):
        await dispatched
