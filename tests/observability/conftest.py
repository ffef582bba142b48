"""Shared by the observability tests: one OTLP receiver per module, spans grouped by run."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.observability.otlp_receiver import OtlpReceiver, ReceivedSpan, receiver


@pytest.fixture(scope="module")
def otlp() -> Iterator[OtlpReceiver]:
    yield from receiver()


def of_run(spans: list[ReceivedSpan], run_id: str) -> list[ReceivedSpan]:
    """The spans of the traces a run's spans belong to (the agent's carry the run id too)."""
    traces = {s.trace_id for s in spans if s.attributes.get("configurable_agents.run.id") == run_id}
    return [s for s in spans if s.trace_id in traces]


def one(spans: list[ReceivedSpan], name: str, **where: object) -> ReceivedSpan:
    found = [
        s
        for s in spans
        if s.name == name and all(s.attributes.get(k) == v for k, v in where.items())
    ]
    assert len(found) == 1, f"{len(found)} spans named {name!r} {where}: {[s.name for s in spans]}"
    return found[0]
