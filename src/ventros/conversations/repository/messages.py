"""Persistence of messages."""

from __future__ import annotations

import json
import uuid
from typing import Any

from sqlalchemy import (
    Row,
    Select,
    select,
    text,
    tuple_,
)
from sqlalchemy.dialects.postgresql import insert

from ventros.conversations.domain import (
    Direction,
    Message,
    MessageContent,
    MessageStatus,
    MessageType,
)
from ventros.conversations.repository.tables import messages
from ventros.platform.db import text_array_from_json, unnest_arrays
from ventros.platform.uow import UnitOfWork


def _message_values(message: Message) -> dict[str, Any]:
    content = message.content
    return {
        "id": message.id,
        "tenant_id": message.tenant_id,
        "channel_id": message.channel_id,
        "session_id": message.session_id,
        "contact_id": message.contact_id,
        "direction": message.direction.value,
        "type": content.type.value,
        "status": message.status.value,
        "text": content.text,
        "caption": content.caption,
        "media": content.media,
        "location": content.location,
        "vcards": list(content.vcards),
        "participant": message.participant,
        "external_id": message.external_id,
        "wa_id": message.wa_id,
        "chat_id": message.chat_id,
        "source": message.source,
        "reply_to": message.reply_to,
        "referral": message.referral,
        "reactions": message.reactions,
        "revoked": message.is_revoked,
        "revoked_at": message.revoked_at,
        "error": message.error,
        "created_at": message.created_at,
        "received_at": message.received_at,
        "sent_at": message.sent_at,
        "delivered_at": message.delivered_at,
        "read_at": message.read_at,
        "send_at": message.send_at,
        "author_id": message.author_id,
    }


def _message_from_row(row: Row[Any]) -> Message:
    return Message(
        id=row.id,
        tenant_id=row.tenant_id,
        channel_id=row.channel_id,
        session_id=row.session_id,
        contact_id=row.contact_id,
        direction=Direction(row.direction),
        content=MessageContent(
            type=MessageType(row.type),
            text=row.text,
            caption=row.caption,
            media=row.media,
            location=row.location,
            vcards=tuple(row.vcards),
        ),
        status=MessageStatus(row.status),
        created_at=row.created_at,
        external_id=row.external_id,
        wa_id=row.wa_id,
        chat_id=row.chat_id,
        participant=row.participant,
        source=row.source,
        reply_to=row.reply_to,
        referral=row.referral,
        reactions=list(row.reactions),
        revoked_at=row.revoked_at,
        error=row.error,
        sent_at=row.sent_at,
        delivered_at=row.delivered_at,
        read_at=row.read_at,
        received_at=row.received_at,
        send_at=row.send_at,
        author_id=row.author_id,
    )


# Many messages in one statement (platform.db.unnest_arrays). JSON columns travel as JSON
# text (None as JSON null); `vcards` (text[]) as a JSON array of strings.
_JSON_COLUMNS = frozenset(("media", "location", "referral", "reactions", "vcards"))
_COLUMNS = [column.name for column in messages.columns]


def _inserted(name: str) -> str:
    if name == "vcards":
        return text_array_from_json("r.vcards")
    return f"CAST(r.{name} AS jsonb)" if name in _JSON_COLUMNS else f"r.{name}"


_COLUMN_LIST = ", ".join(_COLUMNS)
_SELECTED = ", ".join(_inserted(name) for name in _COLUMNS)
_ARRAYS = unnest_arrays(messages, _COLUMNS, as_json=_JSON_COLUMNS)
_INSERT_MANY = text(
    f"INSERT INTO messages ({_COLUMN_LIST}) SELECT {_SELECTED} "  # noqa: S608 - constant SQL
    f"FROM unnest({_ARRAYS}) AS r({_COLUMN_LIST}) "
    "ON CONFLICT (channel_id, external_id) WHERE external_id IS NOT NULL DO NOTHING "
    "RETURNING id"
)


# Which of these external ids a channel has stored: one probe of the unique index per id,
# so the cost follows the batch, not the channel's history. The plain form
# (`channel_id = :c AND external_id = ANY(:ids)`) lets the planner pick an index on
# `channel_id` alone and filter every message of the channel against the array — without
# statistics (no ANALYZE yet) and in the generic plan of the prepared statement it did,
# at ~135 ms a batch for 30,000 messages, growing with every message stored. The LATERAL
# subquery with its LIMIT cannot be flattened into a join, so it stays a nested loop whose
# inner side is an equality lookup on both columns of `uq_messages_channel_id_external_id`.
# An array, not an IN list: one statement text whatever the number (prepared once).
_EXISTING_EXTERNAL_IDS = text(
    """
    SELECT m.external_id
    FROM unnest(CAST(:external_ids AS text[])) AS wanted(external_id)
    CROSS JOIN LATERAL (
        SELECT messages.external_id FROM messages
        WHERE messages.channel_id = :channel_id AND messages.external_id = wanted.external_id
          AND messages.external_id IS NOT NULL
        LIMIT 1
    ) AS m
    """
)


