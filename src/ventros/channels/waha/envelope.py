"""The webhook envelope: `{id, timestamp (ms), event, session, me, payload, engine, ...}`."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from ventros.channels.waha.fields import from_millis, jid

EVENT_MESSAGE = "message"
EVENT_MESSAGE_ANY = "message.any"
EVENT_ACK = "message.ack"
EVENT_ACK_GROUP = "message.ack.group"
EVENT_REACTION = "message.reaction"
EVENT_REVOKED = "message.revoked"
EVENT_SESSION_STATUS = "session.status"

_MAX_EVENT_NAME = 100
_MAX_ID = 512


class InvalidEnvelope(ValueError):
    """The JSON is not a WAHA webhook envelope."""


@dataclass(frozen=True, slots=True)
class Envelope:
    id: str | None
    event: str
    session: str
    payload: dict[str, Any]
    timestamp: datetime | None = None
    me_id: str | None = None
    engine: str | None = None


def parse_envelope(data: object) -> Envelope:
    if not isinstance(data, dict):
        raise InvalidEnvelope("the body must be a JSON object")
    event = data.get("event")
    if not isinstance(event, str) or not event.strip() or len(event) > _MAX_EVENT_NAME:
        raise InvalidEnvelope("'event' must be a non-empty string")
    session = data.get("session")
    if not isinstance(session, str) or not session or len(session) > _MAX_ID:
        raise InvalidEnvelope("'session' must be a non-empty string")
    payload = data.get("payload")
    if payload is None:
        payload = {}
    if not isinstance(payload, dict):
        raise InvalidEnvelope("'payload' must be an object")
    event_id = data.get("id")
    if event_id is not None and (not isinstance(event_id, str) or not 0 < len(event_id) <= _MAX_ID):
        raise InvalidEnvelope("'id' must be a string")
    me = data.get("me")
    engine = data.get("engine")
    return Envelope(
        id=event_id,
        event=event,
        session=session,
        payload=payload,
        timestamp=from_millis(data.get("timestamp")),
        me_id=jid(me.get("id")) if isinstance(me, dict) else None,
        engine=engine.upper() if isinstance(engine, str) else None,
    )


def dedupe_key(envelope: Envelope, body: bytes) -> str:
    """What makes a delivery a repeat: WAHA's event id, else the exact bytes."""
    if envelope.id:
        return envelope.id
    return "sha256:" + hashlib.sha256(body).hexdigest()
