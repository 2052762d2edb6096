"""Outbound use cases: send a message now, schedule one, cancel a scheduled one.

Sending answers before WhatsApp is reached: the message is stored `pending` with
`message.sending` in the outbox, in one transaction; the sender consumer
(`handlers/sending.py`) calls WAHA and records `sent` or `failed`. Scheduling starts a
Temporal workflow (`scheduling.py`) that runs `send_message_as` at `send_at`, with the
scheduled id as the message's id, so a retried activity creates nothing twice.
"""

from __future__ import annotations

import dataclasses
import uuid
from dataclasses import asdict, dataclass, replace
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import func, select

from ventros.channels import service as channels
from ventros.channels.domain import Channel
from ventros.channels.waha_client import OutgoingContent
from ventros.contacts import service as contacts
from ventros.contacts.domain import Contact
from ventros.conversations import events
from ventros.conversations.domain import (
    Direction,
    Message,
    MessageContent,
    MessageStatus,
    MessageType,
    Session,
)
from ventros.conversations.repository import MessageRepository, SessionRepository, messages
from ventros.conversations.service import lifecycle
from ventros.identity.domain import Principal
from ventros.kernel.clock import utcnow
from ventros.kernel.errors import NotFound, RuleViolation
from ventros.kernel.events import Actor, DomainEvent
from ventros.kernel.ids import new_id
from ventros.media import service as media
from ventros.platform.crypto import SecretBox
from ventros.platform.uow import UnitOfWork, UnitOfWorkFactory

WINDOW = timedelta(hours=24)
SENDABLE = ("text", "image", "audio", "video", "document", "location", "contact", "sticker")
_MEDIA = ("image", "audio", "video", "document", "sticker")
MAX_TEXT = 65_536


class OutsideWindow(RuleViolation):
    """No inbound message from the contact in the last 24 h on a channel that enforces it."""


@dataclass(frozen=True)
class SendMessage:
    contact_id: uuid.UUID
    type: str
    channel_id: uuid.UUID | None = None
    text: str | None = None
    media_url: str | None = None
    caption: str | None = None
    filename: str | None = None
    latitude: float | None = None
    longitude: float | None = None
    title: str | None = None
    vcard: str | None = None
    media_id: uuid.UUID | None = None  # a file kept by Ventros (POST /api/v1/media)

    def to_json(self) -> dict[str, Any]:
        data = asdict(self)
        data["contact_id"] = str(self.contact_id)
        data["channel_id"] = str(self.channel_id) if self.channel_id else None
        data["media_id"] = str(self.media_id) if self.media_id else None
        return data

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> SendMessage:
        values = dict(data)
        values["contact_id"] = uuid.UUID(str(values["contact_id"]))
        channel = values.get("channel_id")
        values["channel_id"] = uuid.UUID(str(channel)) if channel else None
        media = values.get("media_id")
        values["media_id"] = uuid.UUID(str(media)) if media else None
        return cls(**values)

    def outgoing(self) -> OutgoingContent:
        return OutgoingContent(
            type=self.type,
            text=self.text,
            media_url=self.media_url,
            caption=self.caption,
            filename=self.filename,
            latitude=self.latitude,
            longitude=self.longitude,
            title=self.title,
            vcard=self.vcard,
            media_id=str(self.media_id) if self.media_id else None,
        )


