"""With OTEL_EXPORTER_OTLP_ENDPOINT set, one inbound WhatsApp message is one trace, exported
over OTLP/HTTP to a receiver in the test: the webhook request, the ingest of the message,
the relay's publishes, the consumers, the start of the session workflow on Temporal and the
WAHA profile-picture call, each span a child of the one before it."""

from __future__ import annotations

import asyncio
import gzip
import threading
import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from functools import partial
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import httpx
import pytest
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from temporalio.contrib.opentelemetry import TracingInterceptor

from tests.conftest import TenantLogin, new_tenant
from tests.integration.processes import eventually
from tests.integration.temporal_kit import local_temporal
from tests.integration.test_bus_support import Backbone, fresh_backbone
from tests.integration.test_routing_rules import created
from tests.integration.waha_kit import create_channel, deliver, fixture, ingest
from tests.stand_ins.waha import WahaStandIn
from ventros.contacts.handlers import consumer as profile_picture_consumer
from ventros.conversations.handlers.lifecycle import assign_consumer
from ventros.conversations.service_clock import wake_service
from ventros.platform import tracing
from ventros.platform.consumers import ConsumerRegistry, run_worker
from ventros.platform.relay import run_relay
from ventros.runtime.http import create_app

pytestmark = pytest.mark.integration


@dataclass(frozen=True)
class Span:
    name: str
    trace_id: str
    span_id: str
    parent_id: str
    service: str


class OtlpReceiver:
    """An OTLP/HTTP endpoint: POST /v1/traces with a protobuf ExportTraceServiceRequest."""

    def __init__(self) -> None:
        self.spans: list[Span] = []
        self._lock = threading.Lock()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: object) -> None:
                pass

            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                if self.headers.get("Content-Encoding") == "gzip":
                    body = gzip.decompress(body)
                if self.path != "/v1/traces":
                    self.send_response(404)
                    self.end_headers()
                    return
                request = ExportTraceServiceRequest.FromString(body)
                receiver.take(request)
                self.send_response(200)
                self.send_header("Content-Type", "application/x-protobuf")
                self.end_headers()

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()

    @property
    def endpoint(self) -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    def take(self, request: ExportTraceServiceRequest) -> None:
        for resource_spans in request.resource_spans:
            attributes = {a.key: a.value.string_value for a in resource_spans.resource.attributes}
            for scope_spans in resource_spans.scope_spans:
                for span in scope_spans.spans:
                    with self._lock:
                        self.spans.append(
                            Span(
                                span.name,
                                span.trace_id.hex(),
                                span.span_id.hex(),
                                span.parent_span_id.hex(),
                                attributes.get("service.name", ""),
                            )
                        )

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()


@pytest.fixture
def receiver(monkeypatch: pytest.MonkeyPatch) -> Iterator[OtlpReceiver]:
    otlp = OtlpReceiver()
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_ENDPOINT", otlp.endpoint)
    monkeypatch.setenv("OTEL_SERVICE_NAME", "ventros-test")
    monkeypatch.setenv("OTEL_BSP_SCHEDULE_DELAY", "100")  # export every 0.1 s
    assert tracing.configure_tracing()
    try:
        yield otlp
    finally:
        tracing.shutdown_tracing()
        otlp.close()


@pytest.fixture
async def backbone(server_url: str, tmp_path: Path) -> AsyncIterator[Backbone]:
    async with fresh_backbone(server_url, tmp_path, bus_poll_interval_seconds=0.2) as built:
        yield built


@pytest.fixture
def waha() -> Iterator[WahaStandIn]:
    stand_in = WahaStandIn()
    try:
        yield stand_in
    finally:
        stand_in.close()


def named(spans: list[Span], prefix: str) -> list[Span]:
    return [s for s in spans if s.name.startswith(prefix)]


def ancestors(span: Span, by_id: dict[str, Span]) -> list[str]:
    """The names of the span's parents, nearest first, up to the root."""
    names = []
    while span.parent_id in by_id:
        span = by_id[span.parent_id]
        names.append(span.name)
    return names


