"""A2A at /a2a/{namespace}/{name} through the real ``a2a-sdk`` client over HTTP against ``serve``
processes: card discovery, send, stream (steps and model text), get, cancel, input-required
then the next message resuming, a stream dropped and taken up on another gateway, a context
continued by a follow-up message, the 0.3 method names, and bad params naming the field."""

from __future__ import annotations

import json
from collections.abc import AsyncGenerator, Callable
from pathlib import Path
from typing import cast

import httpx
import pytest
from a2a.client import A2ACardResolver, AgentCardResolutionError
from a2a.types import (
    CancelTaskRequest,
    GetTaskRequest,
    ListTasksRequest,
    StreamResponse,
    SubscribeToTaskRequest,
    TaskState,
)
from a2a.utils.errors import (
    InvalidParamsError,
    InvalidRequestError,
    TaskNotCancelableError,
    TaskNotFoundError,
)

from tests.gateway.a2a_harness import (
    agent_client,
    agent_url,
    as_json,
    bare_card,
    data,
    events,
    output,
    request,
    task,
    text,
)
from tests.gateway.conftest import GatewayProcess, protocol_folder
from tests.gateway.test_streamed_conversation import FAST_DELTAS, talk_folder

#: Two steps of a second each: a run to drop a stream of and take up again.
STEPS = """
apiVersion: configurable-agents.io/v1alpha1
kind: Workflow
metadata: {name: steps, namespace: default}
spec:
  state: {topic: {type: string}, first: {type: string}, second: {type: string}}
  input: [topic]
  output: [second]
  models:
    one: {provider: scripted, responses: ["one"], delay: 1s}
    two: {provider: scripted, responses: ["two"], delay: 1s}
  nodes:
    - {name: first, type: llm, model: one, prompt: "{{ topic }}", output: first}
    - {name: second, type: llm, model: two, prompt: "{{ first }}", output: second}
  edges: [{from: START, to: first}, {from: first, to: second}, {from: second, to: END}]
"""
CHAIN = "linear-chain"
APPROVAL = "human-approval"
BRIEF = "Brief: durable agents checkpoint every step, so a run survives any crash."


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    folder = protocol_folder(tmp_path / "workflows")
    talk_folder(folder)
    (folder / "steps.yaml").write_text(STEPS)
    return folder


@pytest.fixture
def gateway(
    start_gateway: Callable[..., GatewayProcess], sqlite_url: str, folder: Path
) -> GatewayProcess:
    return start_gateway(sqlite_url, workflows=folder, env=FAST_DELTAS)


async def test_each_workflow_has_a_card_to_discover(gateway: GatewayProcess) -> None:
    url = agent_url(gateway, CHAIN)
    async with httpx.AsyncClient() as http:
        card = await A2ACardResolver(http, url).get_agent_card()
    assert card.name == "default/linear-chain"
    assert card.description == "Research a topic, then write a short brief from the notes"
    assert [(i.url, i.protocol_version) for i in card.supported_interfaces] == [
        (url, "1.0"),
        (url, "0.3"),
    ]
    assert card.capabilities.streaming and not card.capabilities.push_notifications
    [skill] = card.skills
    assert (skill.id, skill.name) == (CHAIN, "default/linear-chain")
    assert list(skill.tags) == ["default", "input:topic", "llm", "web-research"]
    assert list(card.default_input_modes) == ["text/plain", "application/json"]
    assert not card.security_schemes  # this gateway authenticates nobody
    async with httpx.AsyncClient() as http:
        missing = await http.get(f"{agent_url(gateway, 'no-such')}/.well-known/agent-card.json")
    assert missing.status_code == 404
    assert missing.json()["error"]["code"] == "workflow_not_found"
    with pytest.raises(AgentCardResolutionError) as unknown:
        async with agent_client(agent_url(gateway, "no-such")):
            pass
    assert unknown.value.status_code == 404


async def test_send_answers_the_finished_task_and_get_reads_it(gateway: GatewayProcess) -> None:
    async with agent_client(agent_url(gateway, CHAIN), streaming=False) as client:
        done = await task(client, text("leases"))
        again = await client.get_task(GetTaskRequest(id=done.id))
    assert done.status.state == TaskState.TASK_STATE_COMPLETED
    assert output(done) == {"draft": BRIEF, "sources": ["https://example.org/durable-execution"]}
    assert again == done
    async with httpx.AsyncClient(base_url=gateway.url) as http:
        run = (await http.get(f"/v1/runs/{done.id}")).json()  # the task is the run
        thread = (await http.get(f"/v1/threads/{done.context_id}")).json()
    assert run["status"] == "succeeded" and run["input"] == {"topic": "leases"}
    assert run["threadId"] == done.context_id and thread["workflow"] == CHAIN


