"""A remote A2A agent for the ``a2a`` tool's tests, built with a2a-sdk's own server classes and
served over real HTTP on 127.0.0.1 (``ThreadedServer``).

What it does with a message's text: ``ask`` wants input (``input-required``) and the next
message on that task completes it; ``fail`` fails with a reason; ``slow`` sleeps two seconds;
anything else completes with the artifact ``echo: <text>`` (and the data parts, if any).
It records every message it gets with the request's headers.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from a2a.helpers.proto_helpers import (
    get_data_parts,
    get_message_text,
    new_data_part,
    new_task_from_user_message,
    new_text_part,
)
from a2a.server.agent_execution import AgentExecutor, RequestContext
from a2a.server.events import EventQueue
from a2a.server.request_handlers import DefaultRequestHandler
from a2a.server.routes import create_agent_card_routes, create_jsonrpc_routes
from a2a.server.tasks import InMemoryTaskStore, TaskUpdater
from a2a.types.a2a_pb2 import (
    AgentCapabilities,
    AgentCard,
    AgentInterface,
    AgentSkill,
)
from starlette.applications import Starlette

from agent_runtime.testing.threaded import ThreadedServer


@dataclass
class Received:
    text: str
    data: list[Any]
    task_id: str
    headers: dict[str, str]


@dataclass
class EchoAgent(AgentExecutor):
    received: list[Received] = field(default_factory=list)

    async def execute(self, context: RequestContext, event_queue: EventQueue) -> None:
        message = context.message
        assert message is not None
        task = context.current_task
        if task is None:
            task = new_task_from_user_message(message)
            await event_queue.enqueue_event(task)
        text = get_message_text(message)
        headers = context.call_context.state.get("headers", {}) if context.call_context else {}
        self.received.append(Received(text, get_data_parts(message.parts), task.id, headers))
        updater = TaskUpdater(event_queue, task.id, task.context_id)
        if text == "ask":
            await updater.requires_input(updater.new_agent_message([new_text_part("which one?")]))
            return
        if text == "fail":
            await updater.failed(updater.new_agent_message([new_text_part("the disk is on fire")]))
            return
        if text == "slow":
            await asyncio.sleep(2)
        parts = [new_text_part(f"echo: {text}")]
        parts += [new_data_part(d) for d in get_data_parts(message.parts)]
        await updater.add_artifact(parts, name="answer")
        await updater.complete()

    async def cancel(self, context: RequestContext, event_queue: EventQueue) -> None:
        if context.task_id and context.context_id:
            await TaskUpdater(event_queue, context.task_id, context.context_id).cancel()


def card(url: str) -> AgentCard:
    return AgentCard(
        name="echo",
        description="Repeats what it is told.",
        version="1.0",
        supported_interfaces=[
            AgentInterface(protocol_binding="JSONRPC", url=url, protocol_version="1.0")
        ],
        capabilities=AgentCapabilities(streaming=False),
        default_input_modes=["text/plain", "application/json"],
        default_output_modes=["text/plain", "application/json"],
        skills=[AgentSkill(id="echo", name="echo", description="say it back", tags=["test"])],
    )


@contextmanager
def serve(agent: EchoAgent, *, interface: str | None = None) -> Iterator[str]:
    """The agent's base URL while the block runs; its card names ``interface`` (default: that
    URL) as its JSON-RPC endpoint."""
    app = Starlette()
    with ThreadedServer(app, name="A2A agent") as server:
        served = card(interface or f"{server.url}/")
        handler = DefaultRequestHandler(agent, InMemoryTaskStore(), served)
        app.router.routes.extend(
            [*create_agent_card_routes(served), *create_jsonrpc_routes(handler, "/")]
        )
        yield server.url
