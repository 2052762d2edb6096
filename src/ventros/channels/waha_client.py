"""An async HTTP client for WAHA's send and contact endpoints (reference/waha.md §2-3).

Every send is `POST /api/send*` with the WAHA session in the JSON body (WAHA has no
path-style send API) and `X-Api-Key`. WAHA answers 201 with each engine's own message
object; `message_id_of` finds the serialized id in any of them. `build_send` is pure, so
the request each message type makes is testable without a server.
"""

from __future__ import annotations

import asyncio
import json as jsonlib
import mimetypes
from dataclasses import dataclass
from http import HTTPStatus
from typing import Any
from urllib.parse import urlsplit

import aiohttp

API_KEY_HEADER = "X-Api-Key"
VOICE_MIMETYPE = "audio/ogg; codecs=opus"
_OPUS_SUFFIXES = (".ogg", ".oga", ".opus")


@dataclass(frozen=True)
class WahaTarget:
    """Where a channel's WAHA session lives."""

    base_url: str
    session: str
    api_key: str | None = None


@dataclass(frozen=True)
class OutgoingContent:
    """What to send, as the API received it (`type` is a MessageType value)."""

    type: str
    text: str | None = None
    media_url: str | None = None
    caption: str | None = None
    filename: str | None = None
    latitude: float | None = None
    longitude: float | None = None
    title: str | None = None
    vcard: str | None = None


@dataclass(frozen=True)
class SendRequest:
    path: str
    body: dict[str, Any]


@dataclass(frozen=True)
class SentId:
    """WAHA's serialized id (`true_<chat>_<id>`) and WhatsApp's bare id."""

    serialized: str
    wa_id: str


class WahaError(Exception):
    """A WAHA call failed: `retryable` for timeouts, connection errors and 5xx."""

    def __init__(self, detail: str, *, status_code: int | None = None, retryable: bool) -> None:
        super().__init__(detail)
        self.detail = detail
        self.status_code = status_code
        self.retryable = retryable


def _mimetype(url: str, fallback: str) -> str:
    guessed, _ = mimetypes.guess_type(urlsplit(url).path)
    return guessed or fallback


def _file(url: str, mimetype: str, filename: str | None = None) -> dict[str, Any]:
    file: dict[str, Any] = {"mimetype": mimetype, "url": url}
    if filename:
        file["filename"] = filename
    return file


def build_send(session: str, chat_id: str, content: OutgoingContent) -> SendRequest:
    """The WAHA endpoint and body for one message (the session goes in the body)."""
    base: dict[str, Any] = {"session": session, "chatId": chat_id}
    kind, url = content.type, content.media_url or ""
    if kind == "text":
        return SendRequest("/api/sendText", {**base, "text": content.text or ""})
    if kind in ("image", "sticker"):  # WAHA has no sticker endpoint
        fallback = "image/webp" if kind == "sticker" else "image/jpeg"
        body = {**base, "file": _file(url, _mimetype(url, fallback), content.filename)}
        if content.caption and kind == "image":
            body["caption"] = content.caption
        return SendRequest("/api/sendImage", body)
    if kind == "document":
        name = content.filename or urlsplit(url).path.rsplit("/", 1)[-1] or "file"
        body = {**base, "file": _file(url, _mimetype(url, "application/octet-stream"), name)}
        if content.caption:
            body["caption"] = content.caption
        return SendRequest("/api/sendFile", body)
    if kind == "audio":
        # WhatsApp voice notes are OGG/Opus; anything else WAHA converts with ffmpeg.
        convert = not urlsplit(url).path.lower().endswith(_OPUS_SUFFIXES)
        return SendRequest(
            "/api/sendVoice", {**base, "file": _file(url, VOICE_MIMETYPE), "convert": convert}
        )
    if kind == "video":
        body = {
            **base,
            "file": _file(url, _mimetype(url, "video/mp4"), content.filename),
            "convert": _mimetype(url, "video/mp4") != "video/mp4",
        }
        if content.caption:
            body["caption"] = content.caption
        return SendRequest("/api/sendVideo", body)
    if kind == "location":
        return SendRequest(
            "/api/sendLocation",
            {
                **base,
                "latitude": content.latitude,
                "longitude": content.longitude,
                "title": content.title or "",
            },
        )
    if kind == "contact":
        return SendRequest(
            "/api/sendContactVcard", {**base, "contacts": [{"vcard": content.vcard}]}
        )
    raise ValueError(f"cannot send a message of type {kind!r}")


