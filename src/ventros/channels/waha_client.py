"""An async HTTP client for WAHA's send and contact endpoints (reference/waha.md §2-3).

Every send is `POST /api/send*` with the WAHA session in the JSON body (WAHA has no
path-style send API) and `X-Api-Key`. WAHA answers 201 with each engine's own message
object; `message_id_of` finds the serialized id in any of them. `build_send` is pure, so
the request each message type makes is testable without a server.
"""

from __future__ import annotations

import asyncio
import contextlib
import json as jsonlib
import mimetypes
import time
import weakref
from collections.abc import AsyncIterator
from dataclasses import dataclass
from http import HTTPStatus
from typing import Any, ClassVar
from urllib.parse import quote, urlsplit

import aiohttp

from ventros.kernel.tracing import current_traceparent
from ventros.platform.metrics import PROCESS
from ventros.platform.tracing import SpanKind, span

API_KEY_HEADER = "X-Api-Key"
TRACEPARENT = "traceparent"  # W3C trace context: WAHA ignores it, a tracing proxy follows it
VOICE_MIMETYPE = "audio/ogg; codecs=opus"
_OPUS_SUFFIXES = (".ogg", ".oga", ".opus")


@dataclass(frozen=True)
class WahaTarget:
    """Where a channel's WAHA session lives."""

    base_url: str
    session: str
    api_key: str | None = None
    channel: str = ""  # the channel's id: the metrics' `channel` label


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
    # A file Ventros keeps (`POST /api/v1/media`), sent by id; the sender replaces it with
    # WAHA's `file` object (`media_file`: a signed link to Ventros, or the base64 body).
    media_id: str | None = None
    media_file: dict[str, Any] | None = None


@dataclass(frozen=True)
class SendRequest:
    path: str
    body: dict[str, Any]


@dataclass(frozen=True)
class SentId:
    """WAHA's serialized id (`true_<chat>_<id>`) and WhatsApp's bare id."""

    serialized: str
    wa_id: str


@dataclass(frozen=True)
class WahaFile:
    """A file WAHA is sending: its declared type and length, and the body in chunks."""

    mimetype: str | None
    length: int | None
    chunks: AsyncIterator[bytes]


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


def _kept_file(content: OutgoingContent) -> dict[str, Any] | None:
    return dict(content.media_file) if content.media_file else None


def build_send(session: str, chat_id: str, content: OutgoingContent) -> SendRequest:
    """The WAHA endpoint and body for one message (the session goes in the body)."""
    base: dict[str, Any] = {"session": session, "chatId": chat_id}
    kind, url = content.type, content.media_url or ""
    kept = _kept_file(content)
    if kind == "text":
        return SendRequest("/api/sendText", {**base, "text": content.text or ""})
    if kind in ("image", "sticker"):  # WAHA has no sticker endpoint
        fallback = "image/webp" if kind == "sticker" else "image/jpeg"
        body = {**base, "file": kept or _file(url, _mimetype(url, fallback), content.filename)}
        if content.caption and kind == "image":
            body["caption"] = content.caption
        return SendRequest("/api/sendImage", body)
    if kind == "document":
        name = content.filename or urlsplit(url).path.rsplit("/", 1)[-1] or "file"
        file = kept or _file(url, _mimetype(url, "application/octet-stream"), name)
        if content.filename:
            file["filename"] = content.filename
        body = {**base, "file": file}
        if content.caption:
            body["caption"] = content.caption
        return SendRequest("/api/sendFile", body)
    if kind == "audio":
        # WhatsApp voice notes are OGG/Opus; anything else WAHA converts with ffmpeg.
        if kept is not None:
            convert = kept["mimetype"] not in ("audio/ogg", "audio/opus")
            kept["mimetype"] = VOICE_MIMETYPE if not convert else kept["mimetype"]
            return SendRequest("/api/sendVoice", {**base, "file": kept, "convert": convert})
        convert = not urlsplit(url).path.lower().endswith(_OPUS_SUFFIXES)
        return SendRequest(
            "/api/sendVoice", {**base, "file": _file(url, VOICE_MIMETYPE), "convert": convert}
        )
    if kind == "video":
        file = kept or _file(url, _mimetype(url, "video/mp4"), content.filename)
        body = {**base, "file": file, "convert": file["mimetype"] != "video/mp4"}
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


def _error_kind(error: WahaError) -> str:
    if error.status_code is not None:
        return f"{error.status_code // 100}xx"
    text = str(error)
    if "timed out" in text:
        return "timeout"
    return "unreachable" if "unreachable" in text else "invalid"


