"""The Workflow kind: a typed graph of llm, tool, router and human nodes."""

from __future__ import annotations

import hashlib
import json
from functools import cached_property
from typing import Annotated, Any, Literal

from pydantic import Field, model_validator

from agent_runtime.spec.a2a import A2aTool
from agent_runtime.spec.common import (
    IDENTIFIER,
    Condition,
    Duration,
    ObjectMeta,
    SpecModel,
)
from agent_runtime.spec.errors import SpecError
from agent_runtime.spec.state import StateField

START = "START"
END = "END"
NodeName = Annotated[str, Field(min_length=1, max_length=63, pattern=r"^[A-Za-z_][A-Za-z0-9_-]*$")]
FieldName = Annotated[str, Field(pattern=IDENTIFIER)]
Provider = Literal["openai", "anthropic", "google", "ollama", "scripted"]


class ModelSpec(SpecModel):
    """Which LLM a node calls. Credentials never live here: they come from the environment."""

    provider: Provider
    model: str = ""
    temperature: float | None = Field(default=None, ge=0, le=2)
    max_tokens: int | None = Field(default=None, ge=1)
    base_url: str | None = None
    #: ``scripted`` only: the answers, one per visit of a node (the last repeats).
    responses: list[Any] | None = None
    #: ``scripted`` only: how long each call takes.
    delay: Duration = 0.0

    @model_validator(mode="after")
    def _provider_fields(self) -> ModelSpec:
        if self.provider != "scripted":
            if self.responses is not None:
                raise ValueError("responses: only the scripted provider takes responses")
            if self.delay:
                raise ValueError("delay: only the scripted provider takes a delay")
            if not self.model:
                raise ValueError(f"model: the {self.provider} provider needs a model name")
        if self.base_url is not None and self.provider not in ("openai", "ollama"):
            raise ValueError("baseUrl: only the openai and ollama providers take a baseUrl")
        return self


class RetryPolicy(SpecModel):
    """Retries of one node visit, on errors and timeouts, with capped exponential backoff."""

    max_attempts: int = Field(default=1, ge=1, le=100)
    initial_delay: Duration = 1.0
    backoff: float = Field(default=2.0, ge=1.0, le=10.0)
    max_delay: Duration = 30.0

    def delay(self, attempt: int) -> float:
        """Seconds to wait after failed attempt number ``attempt`` (1-based)."""
        return float(min(self.max_delay, self.initial_delay * self.backoff ** (attempt - 1)))


class HttpGetTool(SpecModel):
    allow: list[str] = Field(default_factory=list)
    timeout: Duration = 10.0
    max_bytes: int = Field(default=100_000, ge=1)


class McpTool(SpecModel):
    url: str
    #: The tool's name on the MCP server; defaults to the tool's own name.
    tool: str | None = None


#: The kinds of tool, by field name: a tool has exactly one.
TOOL_KINDS = ("http_get", "function", "mcp", "a2a")


class ToolSpec(SpecModel):
    """A tool nodes may call: ``httpGet``, a Python callable, an MCP server's, an A2A agent."""

    name: Annotated[str, Field(pattern=r"^[A-Za-z_][A-Za-z0-9_-]{0,63}$")]
    description: str = ""
    http_get: HttpGetTool | None = None
    function: Annotated[str, Field(pattern=r"^[\w.]+:[\w.]+$")] | None = None
    mcp: McpTool | None = None
    a2a: A2aTool | None = Field(default=None, alias="a2a")  # not to_camel's "a2A"
    #: Every call of this tool, by any node, waits for a person to approve it.
    require_approval: bool = False
    #: Whether calling it twice does no more than once. A tool that is not is called by the
    #: engine itself, once per call of a run, its result recorded; when a crash leaves its
    #: outcome unknown the run waits for a person (run it again, give its result, or fail).
    idempotent: bool = True

    @model_validator(mode="after")
    def _one_kind(self) -> ToolSpec:
        kinds = [k for k in TOOL_KINDS if getattr(self, k) is not None]
        if len(kinds) != 1:
            raise ValueError("a tool needs exactly one of httpGet, function, mcp or a2a")
        return self


BUILTIN_TOOLS = {"http_get": ToolSpec(name="http_get", http_get=HttpGetTool())}

Output = Annotated[str, Field(pattern=IDENTIFIER)] | dict[str, StateField]


class _NodeBase(SpecModel):
    name: NodeName
    description: str = ""


class _ExecutedNode(_NodeBase):
    capability: Annotated[str, Field(pattern=r"^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$")] = "llm"
    retry: RetryPolicy = Field(default_factory=RetryPolicy)
    timeout: Duration | None = None


class LlmNode(_ExecutedNode):
    type: Literal["llm"]
    model: str = "default"
    system: str = ""
    #: The last user message; optional when ``messages`` gives the conversation.
    prompt: str = ""
    #: A state field of type ``messages``: the conversation sent after ``system``. When
    #: ``output`` names a messages field, the model's reply is appended to it.
    messages: FieldName | None = None
    tools: list[str] = Field(default_factory=list)
    #: How many rounds of tool calls the model may ask for before the node fails.
    max_tool_rounds: int = Field(default=8, ge=1, le=100)
    #: Tools (of ``tools``) whose calls by this node wait for a person to approve them.
    require_approval: list[str] = Field(default_factory=list)
    output: Output | None = None


