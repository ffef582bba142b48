"""Spans and metrics of each LLM call and tool call, by the OpenTelemetry GenAI conventions.

An LLM call is a ``chat {model}`` span (kind CLIENT) with the provider, the requested model and
the tokens used; a tool call an ``execute_tool {tool}`` span. Prompts, answers, arguments and
results are recorded only when the user opts in (``telemetry.genai.capture_content``). Cost is
recorded when a price table is given (``telemetry.prices``).
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from opentelemetry.trace import Span, SpanKind, Status, StatusCode

from agent_runtime.providers import ChatRequest, Completion
from agent_runtime.spec.workflow import ModelSpec
from agent_runtime.telemetry import genai
from agent_runtime.telemetry.metrics import ExecutorMetrics
from agent_runtime.telemetry.prices import price_table
from agent_runtime.telemetry.secrets import redact
from agent_runtime.telemetry.tracing import tracer


def model_label(spec: ModelSpec) -> str:
    """The model's name for labels and attributes (the provider's for ``scripted``)."""
    return spec.model or spec.provider


class LlmCall:
    def __init__(self, span: Span, spec: ModelSpec, metrics: ExecutorMetrics) -> None:
        self.span = span
        self.spec = spec
        self.metrics = metrics

    def completed(self, completion: Completion) -> None:
        usage = completion.usage
        provider, model = self.spec.provider, model_label(self.spec)
        self.metrics.llm_tokens.labels(provider, model, "input").inc(usage.input_tokens)
        self.metrics.llm_tokens.labels(provider, model, "output").inc(usage.output_tokens)
        if not self.span.is_recording():
            return
        self.span.set_attribute(genai.INPUT_TOKENS, usage.input_tokens)
        self.span.set_attribute(genai.OUTPUT_TOKENS, usage.output_tokens)
        if completion.model:
            self.span.set_attribute("gen_ai.response.model", completion.model)
        prices = price_table()
        cost = None
        if prices is not None:
            cost = prices.cost(provider, model, usage.input_tokens, usage.output_tokens)
        if cost is not None:
            self.span.set_attribute(genai.COST, cost)
        if genai.capture_content():
            answer: dict[str, Any] = {"role": "assistant", "content": completion.text}
            if completion.structured is not None:
                answer["content"] = completion.structured
            if completion.tool_calls:
                answer["tool_calls"] = [c.model_dump(mode="json") for c in completion.tool_calls]
            self.span.set_attribute(genai.OUTPUT_MESSAGES, genai.content([answer]))


class ToolCall:
    def __init__(self, span: Span) -> None:
        self.span = span
        self.outcome = "succeeded"

    def result(self, value: Any) -> None:
        if self.span.is_recording() and genai.capture_content():
            self.span.set_attribute(genai.TOOL_RESULT, genai.content(value))

    def failed(self, message: str) -> None:
        """The call failed without raising (its error goes back to the model)."""
        self.outcome = "failed"
        self.span.set_attribute(genai.ERROR_TYPE, "tool_error")
        self.span.set_status(Status(StatusCode.ERROR, redact(message)[:1000]))


class CallObserver:
    def __init__(self, metrics: ExecutorMetrics) -> None:
        self.metrics = metrics

    @contextmanager
    def llm_call(self, spec: ModelSpec, request: ChatRequest) -> Iterator[LlmCall]:
        provider, model = spec.provider, model_label(spec)
        attributes: dict[str, Any] = {
            genai.OPERATION: "chat",
            genai.PROVIDER: provider,
            genai.SYSTEM: provider,
            genai.REQUEST_MODEL: model,
        }
        if spec.temperature is not None:
            attributes[genai.REQUEST_TEMPERATURE] = spec.temperature
        if request.node:
            attributes[genai.NODE] = request.node
        start = time.perf_counter()
        with tracer().start_as_current_span(
            f"chat {model}",
            kind=SpanKind.CLIENT,
            attributes=attributes,
            record_exception=False,
            set_status_on_exception=False,
        ) as span:
            if span.is_recording() and genai.capture_content():
                messages = [m.model_dump(mode="json", exclude_none=True) for m in request.messages]
                span.set_attribute(genai.INPUT_MESSAGES, genai.content(messages))
            outcome = "failed"
            try:
                yield LlmCall(span, spec, self.metrics)
                outcome = "succeeded"
            except BaseException as exc:
                genai.record_error(span, exc)
                raise
            finally:
                self.metrics.llm_calls.labels(provider, model, outcome).inc()
                self.metrics.llm_duration.labels(provider, model).observe(
                    time.perf_counter() - start
                )

    @contextmanager
    def tool_call(
        self,
        name: str,
        args: dict[str, Any],
        *,
        call_id: str | None = None,
    ) -> Iterator[ToolCall]:
        attributes: dict[str, Any] = {genai.OPERATION: "execute_tool", genai.TOOL_NAME: name}
        if call_id:
            attributes[genai.TOOL_CALL_ID] = call_id
        start = time.perf_counter()
        with tracer().start_as_current_span(
            f"execute_tool {name}",
            kind=SpanKind.INTERNAL,
            attributes=attributes,
            record_exception=False,
            set_status_on_exception=False,
        ) as span:
            if span.is_recording() and genai.capture_content():
                span.set_attribute(genai.TOOL_ARGUMENTS, genai.content(args))
            call = ToolCall(span)
            try:
                yield call
            except BaseException as exc:
                call.outcome = "failed"
                genai.record_error(span, exc)
                raise
            finally:
                self.metrics.tool_calls.labels(name, call.outcome).inc()
                self.metrics.tool_duration.labels(name).observe(time.perf_counter() - start)
