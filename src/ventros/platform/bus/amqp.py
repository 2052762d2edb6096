"""AMQP message details of the RabbitMQ adapter: properties, headers, outcomes."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Mapping, Sequence
from typing import Any

import aio_pika
import aiormq
import structlog
from aio_pika.abc import AbstractIncomingMessage, AbstractQueue
from aiormq.abc import ChannelFrame, DeliveredMessage
from pamqp.commands import Basic
from pamqp.header import ContentHeader

from ventros.platform.bus import CONFIRMED, Envelope, Outcome, PublishResult

log = structlog.get_logger(__name__)

ATTEMPT = "x-attempt"
ORIGINAL_ROUTING_KEY = "x-original-routing-key"
ORIGINAL_EXCHANGE = "x-original-exchange"
LAST_ERROR = "x-last-error"
ERROR = "x-error"
FAILED_AT = "x-failed-at"
QUEUE = "x-queue"
# Headers of a failed delivery that a replayed message must not carry on.
FAILURE_HEADERS = (ATTEMPT, LAST_ERROR, ERROR, FAILED_AT, "x-death", "x-first-death-exchange")


def properties(envelope: Envelope) -> Basic.Properties:
    return Basic.Properties(
        content_type="application/json",
        delivery_mode=2,  # persistent
        message_id=envelope.message_id,
        message_type=envelope.routing_key,
        headers=dict(envelope.headers),
        app_id="ventros",
    )


def can_write_batches(channel: aiormq.Channel) -> bool:
    """Whether this aiormq channel has the internals `publish_batch` relies on."""
    return bool(getattr(channel, "publisher_confirms", False)) and all(
        hasattr(channel, name)
        for name in (
            "lock",
            "delivery_tag",
            "confirmations",
            "write_queue",
            "create_future",
            "_split_body",
            "number",
        )
    )


async def publish_batch(
    channel: aiormq.Channel,
    messages: Sequence[tuple[str, Envelope]],
    *,
    timeout_seconds: float,
) -> list[PublishResult]:
    """Publish (exchange, envelope) pairs in one socket write, then await every confirm.

    aiormq's `basic_publish` hands each message to its writer on its own, so a window of
    500 costs 500 socket writes: on a small machine those, not the broker, cap publishing
    at a few thousand per second. These are the same frames, delivery tags and
    confirmation futures as `basic_publish` makes, under the same channel lock (so they
    are numbered and sent in order), written at once.
    """
    results: list[PublishResult | None] = [None] * len(messages)
    waiting: list[tuple[int, asyncio.Future[Any]]] = []
    frames: list[Any] = []
    async with channel.lock:
        if channel.is_closed:
            return [PublishResult(Outcome.UNCONFIRMED, "channel closed")] * len(messages)
        for index, (exchange, envelope) in enumerate(messages):
            if len(envelope.routing_key.encode()) > 255:
                results[index] = PublishResult(Outcome.REJECTED, "routing key over 255 bytes")
                continue
            channel.delivery_tag += 1
            confirmation = channel.create_future()
            channel.confirmations[channel.delivery_tag] = confirmation
            waiting.append((index, confirmation))
            frames.append(
                Basic.Publish(exchange=exchange, routing_key=envelope.routing_key, mandatory=False)
            )
            frames.append(
                ContentHeader(properties=properties(envelope), body_size=len(envelope.body))
            )
            frames.extend(channel._split_body(envelope.body))
        if frames:
            await channel.write_queue.put(
                ChannelFrame.marshall(channel_number=channel.number, frames=frames)
            )
    futures = [f for _, f in waiting]
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(
            asyncio.shield(asyncio.gather(*futures, return_exceptions=True)), timeout_seconds
        )
    for index, future in waiting:
        if not future.done():
            future.cancel()  # the broker may still confirm it: then it is published twice
            results[index] = PublishResult(Outcome.UNCONFIRMED, "no confirm in time")
        elif future.cancelled():
            results[index] = PublishResult(Outcome.UNCONFIRMED, "channel closed")
        else:
            results[index] = result_of(future.exception() or future.result())
    return [r if r is not None else PublishResult(Outcome.UNCONFIRMED, "") for r in results]


def result_of(result: object) -> PublishResult:
    if isinstance(result, aiormq.exceptions.DeliveryError):
        return PublishResult(Outcome.REJECTED, f"broker refused the message: {result.frame!r}")
    if isinstance(result, BaseException):
        return PublishResult(Outcome.UNCONFIRMED, repr(result))
    return CONFIRMED


class RawDelivery:
    """A delivered message without aio-pika's `IncomingMessage`, which costs more CPU than
    everything else a consumer does with a message (it is built field by field)."""

    __slots__ = ("body", "channel", "delivery_tag", "exchange", "properties", "routing_key")

    def __init__(self, channel: aiormq.abc.AbstractChannel, message: DeliveredMessage) -> None:
        self.channel = channel
        self.body: bytes = message.body
        self.properties = message.header.properties
        delivery = message.delivery  # a Basic.Deliver for consumers
        self.delivery_tag: int = getattr(delivery, "delivery_tag", 0) or 0
        self.routing_key: str = getattr(delivery, "routing_key", "") or ""
        self.exchange: str = getattr(delivery, "exchange", "") or ""

    @property
    def headers(self) -> dict[str, Any]:
        return dict(self.properties.headers or {})

    @property
    def message_id(self) -> str:
        return self.properties.message_id or ""

    async def ack(self) -> None:
        # No wait for the socket drain: an ack lost with the connection only means a
        # redelivery, which consumers absorb.
        await self.channel.basic_ack(self.delivery_tag, wait=False)

    async def nack(self, *, requeue: bool = True) -> None:
        await self.channel.basic_nack(self.delivery_tag, requeue=requeue)


def copy_of(
    message: RawDelivery | AbstractIncomingMessage, headers: dict[str, Any]
) -> aio_pika.Message:
    props = message.properties if isinstance(message, RawDelivery) else None
    return aio_pika.Message(
        message.body,
        headers=headers,
        content_type=props.content_type if props else message.content_type,  # type: ignore[union-attr]
        delivery_mode=aio_pika.DeliveryMode.PERSISTENT,
        message_id=message.message_id or None,
        type=props.message_type if props else message.type,  # type: ignore[union-attr]
        app_id=props.app_id if props else message.app_id,  # type: ignore[union-attr]
    )


def text_of(value: object) -> str:
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace")
    return str(value)


def text_headers(headers: Mapping[str, Any] | None) -> dict[str, str]:
    return {k: text_of(v) for k, v in (headers or {}).items() if k != "x-death"}


def origin(message: AbstractIncomingMessage) -> tuple[str, str]:
    """Routing key and exchange the message was first published with."""
    headers = message.headers or {}
    if ORIGINAL_ROUTING_KEY in headers:
        return text_of(headers[ORIGINAL_ROUTING_KEY]), text_of(headers.get(ORIGINAL_EXCHANGE, ""))
    deaths = headers.get("x-death")
    if isinstance(deaths, list) and deaths and isinstance(deaths[-1], Mapping):
        first = deaths[-1]  # the oldest death is last
        keys = first.get("routing-keys")
        key = text_of(keys[0]) if isinstance(keys, list) and keys else ""
        return key, text_of(first.get("exchange", ""))
    return message.routing_key or "", message.exchange or ""


def death_reason(message: AbstractIncomingMessage) -> str:
    deaths = (message.headers or {}).get("x-death")
    if isinstance(deaths, list) and deaths and isinstance(deaths[0], Mapping):
        return f"dead-lettered by the broker: {text_of(deaths[0].get('reason', 'unknown'))}"
    return "unknown"


def message_count(queue: AbstractQueue) -> int:
    result = queue.declaration_result
    return int(result.message_count or 0) if result is not None else 0


async def settle(settling: Any) -> None:
    """Ack/nack; on a dead channel the broker redelivers anyway, so that is not an error."""
    try:
        await settling
    except Exception as error:
        log.warning("could not settle a delivery; the broker will redeliver it", error=repr(error))
