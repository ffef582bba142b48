"""Invalid Workflow variants breaking state, input/output, reference and field-level rules."""

from __future__ import annotations

from typing import Any

from tests.spec.workflow_edits import DELETE, edits

# (id, document, exact field path, key phrase of the message)
FIELD_CASES: list[tuple[str, dict[str, Any], str, str]] = [
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
        "a tool needs exactly one of httpGet, function, mcp or a2a",
    ),
    (
        "a2a-url-not-http",
        edits(("spec.tools[0]", {"name": "search", "a2a": {"url": "ftp://agents.example"}})),
        "spec.tools[0].a2a.url",
        "'ftp://agents.example' must be an http:// or https:// URL",
    ),
    (
        "a2a-url-with-credentials",
        edits(("spec.tools[0]", {"name": "search", "a2a": {"url": "https://me:pw@a.example"}})),
        "spec.tools[0].a2a.url",
        "the URL must not hold user info",
    ),
    (
        "a2a-header-from-a-non-a2a-variable",
        edits(
            (
                "spec.tools[0]",
                {
                    "name": "search",
                    "a2a": {
                        "url": "https://a.example",
                        "headers": [{"name": "Authorization", "env": "OPENAI_API_KEY"}],
                    },
                },
            )
        ),
        "spec.tools[0].a2a.headers[0].env",
        "'OPENAI_API_KEY' is not an A2A_* variable",
    ),
    (
        "a2a-header-the-client-sets",
        edits(
            (
                "spec.tools[0]",
                {
                    "name": "search",
                    "a2a": {
                        "url": "https://a.example",
                        "headers": [{"name": "traceparent", "env": "A2A_TRACE"}],
                    },
                },
            )
        ),
        "spec.tools[0].a2a.headers[0].name",
        "'traceparent' is set by the client itself",
    ),
    (
        "a2a-bad-timeout",
        edits(
            ("spec.tools[0]", {"name": "search", "a2a": {"url": "https://a.ex", "timeout": "x"}})
        ),
        "spec.tools[0].a2a.timeout",
        "invalid duration 'x'",
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
        "expected Workflow, AgentPool or Trigger, got 'Workflw'",
    ),
    (
        "wrong-api-version",
        edits(("apiVersion", "configurable-agents.io/v1")),
        "apiVersion",
        "expected 'configurable-agents.io/v1alpha1', got 'configurable-agents.io/v1'",
    ),
]