def validate(command: SendMessage) -> MessageContent:
    """The message content, or RuleViolation naming the missing field."""
    kind = command.type
    if kind not in SENDABLE:
        raise RuleViolation(f"type must be one of {', '.join(SENDABLE)}", field="type")
    if kind == "text":
        if not (command.text or "").strip():
            raise RuleViolation("a text message needs text", field="text")
        if len(command.text or "") > MAX_TEXT:
            raise RuleViolation("text is too long", field="text")
        return MessageContent(type=MessageType.TEXT, text=command.text)
    if kind in _MEDIA and command.media_id is not None:
        if command.media_url:
            raise RuleViolation("give media_id or media_url, not both", field="media_id")
        media = {"url": None, "media_id": str(command.media_id), "filename": command.filename}
        return MessageContent(type=MessageType(kind), caption=command.caption, media=media)
    if kind in _MEDIA:
        url = (command.media_url or "").strip()
        if not url.startswith(("http://", "https://")):
            raise RuleViolation(f"a {kind} message needs an http(s) media_url", field="media_url")
        media = {"url": url, "mimetype": None, "filename": command.filename}
        return MessageContent(type=MessageType(kind), caption=command.caption, media=media)
    if kind == "location":
        lat, lon = command.latitude, command.longitude
        if lat is None or lon is None or not (-90 <= lat <= 90 and -180 <= lon <= 180):
            raise RuleViolation("a location needs a valid latitude and longitude", field="latitude")
        location = {"latitude": lat, "longitude": lon, "title": command.title}
        return MessageContent(type=MessageType.LOCATION, location=location)
    if not (command.vcard or "").strip().upper().startswith("BEGIN:VCARD"):
        raise RuleViolation("a contact message needs a vcard", field="vcard")
    return MessageContent(type=MessageType.CONTACT, vcards=(command.vcard or "",))


# --------------------------------------------------------------------------- use cases


async def send_message(
    uow: UnitOfWorkFactory, principal: Principal, box: SecretBox, command: SendMessage
) -> Message:
    """Stores the message `pending` with `message.sending`; 404/422 before anything."""
    await contacts.get_contact(uow, principal, command.contact_id)  # 404 when not ours
    return await send_message_as(
        uow, box, principal.tenant_id, Actor.user(principal.user_id), command, writer=principal
    )


async def send_message_as(
    uow: UnitOfWorkFactory,
    box: SecretBox,
    tenant_id: uuid.UUID,
    actor: Actor,
    command: SendMessage,
    *,
    message_id: uuid.UUID | None = None,
    writer: Principal | None = None,
) -> Message:
    """The send use case for any actor (a user, or a scheduled message's workflow). With
    `message_id`, a second call returns the message the first one stored. A `writer` (the
    user sending now) must be allowed to write into the session (`Session.check_writer`)."""
    content = validate(command)
    async with uow(tenant_id, actor) as tx:
        scheduled = None
        if message_id is not None:
            existing = await MessageRepository(tx).get(message_id, for_update=True)
            if existing is not None and not existing.is_scheduled:
                return existing
            scheduled = existing
        contact = await _contact(tx, command.contact_id)
        channel = await _channel(tx, box, command)
        if command.media_id is not None:
            content = await _with_kept_file(tx, content, command.media_id)
        known_chat, last_inbound = await _inbound_facts(tx, contact.id, channel.id)
        now = utcnow()
        if channel.enforce_24h_window and (last_inbound is None or now - last_inbound > WINDOW):
            raise OutsideWindow(
                "outside the 24 h window: no message from the contact in the last 24 hours",
                field="contact_id",
            )
        chat_id = known_chat or _chat_id_of(contact)
        sessions = SessionRepository(tx)
        session = await sessions.find_open(contact_id=contact.id, channel_id=channel.id)
        is_new = session is None
        if session is None:
            session = Session.open(
                tenant_id=tenant_id, contact_id=contact.id, channel_id=channel.id, at=now
            )
        session.record_outbound(now, by_person=actor.type == "user")
        if is_new:
            await sessions.add(session)
        else:
            await sessions.save(session)
        if writer is not None:
            await lifecycle.authorize_write(tx, writer, session, "send into")
        message = compose(
            tenant_id=tenant_id,
            session=session,
            content=content,
            chat_id=chat_id,
            at=now,
            message_id=message_id,
            outgoing=command.outgoing(),
        )
        if scheduled is None:
            await MessageRepository(tx).add(message)
        else:
            await MessageRepository(tx).replace_scheduled(message)
        await tx.commit()
    return message


