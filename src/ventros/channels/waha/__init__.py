"""WAHA's webhook wire format, parsed into typed values. Pure: no I/O.

Facts this follows (see the WAHA reference notes and fixtures):

* The envelope is `{id, timestamp (ms), event, session, me, payload, engine, ...}`; `id`
  (`evt_...`) is absent before WAHA 2025, so a digest of the body stands in for it.
* `message` carries others' messages, `message.any` every message including our own; both
  use the same serialized id (`{fromMe}_{chat}_{id}[_{participant}]`), which dedupes them.
* There is no normalised message type: the engine's raw message (`_data.message` on
  NOWEB, `_data.Message` on GOWS, `_data.type` on WEBJS) says what it is; otherwise
  `location`, `vCards` and the media mimetype do.
* The chat is `payload.from` on NOWEB/GOWS (also for our own messages) and
  `_data.id.remote` on WEBJS, whose `from` is our own number for our own messages.
* Acks are numbers: -1 error, 0 pending, 1 server, 2 device, 3 read, 4 played.
* Ad referrals exist only in the raw message's `contextInfo.externalAdReply`.
"""

from ventros.channels.waha.envelope import (
    EVENT_ACK,
    EVENT_ACK_GROUP,
    EVENT_MESSAGE,
    EVENT_MESSAGE_ANY,
    EVENT_REACTION,
    EVENT_REVOKED,
    EVENT_SESSION_STATUS,
    Envelope,
    InvalidEnvelope,
    dedupe_key,
    parse_envelope,
)
from ventros.channels.waha.messages import parse_message
from ventros.channels.waha.signature import SIGNATURE_ALGORITHM, sign, signature_matches
from ventros.channels.waha.updates import parse_event
from ventros.channels.waha.values import (
    AckStatus,
    AckUpdate,
    Ignored,
    Location,
    Media,
    MessageId,
    MessageType,
    ReactionUpdate,
    RevokeUpdate,
    SessionStatus,
    WahaEvent,
    WahaMessage,
)

__all__ = [
    "EVENT_ACK",
    "EVENT_ACK_GROUP",
    "EVENT_MESSAGE",
    "EVENT_MESSAGE_ANY",
    "EVENT_REACTION",
    "EVENT_REVOKED",
    "EVENT_SESSION_STATUS",
    "SIGNATURE_ALGORITHM",
    "AckStatus",
    "AckUpdate",
    "Envelope",
    "Ignored",
    "InvalidEnvelope",
    "Location",
    "Media",
    "MessageId",
    "MessageType",
    "ReactionUpdate",
    "RevokeUpdate",
    "SessionStatus",
    "WahaEvent",
    "WahaMessage",
    "dedupe_key",
    "parse_envelope",
    "parse_event",
    "parse_message",
    "sign",
    "signature_matches",
]