async def test_a_stream_carries_each_step_and_the_models_text(gateway: GatewayProcess) -> None:
    async with agent_client(agent_url(gateway, "talk")) as client:
        got = await events(client, text("hello there you"))
    assert got[0].HasField("task")
    assert got[0].task.status.state == TaskState.TASK_STATE_SUBMITTED
    updates = [as_json(e.status_update) for e in got if e.HasField("status_update")]
    steps = [(u["metadata"]["event"], u["metadata"]["node"]) for u in updates[:-1]]
    assert steps[0] == ("node.started", "reply") and steps[-1] == ("node.finished", "reply")
    pieces = [
        u["status"]["message"]["parts"][0]["text"]
        for u in updates
        if u.get("metadata", {}).get("event") == "node.delta"
    ]
    assert len(pieces) > 1, updates  # the answer came in parts as the model wrote it
    assert "".join(pieces) == "hello there you"
    [artifact] = [e.artifact_update for e in got if e.HasField("artifact_update")]
    assert artifact.last_chunk and artifact.artifact.parts[1].text == "hello there you"
    assert got[-1].status_update.status.state == TaskState.TASK_STATE_COMPLETED


async def test_cancel_cancels_the_run(gateway: GatewayProcess) -> None:
    async with agent_client(agent_url(gateway, "slow"), streaming=False, polling=True) as client:
        started = await task(client, text("x"))  # answered at once: returnImmediately
        assert started.status.state == TaskState.TASK_STATE_SUBMITTED
        cancelled = await client.cancel_task(CancelTaskRequest(id=started.id))
        assert cancelled.status.state == TaskState.TASK_STATE_CANCELED
        with pytest.raises(TaskNotCancelableError):
            await client.cancel_task(CancelTaskRequest(id=started.id))
        read = await client.get_task(GetTaskRequest(id=started.id))
    assert read.status.state == TaskState.TASK_STATE_CANCELED
    async with httpx.AsyncClient(base_url=gateway.url) as http:
        run = (await http.get(f"/v1/runs/{started.id}")).json()
    assert run["status"] == "cancelled"
    assert run["cancelledBy"]["username"] == "system:anonymous"


async def test_a_human_node_is_input_required_and_the_next_message_resumes(
    gateway: GatewayProcess,
) -> None:
    async with agent_client(agent_url(gateway, APPROVAL)) as client:
        got = await events(client, text("leases"))
        waiting = got[0].task
        assert got[-1].status_update.status.state == TaskState.TASK_STATE_INPUT_REQUIRED
        asked = got[-1].status_update.status.message
        assert asked.parts[0].text.startswith("Approve this brief? Leases let another gateway")
        assert as_json(asked.parts[1].data)["fields"] == {
            "approved": {"type": "boolean"},
            "feedback": {"type": "string"},
        }
        with pytest.raises(InvalidRequestError) as busy:  # a new task in its context waits
            await events(client, text("again", context_id=waiting.context_id))
        assert busy.value.data is not None and busy.value.data["code"] == "conflict"
        assert waiting.id in busy.value.message
        with pytest.raises(InvalidParamsError) as bad:
            await events(client, data({"approved": "yes", "feedback": "ok"}, task_id=waiting.id))
        assert bad.value.data is not None
        assert [e["field"] for e in bad.value.data["errors"]] == ["approved"]
        resumed = await events(
            client, data({"approved": True, "feedback": "ok"}, task_id=waiting.id)
        )
        with pytest.raises(InvalidParamsError) as over:
            await events(client, data({"approved": True}, task_id=waiting.id))
    assert resumed[0].task.status.state == TaskState.TASK_STATE_SUBMITTED  # queued to go on
    done = resumed[-1].status_update
    assert done.status.state == TaskState.TASK_STATE_COMPLETED
    [artifact] = [e.artifact_update.artifact for e in resumed if e.HasField("artifact_update")]
    assert as_json(artifact.parts[0].data)["published"].startswith("PUBLISHED: Leases")
    steps = [
        as_json(e.status_update)["metadata"]["node"]
        for e in resumed
        if e.HasField("status_update") and e.status_update.HasField("metadata")
    ]
    assert "draft" not in steps and "publish" in steps  # only what followed the answer
    assert over.value.data is not None
    assert over.value.data["errors"][0]["field"] == "message.taskId"