class WahaClient:
    """One shared aiohttp session for every channel (each call names its WAHA).

    aiohttp rather than httpx here: the sender is the hot path (one request per outbound
    message), and httpx's per-request CPU held it near 280 msg/s where aiohttp's C parser
    and connection pool reach the 500+ the product needs (bench/outbound.py). A session
    belongs to an event loop, so it is made on first use in the running one.
    """

    # Every client of the process, so that shutdown closes their sessions (some live in
    # process-wide caches no container owns; aiohttp logs "Unclosed client session").
    _everyone: ClassVar[weakref.WeakSet[WahaClient]] = weakref.WeakSet()

    def __init__(self, *, timeout_seconds: float, max_connections: int = 256) -> None:
        self._timeout = aiohttp.ClientTimeout(total=timeout_seconds)
        self._max_connections = max_connections
        self._session: aiohttp.ClientSession | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        WahaClient._everyone.add(self)

    @classmethod
    async def close_all(cls) -> None:
        """Close the sessions every client opened in the running event loop."""
        for client in list(cls._everyone):
            await client.aclose()

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
        answer = await self._call("POST", target, request.path, json=request.body, operation="send")
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
            operation="profile_picture",
        )
        url = answer.get("profilePictureURL") if isinstance(answer, dict) else None
        return str(url) if url else None

    async def check_exists(self, target: WahaTarget, phone: str) -> str | None:
        """`GET /api/contacts/check-exists`: the chat id WhatsApp knows for the number (a
        pre-2012 Brazilian number answers its 12-digit id), None when it is not on WhatsApp."""
        answer = await self._call(
            "GET",
            target,
            "/api/contacts/check-exists",
            params={"phone": phone, "session": target.session},
        )
        if not isinstance(answer, dict) or not answer.get("numberExists"):
            return None
        chat_id = answer.get("chatId")
        return str(chat_id) if chat_id else f"{phone}@c.us"

    async def session_info(self, target: WahaTarget) -> dict[str, Any]:
        """`GET /api/sessions/{session}`: `{name, status, me{id, pushName}, ...}`."""
        answer = await self._call("GET", target, f"/api/sessions/{quote(target.session)}")
        return answer if isinstance(answer, dict) else {}

    async def qr_png(self, target: WahaTarget) -> bytes:
        """`GET /api/{session}/auth/qr?format=image`: the current pairing QR code, PNG."""
        path = f"/api/{quote(target.session)}/auth/qr"
        content: bytes = await self._call(
            "GET", target, path, params={"format": "image"}, accept="image/png", raw=True
        )
        return content

    async def session_action(self, target: WahaTarget, action: str) -> None:
        """`POST /api/sessions/{session}/restart|logout|start|stop`."""
        await self._call(
            "POST", target, f"/api/sessions/{quote(target.session)}/{action}", raw=True
        )

    @contextlib.asynccontextmanager
    async def file(self, target: WahaTarget, path: str) -> AsyncIterator[WahaFile]:
        """`GET {base_url}{path}` with `X-Api-Key`, streamed (`/api/files/...`: media WAHA
        keeps for a few minutes). Raises WahaError like the other calls; redirects are not
        followed (the key must not travel elsewhere)."""
        headers = {API_KEY_HEADER: target.api_key} if target.api_key else {}
        url = target.base_url.rstrip("/") + path
        try:
            # No total limit (a large file may take a while), but each read must progress.
            timeout = aiohttp.ClientTimeout(total=None, sock_read=self._timeout.total)
            async with self._session_here().get(
                url, headers=headers, allow_redirects=False, timeout=timeout
            ) as response:
                if response.status >= 300:
                    raise WahaError(
                        error_summary(response.status),
                        status_code=response.status,
                        retryable=response.status >= 500 or response.status == 429,
                    )
                yield WahaFile(
                    mimetype=response.headers.get("Content-Type"),
                    length=response.content_length,
                    chunks=response.content.iter_chunked(64 * 1024),
                )
        except TimeoutError as error:
            raise WahaError("WAHA timed out (no answer in time)", retryable=True) from error
        except aiohttp.ClientError as error:
            raise WahaError(f"WAHA unreachable: {type(error).__name__}", retryable=True) from error

    async def _call(
        self,
        method: str,
        target: WahaTarget,
        path: str,
        *,
        json: dict[str, Any] | None = None,
        params: dict[str, str] | None = None,
        operation: str = "call",
        accept: str = "application/json",
        raw: bool = False,
    ) -> Any:
        started = time.perf_counter()
        try:
            with span(
                f"WAHA {method} {path}",
                kind=SpanKind.CLIENT,
                attributes={"ventros.channel": target.channel, "ventros.operation": operation},
            ):
                return await self._request(
                    method, target, path, json=json, params=params, accept=accept, raw=raw
                )
        except WahaError as error:
            PROCESS.waha_request_errors_total.labels(
                target.channel, operation, _error_kind(error)
            ).inc()
            raise
        finally:
            PROCESS.waha_request_duration_seconds.labels(target.channel, operation).observe(
                time.perf_counter() - started
            )

    async def _request(
        self,
        method: str,
        target: WahaTarget,
        path: str,
        *,
        json: dict[str, Any] | None,
        params: dict[str, str] | None,
        accept: str,
        raw: bool,
    ) -> Any:
        headers = {"Accept": accept}
        traceparent = current_traceparent()
        if traceparent:
            headers[TRACEPARENT] = traceparent
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
        if raw:
            return content
        try:
            return jsonlib.loads(content)
        except ValueError as error:
            raise WahaError("WAHA answered with no JSON", retryable=False) from error