def message_id_of(answer: Any) -> SentId | None:
    """The sent message's id in WAHA's answer: NOWEB `key`, GOWS `id`, WEBJS `id._serialized`."""
    if not isinstance(answer, dict):
        return None
    key = answer.get("key")
    if isinstance(key, dict) and key.get("id") and key.get("remoteJid"):
        chat = str(key["remoteJid"]).replace("@s.whatsapp.net", "@c.us")
        from_me = "true" if key.get("fromMe", True) else "false"
        serialized = f"{from_me}_{chat}_{key['id']}"
        if key.get("participant"):
            serialized += f"_{key['participant']}"
        return SentId(serialized, str(key["id"]))
    raw = answer.get("id")
    if isinstance(raw, dict):
        raw = raw.get("_serialized")
    if isinstance(raw, str) and raw:
        parts = raw.split("_")
        return SentId(raw, parts[2] if len(parts) >= 3 else raw)
    return None


def error_summary(status: int) -> str:
    """What a failed message records of WAHA's answer: the status and its standard reason
    phrase only. The body (and the server's own reason text) stay out: a channel's base_url
    is chosen by a tenant, and what it answers must not be readable back through the API."""
    try:
        phrase = HTTPStatus(status).phrase
    except ValueError:
        phrase = "Unknown Status"
    return f"WAHA answered {status} {phrase}"


class WahaClient:
    """One shared aiohttp session for every channel (each call names its WAHA).

    aiohttp rather than httpx here: the sender is the hot path (one request per outbound
    message), and httpx's per-request CPU held it near 280 msg/s where aiohttp's C parser
    and connection pool reach the 500+ the product needs (bench/outbound.py). A session
    belongs to an event loop, so it is made on first use in the running one.
    """

    def __init__(self, *, timeout_seconds: float, max_connections: int = 256) -> None:
        self._timeout = aiohttp.ClientTimeout(total=timeout_seconds)
        self._max_connections = max_connections
        self._session: aiohttp.ClientSession | None = None
        self._loop: asyncio.AbstractEventLoop | None = None

    @classmethod
    def create(cls, *, timeout_seconds: float, max_connections: int = 256) -> WahaClient:
        return cls(timeout_seconds=timeout_seconds, max_connections=max_connections)

    async def aclose(self) -> None:
        if self._session is not None and self._loop is asyncio.get_running_loop():
            await self._session.close()
        self._session = self._loop = None

    def _session_here(self) -> aiohttp.ClientSession:
        loop = asyncio.get_running_loop()
        if self._session is None or self._loop is not loop or self._session.closed:
            connector = aiohttp.TCPConnector(limit=self._max_connections, keepalive_timeout=4.0)
            self._session = aiohttp.ClientSession(
                connector=connector, timeout=self._timeout, trust_env=False
            )
            self._loop = loop
        return self._session

    async def send(self, target: WahaTarget, request: SendRequest) -> SentId:
        answer = await self._call("POST", target, request.path, json=request.body)
        sent = message_id_of(answer)
        if sent is None:
            # The message may be out already: not retryable, or it could go twice.
            raise WahaError("WAHA's answer carries no message id", retryable=False)
        return sent

    async def profile_picture(self, target: WahaTarget, contact_id: str) -> str | None:
        """`GET /api/contacts/profile-picture` (refreshed): the URL, None when hidden."""
        answer = await self._call(
            "GET",
            target,
            "/api/contacts/profile-picture",
            params={"contactId": contact_id, "session": target.session, "refresh": "true"},
        )
        url = answer.get("profilePictureURL") if isinstance(answer, dict) else None
        return str(url) if url else None

    async def _call(
        self,
        method: str,
        target: WahaTarget,
        path: str,
        *,
        json: dict[str, Any] | None = None,
        params: dict[str, str] | None = None,
    ) -> Any:
        headers = {"Accept": "application/json"}
        if target.api_key:
            headers[API_KEY_HEADER] = target.api_key
        body = None
        if json is not None:
            headers["Content-Type"] = "application/json"
            body = jsonlib.dumps(json, ensure_ascii=False, separators=(",", ":")).encode()
        url = target.base_url.rstrip("/") + path
        try:
            # Never follow a redirect: it could lead anywhere the base_url check refused.
            async with self._session_here().request(
                method, url, headers=headers, data=body, params=params, allow_redirects=False
            ) as response:
                status = response.status
                content = await response.read() if status < 300 else b""
        except TimeoutError as error:
            raise WahaError("WAHA timed out (no answer in time)", retryable=True) from error
        except aiohttp.ClientError as error:
            raise WahaError(f"WAHA unreachable: {type(error).__name__}", retryable=True) from error
        if status >= 300:
            raise WahaError(
                error_summary(status),
                status_code=status,
                retryable=status >= 500 or status == 429,
            )
        try:
            return jsonlib.loads(content)
        except ValueError as error:
            raise WahaError("WAHA answered with no JSON", retryable=False) from error
