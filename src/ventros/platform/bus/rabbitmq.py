"""The RabbitMQ adapter (aio-pika): durable topology, confirms, retries through delay queues.

Publishing writes a window of messages to one confirm-mode channel and waits for all the
confirms together (a round trip per message would cap throughput at a few hundred per
second). Consuming uses one channel per queue with `prefetch` unacknowledged messages; a
message is acknowledged only after its handler returned, or after its retry copy (or its
dead letter) was confirmed by the broker, so a crash at any point redelivers it.

The connection is robust: after a broker restart or a dropped connection aio-pika
reconnects and restores channels, declarations and consumers on its own. Publishing while
disconnected raises `BusUnavailable`; the relay keeps the rows and tries again.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any, cast

import aio_pika
import aiormq
import structlog
from aio_pika.abc import (
    AbstractChannel,
    AbstractExchange,
    AbstractIncomingMessage,
    AbstractQueue,
    AbstractRobustConnection,
)
from aiormq.abc import DeliveredMessage
from yarl import URL

from ventros.platform.bus import (
    BusUnavailable,
    DeadLetter,
    Delivery,
    DeliveryHandler,
    Envelope,
    PublishResult,
    QueueSpec,
    RetryPolicy,
    amqp,
)
from ventros.platform.bus.topology import (
    DEAD_LETTER_EXCHANGE,
    EXCHANGE_BINDINGS,
    EXCHANGES,
    QUEUES,
    dlq_name,
    merge_queues,
    retry_queue_name,
)

log = structlog.get_logger(__name__)

_CONNECTION_ERRORS = (
    aiormq.exceptions.AMQPConnectionError,
    aiormq.exceptions.ChannelInvalidStateError,
    ConnectionError,
    OSError,
    TimeoutError,
    RuntimeError,  # aio-pika: "Connection closed" while reconnecting
)
READY_TIMEOUT_SECONDS = 5.0


class RabbitMQBus:
    kind = "rabbitmq"

    def __init__(
        self,
        url: str,
        *,
        prefix: str = "",
        prefetch: int = 10,
        retry: RetryPolicy | None = None,
        message_ttl_seconds: int = 86_400,
        connection_name: str = "ventros",
        confirm_timeout_seconds: float = 30.0,
    ) -> None:
        self._url = url
        self._prefix = prefix
        self._prefetch = prefetch
        self._retry = retry or RetryPolicy()
        self._ttl_ms = message_ttl_seconds * 1000
        self._connection_name = connection_name
        self._confirm_timeout = confirm_timeout_seconds
        self._connection: AbstractRobustConnection | None = None
        self._publish_channel: AbstractChannel | None = None
        self._consumers: list[_Consumer] = []
        self._queues: dict[str, QueueSpec] = {}
        self._in_flight: set[asyncio.Task[Any]] = set()

    # ------------------------------------------------------------------ names

    def name(self, name: str) -> str:
        """The broker-side name: exchanges and queues carry the configured prefix."""
        return self._prefix + name if name else name

    def _unprefixed(self, name: str) -> str:
        return name.removeprefix(self._prefix) if self._prefix else name

    # ------------------------------------------------------------------ lifecycle

    async def start(self, queues: Sequence[QueueSpec] = ()) -> None:
        try:
            self._connection = await aio_pika.connect_robust(
                self._url,
                client_properties={"connection_name": self._connection_name},
                reconnect_interval=1.0,
            )
            self._publish_channel = await self._connection.channel(publisher_confirms=True)
            await self._declare_topology(self._publish_channel, queues)
        except _CONNECTION_ERRORS as error:
            await self.close()
            raise BusUnavailable(f"RabbitMQ unreachable: {error!r}") from error

    async def _declare_topology(self, channel: AbstractChannel, extra: Sequence[QueueSpec]) -> None:
        exchanges: dict[str, AbstractExchange] = {}
        for exchange in EXCHANGES:
            exchanges[exchange] = await channel.declare_exchange(
                self.name(exchange), aio_pika.ExchangeType.TOPIC, durable=True
            )
        for binding in EXCHANGE_BINDINGS:
            await exchanges[binding.destination].bind(
                exchanges[binding.source], routing_key=binding.pattern
            )
        for spec in merge_queues(QUEUES, list(extra)):
            await self._declare_queue(channel, spec)

    async def _declare_queue(self, channel: AbstractChannel, spec: QueueSpec) -> AbstractQueue:
        name = self.name(spec.name)
        dlx = await channel.declare_exchange(
            self.name(DEAD_LETTER_EXCHANGE), aio_pika.ExchangeType.DIRECT, durable=True
        )
        # Dead letters stay until someone replays or purges them: no TTL on the DLQ.
        dlq = await channel.declare_queue(self.name(dlq_name(spec.name)), durable=True)
        await dlq.bind(dlx, routing_key=name)
        queue = await channel.declare_queue(
            name,
            durable=True,
            arguments={
                "x-dead-letter-exchange": dlx.name,
                "x-dead-letter-routing-key": name,
                "x-message-ttl": self._ttl_ms,
            },
        )
        for binding in spec.bindings:
            await queue.bind(self.name(binding.exchange), routing_key=binding.pattern)
        for delay in sorted(set(self._retry.delays())):
            await channel.declare_queue(
                self.name(retry_queue_name(spec.name, delay)),
                durable=True,
                arguments={
                    "x-message-ttl": round(delay * 1000),
                    "x-dead-letter-exchange": "",
                    "x-dead-letter-routing-key": name,
                },
            )
        known = self._queues.get(spec.name)
        self._queues[spec.name] = known.merged(spec) if known else spec
        return queue

    async def close(self) -> None:
        # Stop taking messages, let the handlers in flight finish, then disconnect; what
        # is still unacknowledged then goes back to its queue.
        for consumer in self._consumers:
            await consumer.cancel()
        self._consumers.clear()
        if self._in_flight:
            await asyncio.wait(set(self._in_flight), timeout=10)
        if self._connection is not None:
            with contextlib.suppress(Exception):
                await self._connection.close()
        self._connection = None
        self._publish_channel = None

    async def health(self) -> tuple[bool, str]:
        if self._connection is None:
            return False, "not started"
        if self._connection.is_closed:
            return False, "disconnected, reconnecting"
        return True, "connected"

    # ------------------------------------------------------------------ publishing

    async def publish(self, envelopes: Sequence[Envelope]) -> list[PublishResult]:
        if not envelopes:
            return []
        channel = self._publish_channel
        if channel is None or self._connection is None or self._connection.is_closed:
            raise BusUnavailable("RabbitMQ disconnected")
        try:
            underlay = cast(
                aiormq.Channel,
                await asyncio.wait_for(channel.get_underlay_channel(), READY_TIMEOUT_SECONDS),
            )
        except _CONNECTION_ERRORS as error:
            raise BusUnavailable(f"RabbitMQ channel not ready: {error!r}") from error
        if amqp.can_write_batches(underlay):
            return await amqp.publish_batch(
                underlay,
                [(self.name(e.exchange), e) for e in envelopes],
                timeout_seconds=self._confirm_timeout,
            )
        # Coroutines start in order and take the channel lock in order: the broker sees
        # the messages in this order; the confirms are awaited together (windowed).
        results = await asyncio.gather(
            *(
                underlay.basic_publish(
                    envelope.body,
                    exchange=self.name(envelope.exchange),
                    routing_key=envelope.routing_key,
                    properties=amqp.properties(envelope),
                    mandatory=False,
                    wait=False,
                    timeout=self._confirm_timeout,
                )
                for envelope in envelopes
            ),
            return_exceptions=True,
        )
        return [amqp.result_of(r) for r in results]

    # ------------------------------------------------------------------ consuming

    async def consume(self, queue: QueueSpec, handler: DeliveryHandler) -> None:
        if self._connection is None:
            raise RuntimeError("bus not started")
        channel = await self._connection.channel(publisher_confirms=True)
        await channel.set_qos(prefetch_count=self._prefetch)
        await self._declare_queue(channel, queue)
        consumer = _Consumer(self, channel, queue.name, handler)
        await consumer.start()
        # After a reconnect the robust channel declares the queue again, then calls these.
        channel.reopen_callbacks.add(consumer.restart)
        self._consumers.append(consumer)

    async def _on_message(
        self,
        queue: str,
        handler: DeliveryHandler,
        channel: AbstractChannel,
        message: amqp.RawDelivery,
    ) -> None:
        task = asyncio.current_task()
        if task is not None:
            self._in_flight.add(task)
        try:
            headers = amqp.text_headers(message.properties.headers)
            envelope = Envelope(
                message_id=message.message_id,
                routing_key=headers.get(amqp.ORIGINAL_ROUTING_KEY) or message.routing_key,
                body=message.body,
                headers=headers,
                exchange=self._unprefixed(
                    headers.get(amqp.ORIGINAL_EXCHANGE) or message.exchange or ""
                ),
            )
            attempt = int(headers.get(amqp.ATTEMPT, "1"))
            try:
                await handler(Delivery(envelope, queue, attempt))
            except Exception as error:
                await self._retry_or_dead_letter(channel, queue, message, envelope, attempt, error)
            else:
                await amqp.settle(message.ack())
        finally:
            if task is not None:
                self._in_flight.discard(task)

    async def _retry_or_dead_letter(
        self,
        channel: AbstractChannel,
        queue: str,
        message: amqp.RawDelivery,
        envelope: Envelope,
        attempt: int,
        error: Exception,
    ) -> None:
        reason = f"{type(error).__name__}: {error}"[:2000]
        headers: dict[str, Any] = {
            k: v for k, v in (message.headers or {}).items() if k not in amqp.FAILURE_HEADERS
        }
        headers[amqp.ORIGINAL_ROUTING_KEY] = envelope.routing_key
        headers[amqp.ORIGINAL_EXCHANGE] = self.name(envelope.exchange)
        headers[amqp.LAST_ERROR] = reason
        try:
            if attempt < self._retry.max_attempts:
                delay = self._retry.delay(attempt)
                headers[amqp.ATTEMPT] = attempt + 1
                target = channel.default_exchange
                routing_key = self.name(retry_queue_name(queue, delay))
                log.warning(
                    "delivery failed; retrying",
                    queue=queue,
                    message_id=envelope.message_id,
                    attempt=attempt,
                    retry_in=delay,
                    error=reason,
                )
            else:
                headers.update(
                    {
                        amqp.ERROR: reason,
                        amqp.ATTEMPT: attempt,
                        amqp.FAILED_AT: datetime.now(UTC).isoformat(),
                        amqp.QUEUE: queue,
                    }
                )
                target = await channel.get_exchange(self.name(DEAD_LETTER_EXCHANGE), ensure=False)
                routing_key = self.name(queue)
                log.error(
                    "delivery failed for the last time; dead-lettered",
                    queue=queue,
                    message_id=envelope.message_id,
                    attempts=attempt,
                    error=reason,
                )
            await target.publish(amqp.copy_of(message, headers), routing_key=routing_key)
        except Exception:
            # The copy is not confirmed: leave the original unacknowledged; the broker
            # hands it out again (now, or after the reconnect).
            log.exception("could not schedule retry; redelivering", queue=queue)
            await amqp.settle(message.nack(requeue=True))
            return
        await amqp.settle(message.ack())

    # ------------------------------------------------------------------ operations

    def _dlq_names(self, queue: str | None) -> list[str]:
        return [queue] if queue else list(self._queues)

    async def _operations_channel(self, *, confirms: bool) -> AbstractChannel:
        if self._connection is None:
            raise RuntimeError("bus not started")
        return await self._connection.channel(publisher_confirms=confirms)

    async def queue_depths(self) -> dict[str, int]:
        depths: dict[str, int] = {}
        channel = await self._operations_channel(confirms=False)
        try:
            for queue in self._queues:
                for name in (queue, dlq_name(queue)):
                    declared = await channel.declare_queue(self.name(name), passive=True)
                    depths[name] = amqp.message_count(declared)
        finally:
            await channel.close()
        return depths

    async def dead_letters(self, queue: str | None = None, limit: int = 100) -> list[DeadLetter]:
        found: list[DeadLetter] = []
        # Messages fetched without acknowledgement return to the queue, in place, when
        # the channel closes: listing removes nothing.
        channel = await self._operations_channel(confirms=False)
        try:
            for name in self._dlq_names(queue):
                dlq = await channel.declare_queue(self.name(dlq_name(name)), passive=True)
                while len(found) < limit:
                    message = await dlq.get(no_ack=False, fail=False)
                    if message is None:
                        break
                    found.append(self._dead_letter(name, message))
        finally:
            await channel.close()
        return found

    def _dead_letter(self, queue: str, message: AbstractIncomingMessage) -> DeadLetter:
        headers = amqp.text_headers(message.headers)
        routing_key, exchange = amqp.origin(message)
        failed_at = headers.get(amqp.FAILED_AT)
        return DeadLetter(
            queue=queue,
            message_id=message.message_id or "",
            exchange=self._unprefixed(exchange),
            routing_key=routing_key,
            headers=headers,
            body=message.body,
            error=headers.get(amqp.ERROR) or amqp.death_reason(message),
            attempts=int(headers.get(amqp.ATTEMPT, "0")),
            failed_at=datetime.fromisoformat(failed_at) if failed_at else None,
        )

    async def replay_dead_letters(
        self, queue: str | None = None, message_ids: Sequence[str] = ()
    ) -> int:
        wanted = set(message_ids)
        replayed = 0
        channel = await self._operations_channel(confirms=True)
        try:
            for name in self._dlq_names(queue):
                dlq = await channel.declare_queue(self.name(dlq_name(name)), passive=True)
                for _ in range(amqp.message_count(dlq)):
                    message = await dlq.get(no_ack=False, fail=False)
                    if message is None:
                        break
                    if wanted and message.message_id not in wanted:
                        continue  # stays unacknowledged: back in the DLQ when we close
                    routing_key, exchange = amqp.origin(message)
                    headers: dict[str, Any] = {
                        k: v
                        for k, v in (message.headers or {}).items()
                        if k not in amqp.FAILURE_HEADERS and k != amqp.QUEUE
                    }
                    headers[amqp.ORIGINAL_ROUTING_KEY] = routing_key
                    headers[amqp.ORIGINAL_EXCHANGE] = exchange
                    await channel.default_exchange.publish(
                        amqp.copy_of(message, headers), routing_key=self.name(name)
                    )
                    await message.ack()
                    replayed += 1
        finally:
            await channel.close()
        return replayed

    async def purge_dead_letters(self, queue: str | None = None) -> int:
        purged = 0
        channel = await self._operations_channel(confirms=False)
        try:
            for name in self._dlq_names(queue):
                dlq = await channel.declare_queue(self.name(dlq_name(name)), passive=True)
                result = await dlq.purge()
                purged += int(result.message_count or 0)
        finally:
            await channel.close()
        return purged

    async def delete_all(self) -> None:
        """Delete every exchange and queue this bus declared (tests with a name prefix)."""
        channel = await self._operations_channel(confirms=False)
        try:
            for spec in self._queues.values():
                names = [spec.name, dlq_name(spec.name)]
                names += [retry_queue_name(spec.name, d) for d in set(self._retry.delays())]
                for name in names:
                    await channel.queue_delete(self.name(name))
            for exchange in (*EXCHANGES, DEAD_LETTER_EXCHANGE):
                await channel.exchange_delete(self.name(exchange))
        finally:
            await channel.close()


class _Consumer:
    """One queue's consumer on the aiormq channel under a robust aio-pika channel."""

    def __init__(
        self, bus: RabbitMQBus, channel: AbstractChannel, queue: str, handler: DeliveryHandler
    ) -> None:
        self.bus = bus
        self.channel = channel
        self.queue = queue
        self.handler = handler
        self.tag: str | None = None
        self.cancelled = False

    async def start(self) -> None:
        underlay = await self.channel.get_underlay_channel()

        async def deliver(message: DeliveredMessage) -> None:
            await self.bus._on_message(
                self.queue, self.handler, self.channel, amqp.RawDelivery(underlay, message)
            )

        result = await underlay.basic_consume(self.bus.name(self.queue), deliver)
        self.tag = result.consumer_tag

    async def restart(self, *_: object) -> None:
        if not self.cancelled:
            await self.start()

    async def cancel(self) -> None:
        self.cancelled = True
        if self.tag is None:
            return
        with contextlib.suppress(Exception):
            underlay = await asyncio.wait_for(self.channel.get_underlay_channel(), 2)
            await asyncio.wait_for(underlay.basic_cancel(self.tag), 2)


async def check_rabbitmq(url: str, timeout_seconds: float = 2.0) -> tuple[bool, str]:
    """For /health: can a connection be opened now? (A short-lived one: the API process
    holds no bus of its own.)"""
    connection = aio_pika.Connection(URL(url))
    try:
        await connection.connect(timeout=timeout_seconds)
    except Exception as error:
        with contextlib.suppress(Exception):
            await connection.close()
        return False, f"unreachable: {type(error).__name__}"
    try:
        version = connection.transport.connection.server_properties.get("version", "")  # type: ignore[union-attr]
    except AttributeError:
        version = ""
    with contextlib.suppress(Exception):
        await connection.close()
    return True, f"reachable (RabbitMQ {amqp.text_of(version)})" if version else "reachable"
