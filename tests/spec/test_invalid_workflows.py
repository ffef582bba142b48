"""One invalid variant of a valid Workflow per rule, each naming the exact field path."""

from __future__ import annotations

import copy
import re
from typing import Any

import pytest

from agent_runtime.spec import SpecError, Workflow, parse_resource

BASE: dict[str, Any] = {
    "apiVersion": "configurable-agents.io/v1alpha1",
    "kind": "Workflow",
    "metadata": {"name": "research-brief", "namespace": "demo"},
    "spec": {
        "description": "Research a topic and write a brief",
        "state": {
            "topic": {"type": "string"},
            "notes": {"type": "string"},
            "sources": {"type": "array", "items": {"type": "string"}, "reducer": "append"},
            "draft": {"type": "string"},
            "approved": {"type": "boolean"},
        },
        "input": ["topic"],
        "output": ["draft", "sources"],
        "models": {"default": {"provider": "scripted", "responses": ["ok"]}},
        "tools": [{"name": "search", "function": "pkg.mod:search"}],
        "nodes": [
            {
                "name": "research",
                "type": "llm",
                "capability": "web-research",
                "system": "You are a careful researcher.",
                "prompt": "List the key facts about {{ topic }}.",
                "tools": ["http_get", "search"],
                "output": {
                    "notes": {"type": "string"},
                    "sources": {"type": "array", "items": {"type": "string"}},
                },
                "retry": {
                    "maxAttempts": 3,
                    "initialDelay": "1s",
                    "backoff": 2.0,
                    "maxDelay": "30s",
                },
                "timeout": "60s",
            },
            {
                "name": "write",
                "type": "llm",
                "prompt": "Brief on {{ topic }}: {{ notes }}",
                "output": "draft",
            },
            {
                "name": "fetch",
                "type": "tool",
                "tool": "http_get",
                "args": {"url": "https://x/{{ topic }}"},
            },
            {"name": "check", "type": "router"},
            {
                "name": "review",
                "type": "human",
                "prompt": "Approve {{ draft }}?",
                "output": {"approved": {"type": "boolean"}},
            },
        ],
        "edges": [
            {"from": "START", "to": "research"},
            {"from": "research", "to": "fetch"},
            {"from": ["research", "fetch"], "to": "write"},
            {"from": "write", "to": "check"},
            {
                "from": "check",
                "branches": [{"when": "state.draft == ''", "to": "write"}, {"to": "review"}],
            },
            {
                "from": "review",
                "branches": [{"when": "state.approved", "to": "END"}, {"to": "write"}],
            },
        ],
        "limits": {"maxSteps": 50, "timeout": "10m"},
    },
}

DELETE = object()


def edits(*changes: tuple[str, Any]) -> dict[str, Any]:
    """BASE with each ``(path, value)`` applied: ``a.b[2].c``; a last part ``+`` appends."""
    doc = copy.deepcopy(BASE)
    for path, value in changes:
        *parents, last = [int(p) if p.isdigit() else p for p in re.findall(r"[^.\[\]]+", path)]
        target: Any = doc
        for part in parents:
            target = target[part]
        if value is DELETE:
            del target[last]
        elif last == "+":
            target.append(value)
        else:
            target[last] = value
    return doc


def test_base_is_valid() -> None:
    workflow = parse_resource(BASE)
    assert isinstance(workflow, Workflow)
    assert [n.name for n in workflow.spec.nodes] == [
        "research",
        "write",
        "fetch",
        "check",
        "review",
    ]