class MessageRepository:
    def __init__(self, uow: UnitOfWork) -> None:
        self._uow = uow

    async def exists(self, *, channel_id: uuid.UUID, external_id: str) -> bool:
        query = select(messages.c.id).where(
            messages.c.channel_id == channel_id, messages.c.external_id == external_id
        )
        return (await self._uow.connection.execute(query)).first() is not None

    async def existing_external_ids(
        self, *, channel_id: uuid.UUID, external_ids: list[str]
    ) -> set[str]:
        if not external_ids:
            return set()
        params = {"channel_id": channel_id, "external_ids": sorted(set(external_ids))}
        result = await self._uow.connection.execute(_EXISTING_EXTERNAL_IDS, params)
        return set(result.scalars())

    async def add_many(self, new: list[Message]) -> bool:
        """One multi-row insert; False when one of them (same channel and external id) was
        stored meanwhile by another transaction (nothing is tracked then)."""
        if not new:
            return True
        rows = [_message_values(message) for message in new]
        params = {
            name: [json.dumps(row[name]) if name in _JSON_COLUMNS else row[name] for row in rows]
            for name in _COLUMNS
        }
        result = await self._uow.connection.execute(_INSERT_MANY, params)
        inserted = set(result.scalars())
        if len(inserted) != len(new):
            return False
        for message in new:
            self._uow.track(message)
        return True

    async def add(self, message: Message) -> bool:
        """False when a message with the same channel and external id is already stored."""
        statement = (
            insert(messages)
            .values(**_message_values(message))
            .on_conflict_do_nothing(
                index_elements=["channel_id", "external_id"],
                index_where=text("external_id IS NOT NULL"),
            )
            .returning(messages.c.id)
        )
        added = (await self._uow.connection.execute(statement)).scalar() is not None
        if added:
            self._uow.track(message)
        return added

    async def save_state(self, message: Message) -> None:
        """What can change after a message is stored: status, reactions, revocation."""
        statement = (
            messages.update()
            .where(messages.c.id == message.id)
            .values(
                status=message.status.value,
                error=message.error,
                sent_at=message.sent_at,
                delivered_at=message.delivered_at,
                read_at=message.read_at,
                reactions=message.reactions,
                revoked=message.is_revoked,
                revoked_at=message.revoked_at,
            )
        )
        await self._uow.connection.execute(statement)
        self._uow.track(message)

    async def replace_scheduled(self, message: Message) -> bool:
        """A scheduled message becomes the message it was waiting to be (its session, its
        content, `pending`); False when it is no longer scheduled (cancelled, or sent)."""
        values = _message_values(message)
        del values["id"], values["tenant_id"]
        statement = (
            messages.update()
            .where(
                messages.c.id == message.id,
                messages.c.status == MessageStatus.SCHEDULED.value,
            )
            .values(**values)
            .returning(messages.c.id)
        )
        replaced = (await self._uow.connection.execute(statement)).scalar() is not None
        if replaced:
            self._uow.track(message)
        return replaced

    async def delete_scheduled(self, message_id: uuid.UUID) -> bool:
        """A cancelled scheduled message goes; False when it was sent or failed already."""
        statement = (
            messages.delete()
            .where(
                messages.c.id == message_id,
                messages.c.status == MessageStatus.SCHEDULED.value,
            )
            .returning(messages.c.id)
        )
        return (await self._uow.connection.execute(statement)).scalar() is not None

    async def list_by_status(
        self, *, status: MessageStatus | None, limit: int, before: uuid.UUID | None
    ) -> list[Message]:
        """Newest first (ids are time-ordered); `before` is the last id seen."""
        query: Select[Any] = select(messages)
        if status is not None:
            query = query.where(messages.c.status == status.value)
        if before is not None:
            query = query.where(messages.c.id < before)
        query = query.order_by(messages.c.id.desc()).limit(limit)
        return [_message_from_row(row) for row in await self._uow.connection.execute(query)]

    async def get(self, message_id: uuid.UUID, *, for_update: bool = False) -> Message | None:
        query = select(messages).where(messages.c.id == message_id)
        if for_update:
            query = query.with_for_update()
        row = (await self._uow.connection.execute(query)).first()
        return self._uow.track(_message_from_row(row)) if row else None

    async def find_by_external_id(
        self, *, channel_id: uuid.UUID, external_id: str
    ) -> Message | None:
        query = (
            select(messages)
            .where(messages.c.channel_id == channel_id, messages.c.external_id == external_id)
            .with_for_update()
        )
        row = (await self._uow.connection.execute(query)).first()
        return self._uow.track(_message_from_row(row)) if row else None

    async def find_by_wa_id(
        self, *, channel_id: uuid.UUID, wa_id: str, chat_id: str | None
    ) -> Message | None:
        query = select(messages).where(
            messages.c.channel_id == channel_id, messages.c.wa_id == wa_id
        )
        if chat_id is not None:
            query = query.where(messages.c.chat_id == chat_id)
        row = (await self._uow.connection.execute(query.limit(1).with_for_update())).first()
        return self._uow.track(_message_from_row(row)) if row else None

    async def list_for_session(
        self, session_id: uuid.UUID, *, limit: int, after: uuid.UUID | None
    ) -> list[Message]:
        """Oldest first by WhatsApp time (ties by id); `after` is the last message seen."""
        query: Select[Any] = select(messages).where(messages.c.session_id == session_id)
        if after is not None:
            cursor = (
                select(messages.c.created_at, messages.c.id)
                .where(messages.c.id == after)
                .subquery()
            )
            query = query.where(
                tuple_(messages.c.created_at, messages.c.id)
                > select(cursor.c.created_at, cursor.c.id).scalar_subquery()
            )
        query = query.order_by(messages.c.created_at, messages.c.id).limit(limit)
        return [_message_from_row(row) for row in await self._uow.connection.execute(query)]
