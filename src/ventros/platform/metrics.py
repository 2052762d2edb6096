"""Prometheus metrics of one process, on a registry of their own (built at start-up, so tests
and several containers in one process never collide on the global registry)."""

from __future__ import annotations

from typing import Any

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.exposition import CONTENT_TYPE_LATEST

LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)


class Metrics:
    """Every metric the process exposes. `render()` is the body of `/metrics`."""

    content_type = CONTENT_TYPE_LATEST

    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        self.registry = registry if registry is not None else CollectorRegistry()
        r = self.registry

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
