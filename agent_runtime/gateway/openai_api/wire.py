"""The request body of ``POST /chat/completions``, as the ``openai`` client sends it.

Sampling settings (``temperature``, ``top_p``, ``max_tokens``...) are accepted and ignored: the
Workflow's models say how they are called. What would change the answer's shape and cannot be
honoured is refused naming the field (``n`` above 1, ``tools``, ``response_format``)."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator


class StreamOptions(BaseModel):
    model_config = ConfigDict(extra="ignore")
    include_usage: bool = False


class ChatRequest(BaseModel):
    model_config = ConfigDict(extra="ignore")

    model: str = Field(min_length=1)
    messages: list[dict[str, Any]] = Field(min_length=1)
    stream: bool = False
    stream_options: StreamOptions | None = None
    n: int = 1
    #: ``{"thread_id": ...}`` keeps the conversation on that thread: only the messages after the
    #: last assistant message in ``messages`` are new.
    metadata: dict[str, str] | None = None
    user: str | None = None
    tools: Any = None
    response_format: Any = None

    @field_validator("n")
    @classmethod
    def _one(cls, value: int) -> int:
        if value != 1:
            raise ValueError("only 1 choice is made")
        return value

    @field_validator("tools", "response_format")
    @classmethod
    def _workflow_decides(cls, value: Any) -> Any:
        if value not in (None, [], {}) and value != {"type": "text"}:
            raise ValueError("not supported: the Workflow's own nodes decide tools and format")
        return value


FinishReason = Literal["stop", "length", "tool_calls"]
