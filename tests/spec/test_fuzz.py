"""Property-based fuzzing of Workflow parsing and validation (hypothesis).

Documents are generated from the CRD's own JSON schema (hypothesis-jsonschema) and mutated from
the examples. Whatever comes in: never an exception other than SpecError, every problem names a
field path, invalid documents are exit 2 from the CLI with no traceback, and valid ones compile
and run. CONFIGURABLE_AGENTS_FUZZ_EXAMPLES sets the size (CI runs the default; `make fuzz` more).
"""

from __future__ import annotations

import asyncio
import copy
import os
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis_jsonschema import from_schema

from agent_runtime.spec import SpecError, Workflow
from agent_runtime.spec.loader import parse_resource
from tests.conftest import CLI, EXAMPLES, REPO

pytestmark = pytest.mark.slow

EXAMPLES_COUNT = int(os.environ.get("CONFIGURABLE_AGENTS_FUZZ_EXAMPLES", "300"))
FUZZ = settings(
    max_examples=EXAMPLES_COUNT,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
    derandomize=True,  # the same documents every run: a failure here is a failure in CI
)
CRD = REPO / "crds" / "workflows.configurable-agents.io.yaml"
#: Keywords JSON Schema generators do not know (Kubernetes' structural-schema extensions).
K8S_KEYWORDS = ("x-kubernetes-", "nullable")


def _plain(schema: Any) -> Any:
    """The CRD schema without Kubernetes' extensions, as JSON Schema."""
    if isinstance(schema, dict):
        return {k: _plain(v) for k, v in schema.items() if not k.startswith(K8S_KEYWORDS)}
    if isinstance(schema, list):
        return [_plain(v) for v in schema]
    return schema


def spec_schema() -> dict[str, Any]:
    crd = yaml.safe_load(CRD.read_text())
    root = crd["spec"]["versions"][0]["schema"]["openAPIV3Schema"]
    return dict(_plain(root["properties"]["spec"]))


def example_workflows() -> list[dict[str, Any]]:
    docs = []
    for path in sorted(EXAMPLES.glob("*/workflow.yaml")):
        docs += [
            d for d in yaml.safe_load_all(path.read_text()) if d and d.get("kind") == "Workflow"
        ]
    return docs


def check(doc: Any) -> Workflow | None:
    """Parse: a Workflow, or None after a SpecError whose every problem names where it is."""
    try:
        resource = parse_resource(doc)
    except SpecError as exc:
        assert exc.problems, "a SpecError says what is wrong"
        for problem in exc.problems:
            assert problem.message.strip(), problem
            assert "Traceback" not in str(problem)
        return None
    assert isinstance(resource, Workflow)
    return resource


def as_workflow(spec: Any) -> dict[str, Any]:
    return {
        "apiVersion": "configurable-agents.io/v1alpha1",
        "kind": "Workflow",
        "metadata": {"name": "fuzzed"},
        "spec": spec,
    }


@FUZZ
@given(spec=from_schema(spec_schema()))
def test_documents_from_the_crd_schema_parse_or_name_their_problems(spec: Any) -> None:
    check(as_workflow(spec))


#: Values a mutation puts somewhere: wrong types, odd strings, templates and CEL that break.
JUNK = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**63), max_value=2**63),
    st.floats(allow_nan=True),
    st.text(max_size=40),
    st.sampled_from(
        [
            "{{ nope }}",
            "{{ topic",
            "{% for %}",
            "state.missing > 1",
            "state.score >=",
            "START",
            "END",
            "1s",
            "-5s",
            "x" * 300,
            "\x00",
            "ünïcødé",
        ]
    ),
    st.lists(st.text(max_size=5), max_size=3),
    st.dictionaries(st.text(max_size=5), st.integers(), max_size=3),
)


