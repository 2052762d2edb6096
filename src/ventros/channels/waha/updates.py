"""Every event type the CRM ingests, dispatched; acks, reactions, revokes, session status."""

from __future__ import annotations

from typing import Any

from ventros.channels.waha.envelope import (
    EVENT_ACK,
    EVENT_ACK_GROUP,
    EVENT_MESSAGE,
    EVENT_MESSAGE_ANY,
    EVENT_REACTION,
    EVENT_REVOKED,
    EVENT_SESSION_STATUS,
    Envelope,
)
from ventros.channels.waha.fields import as_dict, as_str, from_millis, from_seconds, jid
from ventros.channels.waha.messages import chat_id_of, parse_message, raw_message
from ventros.channels.waha.values import (
    AckUpdate,
    Ignored,
    MessageId,
    ReactionUpdate,
    RevokeUpdate,
    SessionStatus,
    WahaEvent,
    ack_status,
)


def parse_event(envelope: Envelope) -> WahaEvent:
    """The typed meaning of an envelope. Unknown or malformed events become `Ignored`."""
    payload = envelope.payload
    try:
        if envelope.event in (EVENT_MESSAGE, EVENT_MESSAGE_ANY):
            return parse_message(payload, envelope)
        if envelope.event in (EVENT_ACK, EVENT_ACK_GROUP):
            return _parse_ack(payload, envelope)
        if envelope.event == EVENT_REACTION:
            return _parse_reaction(payload, envelope)
        if envelope.event == EVENT_REVOKED:
            return _parse_revoke(payload, envelope)
        if envelope.event == EVENT_SESSION_STATUS:
            return _parse_session_status(payload, envelope)
    except (KeyError, TypeError, ValueError) as error:
        return Ignored(f"malformed {envelope.event} payload: {error}")
    return Ignored(f"event {envelope.event!r} is not ingested")


def _parse_ack(payload: dict[str, Any], envelope: Envelope) -> AckUpdate | Ignored:
    serialized = as_str(payload.get("id"))
    status = ack_status(payload.get("ack"))
    if not serialized or status is None:
        raise ValueError("ack without id or ack value")
    return AckUpdate(
        message_id=MessageId.parse(serialized),
        status=status,
        at=envelope.timestamp,
        from_me=bool(payload.get("fromMe")),
    )


def _parse_reaction(payload: dict[str, Any], envelope: Envelope) -> ReactionUpdate:
    reaction = as_dict(payload.get("reaction"))
    target = as_str(reaction.get("messageId"))
    emoji = reaction.get("text")
    if not target or not isinstance(emoji, str):
        raise ValueError("reaction without messageId or text")
    if payload.get("fromMe"):
        reactor = envelope.me_id or "me"
    else:
        reactor = (
            jid(as_str(payload.get("participant"))) or jid(as_str(payload.get("from"))) or "unknown"
        )
    return ReactionUpdate(
        message_id=MessageId.parse(target),
        emoji=emoji,
        reactor=reactor,
        at=from_seconds(payload.get("timestamp")) or envelope.timestamp,
    )


def _parse_revoke(payload: dict[str, Any], envelope: Envelope) -> RevokeUpdate:
    after = as_dict(payload.get("after"))
    before = as_dict(payload.get("before"))
    wa_id = as_str(payload.get("revokedMessageId"))
    if not wa_id and before.get("id"):
        wa_id = MessageId.parse(str(before["id"])).wa_id
    if not wa_id:
        protocol = as_dict(raw_message(as_dict(after.get("_data"))).get("protocolMessage"))
        wa_id = as_str(as_dict(protocol.get("key")).get("id"))
    if not wa_id:
        raise ValueError("revoke without the revoked message's id")
    source = after or before
    chat_id = (
        chat_id_of(
            source, as_dict(source.get("_data")), envelope, from_me=bool(source.get("fromMe"))
        )
        if source
        else None
    )
    return RevokeUpdate(
        wa_id=wa_id,
        chat_id=chat_id,
        at=from_seconds(after.get("timestamp")) or envelope.timestamp,
    )


def _parse_session_status(payload: dict[str, Any], envelope: Envelope) -> SessionStatus:
    status = as_str(payload.get("status"))
    if not status:
        raise ValueError("session.status without status")
    at = envelope.timestamp
    statuses = payload.get("statuses")
    if isinstance(statuses, list):
        stamps = [
            stamp
            for item in statuses
            if as_dict(item).get("status") == status
            and (stamp := from_millis(as_dict(item).get("timestamp")))
        ]
        if stamps:
            at = max(stamps)
    return SessionStatus(name=as_str(payload.get("name")) or envelope.session, status=status, at=at)
