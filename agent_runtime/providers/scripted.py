"""The deterministic, offline ``scripted`` provider used by examples and tests.

The n-th visit of a node gets ``responses[n]`` (the last repeats): a string is the text answer,
a mapping is the structured output, ``{toolCalls: [...]}`` asks for tool calls. After the tools
ran, the same visit answers with that entry's ``then`` if given, else with the last tool result.
With no responses it answers the rendered prompt itself. ``stream`` gives a text answer word by
word, its ``delay`` spread evenly over the words.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from typing import Any

from agent_runtime.providers.base import (
    ChatModel,
    ChatRequest,
    Completion,
    Delta,
    ProviderError,
    StreamChunk,
    ToolCall,
    Usage,
)


def _tokens(text: str) -> int:
    return len(text.split())


def words(text: str) -> list[str]:
    """Word-sized pieces (each with the space after it) that join back to ``text``."""
    parts = text.split(" ")
    return [p for p in [w + " " for w in parts[:-1]] + parts[-1:] if p]


class ScriptedModel(ChatModel):
    async def complete(self, request: ChatRequest) -> Completion:
        if self.spec.delay:
            await asyncio.sleep(self.spec.delay)
        return self._completion(request)

    async def stream(self, request: ChatRequest) -> AsyncIterator[StreamChunk]:
        completion = self._completion(request)
        pieces = words(completion.text) if request.output_schema is None else []
        for piece in pieces:
            if self.spec.delay:
                await asyncio.sleep(self.spec.delay / len(pieces))
            yield Delta(text=piece)
        if self.spec.delay and not pieces:
            await asyncio.sleep(self.spec.delay)
        yield completion

    def _completion(self, request: ChatRequest) -> Completion:
        answer = self._answer(request)
        prompt_text = " ".join(m.content for m in request.messages)
        completion = self._to_completion(answer, request)
        completion.usage = Usage(
            input_tokens=_tokens(prompt_text),
            output_tokens=_tokens(completion.text or json.dumps(completion.structured or {}))
            + sum(_tokens(json.dumps(c.args)) + 1 for c in completion.tool_calls),
        )
        completion.model = self.spec.model or "scripted"
        return completion

    def _answer(self, request: ChatRequest) -> Any:
        responses = self.spec.responses
        if not responses:
            return next((m.content for m in reversed(request.messages) if m.role == "user"), "")
        entry = responses[min(request.visit, len(responses) - 1)]
        # this turn's tool results: those after the last user message (a conversation may
        # hold the results of earlier turns)
        users = [i for i, m in enumerate(request.messages) if m.role == "user"]
        turn = request.messages[users[-1] + 1 :] if users else request.messages
        results = [m for m in turn if m.role == "tool"]
        if isinstance(entry, dict) and "toolCalls" in entry and results:
            if "then" in entry:
                return entry["then"]
            last = results[-1].content
            if request.output_schema is not None:
                try:
                    return json.loads(last)
                except json.JSONDecodeError:
                    pass
            return last
        return entry

    def _to_completion(self, answer: Any, request: ChatRequest) -> Completion:
        if isinstance(answer, dict) and "toolCalls" in answer:
            calls = answer["toolCalls"]
            if not isinstance(calls, list):
                raise ProviderError("scripted response: toolCalls must be a list of {name, args}")
            return Completion(
                tool_calls=[
                    ToolCall(
                        id=f"call_{i}", name=str(c.get("name")), args=dict(c.get("args") or {})
                    )
                    for i, c in enumerate(calls)
                ]
            )
        if isinstance(answer, dict):
            if request.output_schema is None:
                return Completion(text=json.dumps(answer))
            return Completion(structured=answer)
        text = answer if isinstance(answer, str) else json.dumps(answer)
        if request.output_schema is not None:
            try:
                parsed = json.loads(text)
            except json.JSONDecodeError:
                raise ProviderError(
                    "scripted response is text but the node declares structured output"
                ) from None
            if isinstance(parsed, dict):
                return Completion(structured=parsed)
            raise ProviderError("scripted response for structured output must be a mapping")
        return Completion(text=text)
