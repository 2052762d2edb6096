"""The WhatsApp sender consumer: `message.sending` → WAHA → `message.sent` / `message.failed`.

Runs in the consumer framework's unit of work for the event (claimed once per event), so
the outcome and the "handled" mark commit together. A message is sent only while it is
`pending` with no WhatsApp id, and only within its deadline (VENTROS_WAHA_SEND_DEADLINE_
SECONDS from when it was written, 2 minutes by default): a redelivered event finds it sent
or failed and does nothing, and one redelivered after the deadline fails it instead of
sending late.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from functools import lru_cache
from typing import Any

from sqlalchemy import delete, update

from ventros.channels import service as channels
from ventros.channels.sender import ChannelTarget, Sender, SenderPolicy, SendFailed
from ventros.channels.waha_client import OutgoingContent, SentId, WahaClient, WahaTarget
from ventros.conversations import events
from ventros.conversations.batch import apply_waiting_updates
from ventros.conversations.domain import Message, MessageStatus
from ventros.conversations.repository import MessageRepository, messages
from ventros.kernel.clock import utcnow
from ventros.kernel.events import DomainEvent
from ventros.platform.consumers import Consumer
from ventros.platform.crypto import SecretBox
from ventros.platform.ratelimit import RateLimits
from ventros.platform.settings import Settings
from ventros.platform.uow import UnitOfWork

CONSUMER_NAME = "conversations.send_whatsapp"


@lru_cache(maxsize=1)
def _process_sender() -> tuple[Sender, SecretBox]:
    """This process's sender (built on first use, from the environment)."""
    settings = Settings()
    client = WahaClient.create(timeout_seconds=settings.waha_timeout_seconds)
    sender = Sender(client, RateLimits(settings.redis_url), SenderPolicy.from_settings(settings))
    return sender, SecretBox.from_secret(settings.resolved_secret_key())


class WhenMessageSendingSendThroughWaha:
    def __init__(self, build: Callable[[], tuple[Sender, SecretBox]] = _process_sender) -> None:
        self._build = build

    async def __call__(self, event: DomainEvent, tx: UnitOfWork) -> None:
        sender, box = self._build()
        repository = MessageRepository(tx)
        message = await repository.get(uuid.UUID(str(event.payload["message_id"])))
        if message is None or message.status is not MessageStatus.PENDING or message.external_id:
            return  # gone, or handled before
        now = utcnow()
        channel = await channels.channel_for_ingest(tx, box, message.channel_id)
        if channel is None:
            message.apply_status(MessageStatus.FAILED, at=now, error="the channel was deleted")
            await repository.save_state(message)
            return
        elapsed = (now - message.created_at).total_seconds()
        remaining = sender.policy.deadline_seconds - elapsed
        if remaining <= 0:
            message.apply_status(MessageStatus.FAILED, at=now, error="not sent before the deadline")
            await repository.save_state(message)
            return
        target = ChannelTarget(
            channel.id,
            WahaTarget(channel.base_url, channel.waha_session, channel.api_key),
            channel.rate_limit_per_minute,
        )
        content = OutgoingContent(**_content(event.payload))
        try:
            sent = await sender.send(
                target,
                message.chat_id or str(event.payload["chat_id"]),
                content,
                deadline_seconds=remaining,
            )
        except SendFailed as failure:
            message.apply_status(MessageStatus.FAILED, at=utcnow(), error=failure.error)
            await repository.save_state(message)
            return
        await record_sent(tx, message, sent)


def _content(payload: dict[str, Any]) -> dict[str, Any]:
    fields = OutgoingContent.__dataclass_fields__
    return {k: v for k, v in dict(payload["content"]).items() if k in fields}


async def record_sent(tx: UnitOfWork, message: Message, sent: SentId) -> None:
    """Stores WhatsApp's id on the message, marks it sent, and applies the acks that came
    first. If WAHA's `message.any` copy of it was ingested before (as a message sent from
    elsewhere), the copy's news moves onto this message and the copy goes."""
    repository = MessageRepository(tx)
    copy = await repository.find_by_external_id(
        channel_id=message.channel_id, external_id=sent.serialized
    )
    if copy is not None and copy.id != message.id:
        await tx.connection.execute(delete(messages).where(messages.c.id == copy.id))
    await tx.connection.execute(
        update(messages)
        .where(messages.c.id == message.id)
        .values(external_id=sent.serialized, wa_id=sent.wa_id)
    )
    message.external_id, message.wa_id = sent.serialized, sent.wa_id
    now = utcnow()
    message.apply_status(MessageStatus.SENT, at=now)
    if copy is not None and copy.id != message.id and copy.status is not MessageStatus.SENT:
        message.apply_status(copy.status, at=copy.delivered_at or now, error=copy.error)
    await repository.save_state(message)
    await apply_waiting_updates(tx, message)


CONSUMERS = [
    Consumer(CONSUMER_NAME, (events.MESSAGE_SENDING,), WhenMessageSendingSendThroughWaha()),
]
