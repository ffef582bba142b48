"""The request bodies of the LangGraph server API, as its SDK sends them (snake_case).

Fields a client library sends by default but that change nothing here are accepted and ignored
(``durability``: every step is durable; ``feedback_keys``, ``langsmith_tracer``). Fields asking
for what this gateway does not do are refused with a 422 naming them, never silently dropped.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

StreamMode = Literal[
    "values",
    "updates",
    "messages",
    "messages-tuple",
    "events",
    "debug",
    "custom",
    "tasks",
    "checkpoints",
]
#: What to do when a run is started on a thread that already has one in flight.
MultitaskStrategy = Literal["reject", "interrupt", "rollback", "enqueue"]


def graph_id(namespace: str, name: str) -> str:
    return f"{namespace}/{name}"


class Lenient(BaseModel):
    """Unknown fields are ignored, as the LangGraph server does for newer clients' additions."""

    model_config = ConfigDict(extra="ignore")


class AssistantSearch(Lenient):
    metadata: dict[str, Any] | None = None
    graph_id: str | None = None
    name: str | None = None
    limit: int = Field(default=10, ge=1, le=1000)
    offset: int = Field(default=0, ge=0)


class CountBody(Lenient):
    metadata: dict[str, Any] | None = None
    graph_id: str | None = None


class Command(Lenient):
    """``Command(resume=...)`` answers an interrupt; ``update`` and ``goto`` steer a graph, which
    a Workflow's own edges do here."""

    resume: Any = None
    update: Any = None
    goto: Any = None

    @field_validator("update", "goto")
    @classmethod
    def _unsupported(cls, value: Any) -> Any:
        if value not in (None, [], {}):
            raise ValueError("not supported: a Workflow's edges decide where a run goes")
        return value


def _none(value: Any) -> Any:
    if value not in (None, [], {}, ""):
        raise ValueError("not supported by this gateway")
    return value


class RunCreate(Lenient):
    assistant_id: str = Field(min_length=1)
    input: dict[str, Any] | None = None
    command: Command | None = None
    config: dict[str, Any] | None = None
    context: dict[str, Any] | None = None
    metadata: dict[str, Any] | None = None
    stream_mode: StreamMode | list[StreamMode] = "values"
    stream_subgraphs: bool = False
    stream_resumable: bool = False
    multitask_strategy: MultitaskStrategy = "enqueue"
    if_not_exists: Literal["create", "reject"] = "reject"
    on_disconnect: Literal["cancel", "continue"] = "continue"
    on_completion: Literal["delete", "keep"] | None = None
    interrupt_before: Any = None
    interrupt_after: Any = None
    checkpoint: Any = None
    checkpoint_id: str | None = None
    webhook: str | None = None
    after_seconds: int | None = None

    _unsupported = field_validator(
        "interrupt_before",
        "interrupt_after",
        "checkpoint",
        "checkpoint_id",
        "webhook",
        "after_seconds",
    )(_none)

    def modes(self) -> list[str]:
        given = [self.stream_mode] if isinstance(self.stream_mode, str) else self.stream_mode
        return list(dict.fromkeys(given or ["values"]))


class ThreadCreate(Lenient):
    thread_id: str | None = Field(default=None, min_length=1, max_length=128)
    metadata: dict[str, Any] = Field(default_factory=dict)
    if_exists: Literal["raise", "do_nothing"] = "raise"
    supersteps: Any = None

    _unsupported = field_validator("supersteps")(_none)


class ThreadSearch(Lenient):
    metadata: dict[str, Any] | None = None
    values: dict[str, Any] | None = None
    status: Literal["idle", "busy", "interrupted", "error"] | None = None
    ids: list[str] | None = None
    limit: int = Field(default=10, ge=1, le=1000)
    offset: int = Field(default=0, ge=0)


class ThreadPatch(Lenient):
    metadata: dict[str, Any] = Field(default_factory=dict)


class StateUpdate(Lenient):
    values: dict[str, Any] | list[Any] | None = None
    as_node: str | None = None
    checkpoint: Any = None
    checkpoint_id: str | None = None


class HistoryQuery(Lenient):
    limit: int = Field(default=10, ge=1, le=1000)
    before: Any = None
    metadata: dict[str, Any] | None = None
    checkpoint: Any = None
