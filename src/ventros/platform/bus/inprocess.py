"""The in-process bus, the embedded default: no broker, same contract as RabbitMQ.

Handlers run inside the process, but what must survive a crash lives in PostgreSQL, so
the contract holds when the process dies: `publish` commits one `bus_deliveries` row per
(message, bound queue) before it returns (the broker's publisher confirm); a consumer
leases rows, runs the handler, and deletes the row (the ack). A lease that runs out
(the process died) makes the row deliverable again. A failed delivery waits
`retry.delay(attempt)` before the next one; after the last it moves to `dead_letters`.

Bindings (`bus_bindings`) work like RabbitMQ's: declared by the consumers of a queue, they
decide which queues a message is copied to. Only queues that something consumes are
declared here, so a laptop does not collect copies nobody reads. `NOTIFY bus_deliveries`
wakes consumers in other processes; a poll is the safety net.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
import uuid
from collections.abc import Callable, Sequence
from typing import Any

import asyncpg
import structlog

from ventros.platform.bus import (
    CONFIRMED,
    TENANT_HEADER,
    BatchDeliveryHandler,
    BusUnavailable,
    DeadLetter,
    Delivery,
    DeliveryHandler,
    Envelope,
    PublishResult,
    QueueSpec,
    RetryPolicy,
    topic_regex,
)
from ventros.platform.bus import inprocess_sql as sql
from ventros.platform.bus.topology import dlq_name, reached_exchanges

log = structlog.get_logger(__name__)

CHANNEL = "bus_deliveries"
ACK_FLUSH_SECONDS = 0.02
ACK_FLUSH_SIZE = 200
CLOSE_GRACE_SECONDS = 10.0


class InProcessBus:
    kind = "inprocess"

    def __init__(
        self,
        dsn: str,
        *,
        prefetch: int = 10,
        retry: RetryPolicy | None = None,
        message_ttl_seconds: int = 86_400,
        poll_interval_seconds: float = 2.0,
        lease_seconds: float = 60.0,
        pool_size: int = 4,
    ) -> None:
        self._dsn = dsn
        self._prefetch = prefetch
        self._retry = retry or RetryPolicy()
        self._ttl = message_ttl_seconds
        self._poll = poll_interval_seconds
        self._lease = lease_seconds
        self._pool_size = pool_size
        self._pool: asyncpg.Pool | None = None
        self._queues: dict[str, QueueSpec] = {}
        self._consumers: dict[str, _QueueConsumer] = {}
        self._tasks: list[asyncio.Task[None]] = []
        self._closing = asyncio.Event()
        self._acks: list[int] = []
        self._ack_wake = asyncio.Event()

    @property
    def pool(self) -> asyncpg.Pool:
        if self._pool is None:
            raise RuntimeError("bus not started")
        return self._pool

    # ------------------------------------------------------------------ lifecycle

    async def start(self, queues: Sequence[QueueSpec] = ()) -> None:
        try:
            # Leases, acks, retries and dead-letter moves need no fsync of their own: lost
            # in a crash of PostgreSQL, they only make a message deliverable again, which
            # consumers absorb. Publishing is the exception (see `publish`).
            self._pool = await asyncpg.create_pool(
                self._dsn,
                min_size=1,
                max_size=self._pool_size,
                command_timeout=60,
                server_settings={"synchronous_commit": "off"},
            )
        except (OSError, asyncpg.PostgresError) as error:
            raise BusUnavailable(f"database unreachable: {error!r}") from error
        for spec in queues:
            await self._declare(spec)

    async def _declare(self, spec: QueueSpec) -> None:
        bindings = spec.bindings
        await self.pool.execute(
            sql.DECLARE,
            [spec.name] * len(bindings),
            [b.exchange for b in bindings],
            [b.pattern for b in bindings],
            [topic_regex(b.pattern) for b in bindings],
        )
        known = self._queues.get(spec.name)
        self._queues[spec.name] = known.merged(spec) if known else spec

    async def close(self) -> None:
        self._closing.set()
        for consumer in self._consumers.values():
            consumer.wake()
        if self._tasks:
            await asyncio.wait(self._tasks, timeout=CLOSE_GRACE_SECONDS + 5)
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        self._tasks.clear()
        with contextlib.suppress(Exception):  # unflushed acks: those come back, harmlessly
            await self._flush_acks()
        if self._pool is not None:
            await self._pool.close()
        self._pool = None

    async def health(self) -> tuple[bool, str]:
        if self._pool is None:
            return False, "not started"
        await self._pool.fetchval("SELECT 1")
        return True, "in-process bus on PostgreSQL"

    # ------------------------------------------------------------------ publishing

    async def publish(self, envelopes: Sequence[Envelope]) -> list[PublishResult]:
        if not envelopes:
            return []
        ords: list[int] = []
        vias: list[str] = []
        for index, envelope in enumerate(envelopes):
            for exchange in reached_exchanges(envelope.exchange, envelope.routing_key):
                ords.append(index)
                vias.append(exchange)
        chosen = [envelopes[i] for i in ords]
        try:
            async with self.pool.acquire() as connection, connection.transaction():
                # Durable before we return, like a broker's publisher confirm.
                await connection.execute("SET LOCAL synchronous_commit TO on")
                rows = await connection.fetch(
                    sql.PUBLISH,
                    ords,
                    vias,
                    [e.exchange for e in chosen],
                    [e.routing_key for e in chosen],
                    [e.message_id for e in chosen],
                    [_tenant(e) for e in chosen],
                    [json.dumps(dict(e.headers)) for e in chosen],
                    [e.body for e in chosen],
                )
        except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError) as error:
            raise BusUnavailable(f"database unavailable: {error!r}") from error
        for row in rows:
            consumer = self._consumers.get(row["queue"])
            if consumer is not None:
                consumer.wake(more=True)
        return [CONFIRMED] * len(envelopes)

    # ------------------------------------------------------------------ consuming

    async def consume(self, queue: QueueSpec, handler: DeliveryHandler) -> None:
        await self._declare(queue)
        if queue.name in self._consumers:
            raise ValueError(f"queue {queue.name} is already consumed by this bus")
        consumer = _QueueConsumer(self, queue.name, handler)
        self._consumers[queue.name] = consumer
        if not self._tasks:
            self._tasks.append(asyncio.create_task(self._listen(), name="bus-listen"))
            self._tasks.append(asyncio.create_task(self._ack_loop(), name="bus-acks"))
            self._tasks.append(asyncio.create_task(self._expire_loop(), name="bus-expiry"))
        self._tasks.append(asyncio.create_task(consumer.run(), name=f"bus-consume-{queue.name}"))

    async def _listen(self) -> None:
        """Wake local consumers when another process publishes (NOTIFY); reconnects."""
        while not self._closing.is_set():
            connection: asyncpg.Connection | None = None
            try:
                connection = await asyncpg.connect(self._dsn)
                lost = asyncio.Event()
                connection.add_termination_listener(_setter(lost))
                await connection.add_listener(CHANNEL, self._on_notify)
                for consumer in self._consumers.values():
                    consumer.wake(more=True)  # anything published while we were away
                await _first(self._closing.wait(), lost.wait())
            except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError) as error:
                log.warning("bus listener lost; reconnecting", error=repr(error))
            finally:
                if connection is not None:
                    with contextlib.suppress(Exception):
                        await connection.close(timeout=2)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._closing.wait(), 1.0)

    def _on_notify(self, _connection: object, _pid: int, _channel: str, payload: object) -> None:
        consumer = self._consumers.get(str(payload))
        if consumer is not None:
            consumer.wake(more=True)

    # Acks are deletes, batched: a lost ack only means a redelivery, which consumers absorb.
    def ack_later(self, delivery_id: int) -> None:
        self._acks.append(delivery_id)
        if len(self._acks) >= ACK_FLUSH_SIZE:
            self._ack_wake.set()

    async def _ack_loop(self) -> None:
        while not self._closing.is_set():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._ack_wake.wait(), ACK_FLUSH_SECONDS)
            self._ack_wake.clear()
            try:
                await self._flush_acks()
            except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError) as error:
                log.warning("could not acknowledge deliveries; retrying", error=repr(error))
                await asyncio.sleep(1.0)

    async def _flush_acks(self) -> None:
        if not self._acks or self._pool is None:
            return
        ids, self._acks = self._acks, []
        try:
            await self._pool.execute("DELETE FROM bus_deliveries WHERE id = ANY($1::bigint[])", ids)
        except BaseException:
            self._acks[:0] = ids
            raise

    async def _expire_loop(self) -> None:
        while not self._closing.is_set():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._closing.wait(), 60.0)
            with contextlib.suppress(OSError, asyncpg.PostgresError, asyncpg.InterfaceError):
                await self.expire()

    async def expire(self) -> int:
        """Dead-letter messages that waited longer than the message TTL."""
        ids = [r["id"] for r in await self.pool.fetch(sql.EXPIRED, float(self._ttl))]
        if ids:
            await self.pool.execute(sql.DEAD_LETTER, ids, f"expired: waited over {self._ttl}s")
        return len(ids)

    # ------------------------------------------------------------------ operations

    async def queue_depths(self) -> dict[str, int]:
        depths = {name: 0 for queue in self._queues for name in (queue, dlq_name(queue))}
        for row in await self.pool.fetch(
            "SELECT queue, count(*) AS n FROM bus_deliveries GROUP BY queue"
        ):
            depths[row["queue"]] = row["n"]
        for row in await self.pool.fetch(
            "SELECT queue, count(*) AS n FROM dead_letters GROUP BY queue"
        ):
            depths[dlq_name(row["queue"])] = row["n"]
        return depths

    async def dead_letters(self, queue: str | None = None, limit: int = 100) -> list[DeadLetter]:
        rows = await self.pool.fetch(
            "SELECT queue, message_id, exchange, routing_key, headers::text AS headers, body,"
            " error, attempts, failed_at FROM dead_letters"
            " WHERE $1::text IS NULL OR queue = $1 ORDER BY id LIMIT $2",
            queue,
            limit,
        )
        return [
            DeadLetter(
                queue=r["queue"],
                message_id=r["message_id"],
                exchange=r["exchange"],
                routing_key=r["routing_key"],
                headers=json.loads(r["headers"]),
                body=bytes(r["body"]),
                error=r["error"],
                attempts=r["attempts"],
                failed_at=r["failed_at"],
            )
            for r in rows
        ]

    async def replay_dead_letters(
        self, queue: str | None = None, message_ids: Sequence[str] = ()
    ) -> int:
        rows = await self.pool.fetch(sql.REPLAY, queue, list(message_ids))
        for row in rows:
            consumer = self._consumers.get(row["queue"])
            if consumer is not None:
                consumer.wake(more=True)
        return sum(int(r["n"]) for r in rows)

    async def purge_dead_letters(self, queue: str | None = None) -> int:
        status = await self.pool.execute(
            "DELETE FROM dead_letters WHERE $1::text IS NULL OR queue = $1", queue
        )
        return int(status.split()[-1])


class _QueueConsumer:
    """Leases up to `prefetch` deliveries of one queue and runs them, in id order."""

    def __init__(self, bus: InProcessBus, queue: str, handler: DeliveryHandler) -> None:
        self.bus = bus
        self.queue = queue
        self.handler = handler
        self._wake = asyncio.Event()
        self._more = True  # there may be deliveries waiting
        self._in_flight: dict[int, asyncio.Task[None]] = {}
        # A handler that takes a whole lease in one call, when it can.
        self._many = handler if isinstance(handler, BatchDeliveryHandler) else None

    def wake(self, *, more: bool = False) -> None:
        self._more = self._more or more
        self._wake.set()

    async def run(self) -> None:
        bus = self.bus
        prefetch = bus._prefetch
        next_poll = time.monotonic() + bus._poll
        while not bus._closing.is_set():
            free = prefetch - len(self._in_flight)
            poll_due = time.monotonic() >= next_poll
            # Lease in chunks, not one row per finished handler.
            worth_it = free >= max(1, prefetch // 2) or not self._in_flight
            if free > 0 and (self._more or poll_due) and worth_it:
                self._more = False
                self._wake.clear()
                next_poll = time.monotonic() + bus._poll
                try:
                    rows = await bus.pool.fetch(sql.CLAIM, self.queue, free, bus._lease)
                except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError) as error:
                    log.warning("could not lease deliveries", queue=self.queue, error=repr(error))
                    await _first(bus._closing.wait(), asyncio.sleep(1.0))
                    continue
                if len(rows) == free:
                    self._more = True
                rows = sorted(rows, key=lambda r: int(r["id"]))
                if self._many is not None and rows:
                    self._start_many(rows, self._many)
                else:
                    for row in rows:
                        self._start(row)
                continue
            # Woken by a publish, a NOTIFY, a finished handler or a due retry; else poll.
            timeout = max(0.05, next_poll - time.monotonic())
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), timeout)
            self._wake.clear()
        await self._drain()

    def _delivery(self, row: asyncpg.Record) -> Delivery:
        envelope = Envelope(
            message_id=row["message_id"],
            routing_key=row["routing_key"],
            body=bytes(row["body"]),
            headers=json.loads(row["headers"]),
            exchange=row["exchange"],
        )
        return Delivery(envelope, self.queue, int(row["attempt"]))

    def _start(self, row: asyncpg.Record) -> None:
        delivery_id = int(row["id"])
        task = asyncio.create_task(self._deliver(delivery_id, self._delivery(row)))
        self._in_flight[delivery_id] = task
        task.add_done_callback(lambda _t: self._finished([delivery_id]))

    def _start_many(self, rows: list[asyncpg.Record], many: BatchDeliveryHandler) -> None:
        ids = [int(row["id"]) for row in rows]
        deliveries = [self._delivery(row) for row in rows]
        task = asyncio.create_task(self._deliver_many(ids, deliveries, many))
        for delivery_id in ids:
            self._in_flight[delivery_id] = task
        task.add_done_callback(lambda _t: self._finished(ids))

    def _finished(self, delivery_ids: list[int]) -> None:
        for delivery_id in delivery_ids:
            self._in_flight.pop(delivery_id, None)
        self._wake.set()

    async def _deliver(self, delivery_id: int, delivery: Delivery) -> None:
        try:
            await self.handler(delivery)
        except Exception as error:
            await self._failed(delivery_id, delivery, error)
        else:
            self.bus.ack_later(delivery_id)

    async def _deliver_many(
        self, ids: list[int], deliveries: list[Delivery], many: BatchDeliveryHandler
    ) -> None:
        try:
            outcomes = await many.deliver_many(deliveries)
        except Exception as error:
            outcomes = [error] * len(deliveries)
        for delivery_id, delivery, outcome in zip(ids, deliveries, outcomes, strict=True):
            if outcome is None:
                self.bus.ack_later(delivery_id)
            else:
                await self._failed(delivery_id, delivery, outcome)

    async def _failed(self, delivery_id: int, delivery: Delivery, error: Exception) -> None:
        bus = self.bus
        reason = f"{type(error).__name__}: {error}"[:2000]
        attempt = delivery.attempt
        try:
            if attempt < bus._retry.max_attempts:
                delay = bus._retry.delay(attempt)
                await bus.pool.execute(sql.RETRY, delivery_id, delay, reason)
                asyncio.get_running_loop().call_later(delay, lambda: self.wake(more=True))
                log.warning(
                    "delivery failed; retrying",
                    queue=self.queue,
                    message_id=delivery.envelope.message_id,
                    attempt=attempt,
                    retry_in=delay,
                    error=reason,
                )
            else:
                await bus.pool.execute(sql.DEAD_LETTER, [delivery_id], reason)
                log.error(
                    "delivery failed for the last time; dead-lettered",
                    queue=self.queue,
                    message_id=delivery.envelope.message_id,
                    attempts=attempt,
                    error=reason,
                )
        except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError):
            # The lease runs out and the delivery comes back: at least once still holds.
            log.exception("could not record a failed delivery", queue=self.queue)

    async def _drain(self) -> None:
        """On close: let handlers in flight finish, then release the leases of the rest."""
        if not self._in_flight:
            return
        tasks = set(self._in_flight.values())  # a lease handed over at once shares one task
        _done, pending = await asyncio.wait(tasks, timeout=CLOSE_GRACE_SECONDS)
        unfinished = [i for i, t in self._in_flight.items() if t in pending]
        for task in pending:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        if unfinished:
            with contextlib.suppress(Exception):
                await self.bus.pool.execute(
                    "UPDATE bus_deliveries SET locked_until = NULL WHERE id = ANY($1::bigint[])",
                    unfinished,
                )


def _setter(event: asyncio.Event) -> Callable[[object], None]:
    return lambda _connection: event.set()


def _tenant(envelope: Envelope) -> uuid.UUID | None:
    try:
        return uuid.UUID(envelope.headers[TENANT_HEADER])
    except (KeyError, ValueError):
        return None


async def _first(*awaitables: Any) -> None:
    """Wait until the first of these finishes; cancel the others."""
    tasks = [asyncio.ensure_future(a) for a in awaitables]
    try:
        await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
