"""Span names and attributes of the OpenTelemetry GenAI semantic conventions, and our own.

https://opentelemetry.io/docs/specs/semconv/gen-ai/ : an LLM call is a span named
``chat {model}`` with ``gen_ai.operation.name=chat``; a tool call ``execute_tool {tool}``. Message
and tool-call contents are recorded only when ``OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT``
is true: they may hold personal data, and they are the user's, not ours.
"""

from __future__ import annotations

import json
import os
from typing import Any

from opentelemetry.trace import Span, Status, StatusCode

from agent_runtime.telemetry.secrets import redact

OPERATION = "gen_ai.operation.name"
PROVIDER = "gen_ai.provider.name"
SYSTEM = "gen_ai.system"  # the older name of gen_ai.provider.name; backends still read it
REQUEST_MODEL = "gen_ai.request.model"
REQUEST_TEMPERATURE = "gen_ai.request.temperature"
INPUT_TOKENS = "gen_ai.usage.input_tokens"
OUTPUT_TOKENS = "gen_ai.usage.output_tokens"
TOOL_NAME = "gen_ai.tool.name"
TOOL_CALL_ID = "gen_ai.tool.call.id"
TOOL_ARGUMENTS = "gen_ai.tool.call.arguments"
TOOL_RESULT = "gen_ai.tool.call.result"
INPUT_MESSAGES = "gen_ai.input.messages"
OUTPUT_MESSAGES = "gen_ai.output.messages"
ERROR_TYPE = "error.type"

# Ours: where in a workflow a span belongs.
RUN_ID = "configurable_agents.run.id"
WORKFLOW = "configurable_agents.workflow"
NODE = "configurable_agents.node"
NODE_TYPE = "configurable_agents.node.type"
VISIT = "configurable_agents.node.visit"
ATTEMPT = "configurable_agents.node.attempt"
RUN_STATUS = "configurable_agents.run.status"
COST = "configurable_agents.cost.usd"
#: Who started the run (OpenTelemetry's user attribute), and who last answered its human node.
USER_ID = "user.id"
RESUMED_BY = "configurable_agents.run.resumed_by"

CAPTURE_CONTENT_ENV = "OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT"
#: Longest content attribute recorded; beyond it the text is cut.
MAX_CONTENT = 16_384


def capture_content() -> bool:
    """Whether the user opted in to recording prompts, answers and tool arguments."""
    return os.environ.get(CAPTURE_CONTENT_ENV, "").strip().lower() == "true"


def content(value: Any) -> str:
    """A content attribute's value: JSON (or the text), secrets scrubbed, length bounded."""
    text = value if isinstance(value, str) else json.dumps(value, default=str, ensure_ascii=False)
    return redact(text)[:MAX_CONTENT]


def record_error(span: Span, exc: BaseException, message: str | None = None) -> None:
    """Mark the span failed with the error's type; the message is scrubbed of secrets."""
    span.set_attribute(ERROR_TYPE, type(exc).__name__)
    span.set_status(Status(StatusCode.ERROR, redact(message or str(exc))[:1000]))
