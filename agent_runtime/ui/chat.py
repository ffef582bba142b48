"""The chat page (Gradio, the ``ui`` extra): each message starts a run on the conversation's
thread and streams its events, the model's answer as it is written among them.

Gradio is imported only lazily (here and by ``chat_page``, on the first request): the gateway and
agent images run without it, and the dashboard works without it. Like the dashboard, the page
calls the gateway as the signed-in user, with each request's own ``Authorization`` header.
"""

from __future__ import annotations

import asyncio
import importlib.util
import json
import logging
import os
from collections.abc import AsyncIterator, Callable
from contextlib import AsyncExitStack
from typing import Any

from fastapi import FastAPI
from starlette.routing import Mount
from starlette.types import ASGIApp, Receive, Scope, Send

from agent_runtime.ui.client import GatewayClient, GatewayError, SseEvent
from agent_runtime.ui.headers import CHAT_POLICY, SecurityHeaders
from agent_runtime.ui.state_tracker import StateTracker
from agent_runtime.ui.views import advice

log = logging.getLogger(__name__)


def available() -> bool:
    return importlib.util.find_spec("gradio") is not None


def message_value(schema: dict[str, Any], message: str) -> Any:
    """The message as the chosen field's type: text for strings, else JSON (or the text)."""
    if schema.get("type", "string") == "string":
        return message
    try:
        return json.loads(message)
    except json.JSONDecodeError:
        return message


def progress_line(event: SseEvent) -> str | None:
    data = event.data
    node = data.get("node", "")
    if event.event == "node.started":
        attempt = data.get("attempt", 1)
        return f"- `{node}` started" + (f" (attempt {attempt})" if attempt > 1 else "")
    if event.event == "node.finished":
        usage = data.get("usage") or {}
        tokens = int(usage.get("inputTokens", 0)) + int(usage.get("outputTokens", 0))
        return f"- `{node}` finished" + (f", {tokens} tokens" if tokens else "")
    if event.event in ("node.retrying", "node.failed"):
        verb = "will retry" if event.event == "node.retrying" else "failed"
        return f"- `{node}` {verb}: {data.get('error', '')}"
    if event.event == "run.waiting":
        return f"- waiting for an agent: {data.get('message', '')}"
    return None


def _last_reply(value: Any) -> str | None:
    """The last assistant message's text of a messages value (a conversation), if it is one."""
    if not isinstance(value, list) or not value or not all(isinstance(m, dict) for m in value):
        return None
    said = [m.get("content") for m in value if m.get("role") == "assistant" and m.get("content")]
    return str(said[-1]) if said else None


def answer_of(output: dict[str, Any]) -> str:
    texts = [v for v in output.values() if isinstance(v, str) and v]
    texts += [r for r in map(_last_reply, output.values()) if r]
    if len(output) >= 1 and texts:
        return texts[0] if len(texts) == 1 else "\n\n".join(texts)
    return "```json\n" + json.dumps(output, indent=2, ensure_ascii=False) + "\n```"


def shown(lines: list[str], answer: str = "") -> str:
    return "\n".join(lines) + ("\n\n" + answer if answer else "")


