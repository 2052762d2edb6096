"""Prometheus metrics of one process.

Two kinds. Those of a container (`Metrics`: HTTP, database, consumers, relay) live on a
registry of its own, so tests and several containers in one process never collide. Those
recorded by code that holds no container — the unit of work (use cases), the Temporal
interceptor, the WAHA and webhook HTTP calls — are process-wide (`PROCESS`), and every
container's registry exposes them too.

Several processes: each serves its own. The API serves `/metrics`; `ventros worker`,
`relay`, `ingest` and `temporal-worker` serve theirs on `VENTROS_METRICS_PORT` when it is
set (`serve_metrics`). Prometheus scrapes every pod; the dashboards sum over them. Tenant is
never a label (unbounded, and a tenant's traffic is no operator's filter).
"""

from __future__ import annotations

import sys
from types import FrameType
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.exposition import CONTENT_TYPE_LATEST, start_http_server
from prometheus_client.metrics import MetricWrapperBase
from prometheus_client.registry import Collector

LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
# Workflows last from seconds (a webhook delivery) to days (a session's inactivity timer).
WORKFLOW_BUCKETS = (0.1, 0.5, 1.0, 5.0, 30.0, 60.0, 300.0, 900.0, 3600.0, 14400.0, 86400.0)


class ProcessMetrics:
    """Metrics recorded where no container is at hand; one instance per process."""

    def __init__(self) -> None:
        self.usecase_duration_seconds = Histogram(
            "usecase_duration_seconds",
            "Time of one use case (one unit of work), by use case, context and outcome.",
            ["use_case", "context", "outcome"],
            buckets=LATENCY_BUCKETS,
            registry=None,
        )
        self.usecase_executions_total = Counter(
            "usecase_executions",
            "Use cases run, by outcome: committed, rolled_back (read or abandoned), error.",
            ["use_case", "context", "outcome"],
            registry=None,
        )
        self.usecase_errors_total = Counter(
            "usecase_errors",
            "Use cases that raised, by the exception's class.",
            ["use_case", "context", "error"],
            registry=None,
        )
        self.temporal_workflow_executions_total = Counter(
            "temporal_workflow_executions",
            "Workflow runs that ended on this worker, by type and outcome.",
            ["workflow_type", "task_queue", "outcome"],
            registry=None,
        )
        self.temporal_workflow_latency_seconds = Histogram(
            "temporal_workflow_latency_seconds",
            "From a workflow's start to its end (workflow time), by type and outcome.",
            ["workflow_type", "outcome"],
            buckets=WORKFLOW_BUCKETS,
            registry=None,
        )
        self.temporal_activity_executions_total = Counter(
            "temporal_activity_executions",
            "Activity attempts, by type and outcome (completed, failed).",
            ["activity_type", "task_queue", "outcome"],
            registry=None,
        )
        self.temporal_activity_duration_seconds = Histogram(
            "temporal_activity_duration_seconds",
            "Time of one activity attempt.",
            ["activity_type"],
            buckets=LATENCY_BUCKETS,
            registry=None,
        )
        self.temporal_task_queue_backlog = Gauge(
            "temporal_task_queue_backlog",
            "Tasks waiting for a worker on a task queue (Temporal's approximate count).",
            ["task_queue", "kind"],
            registry=None,
        )
        self.conversation_sessions_timed_out_total = Counter(
            "conversation_sessions_timed_out",
            "Sessions closed by the inactivity timeout sweep.",
            registry=None,
        )
        self.waha_request_duration_seconds = Histogram(
            "waha_request_duration_seconds",
            "Calls to WAHA by channel and operation (send, profile_picture).",
            ["channel", "operation"],
            buckets=LATENCY_BUCKETS,
            registry=None,
        )
        self.waha_request_errors_total = Counter(
            "waha_request_errors",
            "Failed calls to WAHA by channel, operation and kind (timeout, unreachable, 4xx,"
            " 5xx, invalid).",
            ["channel", "operation", "kind"],
            registry=None,
        )
        self.webhook_deliveries_total = Counter(
            "webhook_deliveries",
            "Outbound webhook delivery attempts by outcome (delivered, failed, disabled).",
            ["outcome"],
            registry=None,
        )
        self.registry = CollectorRegistry()
        for collector in self.collectors():
            self.registry.register(collector)

    def collectors(self) -> list[Collector]:
        return [c for c in vars(self).values() if isinstance(c, MetricWrapperBase)]

    def observe_use_case(
        self, use_case: str, outcome: str, seconds: float, error: BaseException | None
    ) -> None:
        context = use_case.split(".", 1)[0]
        self.usecase_duration_seconds.labels(use_case, context, outcome).observe(seconds)
        self.usecase_executions_total.labels(use_case, context, outcome).inc()
        if error is not None:
            self.usecase_errors_total.labels(use_case, context, type(error).__name__).inc()


PROCESS = ProcessMetrics()

# Frames of these modules are plumbing, not use cases: the name comes from their caller.
_PLUMBING = ("ventros.platform.", "ventros.runtime.container", "ventros.api.", "ventros.kernel.")


