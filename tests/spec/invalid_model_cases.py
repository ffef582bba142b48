"""Invalid Workflow variants breaking model, conversation and retry rules."""

from __future__ import annotations

from typing import Any

from tests.spec.workflow_edits import edits

# (id, document, exact field path, key phrase of the message)
MODEL_CASES: list[tuple[str, dict[str, Any], str, str]] = [
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