async def test_a_dropped_stream_is_taken_up_on_another_gateway(
    gateway: GatewayProcess,
    start_gateway: Callable[..., GatewayProcess],
    sqlite_url: str,
    folder: Path,
) -> None:
    other = start_gateway(sqlite_url, workflows=folder)  # the same store
    async with agent_client(agent_url(gateway, "steps")) as client:
        stream = cast(AsyncGenerator[StreamResponse], client.send_message(text("go")))
        first = await anext(stream)
        await stream.aclose()  # the client goes away; the run does not
    async with agent_client(agent_url(other, "steps")) as client:
        taken = [e async for e in client.subscribe(SubscribeToTaskRequest(id=first.task.id))]
        assert taken[0].task.id == first.task.id
        assert taken[0].task.status.state in (
            TaskState.TASK_STATE_SUBMITTED,
            TaskState.TASK_STATE_WORKING,
        )
        assert taken[-1].status_update.status.state == TaskState.TASK_STATE_COMPLETED
        done = await client.get_task(GetTaskRequest(id=first.task.id))
        over = [e async for e in client.subscribe(SubscribeToTaskRequest(id=first.task.id))]
    assert output(done) == {"second": "two"}
    [artifact] = [e.artifact_update.artifact for e in taken if e.HasField("artifact_update")]
    assert as_json(artifact.parts[0].data) == {"second": "two"}
    assert [e.task.status.state for e in over] == [TaskState.TASK_STATE_COMPLETED]


async def test_a_follow_up_message_in_the_context_continues_the_conversation(
    gateway: GatewayProcess,
) -> None:
    async with agent_client(agent_url(gateway, "talk"), streaming=False) as client:
        first = await task(client, text("first words"))
        second = await task(client, text("second words", context_id=first.context_id))
        mine = await task(client, text("named", context_id="my-conversation"))
        with pytest.raises(InvalidParamsError) as bad_id:
            await task(client, text("x", context_id="no spaces allowed"))
    assert second.context_id == first.context_id and second.id != first.id
    assert mine.context_id == "my-conversation"
    assert bad_id.value.data is not None
    assert bad_id.value.data["errors"][0]["field"] == "message.contextId"
    async with httpx.AsyncClient(base_url=gateway.url) as http:
        thread = (await http.get(f"/v1/threads/{first.context_id}")).json()
    said = [(m["role"], m["content"]) for m in thread["values"]["messages"]]
    assert said == [
        ("user", "first words"),
        ("assistant", "first words"),
        ("user", "second words"),
        ("assistant", "second words"),
    ]


async def test_list_tasks_reads_the_agents_runs(gateway: GatewayProcess) -> None:
    async with agent_client(agent_url(gateway, CHAIN), streaming=False) as chain:
        other = await task(chain, text("other"))
    async with agent_client(agent_url(gateway, "talk"), streaming=False) as client:
        first = await task(client, text("one"))
        second = await task(client, text("two", context_id=first.context_id))
        third = await task(client, text("three"))
        listed = await client.list_tasks(ListTasksRequest())
        paged = await client.list_tasks(ListTasksRequest(page_size=2))
        rest = await client.list_tasks(ListTasksRequest(page_token=paged.next_page_token))
        context = await client.list_tasks(ListTasksRequest(context_id=first.context_id))
        done = await client.list_tasks(
            ListTasksRequest(status=TaskState.TASK_STATE_COMPLETED, include_artifacts=True)
        )
        waiting = await client.list_tasks(
            ListTasksRequest(status=TaskState.TASK_STATE_INPUT_REQUIRED)
        )
        with pytest.raises(InvalidParamsError) as elsewhere:
            await client.list_tasks(ListTasksRequest(context_id=other.context_id))
    newest_first = [third.id, second.id, first.id]
    assert [t.id for t in listed.tasks] == newest_first  # not the other agent's
    assert [t.id for t in paged.tasks] + [t.id for t in rest.tasks] == newest_first
    assert [t.id for t in context.tasks] == [second.id, first.id]
    assert [t.id for t in done.tasks] == newest_first
    assert output(done.tasks[0])["messages"][-1]["content"] == "three"
    assert list(waiting.tasks) == []
    assert elsewhere.value.data is not None
    assert elsewhere.value.data["errors"][0]["field"] == "contextId"


async def test_a_context_of_another_agent_is_refused(gateway: GatewayProcess) -> None:
    async with agent_client(agent_url(gateway, CHAIN), streaming=False) as chain:
        done = await task(chain, text("leases"))
    async with agent_client(agent_url(gateway, "talk"), streaming=False) as talk:
        with pytest.raises(InvalidParamsError) as elsewhere:
            await task(talk, text("x", context_id=done.context_id))
        with pytest.raises(TaskNotFoundError):  # a task of another agent is no task of this one
            await talk.get_task(GetTaskRequest(id=done.id))
    assert elsewhere.value.data is not None
    assert elsewhere.value.data["errors"] == [
        {"field": "message.contextId", "message": "a context of another agent"}
    ]


