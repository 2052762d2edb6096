"""Idempotent event consumers: registration, the per-event transaction, and the worker.

A context declares its reactions in its `handlers.py` (or `handlers/` package):

    Consumer("auto_assign", ("session.started",), when_session_started_assign_agent)

and its `wire(container)` returns them, bound to the container's adapters; the runtime's
registry joins every context's. A handler receives the event and the open unit
of work (tenant set, RLS applies) and must not commit it; the framework

1. opens `uow(event.tenant_id, Actor.system())`,
2. records `(consumer, event_id)` in `processed_events` — `INSERT ... ON CONFLICT DO
   NOTHING RETURNING`: no row back means the event was handled before, and it is skipped
   (a concurrent duplicate waits on the row lock, then finds it),
3. runs the handler and commits: effect, events it raised, and the record together.

So redelivery is harmless, and `process_event` is all a test needs: no broker.
The worker feeds consumers from the bus, one queue per consumer (or a shared named queue).
"""

from __future__ import annotations

import asyncio
import contextlib
import enum
import importlib
import json
import time
from collections import defaultdict
from collections.abc import Awaitable, Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

import structlog
from sqlalchemy import text

from ventros.kernel.clock import utcnow
from ventros.kernel.events import Actor, DomainEvent
from ventros.kernel.tracing import TraceContext
from ventros.platform.bus import (
    DOMAIN_EVENTS,
    TRACEPARENT_HEADER,
    Binding,
    Bus,
    Delivery,
    QueueSpec,
    connect_bus,
    topic_matches,
)
from ventros.platform.bus.topology import dlq_name
from ventros.platform.metrics import Metrics, metrics_for
from ventros.platform.tracing import SpanKind, span
from ventros.platform.uow import UnitOfWork, UnitOfWorkFactory

if TYPE_CHECKING:
    from ventros.runtime.container import Container

log = structlog.get_logger(__name__)

EventHandler = Callable[[DomainEvent, UnitOfWork], Awaitable[None]]
BatchHandler = Callable[[Sequence[DomainEvent], UnitOfWork], Awaitable[None]]

# Transactions one queue's consumers may have open at once (on disjoint aggregates).
BATCHES_IN_FLIGHT = 1
# How long a stopping worker waits for handlers that finish work after their transaction.
DRAIN_SECONDS = 10.0

_CLAIM_SQL = text(
    "INSERT INTO processed_events (consumer, event_id, tenant_id)"
    " SELECT c, e, :tenant_id FROM unnest(CAST(:consumers AS text[]), CAST(:event_ids AS uuid[]))"
    " AS t(c, e)"
    " ON CONFLICT (consumer, event_id) DO NOTHING RETURNING consumer, event_id"
)


class Outcome(enum.Enum):
    PROCESSED = "processed"
    DUPLICATE = "duplicate"  # handled before: skipped
    IGNORED = "ignored"  # the consumer does not react to this event name
    FAILED = "failed"


@dataclass(frozen=True)
class Consumer:
    """A named reaction to events whose names match `patterns` (`message.*`, `#`)."""

    name: str
    patterns: tuple[str, ...]
    handler: EventHandler
    queue: str | None = None  # default: a queue of its own, `consumers.<name>`
    exchange: str = DOMAIN_EVENTS
    excluding: tuple[str, ...] = ()  # names it leaves to another consumer (`contact.#`)
    # Takes every fresh event of a batch in one call, so that it can write each kind of row
    # in one statement instead of one per event; `handler` is then its one-event form.
    batch_handler: BatchHandler | None = None

    @classmethod
    def batched(
        cls,
        name: str,
        patterns: tuple[str, ...],
        handle_many: BatchHandler,
        *,
        queue: str | None = None,
    ) -> Consumer:
        async def handle_one(event: DomainEvent, tx: UnitOfWork) -> None:
            await handle_many([event], tx)

        return cls(name, patterns, handle_one, queue=queue, batch_handler=handle_many)

    def __post_init__(self) -> None:
        if not self.name or not self.patterns:
            raise ValueError("a consumer needs a name and at least one pattern")

    def matches(self, event_name: str) -> bool:
        return any(topic_matches(p, event_name) for p in self.patterns) and not any(
            topic_matches(p, event_name) for p in self.excluding
        )

    @property
    def queue_name(self) -> str:
        return self.queue or f"consumers.{self.name}"

    def queue_spec(self) -> QueueSpec:
        return QueueSpec(self.queue_name, tuple(Binding(self.exchange, p) for p in self.patterns))