def use_case_name(frame: FrameType | None, *, depth: int = 12) -> str:
    """`context.function` of the nearest caller in a bounded context (e.g.
    `contacts.create_contact`): the use case a unit of work runs for, with no decorator on
    every service function. The names come from code, so the label's values are bounded.
    Falls back to the nearest Ventros frame (e.g. the consumers'
    batch, `platform._together`)."""
    fallback = "unknown.unknown"
    while frame is not None and depth > 0:
        module = str(frame.f_globals.get("__name__", ""))
        if module.startswith("ventros."):
            function = frame.f_code.co_name
            name = f"{module.split('.')[1]}.{function}"
            # Private helpers (`_open`) and lambdas open units of work for their caller.
            if not module.startswith(_PLUMBING) and not function.startswith(("_", "<")):
                return name
            if fallback == "unknown.unknown":
                fallback = name
        frame = frame.f_back
        depth -= 1
    return fallback


def caller_use_case(skip: int = 2) -> str:
    return use_case_name(sys._getframe(skip))


class Metrics:
    """Every metric the process exposes. `render()` is the body of `/metrics`."""

    content_type = CONTENT_TYPE_LATEST

    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        self.registry = registry if registry is not None else CollectorRegistry()
        r = self.registry
        for collector in PROCESS.collectors():
            r.register(collector)

        # Consumers
        self.message_processing_duration_seconds = Histogram(
            "message_processing_duration_seconds",
            "Time a consumer took to handle one message, idempotency check included.",
            ["consumer"],
            buckets=LATENCY_BUCKETS,
            registry=r,
        )
        self.message_processing_total = Counter(
            "message_processing",  # exposed as message_processing_total
            "Messages handled, by consumer and outcome (processed, duplicate, failed).",
            ["consumer", "outcome"],
            registry=r,
        )
        self.message_queue_depth = Gauge(
            "message_queue_depth",
            "Messages waiting in a queue (dead-letter queues included).",
            ["queue"],
            registry=r,
        )

        # Outbox relay
        self.outbox_lag_seconds = Gauge(
            "outbox_lag_seconds",
            "Age of the oldest unpublished outbox event (0 when none waits).",
            registry=r,
        )
        self.outbox_pending_events = Gauge(
            "outbox_pending_events", "Outbox events not yet published.", registry=r
        )
        self.outbox_failed_events = Gauge(
            "outbox_failed_events",
            "Outbox events that exhausted their publish attempts (need an operator).",
            registry=r,
        )
        self.outbox_published_total = Counter(
            "outbox_published", "Outbox events published by this process.", registry=r
        )
        self.outbox_failed_total = Counter(
            "outbox_failed",
            "Outbox events this process marked failed after their last attempt.",
            registry=r,
        )
        self.outbox_publish_errors_total = Counter(
            "outbox_publish_errors",
            "Failed publish attempts: rejected (one message) or unavailable (the bus).",
            ["kind"],
            registry=r,
        )
        self.outbox_relay_active = Gauge(
            "outbox_relay_active",
            "1 while this process holds the relay lock (the active relay), else 0.",
            registry=r,
        )
        self.outbox_batch_duration_seconds = Histogram(
            "outbox_batch_duration_seconds",
            "Claim, publish and mark of one relay batch.",
            buckets=LATENCY_BUCKETS,
            registry=r,
        )
        # Conversations, all tenants together (set by the active relay).
        self.conversation_sessions_open = Gauge(
            "conversation_sessions_open", "Open sessions.", registry=r
        )
        self.conversation_sessions_waiting = Gauge(
            "conversation_sessions_waiting",
            "Open sessions no agent is assigned to (customers waiting in the queue).",
            registry=r,
        )
        self.conversation_first_response_seconds = Gauge(
            "conversation_first_response_seconds",
            "Average first-response time of the sessions started in the last hour.",
            registry=r,
        )
        self.message_consumer_lag_seconds = Histogram(
            "message_consumer_lag_seconds",
            "From an event's occurrence to its handling, by queue (how far consumers trail).",
            ["queue"],
            buckets=(*LATENCY_BUCKETS, 30.0, 60.0, 300.0),
            registry=r,
        )
        self.message_dead_letters = Gauge(
            "message_dead_letters",
            "Messages parked in a queue's dead-letter queue (need `ventros dlq replay`).",
            ["queue"],
            registry=r,
        )

        # Optional LLM provider (analysis): every call's outcome; failures never block a
        # conversation, so this is where they show.
        self.llm_requests_total = Counter(
            "llm_requests",
            "LLM calls by operation (chat, transcription) and outcome (ok, timeout, "
            "rate_limited, malformed, unavailable, circuit_open, budget_exhausted).",
            ["operation", "outcome"],
            registry=r,
        )
        Metrics.latest = self

    latest: Metrics | None = None  # this process's (the last built): for consumers

    def render(self) -> bytes:
        return generate_latest(self.registry)


def metrics_for(container: Any) -> Metrics:
    """The container's `Metrics`, created on first use if the container has none yet."""
    found = getattr(container, "metrics", None)
    if isinstance(found, Metrics):
        return found
    metrics = Metrics()
    container.metrics = metrics
    return metrics


def serve_metrics(metrics: Metrics, port: int | None) -> None:
    """A background role's `/metrics` on `port` (VENTROS_METRICS_PORT), if one is set."""
    if port:
        start_http_server(port, registry=metrics.registry)
