"""Tracing set-up from the standard ``OTEL_*`` variables, and the one tracer the code uses.

Nothing here is required: without the SDK, or with no exporter asked for, the API's no-op tracer
answers, whose spans cost a few hundred nanoseconds and are never recorded. What turns export on:

- ``OTEL_EXPORTER_OTLP_ENDPOINT`` or ``OTEL_EXPORTER_OTLP_TRACES_ENDPOINT`` (OTLP over HTTP with
  protobuf; ``OTEL_EXPORTER_OTLP_PROTOCOL=grpc`` uses gRPC when that exporter is installed);
- ``OTEL_TRACES_EXPORTER`` = ``otlp`` or ``console`` (``none`` turns export off whatever else is
  set); ``OTEL_SDK_DISABLED=true`` too.

``OTEL_SERVICE_NAME``, ``OTEL_RESOURCE_ATTRIBUTES``, ``OTEL_TRACES_SAMPLER`` and the exporter's
``OTEL_EXPORTER_OTLP_*`` headers and timeouts are read by the SDK itself.
"""

from __future__ import annotations

import atexit
import logging
import os
from collections.abc import Callable, Mapping
from functools import cache
from typing import TYPE_CHECKING

from opentelemetry import trace
from opentelemetry.trace import Tracer

if TYPE_CHECKING:
    from opentelemetry.sdk.trace.export import SpanExporter

log = logging.getLogger(__name__)

TRACER_NAME = "configurable-agents"

_installed: Callable[[], None] | None = None


@cache
def tracer() -> Tracer:
    """The tracer of our spans: a proxy that follows the global provider ``setup_tracing`` sets."""
    return trace.get_tracer(TRACER_NAME)


def _exporters(env: Mapping[str, str]) -> list[str]:
    if env.get("OTEL_SDK_DISABLED", "").strip().lower() == "true":
        return []
    named = [e.strip().lower() for e in env.get("OTEL_TRACES_EXPORTER", "").split(",") if e.strip()]
    if "none" in named:
        return []
    if named:
        return named
    if env.get("OTEL_EXPORTER_OTLP_ENDPOINT") or env.get("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT"):
        return ["otlp"]
    return []


def setup_tracing(service_name: str, env: Mapping[str, str] | None = None) -> bool:
    """For entry points: export spans as the ``OTEL_*`` variables say; True when installed.

    ``service_name`` is the default of ``service.name`` when ``OTEL_SERVICE_NAME`` is unset.
    Spans still buffered are flushed at exit.
    """
    global _installed
    env = os.environ if env is None else env
    names = _exporters(env)
    if not names or _installed is not None:
        return _installed is not None
    try:
        from opentelemetry.sdk.resources import SERVICE_NAME, Resource
        from opentelemetry.sdk.trace import TracerProvider
        from opentelemetry.sdk.trace.export import (
            BatchSpanProcessor,
            ConsoleSpanExporter,
        )
    except ImportError:
        log.warning(
            "OTEL_* variables ask for traces but the OpenTelemetry SDK is not installed "
            "(pip install 'configurable-agents[otlp]'); no traces are exported"
        )
        return False
    attributes = {} if env.get("OTEL_SERVICE_NAME") else {SERVICE_NAME: service_name}
    provider = TracerProvider(resource=Resource.create(attributes))
    for name in names:
        exporter: SpanExporter
        if name == "console":
            exporter = ConsoleSpanExporter()
        elif name == "otlp":
            exporter = _otlp_exporter(env)
        else:
            log.warning("OTEL_TRACES_EXPORTER=%s is not supported; use otlp or console", name)
            continue
        provider.add_span_processor(BatchSpanProcessor(exporter))
    trace.set_tracer_provider(provider)
    _installed = provider.shutdown
    atexit.register(provider.shutdown)
    log.info("traces exported with %s", ", ".join(names))
    return True


def _otlp_exporter(env: Mapping[str, str]) -> SpanExporter:
    protocol = env.get("OTEL_EXPORTER_OTLP_TRACES_PROTOCOL") or env.get(
        "OTEL_EXPORTER_OTLP_PROTOCOL", ""
    )
    protocol = protocol.strip()
    if protocol == "grpc":
        try:
            from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import (
                OTLPSpanExporter as GrpcExporter,
            )
        except ImportError:
            log.warning("OTLP over gRPC needs opentelemetry-exporter-otlp-proto-grpc; using HTTP")
        else:
            grpc: SpanExporter = GrpcExporter()
            return grpc
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

    return OTLPSpanExporter()


def shutdown_tracing() -> None:
    """Flush and stop the exporter (servers call it at shutdown; atexit does otherwise)."""
    if _installed is not None:
        _installed()