class ConsumerRegistry:
    def __init__(self, consumers: Iterable[Consumer] = ()) -> None:
        self._consumers: dict[str, Consumer] = {}
        for consumer in consumers:
            self.add(consumer)

    def add(self, consumer: Consumer) -> Consumer:
        if consumer.name in self._consumers:
            raise ValueError(f"consumer {consumer.name!r} is registered twice")
        self._consumers[consumer.name] = consumer
        return consumer

    def handler(
        self, name: str, *patterns: str, queue: str | None = None, exchange: str = DOMAIN_EVENTS
    ) -> Callable[[EventHandler], EventHandler]:
        """Decorator form of `add`."""

        def register(handler: EventHandler) -> EventHandler:
            self.add(Consumer(name, patterns, handler, queue=queue, exchange=exchange))
            return handler

        return register

    def __iter__(self) -> Iterator[Consumer]:
        return iter(self._consumers.values())

    def __len__(self) -> int:
        return len(self._consumers)

    def matching(self, event_name: str) -> list[Consumer]:
        return [c for c in self if c.matches(event_name)]

    def by_queue(self) -> dict[str, list[Consumer]]:
        queues: dict[str, list[Consumer]] = defaultdict(list)
        for consumer in self:
            queues[consumer.queue_name].append(consumer)
        return dict(queues)

    def queue_specs(self) -> list[QueueSpec]:
        specs: dict[str, QueueSpec] = {}
        for consumer in self:
            spec = consumer.queue_spec()
            specs[spec.name] = specs[spec.name].merged(spec) if spec.name in specs else spec
        return list(specs.values())


def load_consumers(modules: Iterable[str]) -> ConsumerRegistry:
    """The consumers listed by these modules' `CONSUMERS` (tests; the process's registry
    is built by the runtime from each context's wiring)."""
    registry = ConsumerRegistry()
    for module_name in modules:
        module = importlib.import_module(module_name)
        for consumer in getattr(module, "CONSUMERS", ()):
            registry.add(consumer)
    return registry


async def process_event(uow: UnitOfWorkFactory, consumer: Consumer, event: DomainEvent) -> Outcome:
    """Run one consumer on one event, in a transaction of its own, exactly once in effect."""
    if not consumer.matches(event.name):
        return Outcome.IGNORED
    async with uow(event.tenant_id, Actor.system()) as tx:
        tx.use_case = f"consumers.{consumer.name}"  # the usecase_* metrics' name for it
        if not await _claim(tx, [(consumer, event)]):
            return Outcome.DUPLICATE
        await consumer.handler(event, tx)
        await tx.commit()
    return Outcome.PROCESSED


async def dispatch(
    registry: ConsumerRegistry, uow: UnitOfWorkFactory, event: DomainEvent
) -> dict[str, Outcome]:
    """Every matching consumer on one event, in registration order (tests, replays)."""
    return {c.name: await process_event(uow, c, event) for c in registry.matching(event.name)}


async def _claim(
    tx: UnitOfWork, pairs: list[tuple[Consumer, DomainEvent]]
) -> set[tuple[str, object]]:
    """Record the pairs in processed_events; returns those not recorded before."""
    claimed = await tx.connection.execute(
        _CLAIM_SQL,
        {
            "tenant_id": tx.tenant_id,
            "consumers": [c.name for c, _ in pairs],
            "event_ids": [e.id for _, e in pairs],
        },
    )
    return {(row.consumer, row.event_id) for row in claimed}


@dataclass
class _Pending:
    delivery: Delivery
    event: DomainEvent
    done: asyncio.Future[None]

    @contextlib.contextmanager
    def handling(self, consumer: Consumer) -> Iterator[None]:
        """The handler runs in the event's trace (events it raises carry it) and logs say
        which consumer, event and attempt they are about."""
        published = TraceContext.parse(self.delivery.envelope.headers.get(TRACEPARENT_HEADER))
        with (
            span(
                f"consume {self.event.name}",
                parent=published,
                kind=SpanKind.CONSUMER,
                attributes={"ventros.consumer": consumer.name, "ventros.event": self.event.name},
            ) as trace,
            structlog.contextvars.bound_contextvars(
                consumer=consumer.name,
                event_id=str(self.event.id),
                event_name=self.event.name,
                tenant_id=str(self.event.tenant_id),
                trace_id=trace.trace_id,
                attempt=self.delivery.attempt,
            ),
        ):
            yield