# (id, document, exact field path, key phrase of the message)
CASES: list[tuple[str, dict[str, Any], str, str]] = [
    # --- graph rules (rules.py) ---
    (
        "duplicate-node-name",
        edits(("spec.nodes.+", {"name": "write", "type": "human"})),
        "spec.nodes[5].name",
        "duplicate node name 'write' (also nodes[1])",
    ),
    (
        "reserved-node-name",
        edits(("spec.nodes.+", {"name": "END", "type": "human"})),
        "spec.nodes[5].name",
        "'END' is reserved for the graph's ends",
    ),
    (
        "edge-to-unknown-node",
        edits(("spec.edges[3].to", "wirte")),
        "spec.edges[3].to",
        "unknown node 'wirte'; did you mean 'write'?",
    ),
    (
        "edge-from-unknown-node",
        edits(("spec.edges[1].from", "reserch")),
        "spec.edges[1].from",
        "unknown node 'reserch'; did you mean 'research'?",
    ),
    (
        "join-from-unknown-node",
        edits(("spec.edges[2].from", ["research", "fetc"])),
        "spec.edges[2].from[1]",
        "unknown node 'fetc'; did you mean 'fetch'?",
    ),
    (
        "branch-to-unknown-node",
        edits(("spec.edges[5].branches[1].to", "wrte")),
        "spec.edges[5].branches[1].to",
        "unknown node 'wrte'; did you mean 'write'?",
    ),
    ("empty-join", edits(("spec.edges[2].from", [])), "spec.edges[2].from", "'from' names no node"),
    (
        "no-entry",
        edits(("spec.edges[0].from", "review")),
        "spec.edges",
        "no entry: one edge must start at START",
    ),
    (
        "two-entries",
        edits(("spec.edges.+", {"from": "START", "to": "write"})),
        "spec.edges[6].from",
        "a second entry: edges[0] already starts at START",
    ),
    (
        "start-joined",
        edits(("spec.edges[0].from", ["START", "fetch"])),
        "spec.edges[0].from[0]",
        "START cannot be joined with other nodes",
    ),
    (
        "edge-leaves-end",
        edits(("spec.edges.+", {"from": "END", "to": "write"})),
        "spec.edges[6].from",
        "no edge can leave END",
    ),
    (
        "edge-to-start",
        edits(("spec.edges[3].to", "START")),
        "spec.edges[3].to",
        "no edge can lead back to START",
    ),
    (
        "branch-to-start",
        edits(("spec.edges[5].branches[1].to", "START")),
        "spec.edges[5].branches[1].to",
        "no edge can lead back to START",
    ),
    (
        "edge-with-to-and-branches",
        edits(("spec.edges[3].branches", [{"to": "END"}])),
        "spec.edges[3]",
        "an edge needs exactly one of 'to' or 'branches'",
    ),
    (
        "edge-with-neither",
        edits(("spec.edges[3].to", DELETE)),
        "spec.edges[3]",
        "an edge needs exactly one of 'to' or 'branches'",
    ),
    (
        "two-default-branches",
        edits(("spec.edges[5].branches[0].when", DELETE)),
        "spec.edges[5].branches[1]",
        "only one branch may omit 'when'",
    ),
    (
        "default-branch-not-last",
        edits(
            ("spec.edges[5].branches", [{"to": "write"}, {"when": "state.approved", "to": "END"}])
        ),
        "spec.edges[5].branches[0]",
        "the default branch (no 'when') must be last",
    ),
    (
        "empty-branches",
        edits(("spec.edges[5].branches", [])),
        "spec.edges[5].branches",
        "at least one branch",
    ),
    (
        "branches-from-a-join",
        edits(("spec.edges[5].from", ["review", "write"])),
        "spec.edges[5].from",
        "branches leave a single node, not a join",
    ),
    (
        "router-without-branches",
        edits(("spec.edges[4]", {"from": "check", "to": "review"})),
        "spec.nodes[3]",
        "router 'check' has no edge with branches",
    ),
    (
        "unreachable-node",
        edits(
            ("spec.nodes.+", {"name": "orphan", "type": "llm", "prompt": "x"}),
            ("spec.edges.+", {"from": "orphan", "to": "END"}),
        ),
        "spec.nodes[5]",
        "node 'orphan' cannot be reached from START",
    ),
    (
        "node-without-path-to-end",
        edits(
            ("spec.nodes.+", {"name": "sink", "type": "llm", "prompt": "x"}),
            ("spec.edges.+", {"from": "write", "to": "sink"}),
        ),
        "spec.nodes[5]",
        "node 'sink' has no path to END (or to a human node)",
    ),
    # --- conditions (CEL) and templates ---
    (
        "cel-syntax-error",
        edits(("spec.edges[5].branches[0].when", "state.approved ==")),
        "spec.edges[5].branches[0].when",
        "CEL does not parse",
    ),
    (
        "cel-unknown-state-field",
        edits(("spec.edges[5].branches[0].when", "state.aproved")),
        "spec.edges[5].branches[0].when",
        "condition reads state.aproved, but 'aproved' is not a declared state field; "
        "did you mean 'approved'?",
    ),
    (
        "cel-unknown-variable",
        edits(("spec.edges[5].branches[0].when", "approved == true")),
        "spec.edges[5].branches[0].when",
        "unknown variable 'approved': conditions read state.<field>; did you mean state.approved?",
    ),
    (
        "template-syntax-error",
        edits(("spec.nodes[1].prompt", "Write {{ topic ")),
        "spec.nodes[1].prompt",
        "template does not parse",
    ),
    (
        "template-unknown-field",
        edits(("spec.nodes[0].prompt", "Facts about {{ topik }}")),
        "spec.nodes[0].prompt",
        "template names 'topik' is not a declared state field; did you mean 'topic'?",
    ),
    (
        "system-template-unknown-field",
        edits(("spec.nodes[0].system", "You are {{ persona }}")),
        "spec.nodes[0].system",
        "template names 'persona' is not a declared state field",
    ),
    (
        "tool-args-template-unknown-field",
        edits(("spec.nodes[2].args", {"url": "https://x/{{ subject }}"})),
        "spec.nodes[2].args.url",
        "template names 'subject' is not a declared state field",
    ),
    (
        "human-prompt-template-unknown-field",
        edits(("spec.nodes[4].prompt", "Approve {{ drafts }}?")),
        "spec.nodes[4].prompt",
        "did you mean 'draft'?",
    ),
    # --- state, input/output, outputs, references ---
    (
        "reducer-does-not-fit-type",
        edits(("spec.state.draft.reducer", "append")),
        "spec.state.draft.reducer",
        "reducer 'append' needs a field of type array or messages, not string",
    ),
    (
        "state-default-of-wrong-type",
        edits(("spec.state.notes.default", 3)),
        "spec.state.notes.default",
        "expected string, got integer",
    ),
    (
        "input-undeclared",
        edits(("spec.input[0]", "topc")),
        "spec.input[0]",
        "'topc' is not a declared state field; did you mean 'topic'?",
    ),
    (
        "output-undeclared",
        edits(("spec.output[1]", "source")),
        "spec.output[1]",
        "'source' is not a declared state field; did you mean 'sources'?",
    ),
    (
        "human-output-field-not-in-state",
        edits(("spec.nodes[4].output", {"aproved": {"type": "boolean"}})),
        "spec.nodes[4].output.aproved",
        "'aproved' is not a declared state field; did you mean 'approved'?",
    ),
    (
        "llm-output-type-mismatch",
        edits(("spec.nodes[0].output.notes", {"type": "boolean"})),
        "spec.nodes[0].output.notes.type",
        "'boolean' does not fit state field 'notes' of type string",
    ),
    (
        "llm-plain-output-undeclared",
        edits(("spec.nodes[1].output", "drafts")),
        "spec.nodes[1].output",
        "'drafts' is not a declared state field; did you mean 'draft'?",
    ),
    (
        "unknown-model",
        edits(("spec.nodes[1].model", "fast")),
        "spec.nodes[1].model",
        "unknown model 'fast'",
    ),
    (
        "unknown-tool-in-llm-tools",
        edits(("spec.nodes[0].tools[1]", "serch")),
        "spec.nodes[0].tools[1]",
        "unknown tool 'serch'; did you mean 'search'?",
    ),
    (
        "unknown-tool-of-tool-node",
        edits(("spec.nodes[2].tool", "http-get")),
        "spec.nodes[2].tool",
        "unknown tool 'http-get'; did you mean 'http_get'?",
    ),
    (
        "duplicate-tool-name",
        edits(("spec.tools.+", {"name": "search", "mcp": {"url": "http://mcp"}})),
        "spec.tools[1].name",
        "duplicate tool name 'search'",
    ),
    (
        "tool-with-two-kinds",
        edits(("spec.tools[0].mcp", {"url": "http://mcp"})),
        "spec.tools[0]",
        "a tool needs exactly one of httpGet, function or mcp",
    ),
    # --- field-level (pydantic) rules ---
    ("unknown-field", edits(("spec.nodes[0].promt", "x")), "spec.nodes[0].promt", "unknown field"),
    ("unknown-spec-field", edits(("spec.node", [])), "spec.node", "unknown field"),
    (
        "wrong-type",
        edits(("spec.limits.maxSteps", "many")),
        "spec.limits.maxSteps",
        "Input should be a valid integer",
    ),
    (
        "string-or-list-of-wrong-type",
        edits(("spec.edges[1].from", 5)),
        "spec.edges[1].from",
        "Input should be a valid string or a valid list",
    ),
    (
        "output-of-wrong-type",
        edits(("spec.nodes[1].output", 5)),
        "spec.nodes[1].output",
        "Input should be a valid string or a valid dictionary",
    ),
    (
        "output-field-of-unknown-type",
        edits(("spec.nodes[0].output.notes", {"type": "text"})),
        "spec.nodes[0].output.notes.type",
        "Input should be 'string', 'integer', 'number', 'boolean', 'array', 'object' or 'messages'",
    ),
    (
        "bad-duration",
        edits(("spec.nodes[0].timeout", "60 seconds")),
        "spec.nodes[0].timeout",
        "invalid duration '60 seconds'",
    ),
    (
        "bad-limits-duration",
        edits(("spec.limits.timeout", "10x")),
        "spec.limits.timeout",
        "invalid duration '10x'",
    ),
    (
        "unknown-node-type",
        edits(("spec.nodes[3].type", "agent")),
        "spec.nodes[3].type",
        "unknown type 'agent': expected llm, tool, router or human",
    ),
    (
        "node-without-type",
        edits(("spec.nodes[3].type", DELETE)),
        "spec.nodes[3].type",
        "required field is missing",
    ),
    (
        "bad-metadata-name",
        edits(("metadata.name", "Research_Brief")),
        "metadata.name",
        "String should match pattern",
    ),
    (
        "bad-node-name",
        edits(("spec.nodes[3].name", "check me")),
        "spec.nodes[3].name",
        "String should match pattern",
    ),
    (
        "bad-capability",
        edits(("spec.nodes[0].capability", "Web Research")),
        "spec.nodes[0].capability",
        "String should match pattern",
    ),
    (
        "missing-prompt",
        edits(("spec.nodes[1].prompt", DELETE)),
        "spec.nodes[1].prompt",
        "an llm node needs a prompt or messages",
    ),
    (
        "missing-tool",
        edits(("spec.nodes[2].tool", DELETE)),
        "spec.nodes[2].tool",
        "required field is missing",
    ),
    ("missing-spec", edits(("spec", DELETE)), "spec", "required field is missing"),
    ("missing-nodes", edits(("spec.nodes", DELETE)), "spec.nodes", "required field is missing"),
    (
        "wrong-kind",
        edits(("kind", "Workflw")),
        "kind",
        "expected Workflow or AgentPool, got 'Workflw'",
    ),
    (
        "wrong-api-version",
        edits(("apiVersion", "configurable-agents.io/v1")),
        "apiVersion",
        "expected 'configurable-agents.io/v1alpha1', got 'configurable-agents.io/v1'",
    ),
    # --- models ---
    (
        "responses-on-openai",
        edits(
            (
                "spec.models.default",
                {"provider": "openai", "model": "gpt-4o-mini", "responses": ["x"]},
            )
        ),
        "spec.models.default.responses",
        "only the scripted provider takes responses",
    ),
    (
        "delay-on-openai",
        edits(
            ("spec.models.default", {"provider": "openai", "model": "gpt-4o-mini", "delay": "1s"})
        ),
        "spec.models.default.delay",
        "only the scripted provider takes a delay",
    ),
    (
        "provider-without-model-name",
        edits(("spec.models.default", {"provider": "anthropic"})),
        "spec.models.default.model",
        "the anthropic provider needs a model name",
    ),
    (
        "model-named-like-a-node-type",
        edits(("spec.models.tool", {"provider": "openai"})),
        "spec.models.tool.model",
        "the openai provider needs a model name",
    ),
    (
        "base-url-on-google",
        edits(("spec.models.default", {"provider": "google", "model": "g", "baseUrl": "http://x"})),
        "spec.models.default.baseUrl",
        "only the openai and ollama providers take a baseUrl",
    ),
    (
        "unknown-provider",
        edits(("spec.models.default.provider", "openia")),
        "spec.models.default.provider",
        "Input should be 'openai', 'anthropic', 'google', 'ollama' or 'scripted'",
    ),
    (
        "temperature-out-of-range",
        edits(("spec.models.default.temperature", 3)),
        "spec.models.default.temperature",
        "less than or equal to 2",
    ),
    # --- conversations ---
    (
        "messages-names-unknown-field",
        edits(("spec.nodes[1].messages", "history")),
        "spec.nodes[1].messages",
        "'history' is not a declared state field",
    ),
    (
        "messages-names-field-of-other-type",
        edits(("spec.nodes[1].messages", "notes")),
        "spec.nodes[1].messages",
        "state field 'notes' is of type string, not messages",
    ),
    (
        "messages-on-a-tool-node",
        edits(("spec.nodes[2].messages", "notes")),
        "spec.nodes[2].messages",
        "unknown field",
    ),
    (
        "structured-output-holds-messages",
        edits(
            ("spec.state.chat", {"type": "messages"}),
            ("spec.nodes[0].output.chat", {"type": "messages"}),
        ),
        "spec.nodes[0].output.chat.type",
        "a structured answer cannot hold messages",
    ),
    (
        "messages-default-not-messages",
        edits(("spec.state.chat", {"type": "messages", "default": [{"role": "robot"}]})),
        "spec.state.chat.default",
        "[0].role: must be one of system, user, assistant, tool",
    ),
    (
        "merge-reducer-on-messages",
        edits(("spec.state.chat", {"type": "messages", "reducer": "merge"})),
        "spec.state.chat.reducer",
        "reducer 'merge' needs a field of type object, not messages",
    ),
    # --- retry ---
    (
        "retry-zero-attempts",
        edits(("spec.nodes[0].retry.maxAttempts", 0)),
        "spec.nodes[0].retry.maxAttempts",
        "greater than or equal to 1",
    ),
    (
        "retry-backoff-below-one",
        edits(("spec.nodes[0].retry.backoff", 0.5)),
        "spec.nodes[0].retry.backoff",
        "greater than or equal to 1",
    ),
    (
        "retry-negative-delay",
        edits(("spec.nodes[0].retry.maxDelay", "-1s")),
        "spec.nodes[0].retry.maxDelay",
        "invalid duration '-1s'",
    ),
]


