"""One error root with stable codes, read the same way by the API, the CLI and the operator."""

from __future__ import annotations

import asyncio

import click
import kopf
import pytest
from agents_operator.reconciles import RETRY_DELAY, reconciling
from fastapi import FastAPI
from fastapi.testclient import TestClient
from prometheus_client import REGISTRY

from agent_runtime.agent.errors import AgentError, Busy, CapabilityNotServed, Draining
from agent_runtime.auth import AuthUnavailable, Unauthenticated
from agent_runtime.auth.errors import AuthError
from agent_runtime.cli.errors import EXIT_FAILED, EXIT_INVALID, Failure, run_cli
from agent_runtime.engine.errors import (
    InputError,
    NodeFailed,
    OutcomeUnknown,
    RunCancelled,
    RunError,
    RunWaiting,
)
from agent_runtime.errors import AgentRuntimeError
from agent_runtime.executors.tasks import AgentLost, NoAgents, PermanentTaskError, TaskError
from agent_runtime.gateway import errors as gateway_errors
from agent_runtime.policy import PolicyError
from agent_runtime.providers.base import ProviderError
from agent_runtime.spec.errors import Problem, SpecError
from agent_runtime.spec.templates import TemplateError
from agent_runtime.telemetry.prices import PriceError
from agent_runtime.tools.base import ToolError

#: Clients branch on these: a changed code is a changed API.
CODES: dict[type[AgentRuntimeError], str] = {
    SpecError: "invalid_spec",
    TemplateError: "invalid_template",
    PolicyError: "invalid_policy",
    InputError: "invalid_input",
    RunError: "run_failed",
    NodeFailed: "node_failed",
    RunCancelled: "cancelled",
    RunWaiting: "waiting",
    OutcomeUnknown: "outcome_unknown",
    AuthError: "auth_error",
    Unauthenticated: "unauthenticated",
    AuthUnavailable: "auth_unavailable",
    ProviderError: "provider_error",
    ToolError: "tool_error",
    TaskError: "task_failed",
    PermanentTaskError: "task_permanent",
    AgentLost: "agent_lost",
    NoAgents: "no_agents",
    AgentError: "agent_error",
    Busy: "busy",
    Draining: "draining",
    CapabilityNotServed: "capability_not_served",
    Failure: "command_failed",
    PriceError: "invalid_prices",
}


@pytest.mark.parametrize("cls", list(CODES), ids=lambda c: c.__name__)
def test_every_boundary_error_has_its_stable_code(cls: type[AgentRuntimeError]) -> None:
    assert issubclass(cls, AgentRuntimeError)
    assert cls.code == CODES[cls]


def test_codes_are_not_shared_between_classes() -> None:
    assert len(set(CODES.values())) == len(CODES)


def test_what_was_caught_before_is_still_caught() -> None:
    """Re-basing kept the standard bases callers catch (``except ValueError`` and the like)."""
    assert issubclass(SpecError, ValueError) and issubclass(InputError, ValueError)
    assert issubclass(RunError, RuntimeError) and issubclass(ProviderError, RuntimeError)


def spec_error() -> SpecError:
    return SpecError(
        [Problem("spec.nodes[0].type", "unknown type"), Problem("spec.edges", "missing")],
        source="flow.yaml",
    )


def api(exc: Exception) -> TestClient:
    app = FastAPI()
    gateway_errors.install(app)

    @app.get("/fail")
    async def fail() -> None:
        raise exc

    return TestClient(app, raise_server_exceptions=False)


@pytest.mark.parametrize(
    ("exc", "status"),
    [
        (spec_error(), 422),
        (TemplateError("template does not parse"), 422),
        (RunError("run is running", code="not_interrupted"), 409),
        (RunError("node b failed"), 500),
        (AuthUnavailable("the API server did not answer"), 503),
        (ProviderError("openai: 401 from the provider"), 500),
    ],
    ids=lambda v: type(v).__name__ if isinstance(v, Exception) else str(v),
)
def test_the_api_answers_with_the_code(exc: AgentRuntimeError, status: int) -> None:
    answer = api(exc).get("/fail")
    assert answer.status_code == status
    assert answer.json() == {"error": exc.as_dict()}
    assert answer.json()["error"]["code"] == exc.code


def test_the_api_names_the_fields_of_a_spec_error() -> None:
    body = api(spec_error()).get("/fail").json()["error"]
    assert body["details"] == [
        {"field": "spec.nodes[0].type", "message": "unknown type"},
        {"field": "spec.edges", "message": "missing"},
    ]


def test_an_unknown_failure_stays_internal() -> None:
    answer = api(KeyError("secret-ish detail")).get("/fail")
    assert answer.status_code == 500
    assert answer.json()["error"]["code"] == "internal"
    assert "secret-ish" not in answer.text


def cli(exc: Exception) -> click.Group:
    @click.group()
    def group() -> None: ...

    @group.command()
    def fail() -> None:
        raise exc

    return group


@pytest.mark.parametrize(
    ("exc", "status", "lines"),
    [
        (spec_error(), EXIT_INVALID, 2),
        (InputError(["topic: required", "n: not an integer"]), EXIT_INVALID, 2),
        (RunError("run is running", code="not_interrupted"), EXIT_INVALID, 1),
        (ProviderError("openai: 401 from the provider"), EXIT_FAILED, 1),
        (PolicyError("bad pattern"), EXIT_INVALID, 1),
        (Failure("no credentials"), EXIT_FAILED, 1),
    ],
    ids=lambda v: type(v).__name__ if isinstance(v, Exception) else str(v),
)
def test_the_cli_prints_one_line_per_problem_and_exits_by_code(
    exc: AgentRuntimeError, status: int, lines: int, capsys: pytest.CaptureFixture[str]
) -> None:
    assert run_cli(cli(exc), ["fail"]) == status
    err = capsys.readouterr().err.splitlines()
    assert err == [f"error: {line}" for line in exc.lines()]
    assert len(err) == lines


def reconcile_failing(exc: Exception) -> None:
    async def go() -> None:
        with reconciling("Test"):
            raise exc

    asyncio.run(go())


def errors_counted() -> float:
    sample = REGISTRY.get_sample_value(
        "configurable_agents_operator_reconciles_total", {"kind": "Test", "outcome": "error"}
    )
    return sample or 0.0


def test_the_operator_retries_what_may_pass() -> None:
    before = errors_counted()
    with pytest.raises(kopf.TemporaryError) as caught:
        reconcile_failing(AuthUnavailable("the API server did not answer"))
    assert caught.value.delay == RETRY_DELAY
    assert str(caught.value) == "auth_unavailable: the API server did not answer"
    assert errors_counted() == before + 1


def test_the_operator_does_not_retry_what_cannot_pass() -> None:
    with pytest.raises(kopf.PermanentError) as caught:
        reconcile_failing(spec_error())
    assert str(caught.value).startswith("invalid_spec: flow.yaml: spec.nodes[0].type")


def test_the_operator_leaves_other_errors_to_kopf() -> None:
    with pytest.raises(ConnectionResetError):
        reconcile_failing(ConnectionResetError("peer went away"))