async def converse(
    client: GatewayClient,
    workflow: str,
    field: str | None,
    message: str,
    thread_id: str | None = None,
) -> AsyncIterator[tuple[str, str | None]]:
    """The reply to one message, growing as the run's events arrive: its steps, then the
    answer as the model writes it (``node.delta``), then the run's output. Each message is a
    run on the conversation's thread (made with the first message: ``thread_id`` None), so the
    workflow's state, a messages field's conversation among it, carries from turn to turn.
    Yields (reply, thread id)."""
    if not workflow or "/" not in workflow:
        yield "Choose a workflow first.", thread_id
        return
    namespace, name = workflow.split("/", 1)
    lines: list[str] = []
    try:
        described = await client.workflow(namespace, name)
        inputs: dict[str, Any] = described.get("input") or {}
        field = field if field in inputs else next(iter(inputs), None)
        if field is None:
            yield f"{workflow} takes no input to put the message in.", thread_id
            return
        if thread_id is None:
            made = await client.create_thread(namespace, name, {"source": "chat"})
            thread_id = str(made["id"])
        started = await client.start_run(
            namespace, name, {field: message_value(inputs[field], message)}, thread_id=thread_id
        )
        run_id = started["id"]
        lines.append(f"Run `{run_id}` of {workflow} started.")
        yield shown(lines), thread_id
        writing = StateTracker({}, {})
        async for event in client.events(run_id):
            writing.feed(event.event, event.data)
            line = progress_line(event)
            if line:
                lines.append(line)
            if line or event.event == "node.delta":
                yield shown(lines, "".join(w["text"] for w in writing.writing.values())), thread_id
            if event.event == "run.interrupted":
                prompt = event.data.get("prompt", "")
                yield (
                    shown(lines)
                    + (
                        f"\n\nThe run waits for a person at `{event.data.get('node')}`: {prompt}\n"
                        f"Answer it on the dashboard: /ui/runs/{run_id}"
                    ),
                    thread_id,
                )
                return
            if event.event == "run.finished":
                status = event.data.get("status")
                if status == "succeeded":
                    reply = answer_of(event.data.get("output") or {})
                elif status == "failed":
                    error = event.data.get("error") or {}
                    reply = f"**The run failed** ({error.get('code')}): {error.get('message')}"
                else:
                    reply = f"The run ended {status}."
                yield shown(lines, reply), thread_id
                return
    except GatewayError as exc:
        yield shown([*lines, f"**{trouble(exc)}**"]), thread_id


def trouble(exc: GatewayError) -> str:
    """The gateway's error in plain text, saying what to do about a 401 or 403."""
    return f"{advice(exc) or 'Error'} ({exc.code}: {exc.message})"


def _gradio_app(gateway_url: str, path: str) -> tuple[FastAPI, Any]:
    """A host app with the chat mounted at ``path`` (Gradio wires its start-up into the host's
    lifespan) and the Gradio app itself, which requests are handed to."""
    os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")
    import gradio as gr

    from agent_runtime.ui.chat_page import build_chat

    theme = gr.themes.Default(
        font=["ui-sans-serif", "system-ui", "sans-serif"],  # system fonts: no web-font requests
        font_mono=["ui-monospace", "monospace"],
    )
    host = FastAPI()
    gr.mount_gradio_app(
        host, build_chat(gateway_url), path=path, theme=theme, ssr_mode=False, footer_links=[]
    )
    mounted = next(r for r in host.routes if isinstance(r, Mount) and r.path == path)
    return host, mounted.app


class LazyChat:
    """The chat page, built on its first request: importing Gradio takes seconds, which a
    gateway that nobody chats with should not pay at every start."""

    def __init__(self, gateway_url: str, path: str) -> None:
        self.gateway_url = gateway_url
        self.path = path
        self._app: ASGIApp | None = None
        self._lock = asyncio.Lock()
        self._stack = AsyncExitStack()

    async def _load(self) -> ASGIApp:
        async with self._lock:
            if self._app is None:
                host, app = await asyncio.to_thread(_gradio_app, self.gateway_url, self.path)
                await self._stack.enter_async_context(host.router.lifespan_context(host))
                self._app = app
        return self._app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        app = self._app or await self._load()
        await app(scope, receive, send)

    async def aclose(self) -> None:
        await self._stack.aclose()


def mount_chat(
    app: FastAPI,
    gateway_url: str,
    *,
    path: str = "/chat",
    guard: Callable[[ASGIApp], ASGIApp] | None = None,
) -> LazyChat | None:
    """Mount the chat page when Gradio is installed; without it, log and carry on.

    ``guard`` wraps the page (the dashboard's sign-in, when the UI signs users in itself)."""
    if not available():
        log.info("gradio is not installed: no chat page (pip install 'configurable-agents[ui]')")
        return None
    chat = LazyChat(gateway_url, path)
    page: ASGIApp = guard(chat) if guard else chat
    app.mount(path, SecurityHeaders(page, csp=CHAT_POLICY), name="chat")
    return chat
