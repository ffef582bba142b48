"""``POST /chat/completions``: a turn of a conversation Workflow as an OpenAI chat completion.

A Workflow is a model when its one input is a ``messages`` field: the request's messages are
that input (the whole conversation, stateless) or, with ``metadata.thread_id``, only those after
the last assistant message, added to the thread's conversation (the thread is made on first
use). The answer is the last assistant message the run added; usage is the run's tokens. A run
that stops at a human node answers with what the node asks (``finish_reason`` ``stop``) and
waits on its thread.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Any

from sse_starlette import EventSourceResponse, ServerSentEvent

from agent_runtime.auth import Identity
from agent_runtime.errors import AgentRuntimeError
from agent_runtime.gateway.access import actor
from agent_runtime.gateway.components import Gateway
from agent_runtime.gateway.events import KEEPALIVE_SECONDS, SEPARATOR, follow, keepalive
from agent_runtime.gateway.launch import Refused, runnable, start_run
from agent_runtime.gateway.openai_api.wire import ChatRequest
from agent_runtime.spec import Workflow
from agent_runtime.stores import RunEvent, RunRecord, RunStatus
from agent_runtime.stores.errors import ThreadNotFound
from agent_runtime.stores.records import ThreadRecord


def chat_field(workflow: Workflow) -> str | None:
    """The messages field a Workflow takes as its one input, if it is a chat model."""
    spec = workflow.spec
    if len(spec.input) == 1 and spec.state[spec.input[0]].type == "messages":
        return spec.input[0]
    return None


def model_name(workflow: Workflow) -> str:
    return f"{workflow.namespace}/{workflow.name}"


NO_ACCESS = "does not exist or you do not have access to it"


class ModelNotFound(AgentRuntimeError):
    code = "model_not_found"

    def __init__(
        self, model: str, why: str = "does not exist or you do not have access to it"
    ) -> None:
        super().__init__(f"The model `{model}` {why}")
        self.details = [{"field": "model", "message": why}]


async def chat_model(gateway: Gateway, caller: Identity, model: str) -> tuple[Workflow, str]:
    namespace, _, name = model.rpartition("/")
    try:
        workflow = await runnable(gateway, caller, namespace or "default", name)
    except Refused as refused:
        if refused.code == "workflow_not_found":
            raise ModelNotFound(model) from None
        raise
    field = chat_field(workflow)
    if field is None:
        raise ModelNotFound(model, "is a Workflow whose input is not one messages field")
    return workflow, field


async def _thread(
    gateway: Gateway, caller: Identity, thread_id: str, workflow: Workflow
) -> ThreadRecord:
    """The thread, made in the Workflow's namespace on first use."""
    try:
        return await gateway.access.readable_thread(
            caller, await gateway.store.get_thread(thread_id)
        )
    except ThreadNotFound:
        thread = ThreadRecord(id=thread_id, namespace=workflow.namespace, created_by=actor(caller))
        return await gateway.store.create_thread(thread)


