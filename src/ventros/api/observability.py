"""HTTP and database metrics, and the /metrics endpoint, on the container's registry."""

from __future__ import annotations

import time
import weakref
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

from fastapi import APIRouter, Request, Response
from prometheus_client import CollectorRegistry, Counter, Histogram
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector
from sqlalchemy import event
from sqlalchemy.ext.asyncio import AsyncEngine

from ventros.channels.health import channel_metrics, channels_health
from ventros.platform.metrics import LATENCY_BUCKETS, Metrics

if TYPE_CHECKING:
    from ventros.runtime.container import Container


class HttpMetrics:
    def __init__(self, registry: CollectorRegistry) -> None:
        self.requests_total = Counter(
            "http_requests",  # exposed as http_requests_total
            "HTTP requests by method, route template and status.",
            ["method", "route", "status"],
            registry=registry,
        )
        self.request_duration_seconds = Histogram(
            "http_request_duration_seconds",
            "HTTP request latency by method and route template.",
            ["method", "route"],
            buckets=LATENCY_BUCKETS,
            registry=registry,
        )

    def observe(self, method: str, route: str, status: int, seconds: float) -> None:
        # Route templates (not raw paths) keep label cardinality bounded.
        self.requests_total.labels(method, route, str(status)).inc()
        self.request_duration_seconds.labels(method, route).observe(seconds)


class PoolCollector(Collector):
    """db_connection_pool_size / checked out, read from the engines at scrape time."""

    def __init__(self, engines: dict[str, AsyncEngine]) -> None:
        self._engines = engines

    def collect(self) -> Iterator[GaugeMetricFamily]:
        size = GaugeMetricFamily(
            "db_connection_pool_size", "Connections held by the pool.", labels=["role"]
        )
        used = GaugeMetricFamily(
            "db_connection_pool_checked_out", "Connections in use.", labels=["role"]
        )
        for role, engine in list(self._engines.items()):
            pool: Any = engine.sync_engine.pool
            size.add_metric([role], float(pool.size()))
            used.add_metric([role], float(pool.checkedout()))
        yield size
        yield used


def instrument_queries(engine: AsyncEngine, registry: CollectorRegistry) -> None:
    """db_query_duration_seconds for every statement the engine runs."""
    histogram = Histogram(
        "db_query_duration_seconds",
        "Time of one SQL statement, from cursor execute to its end.",
        buckets=LATENCY_BUCKETS,
        registry=registry,
    )

    @event.listens_for(engine.sync_engine, "before_cursor_execute")
    def started(conn: Any, *_: Any) -> None:
        conn.info.setdefault("query_started", []).append(time.perf_counter())

    @event.listens_for(engine.sync_engine, "after_cursor_execute")
    def finished(conn: Any, *_: Any) -> None:
        begun = conn.info.get("query_started")
        if begun:
            histogram.observe(time.perf_counter() - begun.pop())


router = APIRouter(tags=["operations"])


@router.get("/metrics", include_in_schema=True)
async def metrics(request: Request) -> Response:
    """Prometheus text format."""
    container = request.app.state.container
    registry: Metrics = container.metrics
    async with container.database.system.connect() as connection:
        channels = await channels_health(connection)
    body = registry.render() + channel_metrics(channels)
    return Response(body, media_type=registry.content_type)


_instrumented: weakref.WeakKeyDictionary[Metrics, HttpMetrics] = weakref.WeakKeyDictionary()


def instrument(container: Container) -> HttpMetrics:
    """Registers the HTTP and database metrics once per container (apps may share one)."""
    metrics = container.metrics
    if metrics not in _instrumented:
        http = HttpMetrics(metrics.registry)
        metrics.registry.register(PoolCollector(container.database.engines))
        instrument_queries(container.database.app, metrics.registry)
        _instrumented[metrics] = http
    return _instrumented[metrics]