async def test_the_03_method_names_answer_too(gateway: GatewayProcess) -> None:
    url = agent_url(gateway, CHAIN)
    async with agent_client(url, streaming=False, card=bare_card(url, "0.3")) as client:
        done = await task(client, text("leases"))  # message/send
        read = await client.get_task(GetTaskRequest(id=done.id))  # tasks/get
    assert done.status.state == TaskState.TASK_STATE_COMPLETED
    assert output(read)["draft"] == BRIEF
    steps = agent_url(gateway, "steps")
    async with agent_client(steps, card=bare_card(steps, "0.3")) as client:
        streamed = await events(client, text("go"))  # message/stream
        over = [  # tasks/resubscribe
            e async for e in client.subscribe(SubscribeToTaskRequest(id=streamed[0].task.id))
        ]
        with pytest.raises(TaskNotCancelableError):  # tasks/cancel
            await client.cancel_task(CancelTaskRequest(id=streamed[0].task.id))
    assert streamed[-1].status_update.status.state == TaskState.TASK_STATE_COMPLETED
    assert [e.task.status.state for e in over] == [TaskState.TASK_STATE_COMPLETED]


async def test_an_approval_is_input_required_and_answered_by_a_data_part(
    gateway: GatewayProcess,
) -> None:
    async with agent_client(agent_url(gateway, "pay"), streaming=False) as client:
        waiting = await task(client, data({}))  # no inputs: an empty object
        asked = as_json(waiting.status.message.parts[1].data)
        with pytest.raises(InvalidParamsError) as as_text:
            await task(client, text("yes", task_id=waiting.id))
        with pytest.raises(InvalidParamsError) as bad:
            await task(client, data({"approved": "maybe"}, task_id=waiting.id))
        done = await task(client, data({"approved": False, "reason": "no"}, task_id=waiting.id))
    assert waiting.status.state == TaskState.TASK_STATE_INPUT_REQUIRED
    assert asked["kind"] == "approval" and "charge" in waiting.status.message.parts[0].text
    assert as_text.value.data is not None and bad.value.data is not None
    assert as_text.value.data["errors"][0]["field"] == "message.parts"
    assert bad.value.data["errors"][0]["field"] == "approved"
    assert done.status.state == TaskState.TASK_STATE_COMPLETED
    assert "a person denied this call of 'charge': no" in output(done)["out"]


async def test_bad_params_are_json_rpc_errors_naming_the_field(gateway: GatewayProcess) -> None:
    async with agent_client(agent_url(gateway, CHAIN), streaming=False) as client:
        problems = {}
        for name, sent in {
            "missing": data({}),
            "wrong_type": data({"topic": 7}),
            "unknown": data({"topic": "x", "extra": 1}),
            "nul": text("a\x00b"),
            "no_parts": request([]),
        }.items():
            with pytest.raises(InvalidParamsError) as bad:
                await task(client, sent)
            assert bad.value.data is not None, name
            problems[name] = bad.value.data["errors"]
        with pytest.raises(TaskNotFoundError):
            await client.get_task(GetTaskRequest(id="run-no-such"))
        with pytest.raises(TaskNotFoundError):
            await task(client, text("x", task_id="run-no-such"))
    assert problems["missing"] == [{"field": "topic", "message": "required"}]
    assert problems["wrong_type"][0]["field"] == "topic"
    assert problems["unknown"][0]["field"] == "extra"
    assert problems["nul"] == [{"field": "topic", "message": "holds a NUL character (U+0000)"}]
    assert problems["no_parts"][0]["field"] == "message.parts"
    async with httpx.AsyncClient(base_url=gateway.url) as http:
        assert (await http.get("/v1/runs")).json()["items"] == []  # nothing was started


@pytest.mark.parametrize(
    "body",
    [b"[" * 100_000 + b"]" * 100_000, b"{", b"\xff\xfe"],
    ids=["too-deep", "cut-short", "not-utf8"],
)
async def test_a_body_that_does_not_parse_is_a_parse_error(
    gateway: GatewayProcess, body: bytes
) -> None:
    """What no client sends, as an attacker would: a JSON-RPC parse error, never a 500."""
    async with httpx.AsyncClient() as http:
        answer = await http.post(
            agent_url(gateway, CHAIN),
            content=body,
            headers={"Content-Type": "application/json", "A2A-Version": "1.0"},
        )
    assert answer.status_code == 200
    assert answer.json()["error"]["code"] == -32700


async def test_a_body_not_declared_json_starts_nothing(gateway: GatewayProcess) -> None:
    """What another site's page may post without asking the browser first (a form's types)."""
    sent = text("leases")
    body = {"jsonrpc": "2.0", "id": 1, "method": "SendMessage", "params": as_json(sent)}
    async with httpx.AsyncClient(base_url=gateway.url) as http:
        for kind in ("text/plain", "application/x-www-form-urlencoded"):
            answer = await http.post(
                f"/a2a/default/{CHAIN}",
                content=json.dumps(body),
                headers={"Content-Type": kind, "A2A-Version": "1.0"},
            )
            assert answer.json()["error"]["code"] == -32600, kind
        assert (await http.get("/v1/runs")).json()["items"] == []
