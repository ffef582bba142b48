"""Which environment values ``redact`` scrubs (by the variable's name, or because it is listed),
and that a task's result keeps none of them for the run's state."""

from __future__ import annotations

import os

import pytest

from agent_runtime.executors import NodeTask, TaskExecutor
from agent_runtime.executors.tasks import Continuation, Decision
from agent_runtime.spec.workflow import ModelSpec, ToolSpec
from agent_runtime.telemetry.secrets import MASK, SECRET_ENV, redact, redact_value, seal, unseal

#: What ``remember`` was called with.
REMEMBERED: list[str] = []


def remember(value: str) -> str:
    """A tool that keeps its argument, so a test sees what the call really got."""
    REMEMBERED.append(value)
    return "remembered"


def echo_env(name: str) -> dict[str, object]:
    """A careless tool: its answer holds a variable's value (as a CRM echoing its token)."""
    return {"session": {"token": os.environ.get(name, "")}, "items": [os.environ.get(name, "")]}


def test_values_of_listed_variables_are_scrubbed_whatever_their_names(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("CRM_LOGIN", "crm-login-0123456789")
    monkeypatch.setenv("DATABASE_URL", "postgresql://u:pw-0123456789@db/runs")
    monkeypatch.setenv("PLAIN_SETTING", "plain-value-0123456789")
    text = "crm-login-0123456789 postgresql://u:pw-0123456789@db/runs plain-value-0123456789"
    assert redact(text) == text, "nothing is scrubbed before the names are listed"
    monkeypatch.setenv(SECRET_ENV, " CRM_LOGIN, DATABASE_URL ,")
    assert redact(text) == f"{MASK} {MASK} plain-value-0123456789"
    assert redact(SECRET_ENV + "=CRM_LOGIN") == SECRET_ENV + "=CRM_LOGIN", "names are not secret"


@pytest.mark.parametrize(
    "name",
    ["STRIPE_KEY", "PRIVATE_KEY", "APIKEY", "AWS_ACCESS_KEY_ID", "DB_PASSWD", "OPENAI_API_KEY"],
)
def test_a_name_an_agentpool_would_refuse_as_a_literal_is_secret(
    name: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """AgentPool env refuses a literal value for names with KEY, TOKEN, SECRET, PASSWORD or
    CREDENTIAL: the runtime scrubs at least those."""
    monkeypatch.setenv(name, "value-0123456789")
    assert redact("got value-0123456789") == f"got {MASK}"


def test_a_name_merely_starting_with_key_is_not_secret(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("KEYCLOAK_URL", "https://sso.example.com")
    assert redact("issuer https://sso.example.com") == "issuer https://sso.example.com"


def test_redact_value_scrubs_strings_at_any_depth(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CRM_TOKEN", "tok-0123456789")
    value = {"a": ["x tok-0123456789 y", 3, None], "tok-0123456789": {"b": True}}
    assert redact_value(value) == {"a": [f"x {MASK} y", 3, None], MASK: {"b": True}}


async def test_a_tool_result_reaches_the_run_without_the_secret(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """What a tool node returns goes into the state, checkpoints and events: scrubbed first."""
    monkeypatch.setenv("CRM_LOGIN", "login-0123456789")
    monkeypatch.setenv(SECRET_ENV, "CRM_LOGIN")
    tool = ToolSpec(name="echo", function="tests.security.test_redaction:echo_env")
    task = NodeTask(
        run_id="r", workflow="w", node="n", type="tool", tool=tool, args={"name": "CRM_LOGIN"}
    )
    executor = TaskExecutor()
    try:
        result = await executor.execute(task)
    finally:
        await executor.aclose()
    assert result.output == {"session": {"token": MASK}, "items": [MASK]}


def test_sealed_secrets_come_back_only_for_their_run(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SEARCH_KEY", "key-0123456789")
    args = {"api_key": "key-0123456789", "q": "x key-0123456789"}
    sealed = seal(args, "run-1")
    assert "key-0123456789" not in str(sealed)
    assert sealed["api_key"].startswith("[REDACTED:SEARCH_KEY:")
    assert unseal(sealed, "run-1") == args
    assert unseal(sealed, "run-2") == sealed, "another run's reference stays sealed"
    forged = {"api_key": "[REDACTED:SEARCH_KEY:0123456789abcdef]"}
    assert unseal(forged, "run-1") == forged, "a model cannot make a reference up"
    monkeypatch.delenv("SEARCH_KEY")
    assert unseal(sealed, "run-1") == sealed, "a process without the secret cannot unseal"


async def test_a_paused_call_keeps_its_secret_argument_sealed(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A model's call waiting for an approval is in the checkpoint: its key sealed; the approved
    call gets the key back."""
    monkeypatch.setenv("SEARCH_KEY", "key-0123456789")
    model = ModelSpec(
        provider="scripted",
        responses=[{"toolCalls": [{"name": "echo", "args": {"value": "key-0123456789"}}]}, "ok"],
    )
    tool = ToolSpec(name="echo", function="tests.security.test_redaction:remember")
    task = NodeTask(
        run_id="r",
        workflow="w",
        node="n",
        type="llm",
        model=model,
        prompt="go",
        tools=[tool],
        approval_required=["echo"],
    )
    executor = TaskExecutor()
    try:
        paused = await executor.execute(task)
        assert paused.paused is not None
        assert "key-0123456789" not in paused.model_dump_json()
        call = paused.paused.messages[-1].tool_calls[0]
        assert call.args["value"].startswith("[REDACTED:SEARCH_KEY:")
        resume = Continuation(
            messages=paused.paused.messages,
            rounds=paused.paused.rounds,
            decisions={call.id: Decision(approved=True)},
        )
        done = await executor.execute(task.model_copy(update={"resume": resume}))
    finally:
        await executor.aclose()
    assert REMEMBERED == ["key-0123456789"], "the approved call got the key itself"
    assert done.paused is None, "the task went on to its end"
