"""`message` / `message.any` payloads: classification, media, location, vCards, referrals.

There is no normalised message type: the engine's raw message (`_data.message` on NOWEB,
`_data.Message` on GOWS, `_data.type` on WEBJS) says what it is; otherwise `location`,
`vCards` and the media mimetype do. The chat is `payload.from` on NOWEB/GOWS (also for our
own messages) and `_data.id.remote` on WEBJS, whose `from` is our own number for ours.
"""

from __future__ import annotations

from typing import Any

from ventros.channels.waha.envelope import Envelope
from ventros.channels.waha.fields import (
    as_dict,
    as_float,
    as_int,
    as_str,
    error_text,
    from_seconds,
    jid,
)
from ventros.channels.waha.values import (
    Ignored,
    Location,
    Media,
    MessageId,
    MessageType,
    WahaMessage,
    ack_status,
)

# Keys of the raw (Baileys/whatsmeow) message that say what kind of message it is.
_CONTENT_TYPES: dict[str, MessageType] = {
    "conversation": "text",
    "extendedTextMessage": "text",
    "imageMessage": "image",
    "audioMessage": "audio",
    "videoMessage": "video",
    "ptvMessage": "video",
    "documentMessage": "document",
    "stickerMessage": "sticker",
    "locationMessage": "location",
    "liveLocationMessage": "location",
    "contactMessage": "contact",
    "contactsArrayMessage": "contact",
}
# Wrappers whose inner `message` is the real content.
_WRAPPERS = (
    "ephemeralMessage",
    "viewOnceMessage",
    "viewOnceMessageV2",
    "viewOnceMessageV2Extension",
    "documentWithCaptionMessage",
    "editedMessage",
)
# Raw message keys that are protocol traffic, not something a person wrote.
_PROTOCOL_KEYS = frozenset(
    {
        "protocolMessage",
        "reactionMessage",
        "senderKeyDistributionMessage",
        "messageContextInfo",
        "pollUpdateMessage",
        "keepInChatMessage",
        "encReactionMessage",
    }
)
_WEBJS_TYPES: dict[str, MessageType] = {
    "chat": "text",
    "image": "image",
    "ptt": "audio",
    "audio": "audio",
    "video": "video",
    "ptv": "video",
    "document": "document",
    "sticker": "sticker",
    "location": "location",
    "vcard": "contact",
    "multi_vcard": "contact",
}
_WEBJS_PROTOCOL_TYPES = frozenset({"revoked", "protocol", "e2e_notification", "gp2", "ciphertext"})
_MEDIA_TYPES = frozenset({"image", "audio", "video", "document", "sticker"})
_REFERRAL_FIELDS = {
    "source_url": "sourceurl",
    "source_id": "sourceid",
    "source_type": "sourcetype",
    "ctwa_clid": "ctwaclid",
    "headline": "title",
    "body": "body",
    "media_type": "mediatype",
    "image_url": "originalimageurl",
    "media_url": "mediaurl",
    "thumbnail_url": "thumbnailurl",
    "ref": "ref",
}
# contextInfo keys kept when WhatsApp sends its opaque ad payload instead (Feb 2026 change).
_AD_CONTEXT_HINTS = (
    "entryPointConversionSource",
    "entryPointConversionApp",
    "conversionSource",
    "conversionData",
    "ctwaPayload",
)
_BIG_REFERRAL_KEYS = frozenset({"thumbnail", "jpegthumbnail"})


