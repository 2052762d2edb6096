"""The WhatsApp ingest (ProcessWAHAMessage): stored WAHA events become contacts, sessions
and messages — in one transaction per batch, with the batch's lookups made up front
(`ConversationBatch`). The worker that feeds it is `worker.py`.
"""

from __future__ import annotations

import functools
import re
import uuid
from collections import defaultdict
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from ventros.channels import service as channels
from ventros.channels import waha
from ventros.channels.domain import Channel, InboundEvent
from ventros.contacts import service as contacts
from ventros.contacts.domain import Contact, Phone
from ventros.conversations.batch import ConversationBatch
from ventros.conversations.domain import (
    Message,
    MessageContent,
    MessageStatus,
    MessageType,
    Session,
)
from ventros.conversations.service import csat
from ventros.identity.service import tenant_settings
from ventros.kernel.errors import RuleViolation
from ventros.kernel.tracing import TraceContext
from ventros.platform.crypto import SecretBox
from ventros.platform.tracing import span
from ventros.platform.uow import UnitOfWork
from ventros.tracking import service as tracking
from ventros.tracking.domain import AdReferral, Signals

INGESTED = "ingested"
DUPLICATE = "duplicate"
KEPT_FOR_LATER = "kept_for_later"  # an update whose message has not arrived yet

_ACK_STATUS = {
    "failed": MessageStatus.FAILED,
    "pending": MessageStatus.PENDING,
    "sent": MessageStatus.SENT,
    "delivered": MessageStatus.DELIVERED,
    "read": MessageStatus.READ,
}


def ignored(reason: str) -> str:
    return f"ignored: {reason}"[:500]


@dataclass
class _Item:
    """One stored event on its way: parsed, and its channel found."""

    event: InboundEvent
    parsed: waha.WahaEvent | None = None
    channel: Channel | None = None
    outcome: str | None = None  # decided before anything is written (ignored ...)


async def ingest_events(
    tx: UnitOfWork, events: list[InboundEvent], box: SecretBox
) -> dict[uuid.UUID, str]:
    """Applies stored WAHA events, in order, inside `tx`; returns each one's outcome.

    Lookups are made once for the whole batch (which messages are stored, their contacts,
    their open sessions) and the writes are stored together at the end.
    """
    timeout = (await tenant_settings(tx)).session_timeout_seconds
    ingest = _Ingest(tx, box, ConversationBatch(tx, timeout_seconds=timeout))
    items = [await ingest.prepare(event) for event in events]
    await ingest.prefetch(items)
    outcomes = {}
    for item in items:
        # Each message continues the trace of the webhook request that stored it: the
        # events it records (message.received, session.started ...) carry that trace on.
        with span(
            "ingest whatsapp event",
            parent=TraceContext.parse(item.event.traceparent),
            attributes={"waha.event": item.event.event},
        ):
            outcomes[item.event.id] = item.outcome or await ingest.apply(item)
    await ingest.batch.flush()
    return outcomes