def new_messages(messages: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """What a client sending the whole history adds to a thread: what follows its last
    assistant message."""
    last = max((i for i, m in enumerate(messages) if m.get("role") == "assistant"), default=-1)
    return messages[last + 1 :]


async def start(gateway: Gateway, caller: Identity, body: ChatRequest) -> tuple[RunRecord, str]:
    workflow, field = await chat_model(gateway, caller, body.model)
    thread_id = (body.metadata or {}).get("thread_id")
    messages = body.messages
    if thread_id:
        await _thread(gateway, caller, thread_id, workflow)
        messages = new_messages(messages)
    run = await start_run(gateway, caller, workflow, {field: messages}, thread_id=thread_id)
    return run, field


def added(event: RunEvent, field: str) -> list[dict[str, Any]]:
    """The assistant messages a node's event added to the conversation field."""
    if event.type != "node.finished":
        return []
    update = event.data.get("update")
    written = update.get(field) if isinstance(update, dict) else None
    if not isinstance(written, list):
        return []
    return [m for m in written if isinstance(m, dict) and m.get("role") == "assistant"]


def interrupt_text(run: RunRecord) -> str:
    asked = run.interrupt or {}
    return str(asked.get("prompt") or asked.get("message") or "The workflow waits for an answer.")


async def usage(gateway: Gateway, run: RunRecord) -> dict[str, int]:
    steps = await gateway.store.list_steps(run.id)
    prompt = sum(s.input_tokens for s in steps)
    completion = sum(s.output_tokens for s in steps)
    return {
        "prompt_tokens": prompt,
        "completion_tokens": completion,
        "total_tokens": prompt + completion,
    }


def failure(run: RunRecord) -> Refused:
    error = run.error or {}
    if run.status == RunStatus.CANCELLED:
        return Refused("conflict", f"the run {run.id} was cancelled")
    return Refused(
        str(error.get("code") or "run_failed"), str(error.get("message") or "the run failed")
    )


async def completion(gateway: Gateway, run: RunRecord, field: str, model: str) -> dict[str, Any]:
    """The finished turn as a ``chat.completion``."""
    run = await gateway.wait_settled(run.id)
    if run.status in (RunStatus.FAILED, RunStatus.CANCELLED):
        raise failure(run)
    content = interrupt_text(run) if run.status == RunStatus.INTERRUPTED else ""
    if run.status != RunStatus.INTERRUPTED:
        said = [m for e in await gateway.store.list_events(run.id) for m in added(e, field)]
        content = str(said[-1].get("content") or "") if said else ""
    return {
        "id": f"chatcmpl-{run.id}",
        "object": "chat.completion",
        "created": int(run.created_at.timestamp()),
        "model": model,
        "choices": [
            {
                "index": 0,
                "message": {"role": "assistant", "content": content},
                "finish_reason": "stop",
                "logprobs": None,
            }
        ],
        "usage": await usage(gateway, run),
        "system_fingerprint": None,
    }


def chunk(run: RunRecord, model: str, delta: dict[str, Any], finish: str | None) -> dict[str, Any]:
    return {
        "id": f"chatcmpl-{run.id}",
        "object": "chat.completion.chunk",
        "created": int(run.created_at.timestamp()),
        "model": model,
        "choices": [{"index": 0, "delta": delta, "finish_reason": finish, "logprobs": None}],
    }


def data(body: dict[str, Any] | str) -> ServerSentEvent:
    text = body if isinstance(body, str) else json.dumps(body)
    return ServerSentEvent(text, sep=SEPARATOR)


async def chunks(
    gateway: Gateway, run: RunRecord, field: str, body: ChatRequest
) -> AsyncIterator[ServerSentEvent]:
    """The turn as it is written: model tokens as they come (``node.delta``), else each answer
    when its node finishes; then the end, the usage if asked for, and ``[DONE]``."""
    model = body.model
    yield data(chunk(run, model, {"role": "assistant", "content": ""}, None))
    streamed: set[str] = set()
    async for event in follow(gateway.store, run.id, until_interrupted=True):
        if event.type == "node.delta" and event.data.get("text"):
            streamed.add(str(event.data.get("messageId")))
            yield data(chunk(run, model, {"content": str(event.data["text"])}, None))
        for message in added(event, field):
            if message.get("id") not in streamed and message.get("content"):
                yield data(chunk(run, model, {"content": str(message["content"])}, None))
    run = await gateway.store.get_run(run.id)
    if run.status in (RunStatus.FAILED, RunStatus.CANCELLED):
        refused = failure(run)
        yield data(
            {"error": {"message": str(refused), "type": "server_error", "code": refused.code}}
        )
    else:
        if run.status == RunStatus.INTERRUPTED:
            yield data(chunk(run, model, {"content": interrupt_text(run)}, None))
        yield data(chunk(run, model, {}, "stop"))
        if body.stream_options is not None and body.stream_options.include_usage:
            last = chunk(run, model, {}, None)
            last["choices"] = []
            last["usage"] = await usage(gateway, run)
            yield data(last)
    yield data("[DONE]")


def stream(gateway: Gateway, run: RunRecord, field: str, body: ChatRequest) -> EventSourceResponse:
    return EventSourceResponse(
        chunks(gateway, run, field, body),
        headers={"Cache-Control": "no-cache"},
        ping=KEEPALIVE_SECONDS,
        ping_message_factory=keepalive,
        sep=SEPARATOR,
    )
