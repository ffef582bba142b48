"""A run's events as LangGraph stream parts, for the stream modes a client asked for.

The store's events are the source (so a stream can be left and joined again, on any replica,
with ``Last-Event-ID``); the state a ``values`` part carries is folded from the run's start state
and each node's update with the Workflow's own reducers. Where LangGraph groups parallel nodes
into one superstep, this sends one ``values`` part per node.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from typing import Annotated, Any, get_args, get_origin, get_type_hints

from sse_starlette import EventSourceResponse, ServerSentEvent

from agent_runtime.engine.channels import state_schema
from agent_runtime.gateway.events import KEEPALIVE_SECONDS, SEPARATOR, follow, keepalive
from agent_runtime.gateway.langgraph.messages import for_clients, langchain_message, message_fields
from agent_runtime.spec.workflow import WorkflowSpec
from agent_runtime.stores import RunEvent, RunStore

INTERRUPT = "__interrupt__"
Reducer = Callable[[Any, Any], Any]


def reducers(spec: WorkflowSpec) -> dict[str, Reducer | None]:
    """Each declared field's reducer (None: a write replaces the value)."""
    hints = get_type_hints(state_schema(spec), include_extras=True)
    out: dict[str, Reducer | None] = {}
    for name in spec.state:
        hint = hints.get(name)
        out[name] = get_args(hint)[1] if get_origin(hint) is Annotated else None
    return out


def interrupt_id(run_id: str, request: dict[str, Any] | None) -> str:
    """The same id for one wait of a run, in its stream and in its thread's state."""
    request = request or {}
    return f"{run_id}:{request.get('node', '')}:{request.get('visit', 0)}"


def interrupt_of(event: RunEvent) -> dict[str, Any]:
    return {"value": event.data, "id": interrupt_id(event.run_id, event.data)}


def declared(spec: WorkflowSpec, values: dict[str, Any]) -> dict[str, Any]:
    """The Workflow's own fields of a state (not LangGraph's or the engine's channels)."""
    return {name: values[name] for name in spec.state if name in values}


@dataclass
class Part:
    event: str
    data: Any