def compose(
    *,
    tenant_id: uuid.UUID,
    session: Session,
    content: MessageContent,
    chat_id: str,
    at: datetime,
    outgoing: OutgoingContent,
    message_id: uuid.UUID | None = None,
) -> Message:
    """A new outbound message, `pending`, raising `message.sending` (what the sender reads)."""
    message = Message.in_session(
        session,
        tenant_id=tenant_id,
        direction=Direction.OUTBOUND,
        content=content,
        status=MessageStatus.PENDING,
        at=at,
        message_id=message_id,
        chat_id=chat_id,
        source="api",
    )
    message.record(
        events.MESSAGE_SENDING,
        {
            "message_id": str(message.id),
            "session_id": str(session.id),
            "contact_id": str(session.contact_id),
            "channel_id": str(session.channel_id),
            "chat_id": chat_id,
            "type": content.type.value,
            "content": asdict(outgoing),
            "created_at": at.isoformat().replace("+00:00", "Z"),
        },
    )
    return message


async def _with_kept_file(
    tx: UnitOfWork, content: MessageContent, media_id: uuid.UUID
) -> MessageContent:
    """The message's media as the tenant's kept file says (404 for another tenant's)."""
    found = await media.media_in(tx, media_id)
    if found is None:
        raise NotFound("media not found")
    kept = found.message_media(filename=(content.media or {}).get("filename"))
    return dataclasses.replace(content, media=kept)


async def _contact(tx: UnitOfWork, contact_id: uuid.UUID) -> Contact:
    found = await contacts.contact_in(tx, contact_id)
    if found is None:
        raise NotFound("contact not found")
    return found


async def _channel(tx: UnitOfWork, box: SecretBox, command: SendMessage) -> Channel:
    channel_id = command.channel_id or await latest_channel_of(tx, command.contact_id)
    if channel_id is None:
        raise RuleViolation(
            "channel_id is required: the contact has no conversation yet", field="channel_id"
        )
    channel = await channels.channel_for_ingest(tx, box, channel_id)
    if channel is None:
        raise NotFound("channel not found")
    return channel


async def latest_channel_of(tx: UnitOfWork, contact_id: uuid.UUID) -> uuid.UUID | None:
    """The channel of the contact's latest message, if any."""
    query = (
        select(messages.c.channel_id)
        .where(messages.c.contact_id == contact_id)
        .order_by(messages.c.created_at.desc())
        .limit(1)
    )
    found = (await tx.connection.execute(query)).scalar()
    return uuid.UUID(str(found)) if found is not None else None


async def _inbound_facts(
    tx: UnitOfWork, contact_id: uuid.UUID, channel_id: uuid.UUID
) -> tuple[str | None, datetime | None]:
    """The chat id WhatsApp used for the contact (a pre-2012 Brazilian number keeps its
    12-digit id), and when the contact last wrote on the channel."""
    last = (
        await tx.connection.execute(
            select(func.max(messages.c.created_at)).where(
                messages.c.contact_id == contact_id,
                messages.c.channel_id == channel_id,
                messages.c.direction == Direction.INBOUND.value,
            )
        )
    ).scalar()
    chat = (
        await tx.connection.execute(
            select(messages.c.chat_id)
            .where(
                messages.c.contact_id == contact_id,
                messages.c.channel_id == channel_id,
                messages.c.direction == Direction.INBOUND.value,
                messages.c.chat_id.is_not(None),
            )
            .order_by(messages.c.created_at.desc())
            .limit(1)
        )
    ).scalar()
    return chat, last


async def inbound_facts(
    tx: UnitOfWork, contact_id: uuid.UUID, channel_id: uuid.UUID
) -> tuple[str | None, datetime | None]:
    """(chat id, when the contact last wrote on the channel): what the 24 h window needs."""
    return await _inbound_facts(tx, contact_id, channel_id)


def chat_id_of(contact: Contact) -> str:
    return _chat_id_of(contact)