class _Ingest:
    def __init__(self, tx: UnitOfWork, box: SecretBox, batch: ConversationBatch) -> None:
        self.tx = tx
        self.box = box
        self.batch = batch
        self._channels: dict[uuid.UUID, Channel | None] = {}
        self._contacts: dict[str, Contact] = {}  # by E.164 phone
        self._new_contacts: set[uuid.UUID] = set()  # their first message may carry an ad
        self._created_ahead: set[uuid.UUID] = set()  # in `prefetch`, outside their trace

    async def prepare(self, event: InboundEvent) -> _Item:
        item = _Item(event)
        try:
            envelope = waha.parse_envelope(event.body)
        except waha.InvalidEnvelope as error:
            item.outcome = ignored(f"invalid envelope: {error}")
            return item
        if event.channel_id not in self._channels:
            self._channels[event.channel_id] = await channels.channel_for_ingest(
                self.tx, self.box, event.channel_id
            )
        item.channel = self._channels[event.channel_id]
        if item.channel is None:
            item.outcome = ignored("channel deleted")
        elif envelope.session != item.channel.waha_session:
            # One channel is one WAHA session: another session's events would be misfiled.
            item.outcome = ignored(f"session {envelope.session!r} is not this channel's")
        else:
            item.parsed = waha.parse_event(envelope)
            if isinstance(item.parsed, waha.Ignored):
                item.outcome = ignored(item.parsed.reason)
        return item

    async def prefetch(self, items: list[_Item]) -> None:
        """One round of lookups for the messages of the batch, per channel."""
        by_channel: dict[uuid.UUID, list[waha.WahaMessage]] = defaultdict(list)
        for item in items:
            if item.outcome is None and isinstance(item.parsed, waha.WahaMessage):
                by_channel[item.event.channel_id].append(item.parsed)
        for channel_id, found in by_channel.items():
            await self.batch.prefetch(
                channel_id,
                external_ids=[m.id.serialized for m in found],
                wa_ids=[m.id.wa_id for m in found],
            )
        phones = {
            channel_id: [p for m in found if (p := self._valid_phone(m)) is not None]
            for channel_id, found in by_channel.items()
        }
        wanted = [phone for listed in phones.values() for phone in listed]
        self._contacts.update(await contacts.find_by_phones(self.tx, wanted))
        for channel_id, listed in phones.items():
            contact_ids = [
                self._contacts[str(phone)].id for phone in listed if str(phone) in self._contacts
            ]
            await self.batch.prefetch_sessions(channel_id, contact_ids)
        await self._create_contacts(items)

    async def _create_contacts(self, items: list[_Item]) -> None:
        """The batch's new customers, in one statement (a campaign brings hundreds a
        minute), each named by its first message; `_contact_of` then finds them known."""
        named: dict[Phone, str | None] = {}
        channel_of: dict[str, uuid.UUID] = {}
        for item in items:
            message, channel = item.parsed, item.channel
            if item.outcome is not None or not isinstance(message, waha.WahaMessage):
                continue
            assert channel is not None
            if message.is_group and not channel.ingest_groups:
                continue
            if await self.batch.is_stored(channel.id, message.id.serialized):
                continue
            phone = self._valid_phone(message)
            if phone is None or str(phone) in self._contacts or phone in named:
                continue
            named[phone] = message.push_name
            channel_of[str(phone)] = channel.id
        for key, contact in (await contacts.create_by_phones(self.tx, named)).items():
            self._contacts[key] = contact
            self.batch.knows_no_session(contact.id, channel_of[key])
            self._new_contacts.add(contact.id)
            self._created_ahead.add(contact.id)

    async def apply(self, item: _Item) -> str:
        parsed, channel = item.parsed, item.channel
        assert channel is not None
        at = item.event.received_at
        match parsed:
            case waha.WahaMessage():
                return await self._message(channel, parsed, at)
            case waha.AckUpdate():
                if not parsed.from_me:
                    return ignored("ack of a received message")
                applied = await self.batch.update_status(
                    channel_id=channel.id,
                    external_id=parsed.message_id.serialized,
                    status=_ACK_STATUS[parsed.status],
                    at=parsed.at or at,
                )
            case waha.ReactionUpdate():
                applied = await self.batch.react(
                    channel_id=channel.id,
                    external_id=parsed.message_id.serialized,
                    emoji=parsed.emoji,
                    reactor=parsed.reactor,
                    at=parsed.at or at,
                )
            case waha.RevokeUpdate():
                applied = await self.batch.revoke(
                    channel_id=channel.id,
                    wa_id=parsed.wa_id,
                    chat_id=parsed.chat_id,
                    at=parsed.at or at,
                )
            case waha.SessionStatus():
                await channels.apply_session_status(
                    self.tx, self.box, channel, parsed.status, at=parsed.at
                )
                return INGESTED
            case _:
                return ignored("nothing to do")
        return INGESTED if applied else KEPT_FOR_LATER

    async def _message(
        self, channel: Channel, message: waha.WahaMessage, received_at: datetime
    ) -> str:
        if message.is_group and not channel.ingest_groups:
            return ignored("group message (the channel does not ingest groups)")
        external_id = message.id.serialized
        if await self.batch.is_stored(channel.id, external_id):
            return DUPLICATE
        try:
            contact = await self._contact_of(message, channel.id)
        except RuleViolation as error:
            return ignored(f"no contact for {message.chat_id}: {error.detail}")
        at = message.timestamp or received_at
        session = await self._csat_answer(message, contact.id, channel.id, at)
        if session is None:
            session = await self.batch.session_for(
                contact_id=contact.id, channel_id=channel.id, at=at
            )
        content = _content_of(message)
        if message.from_me:
            stored = Message.sent_elsewhere(
                tenant_id=self.tx.tenant_id,
                session=session,
                content=content,
                at=at,
                external_id=external_id,
                status=_ACK_STATUS[message.ack] if message.ack else MessageStatus.SENT,
                wa_id=message.id.wa_id,
                chat_id=message.chat_id,
                source=message.source,
                reply_to=message.reply_to,
            )
        else:
            stored = Message.receive(
                tenant_id=self.tx.tenant_id,
                session=session,
                content=content,
                at=at,
                external_id=external_id,
                wa_id=message.id.wa_id,
                chat_id=message.chat_id,
                participant=message.participant,
                source=message.source,
                reply_to=message.reply_to,
                referral=message.referral,
            )
            if contact.id in self._new_contacts:
                self._new_contacts.discard(contact.id)
                if (signals := lead_signals(message.text, message.referral)) is not None:
                    await tracking.track_inbound_lead(
                        self.tx, contact_id=contact.id, signals=signals
                    )
        await self.batch.add_message(stored)
        return INGESTED

    async def _csat_answer(
        self,
        message: waha.WahaMessage,
        contact_id: uuid.UUID,
        channel_id: uuid.UUID,
        at: datetime,
    ) -> Session | None:
        """The closed session a lone 1-5 from the customer rates (its CSAT is recorded),
        when its rating question is pending and no session is open; else None."""
        if message.from_me or (score := csat.parse_rating(message.text)) is None:
            return None
        if await self.batch.has_open_session(contact_id=contact_id, channel_id=channel_id):
            return None
        return await csat.answer(
            self.tx, contact_id=contact_id, channel_id=channel_id, score=score, at=at
        )

    def _phone_of(self, message: waha.WahaMessage) -> Phone | None:
        """The phone of a person's chat (`...@c.us`); RuleViolation when it is none."""
        chat_id = message.phone_chat_id or message.chat_id
        if not chat_id.endswith("@c.us"):
            return None
        phone = _chat_phone(chat_id)
        if phone is None:
            raise RuleViolation(f"invalid phone number: {chat_id!r}", field="phone")
        return phone

    def _valid_phone(self, message: waha.WahaMessage) -> Phone | None:
        try:
            return self._phone_of(message)
        except RuleViolation:
            return None

    async def _contact_of(self, message: waha.WahaMessage, channel_id: uuid.UUID) -> Contact:
        phone = self._phone_of(message)
        if phone is not None:
            contact, created = await contacts.find_or_create_by_phone(
                self.tx, phone=phone, name=message.push_name, known=self._contacts.get(str(phone))
            )
            self._contacts[str(phone)] = contact
            if contact.id in self._created_ahead:
                self._created_ahead.discard(contact.id)
                contact.continue_trace()  # `contact.created` belongs to its first message
        elif message.is_group:
            contact, created = await contacts.find_or_create_by_whatsapp_id(
                self.tx,
                whatsapp_id=message.chat_id,
                name=f"WhatsApp group {message.chat_id.split('@', 1)[0]}",
                kind="group",
            )
        else:
            contact, created = await contacts.find_or_create_by_whatsapp_id(
                self.tx, whatsapp_id=message.chat_id, name=message.push_name
            )
        if created:
            self.batch.knows_no_session(contact.id, channel_id)
            self._new_contacts.add(contact.id)
        return contact


