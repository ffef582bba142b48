"""Run by tests/test_image_env.py with the python of an environment pruned as the agent image's
(``hack/prune-venv.sh --sourceless``: third-party code as bytecode only), not by pytest: every
module of ours imports, and each provider's SDK answers a tool call, a structured answer and a
stream against its protocol server. Prints ``ok``.

    python tests/image_env_scenario.py
"""

from __future__ import annotations

import asyncio
import importlib
import inspect
import os
import pkgutil
from contextlib import ExitStack
from typing import Any

import agent_runtime
from agent_runtime.providers.base import ChatRequest, Delta, Message, ToolDef
from agent_runtime.providers.factory import create_model
from agent_runtime.spec.workflow import ModelSpec
from agent_runtime.testing.openai_server import JsonReply, OpenAICompatibleServer, ToolCallsReply
from tests.providers.wire import Calls, Structured, WireServer

PROVIDERS = ["openai", "anthropic", "google", "ollama"]
KEY = "image-key"
WEATHER = ToolDef(
    name="get_weather",
    parameters={"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]},
)
SCHEMA = {
    "type": "object",
    "properties": {"title": {"type": "string"}, "score": {"type": "integer"}},
    "required": ["title", "score"],
    "additionalProperties": False,
}
ANSWER = {"title": "Bytecode", "score": 7}
TEXT = "Sources stay behind, bytecode ships."


def import_everything() -> None:
    """Every module of ours (the chat page's Gradio is the UI image's), from source; the SDKs
    and the engine's libraries from bytecode alone, so the layout under test is in effect."""
    for info in pkgutil.walk_packages(agent_runtime.__path__, "agent_runtime."):
        if not info.name.endswith("__main__") and info.name != "agent_runtime.ui.chat_page":
            importlib.import_module(info.name)
    assert inspect.getsource(agent_runtime)
    for name in ("openai", "anthropic", "google.genai", "ollama", "langgraph.graph", "psycopg"):
        module = importlib.import_module(name)
        try:
            inspect.getsource(module)
        except OSError:
            continue
        raise AssertionError(f"{name} has its source: {module.__file__}")


def serve(provider: str, stack: ExitStack) -> ModelSpec:
    """``provider``'s protocol server, answering a tool call, ANSWER, then TEXT."""
    if provider == "openai":
        script: list[Any] = [
            ToolCallsReply([{"name": "get_weather", "args": {"city": "Oslo"}}]),
            JsonReply(ANSWER),
            TEXT,
        ]
        server = stack.enter_context(OpenAICompatibleServer(script=script))
        os.environ["OPENAI_API_KEY"] = KEY
        return ModelSpec(provider="openai", model="gpt-test", base_url=server.base_url)
    wire = [Calls([("get_weather", {"city": "Oslo"})]), Structured(ANSWER), TEXT]
    protocol = {"google": "gemini"}.get(provider, provider)
    key = None if provider == "ollama" else KEY
    url = stack.enter_context(WireServer(protocol, wire, api_key=key)).url  # type: ignore[arg-type]
    if provider == "anthropic":
        os.environ.update(ANTHROPIC_API_KEY=KEY, ANTHROPIC_BASE_URL=url)
        return ModelSpec(provider="anthropic", model="claude-test")
    if provider == "google":
        os.environ.update(GOOGLE_API_KEY=KEY, GOOGLE_GEMINI_BASE_URL=url)
        return ModelSpec(provider="google", model="gemini-test")
    return ModelSpec(provider="ollama", model="llama-test", base_url=url)


def ask(text: str, **kwargs: Any) -> ChatRequest:
    return ChatRequest(messages=[Message(role="user", content=text)], **kwargs)


async def converse(provider: str) -> None:
    with ExitStack() as stack:
        model = create_model(serve(provider, stack))
        try:
            asked = await model.complete(ask("Weather in Oslo?", tools=[WEATHER]))
            calls = [(call.name, call.args) for call in asked.tool_calls]
            assert calls == [("get_weather", {"city": "Oslo"})], (provider, asked)
            answered = await model.complete(ask("Rate it.", output_schema=SCHEMA))
            assert answered.structured == ANSWER, (provider, answered)
            *deltas, final = [chunk async for chunk in model.stream(ask("Go on."))]
            text = "".join(delta.text for delta in deltas if isinstance(delta, Delta))
            assert text == TEXT and final.text == TEXT, (provider, deltas, final)
        finally:
            await model.aclose()


async def main() -> None:
    for name in ("GEMINI_API_KEY", "GOOGLE_GENAI_USE_VERTEXAI", "ANTHROPIC_AUTH_TOKEN"):
        os.environ.pop(name, None)
    import_everything()
    for provider in PROVIDERS:
        await converse(provider)
    print("ok")


if __name__ == "__main__":
    asyncio.run(main())