def verified_chat_id(contact: Contact) -> str | None:
    """The user chat id WhatsApp answered for the contact's number (check-exists), if asked."""
    whatsapp_id = contact.custom_fields.get("whatsapp_id")
    if isinstance(whatsapp_id, str) and whatsapp_id.endswith("@c.us"):
        return whatsapp_id
    return None


def _chat_id_of(contact: Contact) -> str:
    verified = verified_chat_id(contact)
    if verified is not None:
        return verified
    if contact.phone is not None:
        return contact.phone.whatsapp_chat_id()
    whatsapp_id = contact.custom_fields.get("whatsapp_id")
    if isinstance(whatsapp_id, str) and whatsapp_id:
        return whatsapp_id
    raise RuleViolation("the contact has no phone number to write to", field="contact_id")


# --------------------------------------------------------------------------- scheduling


def scheduled_event(
    tenant_id: uuid.UUID, actor: Actor, scheduled_id: uuid.UUID, command: SendMessage, at: datetime
) -> DomainEvent:
    return DomainEvent(
        name=events.MESSAGE_SCHEDULED,
        tenant_id=tenant_id,
        aggregate_type="message",
        aggregate_id=scheduled_id,
        payload={
            "message_id": str(scheduled_id),
            "contact_id": str(command.contact_id),
            "channel_id": str(command.channel_id) if command.channel_id else None,
            "type": command.type,
            "send_at": at.isoformat().replace("+00:00", "Z"),
        },
        actor=actor,
    )


async def record_scheduled(
    uow: UnitOfWorkFactory,
    principal: Principal,
    box: SecretBox,
    command: SendMessage,
    *,
    send_at: datetime,
) -> Message:
    """Stores the message `scheduled` (GET /messages/{id} shows it) and records
    `message.scheduled`; the caller starts the workflow. The 24 h window is checked when it
    is sent. An agent may schedule into their own or an unassigned open session."""
    content = validate(command)
    if send_at.tzinfo is None:
        raise RuleViolation("send_at needs a time zone", field="send_at")
    await contacts.get_contact(uow, principal, command.contact_id)
    actor = Actor.user(principal.user_id)
    async with uow(principal.tenant_id, actor) as tx:
        channel = await _channel(tx, box, command)
        if command.media_id is not None and await media.media_in(tx, command.media_id) is None:
            raise NotFound("media not found")
        session = await SessionRepository(tx).find_open(
            contact_id=command.contact_id, channel_id=channel.id
        )
        if session is not None:
            await lifecycle.authorize_write(tx, principal, session, "schedule into")
        message = Message.schedule(
            message_id=new_id(),
            tenant_id=principal.tenant_id,
            channel_id=channel.id,
            contact_id=command.contact_id,
            content=content,
            send_at=send_at,
            now=utcnow(),
        )
        await MessageRepository(tx).add(message)
        tx.add_event(
            scheduled_event(
                principal.tenant_id,
                actor,
                message.id,
                replace(command, channel_id=channel.id),
                send_at,
            )
        )
        await tx.commit()
    return message


async def fail_scheduled(
    uow: UnitOfWorkFactory, tenant_id: uuid.UUID, message_id: uuid.UUID, reason: str
) -> bool:
    """A scheduled message that cannot be sent at its time ends `failed` with the reason
    (`message.failed`); False when it is not waiting any more (sent, cancelled)."""
    async with uow(tenant_id, Actor.system()) as tx:
        repository = MessageRepository(tx)
        message = await repository.get(message_id, for_update=True)
        if message is None or not message.is_scheduled:
            return False
        message.fail_scheduled(reason, at=utcnow())
        await repository.save_state(message)
        await tx.commit()
    return True


async def cancel_scheduled(
    uow: UnitOfWorkFactory, principal: Principal, message_id: uuid.UUID
) -> bool:
    """Removes a cancelled scheduled message; False when it was not waiting any more."""
    async with uow(principal.tenant_id, Actor.user(principal.user_id)) as tx:
        removed = await MessageRepository(tx).delete_scheduled(message_id)
        await tx.commit()
    return removed