@functools.lru_cache(maxsize=65_536)
def _chat_phone(chat_id: str) -> Phone | None:
    """The phone of a chat id, None when it is not a valid one. Parsing is not cheap and the
    same few chats come back batch after batch, so results are kept (a pure function)."""
    try:
        return Phone.parse(chat_id)
    except RuleViolation:
        return None


def _content_of(message: waha.WahaMessage) -> MessageContent:
    if message.type == "location" and message.location is None:
        return MessageContent(type=MessageType.UNSUPPORTED, text=message.text)
    return MessageContent(
        type=MessageType(message.type),
        text=message.text,
        caption=message.caption,
        media=message.media.to_json() if message.media else None,
        location=message.location.to_json() if message.location else None,
        vcards=message.vcards,
    )


_URL = re.compile(r"https?://\S+", re.IGNORECASE)


def lead_signals(text: str | None, referral: dict[str, Any] | None) -> Signals | None:
    """How a new contact's first message says they came: an ad referral, or a link in the
    text with UTM parameters or click ids. None when it says nothing."""
    ad = None
    if referral:
        ad = AdReferral(
            **{
                name: str(referral[name]) if referral.get(name) else None
                for name in ("source_type", "source_id", "source_url", "ctwa_clid", "headline")
            },
            body=str(referral["body"]) if referral.get("body") else None,
        )
    for url in _URL.findall(text or ""):
        found = Signals.from_url(url.rstrip(".,;!?)"))
        if found.click_ids or found.utm.present:
            return Signals(
                referral=ad,
                click_ids=found.click_ids,
                utm=found.utm,
                landing_url=found.landing_url,
            )
    return Signals(referral=ad) if ad is not None else None
