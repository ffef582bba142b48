"""A2A under real authentication and RBAC, tested as an attacker would: a caller gets the card
of, and may call, only the Workflows whose runs it may create; another tenant's agent is a 404
like a missing one, and its tasks and contexts are out of reach through the caller's own agent;
no token or a bad one is a 401 before any JSON-RPC; with real tokens from the test control
plane."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from a2a.client import A2ACardResolver, A2AClientError, AgentCardResolutionError
from a2a.types import CancelTaskRequest, GetTaskRequest, SubscribeToTaskRequest, Task, TaskState
from a2a.utils.errors import InvalidParamsError, TaskNotFoundError

from tests.gateway.a2a_harness import agent_client, agent_url, bare_card, data, events, task, text
from tests.gateway.auth_harness import Tenants, bearer, kube_auth_gateway, tenants_in
from tests.gateway.conftest import GatewayProcess

pytestmark = [pytest.mark.cluster, pytest.mark.slow]


@pytest.fixture(scope="module")
def tenants(control_plane: Any, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Tenants]:
    with tenants_in(control_plane, tmp_path_factory.mktemp("a2a-auth")) as made:
        yield made


@pytest.fixture(scope="module")
def served(tenants: Tenants) -> Iterator[GatewayProcess]:
    with kube_auth_gateway(tenants) as started:
        yield started


async def card_status(url: str, token: str | None) -> int:
    async with httpx.AsyncClient(headers=bearer(token)) as http:
        try:
            await A2ACardResolver(http, url).get_agent_card()
        except AgentCardResolutionError as refused:
            assert refused.status_code is not None
            return refused.status_code
    return 200


async def test_a_card_is_only_for_who_may_call_the_agent(
    tenants: Tenants, served: GatewayProcess
) -> None:
    mine = agent_url(served, "approve", tenants.a)
    async with httpx.AsyncClient(headers=bearer(tenants.tokens["runner-a"])) as http:
        card = await A2ACardResolver(http, mine).get_agent_card()
    assert card.name == f"{tenants.a}/approve"
    scheme = card.security_schemes["bearer"].http_auth_security_scheme
    assert (scheme.scheme, scheme.bearer_format) == ("bearer", "JWT")
    assert [list(r.schemes) for r in card.security_requirements] == [["bearer"]]
    assert await card_status(mine, tenants.tokens["runner-b"]) == 404  # another tenant's
    assert await card_status(mine, tenants.tokens["viewer-a"]) == 404  # reads runs, calls none
    assert await card_status(mine, None) == 401
    assert await card_status(mine, "not-a-token") == 401
    async with httpx.AsyncClient() as http:
        refused = await http.post(mine, json={"jsonrpc": "2.0", "id": 1, "method": "GetTask"})
    assert refused.status_code == 401
    assert refused.headers["WWW-Authenticate"].startswith("Bearer")


async def waiting_task(served: GatewayProcess, tenants: Tenants) -> Task:
    async with agent_client(
        agent_url(served, "approve", tenants.a), token=tenants.tokens["runner-a"], streaming=False
    ) as client:
        waiting = await task(client, text("x"))
    assert waiting.status.state == TaskState.TASK_STATE_INPUT_REQUIRED
    return waiting


async def test_another_tenant_cannot_reach_a_task(tenants: Tenants, served: GatewayProcess) -> None:
    waiting = await waiting_task(served, tenants)
    theirs = agent_url(served, "approve", tenants.a)
    for intruder in ("runner-b", "viewer-a"):
        token = tenants.tokens[intruder]
        async with agent_client(theirs, token=token, card=bare_card(theirs)) as client:
            for attempt in (
                client.get_task(GetTaskRequest(id=waiting.id)),
                client.cancel_task(CancelTaskRequest(id=waiting.id)),
                events(client, data({"approved": True}, task_id=waiting.id)),
                events(client, text("x")),
            ):
                with pytest.raises(A2AClientError, match="HTTP Error 404"):
                    await attempt
    own = agent_url(served, "approve", tenants.b)  # through runner-b's own agent
    async with agent_client(own, token=tenants.tokens["runner-b"]) as client:
        for attempt in (
            client.get_task(GetTaskRequest(id=waiting.id)),
            client.cancel_task(CancelTaskRequest(id=waiting.id)),
            events(client, data({"approved": True}, task_id=waiting.id)),
        ):
            with pytest.raises(TaskNotFoundError):
                await attempt
        with pytest.raises(TaskNotFoundError):
            await anext(aiter(client.subscribe(SubscribeToTaskRequest(id=waiting.id))))
        with pytest.raises(InvalidParamsError) as context:
            await events(client, text("x", context_id=waiting.context_id))
    assert context.value.data is not None
    assert context.value.data["errors"] == [
        {"field": "message.contextId", "message": "a context of another agent"}
    ]
    admin = bearer(tenants.tokens["admin"])
    async with httpx.AsyncClient(base_url=served.url, headers=admin) as http:
        run = (await http.get(f"/v1/runs/{waiting.id}")).json()
        runs = (await http.get("/v1/runs")).json()["items"]
        thread = (await http.get(f"/v1/threads/{waiting.context_id}")).json()
    assert run["status"] == "interrupted" and run.get("resumedBy") is None  # nobody answered
    assert [r["createdBy"]["username"] for r in runs if r["namespace"] == tenants.a] == [
        f"system:serviceaccount:{tenants.a}:runner-a"
    ]  # the intruders started nothing there
    assert thread["lastRunId"] == waiting.id


async def test_the_caller_answers_and_cancels_their_own_tasks(
    tenants: Tenants, served: GatewayProcess
) -> None:
    waiting = await waiting_task(served, tenants)
    cancelled = await waiting_task(served, tenants)
    url = agent_url(served, "approve", tenants.a)
    async with agent_client(url, token=tenants.tokens["runner-a"], streaming=False) as client:
        done = await task(client, text("true", task_id=waiting.id))  # its one field, as JSON
        stopped = await client.cancel_task(CancelTaskRequest(id=cancelled.id))
    assert done.status.state == TaskState.TASK_STATE_COMPLETED
    assert stopped.status.state == TaskState.TASK_STATE_CANCELED