def parse_message(payload: dict[str, Any], envelope: Envelope) -> WahaMessage | Ignored:
    serialized = as_str(payload.get("id"))
    if not serialized:
        raise ValueError("message without id")
    data = as_dict(payload.get("_data"))
    from_me = bool(payload.get("fromMe"))
    chat_id = chat_id_of(payload, data, envelope, from_me=from_me)
    if chat_id is None:
        raise ValueError("message without a chat")
    if not _is_conversation(chat_id):
        return Ignored(f"chat {chat_id} is not a person or a group")
    raw = raw_message(data)
    kind = _classify(payload, data, raw)
    if kind is None:
        return Ignored("protocol message")
    message_id = MessageId.parse(serialized)
    key = as_dict(data.get("key"))
    wa_id = as_str(key.get("id")) or as_str(as_dict(data.get("id")).get("id")) or message_id.wa_id
    body = as_str(payload.get("body")) or _raw_text(raw)
    media = _media(payload, raw, kind) if kind in _MEDIA_TYPES else None
    participant = _participant(payload, data) if chat_id.endswith("@g.us") else None
    return WahaMessage(
        id=MessageId(serialized, from_me, message_id.chat_id or chat_id, wa_id),
        chat_id=chat_id,
        from_me=from_me,
        type=kind,
        timestamp=from_seconds(payload.get("timestamp")) or envelope.timestamp,
        text=body if kind in ("text", "unsupported") else None,
        caption=body if media is not None else None,
        media=media,
        location=_location(payload, raw) if kind == "location" else None,
        vcards=_vcards(payload, raw) if kind == "contact" else (),
        participant=participant,
        push_name=None if from_me else _push_name(data),
        source=as_str(payload.get("source")),
        ack=ack_status(payload.get("ack")),
        reply_to=as_str(as_dict(payload.get("replyTo")).get("id")),
        referral=_referral(raw),
        phone_chat_id=_phone_alternative(chat_id, key),
    )


def chat_id_of(
    payload: dict[str, Any], data: dict[str, Any], envelope: Envelope, *, from_me: bool
) -> str | None:
    if envelope.engine in ("WEBJS", "WPP"):
        remote = data.get("id")
        remote = remote.get("remote") if isinstance(remote, dict) else None
        if isinstance(remote, dict):
            remote = remote.get("_serialized")
        if isinstance(remote, str) and remote:
            return jid(remote)
    sender = jid(as_str(payload.get("from")))
    to = jid(as_str(payload.get("to")))
    if from_me and to and sender and envelope.me_id and sender == envelope.me_id:
        return to
    return sender or to


def _is_conversation(chat_id: str) -> bool:
    return chat_id.endswith(("@c.us", "@g.us", "@lid")) and not chat_id.startswith("status@")


def raw_message(data: dict[str, Any]) -> dict[str, Any]:
    raw = as_dict(data.get("message")) or as_dict(data.get("Message"))
    for _ in range(4):  # wrappers nest at most a few levels
        for wrapper in _WRAPPERS:
            inner = as_dict(as_dict(raw.get(wrapper)).get("message"))
            if inner:
                raw = inner
                break
        else:
            break
    return raw


def _classify(
    payload: dict[str, Any], data: dict[str, Any], raw: dict[str, Any]
) -> MessageType | None:
    for key in raw:
        if key in _CONTENT_TYPES:
            return _CONTENT_TYPES[key]
    if raw and all(key in _PROTOCOL_KEYS for key in raw):
        return None
    webjs_type = as_str(data.get("type"))
    if webjs_type in _WEBJS_TYPES:
        return _WEBJS_TYPES[webjs_type]
    if webjs_type in _WEBJS_PROTOCOL_TYPES:
        return None
    if isinstance(payload.get("location"), dict):
        return "location"
    if payload.get("vCards"):
        return "contact"
    media = as_dict(payload.get("media"))
    if payload.get("hasMedia") or media:
        return _type_of_mimetype(as_str(media.get("mimetype")))
    if as_str(payload.get("body")):
        return "text"
    return "unsupported"


def _type_of_mimetype(mimetype: str | None) -> MessageType:
    mime = (mimetype or "").lower()
    if mime == "image/webp":
        return "sticker"
    for prefix, kind in (("image/", "image"), ("audio/", "audio"), ("video/", "video")):
        if mime.startswith(prefix):
            return kind  # type: ignore[return-value]
    return "document"


def _raw_text(raw: dict[str, Any]) -> str | None:
    text = as_str(raw.get("conversation")) or as_str(
        as_dict(raw.get("extendedTextMessage")).get("text")
    )
    if text:
        return text
    for key in ("imageMessage", "videoMessage", "documentMessage"):
        caption = as_str(as_dict(raw.get(key)).get("caption"))
        if caption:
            return caption
    return None


def _media_part(raw: dict[str, Any]) -> dict[str, Any]:
    for key in (
        "imageMessage",
        "audioMessage",
        "videoMessage",
        "ptvMessage",
        "documentMessage",
        "stickerMessage",
    ):
        if key in raw:
            return as_dict(raw.get(key))
    return {}


