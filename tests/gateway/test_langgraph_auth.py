"""The LangGraph API under real authentication and RBAC, probed as an attacker would with the
real client: another tenant's assistants, threads and runs are 404 on every route (as if they
did not exist), their secrets never echoed; a viewer reads but starts, answers and changes
nothing (403). Same real parts as ``test_threads_auth``: TokenRequest tokens, the shipped
ClusterRoles, a ``serve --auth kubernetes`` process."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Iterator
from typing import Any

import httpx
import pytest
from langgraph_sdk import get_client

from tests.gateway.auth_harness import Tenants, bearer
from tests.gateway.conftest import GatewayProcess
from tests.gateway.test_threads_auth import gateway, tenants  # noqa: F401 (fixtures)

pytestmark = [pytest.mark.cluster, pytest.mark.slow]

SECRET = {"owner": "tenant-a", "secret": "do-not-leak"}


def client_of(served: GatewayProcess, token: str) -> Any:
    return get_client(url=f"{served.url}/langgraph", headers=bearer(token))


async def status_of(call: Awaitable[Any]) -> tuple[int, str]:
    try:
        await call
    except httpx.HTTPStatusError as refused:
        return refused.response.status_code, refused.response.text
    return 200, ""


@pytest.fixture
def waiting_thread(gateway: GatewayProcess, tenants: Tenants) -> Iterator[tuple[str, str]]:  # noqa: F811
    """A thread runner-a made in A through the LangGraph API, its run waiting at a person."""

    async def make() -> tuple[str, str]:
        owner = client_of(gateway, tenants.tokens["runner-a"])
        thread = await owner.threads.create(metadata={**SECRET, "namespace": tenants.a})
        waited = await owner.runs.wait(
            thread["thread_id"], f"{tenants.a}/approve", input={"topic": "x"}
        )
        assert waited["__interrupt__"], waited
        runs = await owner.runs.list(thread["thread_id"])
        return thread["thread_id"], runs[0]["run_id"]

    yield asyncio.run(make())


def probes(client: Any, namespace: str, tid: str, rid: str) -> dict[str, Callable[[], Any]]:
    """Every LangGraph route a caller could try on A's thread, run and assistant, by name."""
    assistant = f"{namespace}/approve"

    async def streamed() -> None:
        async for _ in client.runs.stream(tid, assistant, input={"topic": "steal"}):
            pass

    async def joined() -> None:
        async for _ in client.runs.join_stream(tid, rid, last_event_id="0"):
            pass

    return {
        "assistant": lambda: client.assistants.get(assistant),
        "schemas": lambda: client.assistants.get_schemas(assistant),
        "thread": lambda: client.threads.get(tid),
        "state": lambda: client.threads.get_state(tid),
        "history": lambda: client.threads.get_history(tid),
        "patch": lambda: client.threads.update(tid, metadata={"x": 1}),
        "update_state": lambda: client.threads.update_state(tid, {"approved": True}),
        "copy": lambda: client.threads.copy(tid),
        "runs": lambda: client.runs.list(tid),
        "run": lambda: client.runs.get(tid, rid),
        "join": lambda: client.runs.join(tid, rid),
        "join_stream": joined,
        "create_run": lambda: client.runs.create(tid, assistant, input={"topic": "steal"}),
        "stream_run": streamed,
        "resume": lambda: client.runs.wait(tid, assistant, command={"resume": {"approved": True}}),
        "stateless": lambda: client.runs.wait(None, assistant, input={"topic": "steal"}),
        "cancel": lambda: client.runs.cancel(tid, rid),
        "delete": lambda: client.threads.delete(tid),
    }


async def test_another_tenant_learns_and_changes_nothing(
    tenants: Tenants,  # noqa: F811
    gateway: GatewayProcess,  # noqa: F811
    waiting_thread: tuple[str, str],
) -> None:
    tid, rid = waiting_thread
    intruder = client_of(gateway, tenants.tokens["runner-b"])
    admin = client_of(gateway, tenants.tokens["admin"])
    before = await admin.threads.get(tid)
    for route, probe in probes(intruder, tenants.a, tid, rid).items():
        status, text = await status_of(probe())
        assert status == 404, f"{route}: {status} {text}"
        assert "do-not-leak" not in text and "tenant-a" not in text, route
    found = await intruder.threads.search(metadata={"secret": "do-not-leak"})
    assert tid not in {t["thread_id"] for t in found}
    shown = {a["graph_id"] for a in await intruder.assistants.search(limit=100)}
    assert f"{tenants.a}/approve" not in shown and f"{tenants.b}/approve" in shown
    status, _ = await status_of(intruder.threads.create(metadata={"namespace": tenants.a}))
    assert status == 403
    after = await admin.threads.get(tid)
    assert after == before, "a refused call changed the thread"


async def test_a_viewer_reads_but_changes_nothing(
    tenants: Tenants,  # noqa: F811
    gateway: GatewayProcess,  # noqa: F811
    waiting_thread: tuple[str, str],
) -> None:
    tid, rid = waiting_thread
    viewer = client_of(gateway, tenants.tokens["viewer-a"])
    answers = {}
    for route, probe in probes(viewer, tenants.a, tid, rid).items():
        answers[route] = (await status_of(probe()))[0]
    reads = ("assistant", "schemas", "thread", "state", "history", "runs", "run", "join_stream")
    assert {r: answers[r] for r in reads} == dict.fromkeys(reads, 200)
    writes = ("patch", "update_state", "copy", "create_run", "stream_run", "resume", "stateless")
    assert {r: answers[r] for r in (*writes, "cancel", "delete")} == dict.fromkeys(
        (*writes, "cancel", "delete"), 403
    )
    state = await viewer.threads.get_state(tid)
    assert state["next"] == ["ask"] and state["interrupts"]
