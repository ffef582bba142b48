"""The telemetry layer in-process: when tracing turns on, what log lines carry, prices, takeovers."""

from __future__ import annotations

import io
import json
import logging
import time
from datetime import timedelta
from pathlib import Path

import pytest
import yaml
from opentelemetry import trace
from opentelemetry.trace import NonRecordingSpan, SpanContext, TraceFlags
from prometheus_client import REGISTRY

from agent_runtime.engine import Engine, LocalDispatcher
from agent_runtime.spec import parse_workflow
from agent_runtime.stores import RunStatus, RunStore
from agent_runtime.stores.records import utcnow
from agent_runtime.telemetry import bind, tracer
from agent_runtime.telemetry.logs import ContextFilter, JsonFormatter, TextFormatter
from agent_runtime.telemetry.metrics import RunMetrics
from agent_runtime.telemetry.prices import PriceError, PriceTable
from agent_runtime.telemetry.secrets import redact
from agent_runtime.telemetry.tracing import _exporters


@pytest.mark.parametrize(
    ("env", "expected"),
    [
        ({}, []),
        ({"OTEL_SERVICE_NAME": "x"}, []),
        ({"OTEL_EXPORTER_OTLP_ENDPOINT": "http://collector:4318"}, ["otlp"]),
        ({"OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": "http://c:4318/v1/traces"}, ["otlp"]),
        ({"OTEL_EXPORTER_OTLP_ENDPOINT": "http://c", "OTEL_TRACES_EXPORTER": "none"}, []),
        ({"OTEL_EXPORTER_OTLP_ENDPOINT": "http://c", "OTEL_SDK_DISABLED": "true"}, []),
        ({"OTEL_TRACES_EXPORTER": "console,otlp"}, ["console", "otlp"]),
    ],
)
def test_only_the_standard_variables_turn_export_on(
    env: dict[str, str], expected: list[str]
) -> None:
    assert _exporters(env) == expected


def test_spans_cost_next_to_nothing_without_an_exporter() -> None:
    """No provider installed (as in this process): the API's no-op spans."""
    assert not trace.get_current_span().is_recording()
    count = 20_000
    start = time.perf_counter()
    for _ in range(count):
        with tracer().start_as_current_span("node x", attributes={"a": 1}):
            pass
    per_span = (time.perf_counter() - start) / count
    assert per_span < 100e-6, f"{per_span * 1e6:.1f} µs per no-op span"


def _line(formatter: logging.Formatter, message: str, **extra: object) -> str:
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(formatter)
    handler.addFilter(ContextFilter())
    logger = logging.getLogger(f"test.telemetry.{id(stream)}")
    logger.propagate = False
    logger.addHandler(handler)
    logger.warning(message, extra=extra)
    return stream.getvalue().strip()


def test_json_lines_carry_the_current_trace_and_run(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SOME_API_KEY", "sk-very-secret-value")
    context = SpanContext(
        trace_id=0x4BF92F3577B34DA6A3CE929D0E0E4736,
        span_id=0x00F067AA0BA902B7,
        is_remote=False,
        trace_flags=TraceFlags(TraceFlags.SAMPLED),
    )
    with (
        trace.use_span(NonRecordingSpan(context)),
        bind(run_id="run-1", workflow="default/wf"),
        bind(node="solve"),
    ):
        line = json.loads(
            _line(JsonFormatter(service="gateway"), "using sk-very-secret-value", attempt=2)
        )
    assert line["trace_id"] == "4bf92f3577b34da6a3ce929d0e0e4736"
    assert line["span_id"] == "00f067aa0ba902b7"
    assert (line["run_id"], line["workflow"], line["node"]) == ("run-1", "default/wf", "solve")
    assert line["attempt"] == 2 and line["service"] == "gateway"
    assert line["message"] == "using [REDACTED]"
    # Outside the block nothing of the run is left.
    assert "run_id" not in json.loads(_line(JsonFormatter(), "later"))


def test_text_lines_for_a_terminal_are_scrubbed_too(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DB_PASSWORD", "hunter2-hunter2")
    line = _line(TextFormatter(), "connecting with hunter2-hunter2")
    assert line.endswith("connecting with [REDACTED]") and not line.startswith("{")


def test_short_or_unnamed_values_are_left_alone(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MY_TOKEN", "short")
    monkeypatch.setenv("GREETING", "hello-world-long-enough")
    assert redact("short hello-world-long-enough") == "short hello-world-long-enough"


def test_prices(tmp_path: Path) -> None:
    path = tmp_path / "prices.yaml"
    path.write_text(
        "gpt-4o-mini: {input: 0.15, output: 0.6}\nopenai/gpt-4o-mini: {input: 1, output: 2}\n"
    )
    table = PriceTable.load(path)
    assert table.cost("openai", "gpt-4o-mini", 1_000_000, 1_000_000) == pytest.approx(3.0)
    assert table.cost("litellm", "gpt-4o-mini", 2_000_000, 0) == pytest.approx(0.3)
    assert table.cost("openai", "unknown", 10, 10) is None


def test_a_bad_price_table_names_the_entry(tmp_path: Path) -> None:
    path = tmp_path / "prices.yaml"
    path.write_text("gpt-4o: {input: -1, output: 2}\n")
    with pytest.raises(PriceError, match=r"gpt-4o: input: Input should be greater"):
        PriceTable.load(path)
    path.write_text("gpt-4o: {input: 1, outptu: 2}\n")
    with pytest.raises(PriceError, match=r"gpt-4o: (output: Field required|outptu)"):
        PriceTable.load(path)


WORKFLOW = parse_workflow(
    {
        "apiVersion": "configurable-agents.io/v1alpha1",
        "kind": "Workflow",
        "metadata": {"name": "takeover"},
        "spec": yaml.safe_load(
            """
state: {topic: {type: string}, out: {type: string}}
input: [topic]
output: [out]
models: {default: {provider: scripted}}
nodes: [{name: say, type: llm, prompt: "{{ topic }}", output: out}]
edges: [{from: START, to: say}, {from: say, to: END}]
"""
        ),
    }
)


async def test_a_takeover_of_an_expired_lease_is_counted(store: RunStore) -> None:
    RunMetrics.for_registry()  # registered in the default registry, as in the gateway

    def takeovers() -> float:
        return REGISTRY.get_sample_value("configurable_agents_lease_takeovers_total") or 0.0

    before = takeovers()
    dispatcher = LocalDispatcher()
    engine = Engine(store, dispatcher, owner="here/1")
    try:
        record = await engine.create_run(WORKFLOW, {"topic": "leases"})
        await store.transition(
            record.id,
            RunStatus.RUNNING,
            lease_owner="elsewhere/1",
            lease_expires_at=utcnow() - timedelta(seconds=1),
        )
        done = await engine.execute(record.id)
    finally:
        await dispatcher.aclose()
    assert done.status == RunStatus.SUCCEEDED
    assert takeovers() == before + 1