def _paths(value: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    out = [prefix]
    if isinstance(value, dict):
        for k, v in value.items():
            out += _paths(v, (*prefix, k))
    elif isinstance(value, list):
        for i, v in enumerate(value):
            out += _paths(v, (*prefix, i))
    return out


@st.composite
def mutated(draw: st.DrawFn) -> dict[str, Any]:
    """An example with a few of its values replaced, removed or duplicated."""
    doc = copy.deepcopy(draw(st.sampled_from(example_workflows())))
    for _ in range(draw(st.integers(min_value=1, max_value=3))):
        paths = [p for p in _paths(doc["spec"]) if p]
        path = draw(st.sampled_from(paths))
        parent: Any = doc["spec"]
        for part in path[:-1]:
            parent = parent[part]
        action = draw(st.sampled_from(["replace", "delete", "duplicate"]))
        if action == "replace":
            parent[path[-1]] = draw(JUNK)
        elif action == "delete":
            del parent[path[-1]]
        elif isinstance(parent, list):
            parent.append(copy.deepcopy(parent[path[-1]]))
        else:
            parent[path[-1]] = [parent[path[-1]], parent[path[-1]]]
    return doc


@FUZZ
@given(doc=mutated())
def test_mutated_examples_parse_or_name_their_problems_and_valid_ones_compile(
    doc: dict[str, Any],
) -> None:
    from agent_runtime.engine import compile_workflow

    workflow = check(doc)
    if workflow is not None:
        compile_workflow(workflow)


@settings(max_examples=max(20, EXAMPLES_COUNT // 10), deadline=None, derandomize=True)
@given(doc=mutated())
def test_valid_mutants_run_to_an_end_in_process(doc: dict[str, Any]) -> None:
    """A Workflow that validates also runs: to an end, a human node, or a failure it explains."""
    from agent_runtime.engine import Engine, LocalDispatcher
    from agent_runtime.spec.run_input import check_input
    from agent_runtime.stores import RunStatus, open_store

    workflow = check(doc)
    if workflow is None:
        return
    given_input = {name: workflow.spec.state[name].zero() or "x" for name in workflow.spec.input}
    try:
        check_input(workflow.spec, given_input)
    except Exception:
        return  # zero values that do not fit (an enum, say): the input check says so itself

    async def run() -> None:
        async with open_store("sqlite:///:memory:") as store:
            engine = Engine(store, LocalDispatcher(), owner="fuzz")
            created = await engine.create_run(workflow, given_input)
            async with asyncio.timeout(30):
                done = await engine.execute(created.id)
            assert done.status in (
                RunStatus.SUCCEEDED,
                RunStatus.FAILED,
                RunStatus.INTERRUPTED,
            ), done
            if done.status == RunStatus.FAILED:
                assert done.error and done.error.get("message"), done.error

    asyncio.run(run())


def test_the_cli_says_exit_2_and_the_field_for_invalid_mutants(tmp_path: Path) -> None:
    """A sample of invalid mutants through `configurable-agents validate`, as pre-commit runs it."""
    invalid: list[dict[str, Any]] = []

    @settings(max_examples=200, deadline=None, derandomize=True)
    @given(doc=mutated())
    def collect(doc: dict[str, Any]) -> None:
        if len(invalid) < 25 and check(doc) is None:
            invalid.append(doc)

    collect()
    assert invalid
    files = []
    for i, doc in enumerate(invalid):
        path = tmp_path / f"mutant-{i}.yaml"
        path.write_text(yaml.safe_dump(doc, allow_unicode=True))
        files.append(str(path))
    done = subprocess.run(
        [*CLI, "validate", *files], capture_output=True, text=True, timeout=120, check=False
    )
    assert done.returncode == 2, done.stderr
    assert "Traceback" not in done.stderr
    for path in files:
        assert path in done.stderr, f"{path} not named"
    for line in done.stderr.splitlines():
        if line.startswith(str(tmp_path)):
            assert (
                ": spec" in line or ": kind" in line or ": metadata" in line or "document" in line
            ), line
