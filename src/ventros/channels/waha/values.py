"""What WAHA events mean, as typed values."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal

from ventros.channels.waha.fields import jid

MessageType = Literal[
    "text", "image", "audio", "video", "document", "location", "contact", "sticker", "unsupported"
]
AckStatus = Literal["failed", "pending", "sent", "delivered", "read"]

ACK_STATUS: dict[int, AckStatus] = {
    -1: "failed",
    0: "pending",
    1: "sent",
    2: "delivered",
    3: "read",
    4: "read",
}


def ack_status(value: object) -> AckStatus | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return ACK_STATUS.get(int(value))


@dataclass(frozen=True, slots=True)
class Media:
    url: str | None
    mimetype: str | None
    filename: str | None = None
    size_bytes: int | None = None
    seconds: int | None = None
    width: int | None = None
    height: int | None = None
    voice: bool = False
    error: str | None = None

    def to_json(self) -> dict[str, Any]:
        return {
            "url": self.url,
            "mimetype": self.mimetype,
            "filename": self.filename,
            "size_bytes": self.size_bytes,
            "seconds": self.seconds,
            "width": self.width,
            "height": self.height,
            "voice": self.voice,
            "error": self.error,
        }


@dataclass(frozen=True, slots=True)
class Location:
    latitude: float
    longitude: float
    title: str | None = None
    address: str | None = None
    url: str | None = None
    live: bool = False

    def to_json(self) -> dict[str, Any]:
        return {
            "latitude": self.latitude,
            "longitude": self.longitude,
            "title": self.title,
            "address": self.address,
            "url": self.url,
            "live": self.live,
        }


@dataclass(frozen=True, slots=True)
class MessageId:
    """WAHA's serialized id `{fromMe}_{chat}_{id}[_{participant}]`."""

    serialized: str
    from_me: bool | None
    chat_id: str | None
    wa_id: str

    @classmethod
    def parse(cls, serialized: str) -> MessageId:
        parts = serialized.split("_", 3)
        if len(parts) >= 3 and parts[0] in ("true", "false") and "@" in parts[1]:
            return cls(serialized, parts[0] == "true", jid(parts[1]), parts[2])
        return cls(serialized, None, None, serialized)


@dataclass(frozen=True, slots=True)
class WahaMessage:
    """One message, ours or theirs, from `message` / `message.any`."""

    id: MessageId
    chat_id: str
    from_me: bool
    type: MessageType
    timestamp: datetime | None
    text: str | None = None
    caption: str | None = None
    media: Media | None = None
    location: Location | None = None
    vcards: tuple[str, ...] = ()
    participant: str | None = None
    push_name: str | None = None
    source: str | None = None
    ack: AckStatus | None = None
    reply_to: str | None = None
    referral: dict[str, Any] | None = None
    phone_chat_id: str | None = None  # a phone-number id for a chat known by a @lid

    @property
    def is_group(self) -> bool:
        return self.chat_id.endswith("@g.us")


@dataclass(frozen=True, slots=True)
class AckUpdate:
    message_id: MessageId
    status: AckStatus
    at: datetime | None
    from_me: bool


@dataclass(frozen=True, slots=True)
class ReactionUpdate:
    message_id: MessageId  # the message reacted to
    emoji: str  # "" removes the reaction
    reactor: str
    at: datetime | None


@dataclass(frozen=True, slots=True)
class RevokeUpdate:
    wa_id: str  # bare id of the deleted message
    chat_id: str | None
    at: datetime | None


@dataclass(frozen=True, slots=True)
class SessionStatus:
    name: str
    status: str
    at: datetime | None


@dataclass(frozen=True, slots=True)
class Ignored:
    """An event that is stored but changes nothing here, and why."""

    reason: str


WahaEvent = WahaMessage | AckUpdate | ReactionUpdate | RevokeUpdate | SessionStatus | Ignored
