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

import dataclasses
import os
from collections.abc import Iterator, Mapping, MutableMapping, Sequence
from contextlib import contextmanager
from typing import Any

import httpx
from opentelemetry import trace
from opentelemetry.trace import NonRecordingSpan, SpanContext, SpanKind, TraceFlags
from opentelemetry.util.types import AttributeValue

from ventros.kernel.tracing import TraceContext, current_trace, traced
from ventros.platform.bus import TRACEPARENT_HEADER, Envelope

__all__ = [
    "SpanKind",
    "TracedTransport",
    "add_trace_id",
    "configure_tracing",
    "name_current_span",
    "publishing",
    "shutdown_tracing",
    "span",
    "tracing_enabled",
]

_ENDPOINT_VARIABLES = ("OTEL_EXPORTER_OTLP_ENDPOINT", "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT")
_state: dict[str, Any] = {}


def tracing_enabled() -> bool:
    """Whether spans are exported: `configure_tracing` installed the exporter (every role
    calls it at start-up). Asked per span, so no environment lookups here: they were 6 % of
    the API's CPU under load (issue 18's profile)."""
    return "provider" in _state


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


def add_trace_id(
    _logger: Any, _method: str, event_dict: MutableMapping[str, Any]
) -> MutableMapping[str, Any]:
    """structlog processor: every log line written inside a trace says which (`trace_id`),
    also where nothing bound it (Temporal activities, background tasks)."""
    if "trace_id" not in event_dict:
        context = current_trace()
        if context is not None:
            event_dict["trace_id"] = context.trace_id
        else:
            ids = trace.get_current_span().get_span_context()
            if ids.is_valid:
                event_dict["trace_id"] = f"{ids.trace_id:032x}"
    return event_dict


def name_current_span(name: str, *, status: int | None = None) -> None:
    """Renames the current span once its name is known (an HTTP request's route template
    is known after routing) and records the response status."""
    current = trace.get_current_span()
    if current.is_recording():
        current.update_name(name)
        if status is not None:
            current.set_attribute("http.response.status_code", status)


@contextmanager
def publishing(envelopes: Sequence[Envelope]) -> Iterator[list[Envelope]]:
    """A producer span per message the relay publishes, child of the trace its event was
    recorded in; the messages yielded carry their span's traceparent, so each consumer's
    span is a child of the publish. Ended when the block (publish and confirms) ends."""
    if not tracing_enabled():
        yield list(envelopes)
        return
    tracer = trace.get_tracer("ventros")
    spans = []
    sent = []
    for envelope in envelopes:
        recorded = TraceContext.parse(envelope.headers.get(TRACEPARENT_HEADER))
        started = tracer.start_span(
            f"publish {envelope.routing_key}",
            context=_otel_parent(recorded) if recorded is not None else None,
            kind=SpanKind.PRODUCER,
            attributes={"messaging.destination.name": envelope.exchange},
        )
        ids = started.get_span_context()
        header = f"00-{ids.trace_id:032x}-{ids.span_id:016x}-{ids.trace_flags:02x}"
        headers = {**envelope.headers, TRACEPARENT_HEADER: header}
        sent.append(dataclasses.replace(envelope, headers=headers))
        spans.append(started)
    try:
        yield sent
    finally:
        for started in spans:
            started.end()


class TracedTransport(httpx.AsyncBaseTransport):
    """An httpx transport whose requests are client spans and carry `traceparent` (the ad
    platforms' clients use it; one place instead of every call)."""

    def __init__(self, peer: str, inner: httpx.AsyncBaseTransport | None = None) -> None:
        self._peer = peer
        self._inner = inner or httpx.AsyncHTTPTransport()

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        # The host, not the path: paths carry object ids (unbounded span names).
        name = f"{self._peer} {request.method} {request.url.host}"
        with span(name, kind=SpanKind.CLIENT) as context:
            request.headers["traceparent"] = context.header
            response = await self._inner.handle_async_request(request)
            name_current_span(name, status=response.status_code)
            return response

    async def aclose(self) -> None:
        await self._inner.aclose()


def temporal_tracing_interceptors() -> list[Any]:
    """temporalio's OpenTelemetry interceptor when tracing is on: workflow and activity
    spans, parent-linked to the span that started the workflow."""
    if not tracing_enabled():
        return []
    from temporalio.contrib.opentelemetry import TracingInterceptor

    return [TracingInterceptor()]
