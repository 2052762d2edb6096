"""Conversations' reactions to other contexts' events."""

from __future__ import annotations

import uuid

from ventros.channels.events import CHANNEL_DELETED
from ventros.conversations import service
from ventros.kernel.events import DomainEvent
from ventros.platform.consumers import Consumer
from ventros.platform.uow import UnitOfWork


async def when_channel_deleted_close_sessions(event: DomainEvent, tx: UnitOfWork) -> None:
    """A deleted channel's open sessions close with reason `channel_deleted`."""
    await service.close_channel_sessions(tx, uuid.UUID(str(event.payload["channel_id"])))


CONSUMERS = [
    Consumer(
        "conversations.close_sessions_of_deleted_channel",
        (CHANNEL_DELETED,),
        when_channel_deleted_close_sessions,
    ),
]