# A session with a follow-up policy starts its service clock on session.started.
SERVICE_CLOCK_START = "SignalWithStartWorkflow:SessionServiceWorkflow"


async def _follow_up_every_session(http: httpx.AsyncClient, tenant: TenantLogin) -> None:
    follow_up = {"nudge_after_seconds": 600, "nudge_text": "Oi?", "close_after_seconds": 600}
    team = await created(http, tenant, "/teams", {"name": "Vendas", "follow_up": follow_up})
    await created(http, tenant, "/routing-rules", {"name": "all", "team_id": team["id"]})


async def test_one_inbound_message_is_one_trace_from_the_webhook_to_waha_and_temporal(
    receiver: OtlpReceiver, backbone: Backbone, waha: WahaStandIn
) -> None:
    container = backbone.container
    queue = f"traces-{uuid.uuid4().hex[:8]}"
    async with await local_temporal(None, interceptors=[TracingInterceptor()]) as env:
        registry = ConsumerRegistry(
            [
                profile_picture_consumer(lambda: container.picture_source),
                assign_consumer(partial(wake_service, client=env.client, task_queue=queue)),
            ]
        )
        stop = asyncio.Event()
        services = [
            asyncio.create_task(run_worker(container, stop, registry=registry)),
            asyncio.create_task(run_relay(container, stop)),
        ]
        transport = httpx.ASGITransport(app=create_app(container))
        try:
            async with httpx.AsyncClient(
                transport=transport, base_url="http://ventros.test"
            ) as http:
                tenant = await new_tenant(container, http)
                await _follow_up_every_session(http, tenant)
                channel = await create_channel(http, tenant, base_url=waha.base_url)
                before = len(receiver.spans)
                await deliver(http, channel["id"], fixture("message.text.json"))
                assert await ingest(container, tenant) == 1

                def picture_asked() -> bool:
                    return any(r.path == "/api/contacts/profile-picture" for r in waha.requests)

                async def exported() -> bool:
                    names = {s.name for s in receiver.spans[before:]}
                    return (
                        picture_asked()
                        and any(n.startswith(SERVICE_CLOCK_START) for n in names)
                        and any(n.startswith("WAHA GET") for n in names)
                    )

                await eventually(exported, within=30, interval=0.1)
        finally:
            stop.set()
            await asyncio.wait_for(asyncio.gather(*services), 20)

    spans = receiver.spans[before:]
    [webhook] = named(spans, "POST /webhooks/waha/")
    trace = [s for s in spans if s.trace_id == webhook.trace_id]
    by_id = {s.span_id: s for s in trace}
    assert webhook.parent_id == ""  # the root: WAHA sent no traceparent
    assert webhook.service == "ventros-test"

    [ingested] = named(trace, "ingest whatsapp event")
    assert ingested.parent_id == webhook.span_id

    publishes = {s.name for s in named(trace, "publish ")}
    assert {"publish contact.created", "publish session.started"} <= publishes

    [consumed_contact] = [
        s
        for s in named(trace, "consume contact.created")
        if by_id[s.parent_id].name == "publish contact.created"
    ]
    [picture_call] = named(trace, "WAHA GET /api/contacts/profile-picture")
    assert picture_call.parent_id == consumed_contact.span_id
    assert ancestors(picture_call, by_id) == [
        "consume contact.created",
        "publish contact.created",
        "ingest whatsapp event",
        webhook.name,
    ]

    [start] = named(trace, SERVICE_CLOCK_START)
    assert ancestors(start, by_id) == [
        "consume session.started",
        "publish session.started",
        "ingest whatsapp event",
        webhook.name,
    ]
    # Nothing of this message's work went into another trace.
    mine = ("ingest", "publish contact.", "publish session.", "publish message.", "consume ")
    assert not [s for s in spans if s.trace_id != webhook.trace_id and s.name.startswith(mine)]
