"""OpenTelemetry traces, exported over OTLP/HTTP when `OTEL_EXPORTER_OTLP_ENDPOINT` is set
(`OTEL_SERVICE_NAME` names the process), off by default.

Ventros already carries a W3C trace context through its work (kernel/tracing.py): a request
starts or continues a trace, events record it, the relay puts it on the message, consumers
continue it. `span()` makes that context an OpenTelemetry span too: it opens a span whose
parent is the current (or a given) trace context and makes the span's own ids the current
trace context, so events recorded inside, log lines (`trace_id`) and outgoing calls
(`traceparent`) all point at it. With tracing off it only does what kernel/tracing did:
a child of the parent, or a new trace.
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import Any

from opentelemetry import trace
from opentelemetry.trace import NonRecordingSpan, SpanContext, SpanKind, TraceFlags
from opentelemetry.util.types import AttributeValue

from ventros.kernel.tracing import TraceContext, current_trace, traced

__all__ = ["SpanKind", "configure_tracing", "shutdown_tracing", "span", "tracing_enabled"]

_ENDPOINT_VARIABLES = ("OTEL_EXPORTER_OTLP_ENDPOINT", "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT")
_state: dict[str, Any] = {}


def tracing_enabled() -> bool:
    return any(os.environ.get(name) for name in _ENDPOINT_VARIABLES) or "provider" in _state


def configure_tracing(default_service_name: str = "ventros") -> bool:
    """Install the OTLP/HTTP exporter once per process if an endpoint is configured.
    True when traces are exported."""
    if "provider" in _state:
        return True
    if not any(os.environ.get(name) for name in _ENDPOINT_VARIABLES):
        return False
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
    from opentelemetry.sdk.resources import Resource
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import BatchSpanProcessor

    name = os.environ.get("OTEL_SERVICE_NAME") or default_service_name
    provider = TracerProvider(resource=Resource.create({"service.name": name}))
    provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter()))
    trace.set_tracer_provider(provider)
    _state["provider"] = provider
    return True


def shutdown_tracing() -> None:
    """Flush and stop the exporter (at process exit)."""
    provider = _state.pop("provider", None)
    if provider is not None:
        provider.shutdown()


def _otel_parent(parent: TraceContext) -> Any:
    span_context = SpanContext(
        trace_id=int(parent.trace_id, 16),
        span_id=int(parent.span_id, 16),
        is_remote=True,
        trace_flags=TraceFlags(int(parent.flags, 16)),
    )
    return trace.set_span_in_context(NonRecordingSpan(span_context))


@contextmanager
def span(
    name: str,
    *,
    parent: TraceContext | None = None,
    kind: SpanKind = SpanKind.INTERNAL,
    attributes: Mapping[str, AttributeValue] | None = None,
) -> Iterator[TraceContext]:
    """A span named `name`, child of `parent` (default: the current trace context), run as
    the current trace context. Yields that context (its `header` is the traceparent to send)."""
    parent = parent if parent is not None else current_trace()
    if not tracing_enabled():
        with traced(parent.child() if parent else TraceContext.new()) as context:
            yield context
        return
    tracer = trace.get_tracer("ventros")
    otel_context = _otel_parent(parent) if parent is not None else None
    with tracer.start_as_current_span(
        name, context=otel_context, kind=kind, attributes=attributes
    ) as current:
        ids = current.get_span_context()
        context = TraceContext(format(ids.trace_id, "032x"), format(ids.span_id, "016x"))
        with traced(context):
            yield context


def temporal_tracing_interceptors() -> list[Any]:
    """temporalio's OpenTelemetry interceptor when tracing is on: workflow and activity
    spans, parent-linked to the span that started the workflow."""
    if not tracing_enabled():
        return []
    from temporalio.contrib.opentelemetry import TracingInterceptor

    return [TracingInterceptor()]