def _media(payload: dict[str, Any], raw: dict[str, Any], kind: MessageType) -> Media:
    media = as_dict(payload.get("media"))
    part = _media_part(raw)
    url = as_str(media.get("url")) or as_str(payload.get("mediaUrl"))
    return Media(
        url=url,
        mimetype=as_str(media.get("mimetype")) or as_str(part.get("mimetype")),
        filename=as_str(media.get("filename")) or as_str(part.get("fileName")),
        size_bytes=as_int(part.get("fileLength")),
        seconds=as_int(part.get("seconds")),
        width=as_int(part.get("width")),
        height=as_int(part.get("height")),
        voice=kind == "audio" and bool(part.get("ptt")),
        error=error_text(media.get("error")),
    )


def _location(payload: dict[str, Any], raw: dict[str, Any]) -> Location | None:
    given = as_dict(payload.get("location"))
    part = as_dict(raw.get("locationMessage")) or as_dict(raw.get("liveLocationMessage"))
    latitude = as_float(given.get("latitude"))
    longitude = as_float(given.get("longitude"))
    if latitude is None or longitude is None:
        latitude = as_float(part.get("degreesLatitude"))
        longitude = as_float(part.get("degreesLongitude"))
    if latitude is None or longitude is None:
        return None
    if not (-90 <= latitude <= 90 and -180 <= longitude <= 180):
        return None
    return Location(
        latitude=latitude,
        longitude=longitude,
        title=as_str(given.get("name"))
        or as_str(given.get("description"))
        or as_str(part.get("name")),
        address=as_str(given.get("address")) or as_str(part.get("address")),
        url=as_str(given.get("url")) or as_str(part.get("url")),
        live=bool(given.get("live")) or "liveLocationMessage" in raw,
    )


def _vcards(payload: dict[str, Any], raw: dict[str, Any]) -> tuple[str, ...]:
    given = payload.get("vCards")
    if isinstance(given, list) and given:
        return tuple(v for v in given if isinstance(v, str) and v)
    single = as_str(as_dict(raw.get("contactMessage")).get("vcard"))
    if single:
        return (single,)
    contacts = as_dict(raw.get("contactsArrayMessage")).get("contacts")
    if isinstance(contacts, list):
        return tuple(v for c in contacts if (v := as_str(as_dict(c).get("vcard"))))
    return ()


def _participant(payload: dict[str, Any], data: dict[str, Any]) -> str | None:
    return (
        jid(as_str(payload.get("participant")))
        or jid(as_str(as_dict(data.get("key")).get("participant")))
        or jid(as_str(data.get("author")))
    )


def _push_name(data: dict[str, Any]) -> str | None:
    info = as_dict(data.get("Info"))
    name = (
        as_str(data.get("pushName"))
        or as_str(data.get("notifyName"))
        or as_str(info.get("PushName"))
    )
    return (name.strip() or None) if name else None


def _phone_alternative(chat_id: str, key: dict[str, Any]) -> str | None:
    """Newer engines address some chats by a hidden @lid and carry the phone id beside it."""
    if not chat_id.endswith("@lid"):
        return None
    for name in ("remoteJidAlt", "senderPn"):
        candidate = jid(as_str(key.get(name)))
        if candidate and candidate.endswith("@c.us"):
            return candidate
    return None


def _referral(raw: dict[str, Any]) -> dict[str, Any] | None:
    """Click-to-WhatsApp ad data, kept as found (Cloud-API names) for attribution later."""
    for part in raw.values():
        context = as_dict(as_dict(part).get("contextInfo"))
        if not context:
            continue
        reply = as_dict(context.get("externalAdReply"))
        hints = {k: context[k] for k in _AD_CONTEXT_HINTS if context.get(k) not in (None, "")}
        if not reply and not hints:
            continue
        lowered = {key.lower(): value for key, value in reply.items()}
        referral: dict[str, Any] = {
            name: lowered.get(raw_name) for name, raw_name in _REFERRAL_FIELDS.items()
        }
        if isinstance(referral["media_type"], str):
            referral["media_type"] = referral["media_type"].lower()
        referral["external_ad_reply"] = {
            k: v for k, v in reply.items() if k.lower() not in _BIG_REFERRAL_KEYS
        }
        referral["context"] = hints
        return referral
    return None
