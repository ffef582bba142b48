"""The chat page's Gradio Blocks; imported only when the chat is first opened (it imports Gradio).

A module of its own so that Gradio, imported at its top, resolves the handlers' ``gr.Request``
annotations: that is how Gradio hands each handler the request it serves, whose
``Authorization`` header the gateway calls carry (the page acts as the signed-in user).
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import gradio as gr

from agent_runtime.ui.chat import converse, trouble
from agent_runtime.ui.client import GatewayClient, GatewayError


def build_chat(gateway_url: str) -> Any:
    """The Blocks: a workflow and field chooser over a chat whose messages start runs."""
    shared = GatewayClient(gateway_url)

    def caller(request: gr.Request | None) -> GatewayClient:
        headers = getattr(request, "headers", None) or {}
        return shared.acting_for(headers.get("authorization"))

    async def workflow_choices(request: gr.Request) -> Any:
        try:
            items = await caller(request).workflows()
        except GatewayError as exc:
            gr.Warning(trouble(exc))
            return gr.update(choices=[])
        names = [f"{w['namespace']}/{w['name']}" for w in items if w.get("input")]
        return gr.update(choices=names, value=names[0] if names else None)

    async def field_choices(workflow: str | None, request: gr.Request) -> Any:
        if not workflow or "/" not in workflow:
            return gr.update(choices=[], value=None)
        try:
            described = await caller(request).workflow(*workflow.split("/", 1))
        except GatewayError:
            return gr.update(choices=[], value=None)
        names = list(described.get("input") or {})
        return gr.update(choices=names, value=names[0] if names else None)

    async def respond(
        message: str,
        history: list[Any],
        workflow: str | None,
        field: str | None,
        threads: dict[str, str] | None,
        request: gr.Request,
    ) -> AsyncIterator[tuple[str, dict[str, str]]]:
        """The reply as it grows; ``threads``: the conversation's thread of each workflow."""
        threads = dict(threads or {})
        key = workflow or ""
        async for reply, thread_id in converse(
            caller(request), key, field, message, threads.get(key)
        ):
            if thread_id is not None:
                threads[key] = thread_id
            yield reply, threads

    with gr.Blocks(title="configurable-agents chat", analytics_enabled=False) as blocks:
        gr.Markdown(
            "## Chat with a workflow\nEach message starts a run of the chosen workflow, with the "
            "message as the chosen input field, on the conversation's thread (its state carries "
            "from message to message); its steps and the model's words stream into the answer. "
            "[Dashboard](/ui/)"
        )
        with gr.Row():
            workflow = gr.Dropdown(label="Workflow", choices=[], interactive=True)
            field = gr.Dropdown(label="Message goes into input field", choices=[], interactive=True)
        threads = gr.State({})
        chatbot = gr.Chatbot(label="Conversation", height=420)
        gr.ChatInterface(
            respond,
            additional_inputs=[workflow, field, threads],
            additional_outputs=[threads],
            chatbot=chatbot,
            textbox=gr.Textbox(placeholder="Type a message and press Enter", label="Message"),
            analytics_enabled=False,
            autofocus=False,
        )
        chatbot.clear(lambda: {}, outputs=threads)  # a cleared chat starts a new conversation
        blocks.load(workflow_choices, outputs=workflow)
        workflow.change(field_choices, inputs=workflow, outputs=field)
    return blocks