@pytest.mark.parametrize(
    ("doc", "path", "phrase"), [c[1:] for c in CASES], ids=[c[0] for c in CASES]
)
def test_invalid_variant_names_the_field(doc: dict[str, Any], path: str, phrase: str) -> None:
    with pytest.raises(SpecError) as caught:
        parse_resource(doc)
    problems = [(p.path, p.message) for p in caught.value.problems]
    assert any(p == path and phrase in m for p, m in problems), problems


def test_cases_cover_every_rule_once() -> None:
    ids = [c[0] for c in CASES]
    assert len(ids) == len(set(ids))
    assert len(CASES) >= 25


def test_all_problems_are_reported_at_once() -> None:
    doc = edits(
        ("spec.input[0]", "topc"), ("spec.edges[3].to", "wirte"), ("spec.nodes[1].model", "fast")
    )
    with pytest.raises(SpecError) as caught:
        parse_resource(doc)
    assert {p.path for p in caught.value.problems} == {
        "spec.input[0]",
        "spec.edges[3].to",
        "spec.nodes[1].model",
    }


def test_error_lines_name_the_source_and_path() -> None:
    with pytest.raises(SpecError) as caught:
        parse_resource(edits(("spec.edges[3].to", "wirte")), source="brief.yaml")
    assert caught.value.lines() == [
        "brief.yaml: spec.edges[3].to: unknown node 'wirte'; did you mean 'write'?"
    ]


def test_a_graph_may_end_at_a_human_node() -> None:
    """Nodes that reach a human node but never END are fine: the run waits there to be resumed."""
    doc = edits(("spec.edges[5]", {"from": "review", "to": "write"}))
    assert isinstance(parse_resource(doc), Workflow)


@pytest.mark.parametrize("name", ["__visits", "state", "has-dash"])
def test_state_field_names_are_plain_identifiers(name: str) -> None:
    doc = copy.deepcopy(BASE)
    doc["spec"]["state"][name] = {"type": "string"}
    with pytest.raises(SpecError) as err:
        parse_resource(doc)
    assert [p.path for p in err.value.problems] == [f"spec.state.{name}"]
    assert "must be an identifier" in err.value.problems[0].message