class ToolNode(_ExecutedNode):
    type: Literal["tool"]
    tool: str
    #: Arguments of the call; string values are templates over the state.
    args: dict[str, Any] = Field(default_factory=dict)
    output: Output | None = None


class RouterNode(_NodeBase):
    type: Literal["router"]


class HumanNode(_NodeBase):
    type: Literal["human"]
    #: What the person is asked; a template over the state.
    prompt: str = ""
    #: The fields the resume input must give.
    output: dict[str, StateField] = Field(default_factory=dict)


Node = Annotated[LlmNode | ToolNode | RouterNode | HumanNode, Field(discriminator="type")]


class Branch(SpecModel):
    when: str | None = None
    to: str


class Edge(SpecModel):
    """From a node (or a list of nodes, joined: all must finish) to a node, or to branches."""

    from_: Annotated[str | list[str], Field(alias="from")]
    to: str | None = None
    branches: list[Branch] | None = None

    @property
    def sources(self) -> list[str]:
        return [self.from_] if isinstance(self.from_, str) else list(self.from_)

    @property
    def targets(self) -> list[str]:
        if self.branches is not None:
            return [b.to for b in self.branches]
        return [self.to] if self.to is not None else []


class Limits(SpecModel):
    max_steps: int = Field(default=50, ge=1, le=100_000)
    timeout: Duration | None = None
    #: Input plus output tokens of every model call of the run.
    max_tokens: int | None = Field(default=None, ge=1)
    #: Tool calls of the run, by tool nodes and by models.
    max_tool_calls: int | None = Field(default=None, ge=1)
    #: At ``maxTokens`` or ``maxToolCalls``: fail the run, or pause it at an approval that
    #: grants the same allowance again (nothing already spent is lost).
    on_exceeded: Literal["fail", "pause"] = "fail"


class WorkflowSpec(SpecModel):
    description: str = ""
    state: dict[str, StateField] = Field(default_factory=dict)
    input: list[str] = Field(default_factory=list)
    output: list[str] = Field(default_factory=list)
    models: dict[str, ModelSpec] = Field(default_factory=dict)
    tools: list[ToolSpec] = Field(default_factory=list)
    nodes: list[Node] = Field(min_length=1)
    edges: list[Edge] = Field(min_length=1)
    limits: Limits = Field(default_factory=Limits)

    @model_validator(mode="after")
    def _graph_rules(self) -> WorkflowSpec:
        from agent_runtime.spec.rules import check_workflow

        problems = check_workflow(self)
        if problems:
            raise SpecError(problems)
        return self

    def node(self, name: str) -> LlmNode | ToolNode | RouterNode | HumanNode:
        for node in self.nodes:
            if node.name == name:
                return node
        raise KeyError(name)

    def tool(self, name: str) -> ToolSpec:
        for tool in self.tools:
            if tool.name == name:
                return tool
        return BUILTIN_TOOLS[name]

    def recorded_tools(self, node: LlmNode | ToolNode) -> list[str]:
        """The tools whose calls by ``node`` the engine makes itself (not ``idempotent``)."""
        names = node.tools if isinstance(node, LlmNode) else [node.tool]
        return [n for n in names if not self.tool(n).idempotent]

    def gated_tools(self, node: LlmNode | ToolNode) -> list[str]:
        """The tools whose calls by ``node`` wait for an approval."""
        names = node.tools if isinstance(node, LlmNode) else [node.tool]
        extra = node.require_approval if isinstance(node, LlmNode) else []
        return [n for n in names if n in extra or self.tool(n).require_approval]

    def content_hash(self) -> str:
        """A stable hash of the spec, recorded with each run: edits never change runs in flight."""
        return self._content_hash

    @cached_property
    def _content_hash(self) -> str:  # once per (frozen) spec, not once per run
        canonical = json.dumps(self.model_dump(mode="json", by_alias=True), sort_keys=True)
        return hashlib.sha256(canonical.encode()).hexdigest()[:16]


class WorkflowStatus(SpecModel):
    model_config = SpecModel.model_config | {"extra": "allow"}

    observed_generation: int | None = None
    conditions: list[Condition] = Field(default_factory=list)
    capabilities: dict[str, Any] = Field(default_factory=dict)
    graph: str = ""


class Workflow(SpecModel):
    api_version: Literal["configurable-agents.io/v1alpha1"] = "configurable-agents.io/v1alpha1"
    kind: Literal["Workflow"] = "Workflow"
    metadata: ObjectMeta
    spec: WorkflowSpec
    status: WorkflowStatus | None = None

    @property
    def namespace(self) -> str:
        return self.metadata.namespace or "default"

    @cached_property
    def document(self) -> dict[str, Any]:
        """The Workflow as a run records it (no status), built once per (frozen) object."""
        return self.model_dump(mode="json", by_alias=True, exclude={"status"})

    @property
    def name(self) -> str:
        return self.metadata.name