@dataclass
class Relay:
    """Turns one run's events, in order, into the parts of the modes asked for."""

    spec: WorkflowSpec
    values: dict[str, Any]
    modes: list[str]
    _reducers: dict[str, Reducer | None] = field(init=False)
    _messages: frozenset[str] = field(init=False)
    _step: int = 0
    _streamed: set[str] = field(default_factory=set)

    def __post_init__(self) -> None:
        self._reducers = reducers(self.spec)
        self._messages = message_fields(self.spec)
        self.values = declared(self.spec, self.values)

    def fold(self, update: dict[str, Any]) -> None:
        for key, value in update.items():
            reducer = self._reducers.get(key)
            self.values[key] = reducer(self.values.get(key), value) if reducer else value

    def shown(self) -> dict[str, Any]:
        return for_clients(self._messages, self.values)

    def parts(self, event: RunEvent) -> list[Part]:
        kind, data = event.type, event.data
        out: list[Part] = []
        want = self.modes.__contains__
        meta = {"run_id": event.run_id, "langgraph_step": self._step}
        if kind == "run.started" and want("values"):
            out.append(Part("values", self.shown()))
        elif kind == "node.started":
            node = str(data.get("node"))
            if want("debug"):
                payload: dict[str, Any] = {"id": self._task(data), "name": node, "input": {}}
                out.append(Part("debug", self._debug("task", event, payload)))
            if want("events"):
                out.append(Part("events", self._chain("on_chain_start", event, node)))
        elif kind == "node.delta":
            out.extend(self._delta(event, meta))
        elif kind == "node.finished":
            self._step += 1
            node = str(data.get("node"))
            given = data.get("update")
            update: dict[str, Any] = given if isinstance(given, dict) else {}
            self.fold(update)
            if want("messages-tuple") or want("messages"):
                out.extend(self._finished_messages(node, update, meta))
            if want("updates"):
                out.append(Part("updates", {node: for_clients(self._messages, update)}))
            if want("values"):
                out.append(Part("values", self.shown()))
            if want("debug"):
                result: dict[str, Any] = {
                    "id": self._task(data),
                    "name": node,
                    "error": None,
                    "interrupts": [],
                    "result": list(update.items()),
                }
                out.append(Part("debug", self._debug("task_result", event, result)))
            if want("events"):
                out.append(Part("events", self._chain("on_chain_end", event, node, update)))
        elif kind == "run.interrupted":
            interrupt = [interrupt_of(event)]
            if want("updates"):
                out.append(Part("updates", {INTERRUPT: interrupt}))
            if want("values"):
                out.append(Part("values", {**self.shown(), INTERRUPT: interrupt}))
        elif kind == "run.finished":
            if data.get("status") == "failed":
                found = data.get("error")
                error: dict[str, Any] = found if isinstance(found, dict) else {}
                out.append(
                    Part(
                        "error",
                        {
                            "error": error.get("code", "failed"),
                            "message": error.get("message", "the run failed"),
                        },
                    )
                )
        return out

    def _task(self, data: dict[str, Any]) -> str:
        return f"{data.get('node')}:{data.get('visit', 0)}:{data.get('attempt', 1)}"

    def _debug(self, kind: str, event: RunEvent, payload: dict[str, Any]) -> dict[str, Any]:
        return {
            "type": kind,
            "timestamp": event.at.isoformat(),
            "step": self._step,
            "payload": payload,
        }

    def _chain(self, kind: str, event: RunEvent, node: str, output: Any = None) -> dict[str, Any]:
        data: dict[str, Any] = {} if output is None else {"output": output}
        return {
            "event": kind,
            "name": node,
            "run_id": self._task(event.data),
            "tags": [],
            "metadata": {"langgraph_node": node, "langgraph_step": self._step},
            "data": data,
        }

    def _delta(self, event: RunEvent, meta: dict[str, Any]) -> list[Part]:
        """Tokens of a model's answer as it is written (sent with the message's id, so the
        message the node appends at its end is not sent again)."""
        node = str(event.data.get("node"))
        message_id = str(event.data.get("messageId") or self._task(event.data))
        self._streamed.add(message_id)
        chunk = {
            "type": "AIMessageChunk",
            "content": event.data.get("text", ""),
            "id": message_id,
            "tool_calls": [],
            "tool_call_chunks": [],
        }
        out = []
        metadata = {**meta, "langgraph_node": node}
        if "messages-tuple" in self.modes or "messages" in self.modes:
            out.append(Part("messages", [chunk, metadata]))
        if "events" in self.modes:
            out.append(
                Part(
                    "events",
                    {
                        "event": "on_chat_model_stream",
                        "name": node,
                        "run_id": self._task(event.data),
                        "tags": [],
                        "metadata": metadata,
                        "data": {"chunk": chunk},
                    },
                )
            )
        return out

    def _finished_messages(
        self, node: str, update: dict[str, Any], meta: dict[str, Any]
    ) -> list[Part]:
        """The model messages a node appended that were not streamed token by token."""
        out = []
        for key in self._messages & update.keys():
            written = update[key] if isinstance(update[key], list) else [update[key]]
            for message in written:
                if not isinstance(message, dict) or message.get("role") != "assistant":
                    continue
                if message.get("id") in self._streamed:
                    continue
                metadata = {**meta, "langgraph_node": node}
                out.append(Part("messages", [langchain_message(message), metadata]))
        return out


def sse(part: Part, seq: int | None) -> ServerSentEvent:
    return ServerSentEvent(
        json.dumps(part.data, default=str),
        event=part.event,
        id=None if seq is None else str(seq),
        sep=SEPARATOR,
    )


async def relayed(
    store: RunStore, relay: Relay, run_id: str, *, after: int, start: int, first: list[Part]
) -> AsyncIterator[ServerSentEvent]:
    """``first`` parts, then the run's events after ``start`` turned into parts; parts of
    events up to ``after`` (the client's Last-Event-ID) only fold state, unsent."""
    for part in first:
        yield sse(part, None)
    async for event in follow(store, run_id, after=start, until_interrupted=True, ends_after=after):
        parts = relay.parts(event)
        if event.seq <= after:
            continue
        for i, part in enumerate(parts):
            # the id on an event's last part only: a client that rejoins gets no part twice
            yield sse(part, event.seq if i == len(parts) - 1 else None)
    yield sse(Part("end", None), None)


def response(
    stream: AsyncIterator[ServerSentEvent], headers: dict[str, str] | None = None
) -> EventSourceResponse:
    return EventSourceResponse(
        stream,
        headers={"Cache-Control": "no-cache", **(headers or {})},
        ping=KEEPALIVE_SECONDS,
        ping_message_factory=keepalive,
        sep=SEPARATOR,
    )
