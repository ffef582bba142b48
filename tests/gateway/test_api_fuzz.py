"""Fuzzing the Runs API from its own OpenAPI document (schemathesis) against a real gateway.

A `configurable-agents serve` process on loopback (sqlite store, the examples and one
approval-gated Workflow) is sent requests generated from ``/openapi.json``: per operation, and
statefully, following the links from run creation to the run's operations with real run ids. Every answer must be no server error, a
status the document lists for the operation, of its media type and matching its schema (and a
method it does not list a 405 with Allow).
CONFIGURABLE_AGENTS_API_FUZZ_EXAMPLES sets the examples per operation (CI: 25; `make fuzz` more).
"""

from __future__ import annotations

import os
import shutil
import signal
from collections import Counter
from collections.abc import Iterator
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
    unsupported_method,
)

from agent_runtime.gateway import GatewaySettings, create_app
from tests.conftest import EXAMPLES
from tests.gateway.conftest import GatewayProcess

pytestmark = pytest.mark.slow

EXAMPLES_PER_OPERATION = int(os.environ.get("CONFIGURABLE_AGENTS_API_FUZZ_EXAMPLES", "25"))
#: unsupported_method: a method the document does not list is a 405 with Allow.
BASE_CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_headers_conformance,
    unsupported_method,
]
CHECKS = [*BASE_CHECKS, response_schema_conformance]
#: Server-Sent Events are a stream, not a JSON body: their status and media type are checked.
STREAM_CHECKS = BASE_CHECKS
STREAM = "streamRunEvents"
FUZZ = settings(
    max_examples=EXAMPLES_PER_OPERATION,
    deadline=None,
    derandomize=True,  # the same requests every run: a failure here is a failure in CI
    suppress_health_check=list(HealthCheck),
)
#: A Workflow whose tool call waits for an approval: runs for approveRun to answer.
GATED = """
apiVersion: configurable-agents.io/v1alpha1
kind: Workflow
metadata: {name: gated-calculator}
spec:
  state: {question: {type: string}, answer: {type: string}}
  input: [question]
  output: [answer]
  models:
    m:
      provider: scripted
      responses: [{toolCalls: [{name: calculate, args: {expression: "6 * 7"}}]}, "42"]
  tools:
    - {name: calculate, function: "agent_runtime.tools.library:calculate", requireApproval: true}
  nodes:
    - {name: solve, type: llm, model: m, prompt: "{{ question }}", tools: [calculate], output: answer}
  edges: [{from: START, to: solve}, {from: solve, to: END}]
"""
#: The served Workflows (namespace default) and an input each accepts.
WORKFLOWS = {
    "linear-chain": {"topic": "leases"},
    "router-loop": {"topic": "leases"},
    "parallel-fan-out": {"topic": "leases"},
    "human-approval": {"topic": "leases"},
    "tool-agent": {"question": "What is 6 * 7?"},
    "gated-calculator": {"question": "What is 6 * 7?"},
}
#: Answers the human-approval example's review node takes.
REVIEWS = [{"approved": True, "feedback": "ok"}, {"approved": False, "feedback": "shorter"}]
#: Every operation and the statuses its answers had (filled by the tests, read by the last one).
SEEN: dict[str, Counter[int]] = {}


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[GatewayProcess]:
    workdir = tmp_path_factory.mktemp("api-fuzz")
    workflows = workdir / "workflows"
    shutil.copytree(EXAMPLES, workflows)
    (workflows / "gated-calculator.yaml").write_text(GATED)
    gateway = GatewayProcess(
        f"sqlite:///{workdir / 'runs.db'}",
        workdir,
        workflows=workflows,
        env={"CONFIGURABLE_AGENTS_WAIT_TIMEOUT": "5"},
        ready_timeout=120,  # one gateway for the module; a loaded CI machine starts it slowly
    )
    yield gateway
    gateway.kill(signal.SIGTERM)


def _served_runs(_: schemathesis.HookContext, case: schemathesis.Case) -> st.SearchStrategy[Any]:
    """Half the time a served Workflow with an input it accepts, waited for or not: runs are
    created (not only 404s and 422s) for the links to lead to."""
    if not isinstance(case.body, dict):
        return st.just(case)
    body = case.body

    def served(choice: tuple[tuple[str, dict[str, str]], bool]) -> schemathesis.Case:
        (name, given), wait = choice
        case.path_parameters = {"namespace": "default", "name": name}
        case.body = {**body, "input": given, "wait": wait}
        return case

    runs = st.tuples(st.sampled_from(list(WORKFLOWS.items())), st.booleans()).map(served)
    return st.one_of(st.just(case), runs)