class _QueueBatcher:
    """Handles one queue's deliveries in batches: one transaction per tenant per batch.

    The bus hands deliveries over concurrently (up to its prefetch); each waits here for
    its batch. A commit costs an fsync: one per batch instead of one per event is what
    lets consumers keep up with the relay. Up to `BATCHES_IN_FLIGHT` batches run at once,
    but never two with events of the same aggregate: an aggregate's events wait for its
    batch in flight, so they take effect in the order they were published. If a handler
    raises, the batch's transaction is rolled back and its events are handled again one
    transaction each, so that only the failing delivery goes back to the bus for a retry.
    """

    def __init__(self, worker: Worker, consumers: list[Consumer]) -> None:
        self.worker = worker
        self.consumers = consumers
        self._pending: list[_Pending] = []
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._running: dict[asyncio.Task[None], set[object]] = {}

    async def __call__(self, delivery: Delivery) -> None:
        """One delivery (a bus that hands them over one at a time: RabbitMQ)."""
        (error,) = await self.deliver_many([delivery])
        if error is not None:
            raise error

    async def deliver_many(self, deliveries: Sequence[Delivery]) -> list[Exception | None]:
        """Deliveries handed over together (the in-process bus's lease): they join the
        pending ones, and each outcome is its own batch's."""
        loop = asyncio.get_running_loop()
        outcomes: list[Exception | asyncio.Future[None] | None] = []
        for delivery in deliveries:
            try:
                event = DomainEvent.from_json(json.loads(delivery.envelope.body))
            except Exception as error:  # not an event: retried, then dead-lettered
                outcomes.append(error)
                continue
            done: asyncio.Future[None] = loop.create_future()
            self._pending.append(_Pending(delivery, event, done))
            outcomes.append(done)
        self._wake.set()
        if self._task is None or self._task.done():
            self._task = asyncio.create_task(self._run(), name="consumer-batches")
        waiting = [o for o in outcomes if isinstance(o, asyncio.Future)]
        if waiting:
            await asyncio.wait(waiting)
        return [_outcome(o) for o in outcomes]

    async def close(self) -> None:
        tasks = [t for t in (self._task, *self._running) if t is not None]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        for item in self._pending:
            if not item.done.done():
                item.done.set_exception(RuntimeError("worker closed"))
        self._pending.clear()

    async def _run(self) -> None:
        while True:
            await self._wake.wait()
            self._wake.clear()
            while self._pending and len(self._running) < BATCHES_IN_FLIGHT:
                batch = self._next_batch()
                if not batch:
                    break  # everything waits for an aggregate in flight
                task = asyncio.create_task(self._process_tenants(batch))
                self._running[task] = {item.event.aggregate_id for item in batch}
                task.add_done_callback(self._finished)

    def _next_batch(self) -> list[_Pending]:
        busy: set[object] = set().union(*self._running.values())
        batch: list[_Pending] = []
        waiting: list[_Pending] = []
        for item in self._pending:
            if item.event.aggregate_id in busy:
                waiting.append(item)
            else:
                batch.append(item)
        self._pending = waiting
        return batch

    def _finished(self, task: asyncio.Task[None]) -> None:
        self._running.pop(task, None)
        self._wake.set()

    async def _process_tenants(self, batch: list[_Pending]) -> None:
        by_tenant: dict[object, list[_Pending]] = defaultdict(list)
        for item in batch:
            by_tenant[item.event.tenant_id].append(item)
        for items in by_tenant.values():
            await self._process(items)

    async def _process(self, items: list[_Pending]) -> None:
        try:
            await self._together(items)
        except Exception:
            for item in items:  # find the culprit: one transaction per event now
                await self._alone(item)
        else:
            for item in items:
                if not item.done.done():
                    item.done.set_result(None)

    async def _together(self, items: list[_Pending]) -> None:
        pairs = [(c, i) for i in items for c in self.consumers if c.matches(i.event.name)]
        if not pairs:
            return
        metrics = self.worker.metrics
        outcomes: list[tuple[str, Outcome, float]] = []
        lag = metrics.message_consumer_lag_seconds.labels(self.consumers[0].queue_name)
        now = utcnow()
        for item in items:
            lag.observe(max(0.0, (now - item.event.occurred_at).total_seconds()))
        async with self.worker.uow(items[0].event.tenant_id, Actor.system()) as tx:
            tx.use_case = "consumers.batch"  # several consumers' work in one transaction
            fresh = await _claim(tx, [(c, i.event) for c, i in pairs])
            together: dict[str, list[_Pending]] = defaultdict(list)
            for consumer, item in pairs:
                key = (consumer.name, item.event.id)
                if key not in fresh:  # handled before (or twice in this batch)
                    outcomes.append((consumer.name, Outcome.DUPLICATE, 0.0))
                    continue
                fresh.discard(key)
                if consumer.batch_handler is not None:
                    together[consumer.name].append(item)
                    continue
                started = time.perf_counter()
                with item.handling(consumer):
                    await consumer.handler(item.event, tx)
                outcomes.append((consumer.name, Outcome.PROCESSED, time.perf_counter() - started))
            for consumer in self.consumers:
                if consumer.name in together:
                    outcomes.extend(await _handle_together(consumer, together[consumer.name], tx))
            await tx.commit()
        counts: dict[tuple[str, str], int] = defaultdict(int)
        for name, outcome, seconds in outcomes:
            counts[name, outcome.value] += 1
            metrics.message_processing_duration_seconds.labels(name).observe(seconds)
        for (name, outcome_name), count in counts.items():
            metrics.message_processing_total.labels(name, outcome_name).inc(count)

    async def _alone(self, item: _Pending) -> None:
        metrics = self.worker.metrics
        error: Exception | None = None
        for consumer in self.consumers:
            started = time.perf_counter()
            with item.handling(consumer):
                try:
                    outcome = await process_event(self.worker.uow, consumer, item.event)
                except Exception as failure:
                    log.exception("consumer failed")
                    outcome, error = Outcome.FAILED, error or failure
            if outcome is not Outcome.IGNORED:
                metrics.message_processing_total.labels(consumer.name, outcome.value).inc()
                metrics.message_processing_duration_seconds.labels(consumer.name).observe(
                    time.perf_counter() - started
                )
        if item.done.done():
            return
        if error is None:
            item.done.set_result(None)
        else:
            item.done.set_exception(error)


