"""The engine's tests: an in-process engine over each store, and Workflows from spec YAML."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest
import yaml

from agent_runtime.engine import Engine, LocalDispatcher
from agent_runtime.spec import parse_workflow
from agent_runtime.spec.workflow import Workflow
from agent_runtime.stores import RunStore


def workflow(spec: str, *, name: str = "t", namespace: str | None = None) -> Workflow:
    """A Workflow of the ``spec`` YAML (the part under ``spec:``)."""
    metadata = {"name": name, **({"namespace": namespace} if namespace else {})}
    return parse_workflow(
        {
            "apiVersion": "configurable-agents.io/v1alpha1",
            "kind": "Workflow",
            "metadata": metadata,
            "spec": yaml.safe_load(spec),
        }
    )


@pytest.fixture
async def engine(
    store: RunStore, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> AsyncIterator[Engine]:
    """An engine with in-process agents; counting tools count under the test's folder (for
    this test only: a later test's servers must not inherit it)."""
    monkeypatch.setenv("COUNTER_DIR", str(tmp_path / "counts"))
    dispatcher = LocalDispatcher()
    yield Engine(store, dispatcher)
    await dispatcher.aclose()