def _valid_reviews(_: schemathesis.HookContext, body: Any) -> st.SearchStrategy[Any]:
    """Sometimes an answer the human-approval example's review node takes."""
    if not isinstance(body, dict):
        return st.just(body)
    return st.one_of(st.just(body), st.sampled_from(REVIEWS).map(lambda v: {**body, "input": v}))


def _valid_approvals(_: schemathesis.HookContext, body: Any) -> st.SearchStrategy[Any]:
    """Sometimes a plain yes or no, with no call ids the run does not have."""
    if not isinstance(body, dict):
        return st.just(body)
    return st.one_of(st.just(body), st.booleans().map(lambda yes: {"approved": yes}))


def _document() -> dict[str, Any]:
    """The gateway's OpenAPI document, built as `serve` builds it (no server, no store)."""
    return create_app(GatewaySettings(workflows=EXAMPLES)).openapi()


schema = schemathesis.openapi.from_dict(_document())
schema.hook("flatmap_case").apply_to(operation_id="createRun")(_served_runs)
schema.hook("flatmap_body").apply_to(operation_id="resumeRun")(_valid_reviews)
schema.hook("flatmap_body").apply_to(operation_id="approveRun")(_valid_approvals)


def test_the_served_document_is_the_fuzzed_one(served: GatewayProcess) -> None:
    with served.client() as client:
        assert client.get("/openapi.json").json() == _document()


def _operation(case: schemathesis.Case) -> str:
    return str(case.operation.definition.raw.get("operationId", case.operation.label))


def _validate(case: schemathesis.Case, response: schemathesis.Response) -> None:
    SEEN.setdefault(_operation(case), Counter())[response.status_code] += 1
    streamed = _operation(case) == STREAM
    case.validate_response(response, checks=STREAM_CHECKS if streamed else CHECKS)


def _timeout(case: schemathesis.Case) -> float:
    """An event stream of a waiting run never ends: read it for 2 s (schemathesis stops there)."""
    return 2.0 if _operation(case) == STREAM else 30.0


@schema.parametrize()
@FUZZ
def test_every_operation_answers_as_documented(
    served: GatewayProcess, case: schemathesis.Case
) -> None:
    _validate(case, case.call(base_url=served.url, timeout=_timeout(case)))


#: The operations links lead to from a created run; each must be reached with a real run.
LINKED = ["getRun", "streamRunEvents", "resumeRun", "approveRun", "cancelRun"]


def test_links_reach_every_run_operation_with_real_runs(served: GatewayProcess) -> None:
    """Stateful: runs are created, then their links followed (get, events, resume, approve,
    cancel) in sequences; each linked operation answers a real run (not 404) at least once."""
    answered: dict[str, Counter[int]] = {}
    # the run operations only: the threads' and the LangGraph API's would dilute the walk
    runs_only = schema.exclude(path_regex=r"^/(langgraph/|v1/threads)")

    class Runs(runs_only.as_state_machine()):  # type: ignore[misc]
        def get_call_kwargs(self, case: schemathesis.Case) -> dict[str, Any]:
            return {"base_url": served.url, "timeout": _timeout(case)}

        def after_call(self, response: schemathesis.Response, case: schemathesis.Case) -> None:
            answered.setdefault(_operation(case), Counter())[response.status_code] += 1

        def validate_response(
            self, response: schemathesis.Response, case: schemathesis.Case, **kwargs: Any
        ) -> None:
            _validate(case, response)

    Runs.run(settings=settings(FUZZ, stateful_step_count=8))
    reached = {op: sorted(c) for op, c in answered.items()}
    for operation in LINKED:
        statuses = answered.get(operation, Counter())
        assert set(statuses) - {404}, f"{operation} never reached a real run: {reached}"
    done = [op for op in ("resumeRun", "approveRun", "cancelRun") if {200, 202} & set(answered[op])]
    assert done, f"no run was ever resumed, approved or cancelled: {reached}"
    print(f"stateful: {reached}")


def test_every_documented_operation_was_fuzzed() -> None:
    """Read after the tests above: every operation of the document answered, and how often."""
    if not SEEN:
        pytest.skip("runs after test_every_operation_answers_as_documented")
    documented = {
        op["operationId"] for methods in _document()["paths"].values() for op in methods.values()
    }
    assert documented <= set(SEEN), documented - set(SEEN)
    print({op: dict(sorted(statuses.items())) for op, statuses in sorted(SEEN.items())})