def _outcome(outcome: Exception | asyncio.Future[None] | None) -> Exception | None:
    if not isinstance(outcome, asyncio.Future):
        return outcome
    if outcome.cancelled():
        return RuntimeError("cancelled")
    error = outcome.exception()
    return error if isinstance(error, Exception) or error is None else RuntimeError(repr(error))


async def _handle_together(
    consumer: Consumer, items: list[_Pending], tx: UnitOfWork
) -> list[tuple[str, Outcome, float]]:
    """A batch consumer's events in one call, in the first event's trace (the events it
    raises carry their own source's trace: see `DomainEvent.traceparent`)."""
    assert consumer.batch_handler is not None
    started = time.perf_counter()
    with items[0].handling(consumer):
        await consumer.batch_handler([item.event for item in items], tx)
    each = (time.perf_counter() - started) / len(items)
    return [(consumer.name, Outcome.PROCESSED, each)] * len(items)


class Worker:
    """Consumes every registered consumer's queue from the bus."""

    def __init__(
        self,
        bus: Bus,
        registry: ConsumerRegistry,
        uow: UnitOfWorkFactory,
        metrics: Metrics,
    ) -> None:
        self.bus = bus
        self.registry = registry
        self.uow = uow
        self.metrics = metrics
        self._batchers: list[_QueueBatcher] = []

    async def start(self) -> None:
        for queue, consumers in self.registry.by_queue().items():
            spec = consumers[0].queue_spec()
            for consumer in consumers[1:]:
                spec = spec.merged(consumer.queue_spec())
            batcher = _QueueBatcher(self, consumers)
            self._batchers.append(batcher)
            await self.bus.consume(spec, batcher)
            log.info("consuming", queue=queue, consumers=[c.name for c in consumers])

    async def close(self, *, drain_seconds: float = DRAIN_SECONDS) -> None:
        """After the bus stopped delivering: stop the batch loops, then let handlers that
        finish work after their transaction (a `drain()` coroutine, like the WhatsApp
        sender's dispatcher) finish it, for at most `drain_seconds`."""
        for batcher in self._batchers:
            await batcher.close()
        for consumer in self.registry:
            drain = getattr(consumer.handler, "drain", None)
            if drain is None:
                continue
            try:
                await asyncio.wait_for(drain(), drain_seconds)
            except Exception:
                log.warning("a consumer did not drain in time", consumer=consumer.name)


DLQ_SUFFIX = dlq_name("")


def record_queue_depths(metrics: Metrics, depths: dict[str, int]) -> None:
    for queue, depth in depths.items():
        metrics.message_queue_depth.labels(queue).set(depth)
        if queue.endswith(DLQ_SUFFIX):
            metrics.message_dead_letters.labels(queue.removesuffix(DLQ_SUFFIX)).set(depth)


async def run_worker(
    container: Container,
    stop: asyncio.Event,
    *,
    registry: ConsumerRegistry,
) -> None:
    """The consumers as a background service (`ventros worker`, and inside `ventros run`)."""
    metrics = metrics_for(container)
    settings = container.settings
    bus = await connect_bus(
        settings, container.database, stop, name="ventros-worker", queues=registry.queue_specs()
    )
    if bus is None:
        return
    worker = Worker(bus, registry, container.uow, metrics)
    try:
        await worker.start()
        if not len(registry):
            log.info("no consumers registered; the worker idles")
        while not stop.is_set():
            try:
                record_queue_depths(metrics, await bus.queue_depths())
            except Exception as error:
                log.warning("could not read queue depths", error=repr(error))
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), settings.metrics_interval_seconds)
    finally:
        await bus.close()
        await worker.close()
