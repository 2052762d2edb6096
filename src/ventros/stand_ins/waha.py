"""WAHA simulator: a local server that speaks WAHA's HTTP API and webhook format.

What it does, in WAHA's wire format (`shared/reference/waha.md`, `shared/fixtures/waha`, engine
NOWEB, version 2026.7.1):

- **Sends**: `POST /api/sendText|sendImage|sendFile|sendVoice|sendVideo|sendLocation|
  sendContactVcard` with the session in the body and `X-Api-Key` (or `?x-api-key=`). Required
  fields are checked per endpoint (400 otherwise), a wrong key gets WAHA's 401, and a good
  send gets 201 with a Baileys message (`key.id` = the message id).
  `GET /api/contacts/profile-picture` answers `{profilePictureURL}`; `GET /api/sessions`,
  `GET /api/sessions/{session}` and `GET /ping` answer like WAHA too.
- **Acks**: after each send, `message.ack` webhooks (ack 1 SERVER, then 2 DEVICE, then 3
  READ when `read_acks`) go to the webhook URL, signed like WAHA: `X-Webhook-Hmac` = hex
  HMAC-SHA512 of the raw compact JSON body, `X-Webhook-Hmac-Algorithm: sha512`.
- **A customer writing in**: `POST /_sim/customer-message {from, body, push_name}` posts a
  signed `message` webhook like `message.text.json` and answers with Ventros's status.
- **Customers' files**: `POST /_sim/customer-media {from, kind: image|voice|audio|video|
  document, data_base64, mimetype, filename?, caption?}` keeps the file like WAHA, serves it
  at `GET /api/files/{session}/{name}` (with the API key) for `files_lifetime_seconds`, and
  posts a `message` webhook whose `media.url` links to it.
- **The session**: `GET /api/sessions/{session}` tells its status; `POST /_sim/pair
  {rotations, rotate_seconds}` plays a phone pairing (STARTING, SCAN_QR_CODE with a new QR
  code at each rotation, served as PNG at `GET /api/{session}/auth/qr`, then WORKING), each
  step a `session.status` webhook; `POST /_sim/status {status}` sets any status (FAILED...);
  `POST /api/sessions/{session}/restart|logout` restart it, or unpair and pair again.
- **Numbers**: `GET /api/contacts/check-exists` answers like WAHA; `POST /_sim/numbers
  {legacy: [...], unknown: [...]}` names Brazilian numbers WhatsApp knows by their 12-digit
  id and numbers not on WhatsApp.
- **Failures on demand**: `POST /_sim/fail {status, count | always, delay_seconds}` makes the
  next `count` sends (or all) answer `status`, and every call wait `delay_seconds` first (a
  delay past the client's timeout is a timeout). `POST /_sim/reset` clears failures and
  the log; `GET /_sim/sends` lists the sends received; `POST /_sim/webhook {url, secret}`
  points the webhooks elsewhere.

Run it: `ventros waha-sim --port 3000 --api-key K --webhook-url http://127.0.0.1:8000/
webhooks/waha/<channel id> --webhook-secret S`; play a customer: `ventros waha-sim say
--sim-url http://127.0.0.1:3000 --from 5511976543210 "Olá!"`. `ventros run` starts one for
the demo channel. Tests may run `WahaSimulator(...).app` in-process or `serve()` it.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import contextlib
import hashlib
import hmac
import io
import json
import os
import secrets
import socket
import time
from collections import deque
from collections.abc import AsyncIterator, Generator
from dataclasses import dataclass, field
from typing import Any

import httpx
import segno
import structlog
import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response, StreamingResponse
from starlette.routing import Route

log = structlog.get_logger(__name__)

WAHA_VERSION = "2026.7.1"
ENGINE = "NOWEB"
DEFAULT_API_KEY = "waha-sim-api-key"
PICTURE_URL = "https://pps.whatsapp.net/v/t61.24694-24/waha-sim.jpg"
ME = {"id": "5511940028922@c.us", "pushName": "Ventros Demo", "lid": "81723401958234@lid"}
HMAC_HEADER = "X-Webhook-Hmac"
HMAC_ALGORITHM_HEADER = "X-Webhook-Hmac-Algorithm"
ACK_NAMES = {-1: "ERROR", 0: "PENDING", 1: "SERVER", 2: "DEVICE", 3: "READ", 4: "PLAYED"}

# Required body fields of each send endpoint (WAHA 2026.7.1 OpenAPI).
REQUIRED: dict[str, tuple[str, ...]] = {
    "/api/sendText": ("session", "chatId", "text"),
    "/api/sendImage": ("session", "chatId", "file"),
    "/api/sendFile": ("session", "chatId", "file"),
    "/api/sendVoice": ("session", "chatId", "file", "convert"),
    "/api/sendVideo": ("session", "chatId", "file", "convert"),
    "/api/sendLocation": ("session", "chatId", "latitude", "longitude", "title"),
    "/api/sendContactVcard": ("session", "chatId", "contacts"),
}
MEDIA_ENDPOINTS = ("/api/sendImage", "/api/sendFile", "/api/sendVoice", "/api/sendVideo")
_CROCKFORD = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"


# --------------------------------------------------------------------------- wire format


def problem(path: str, body: Any, sessions: tuple[str, ...]) -> str | None:
    """Why WAHA would refuse this send body (400), or None when it is a valid request."""
    required = REQUIRED[path]
    if not isinstance(body, dict):
        return "body must be a JSON object"
    missing = [name for name in required if name not in body]
    if missing:
        return f"missing {', '.join(missing)}"
    if body["session"] not in sessions:
        return f"session {body['session']!r} does not exist"
    chat = str(body["chatId"])
    if not chat.endswith(("@c.us", "@g.us", "@lid")) or chat.startswith("+"):
        return f"bad chatId {chat!r}"
    if path in MEDIA_ENDPOINTS:
        file = body["file"]
        if not isinstance(file, dict) or not file.get("mimetype"):
            return "file.mimetype is required"
        if not (file.get("url") or file.get("data")):
            return "file.url or file.data is required"
    if path == "/api/sendLocation" and not all(
        isinstance(body[k], int | float) and not isinstance(body[k], bool)
        for k in ("latitude", "longitude")
    ):
        return "latitude and longitude must be numbers"
    if path == "/api/sendContactVcard" and not (
        isinstance(body["contacts"], list) and body["contacts"]
    ):
        return "contacts must be a non-empty array"
    return None


def new_key_id() -> str:
    """A WhatsApp message id like the ones WhatsApp Web makes (`3EB0` + 18 hex)."""
    return "3EB0" + secrets.token_hex(9).upper()


def ulid(at_ms: int | None = None) -> str:
    """A ULID (upper case): 10 chars of milliseconds, 16 random, Crockford base32."""
    value = ((int(time.time() * 1000) if at_ms is None else at_ms) << 80) | secrets.randbits(80)
    return "".join(_CROCKFORD[(value >> shift) & 31] for shift in range(125, -1, -5))


def chat_id_of(phone_or_chat: str) -> str:
    """`+55 11 97654-3210`, `5511976543210` or `5511976543210@c.us` → `5511976543210@c.us`."""
    if "@" in phone_or_chat:
        return phone_or_chat
    digits = "".join(c for c in phone_or_chat if c.isdigit())
    if not digits:
        raise ValueError(f"not a phone number: {phone_or_chat!r}")
    return f"{digits}@c.us"


def _jid(chat_id: str) -> str:
    return chat_id.replace("@c.us", "@s.whatsapp.net")


def _baileys_content(path: str, body: dict[str, Any]) -> dict[str, Any]:
    file = body.get("file") if isinstance(body.get("file"), dict) else {}
    assert isinstance(file, dict)
    if path == "/api/sendText":
        return {"extendedTextMessage": {"text": body.get("text", "")}}
    if path == "/api/sendImage":
        return {"imageMessage": {"url": file.get("url"), "mimetype": file.get("mimetype"),
                                 "caption": body.get("caption")}}  # fmt: skip
    if path == "/api/sendFile":
        return {"documentMessage": {"url": file.get("url"), "mimetype": file.get("mimetype"),
                                    "fileName": file.get("filename")}}  # fmt: skip
    if path == "/api/sendVoice":
        return {"audioMessage": {"url": file.get("url"), "mimetype": file.get("mimetype"),
                                 "ptt": True}}  # fmt: skip
    if path == "/api/sendVideo":
        return {"videoMessage": {"url": file.get("url"), "mimetype": file.get("mimetype"),
                                 "caption": body.get("caption")}}  # fmt: skip
    if path == "/api/sendLocation":
        return {"locationMessage": {"degreesLatitude": body.get("latitude"),
                                    "degreesLongitude": body.get("longitude"),
                                    "name": body.get("title")}}  # fmt: skip
    contacts = body.get("contacts") or []
    first = contacts[0] if contacts and isinstance(contacts[0], dict) else {}
    return {"contactMessage": {"vcard": first.get("vcard"), "displayName": first.get("fullName")}}


def send_response(path: str, body: dict[str, Any], key_id: str, at: float) -> dict[str, Any]:
    """WAHA NOWEB's 201 body for a send: the raw Baileys message (send_text.response.json)."""
    return {
        "key": {"remoteJid": _jid(str(body["chatId"])), "fromMe": True, "id": key_id},
        "message": _baileys_content(path, body),
        "messageTimestamp": str(int(at)),
        "status": "PENDING",
    }


def envelope(
    event: str, session: str, payload: dict[str, Any], *, me: dict[str, Any] | None = None
) -> dict[str, Any]:
    """WAHA's webhook envelope around `payload` (key order as WAHA sends it)."""
    now_ms = int(time.time() * 1000)
    return {
        "id": "evt_" + ulid(now_ms).lower(),
        "timestamp": now_ms,
        "event": event,
        "session": session,
        "me": dict(me or ME),
        "payload": payload,
        "engine": ENGINE,
        "environment": {
            "version": WAHA_VERSION,
            "engine": ENGINE,
            "tier": "CORE",
            "browser": None,
            "platform": "linux/x64",
            "worker": {"id": None},
        },
    }


def ack_payload(chat_id: str, key_id: str, ack: int) -> dict[str, Any]:
    """`message.ack` payload for a message we sent (message.ack.delivered.json)."""
    return {
        "id": f"true_{chat_id}_{key_id}",
        "from": chat_id,
        "fromMe": True,
        "ack": ack,
        "ackName": ACK_NAMES[ack],
        "_data": {
            "key": {"remoteJid": _jid(chat_id), "fromMe": True, "id": key_id},
            "update": {"status": ack + 1},  # NOWEB: ack = Baileys status - 1
        },
    }


def customer_payload(
    chat_id: str, text: str, *, push_name: str | None, key_id: str | None = None
) -> dict[str, Any]:
    """An incoming DM text (`message`), as in message.text.json."""
    key_id = key_id or secrets.token_hex(16).upper()
    now = int(time.time())
    return {
        "id": f"false_{chat_id}_{key_id}",
        "timestamp": now,
        "from": chat_id,
        "fromMe": False,
        "source": "app",
        "body": text,
        "hasMedia": False,
        "media": None,
        "ack": 2,
        "ackName": "DEVICE",
        "location": None,
        "vCards": None,
        "replyTo": None,
        "_data": {
            "key": {"remoteJid": _jid(chat_id), "fromMe": False, "id": key_id},
            "messageTimestamp": now,
            "pushName": push_name,
            "broadcast": False,
            "message": {"conversation": text},
        },
    }


# The NOWEB `_data.message` key and WAHA's file extension per kind of media.
MEDIA_KINDS: dict[str, tuple[str, str]] = {
    "image": ("imageMessage", "jpeg"),
    "voice": ("audioMessage", "oga"),
    "audio": ("audioMessage", "mp3"),
    "video": ("videoMessage", "mp4"),
    "document": ("documentMessage", "pdf"),
}


def customer_media_payload(
    chat_id: str,
    kind: str,
    file_url: str,
    mimetype: str,
    *,
    size: int,
    filename: str | None = None,
    caption: str | None = None,
    push_name: str | None = None,
    key_id: str | None = None,
) -> dict[str, Any]:
    """An incoming photo, voice note, video or document (`message`), as in message.image.json,
    message.audio.json and message.document.json: `media.url` is WAHA's own file link."""
    payload = customer_payload(chat_id, caption or "", push_name=push_name, key_id=key_id)
    part_key, _ext = MEDIA_KINDS[kind]
    part: dict[str, Any] = {"mimetype": mimetype, "fileLength": str(size)}
    if caption:
        part["caption"] = caption
    if kind == "voice":
        part["ptt"] = True
    if filename:
        part["fileName"] = part["title"] = filename
    payload["_data"]["message"] = {part_key: part}
    media = {"url": file_url, "mimetype": mimetype, "filename": filename, "error": None}
    payload.update(hasMedia=True, media=media, mediaUrl=file_url)
    if not caption:
        payload.pop("body", None)
    return payload


def legacy_id(phone: str, legacy: set[str]) -> str:
    """The WhatsApp id of a number: a Brazilian mobile registered before the ninth digit
    (listed in `legacy`) keeps its 12-digit id, `55` + area + 8 digits."""
    if phone in legacy and phone.startswith("55") and len(phone) == 13 and phone[4] == "9":
        return phone[:4] + phone[5:]
    return phone


def encode(data: dict[str, Any]) -> bytes:
    """`JSON.stringify`: compact, UTF-8, no `\\u` escapes (these are the signed bytes)."""
    return json.dumps(data, ensure_ascii=False, separators=(",", ":")).encode()


def sign(body: bytes, secret: str) -> str:
    return hmac.new(secret.encode(), body, hashlib.sha512).hexdigest()


def webhook_headers(body: bytes, secret: str | None) -> dict[str, str]:
    headers = {
        "Content-Type": "application/json",
        "User-Agent": f"WAHA/{WAHA_VERSION}",
        "X-Webhook-Request-Id": ulid(),
        "X-Webhook-Timestamp": str(int(time.time() * 1000)),
    }
    if secret:
        headers[HMAC_HEADER] = sign(body, secret)
        headers[HMAC_ALGORITHM_HEADER] = "sha512"
    return headers


# --------------------------------------------------------------------------- the simulator


@dataclass
class Sent:
    """One send WAHA accepted."""

    path: str
    body: dict[str, Any]
    key_id: str
    at: float

    @property
    def message_id(self) -> str:
        return f"true_{self.body['chatId']}_{self.key_id}"

    def to_json(self) -> dict[str, Any]:
        return {"path": self.path, "body": self.body, "id": self.message_id, "at": self.at}


@dataclass
class WahaSimulator:
    api_key: str | None = DEFAULT_API_KEY
    webhook_url: str | None = None
    webhook_secret: str | None = None
    sessions: tuple[str, ...] = ("default",)
    acks: bool = True
    read_acks: bool = False
    ack_delay_seconds: float = 0.05
    webhook_attempts: int = 3
    webhook_retry_seconds: float = 1.0
    picture_url: str | None = PICTURE_URL
    # Failures on demand: the next `fail_count` sends (or all) answer `fail_status`.
    fail_status: int = 500
    fail_count: int = 0
    fail_always: bool = False
    delay_seconds: float = 0.0
    # Media WAHA downloaded for customers' messages, served at /api/files/{session}/{name}
    # and deleted after `files_lifetime_seconds` (WAHA's WHATSAPP_FILES_LIFETIME).
    files_lifetime_seconds: float = 180.0
    base_url: str | None = None  # how Ventros reaches this simulator (links in payloads)
    files: dict[str, tuple[bytes, str, float]] = field(default_factory=dict)
    file_downloads: int = 0
    file_failures: int = 0  # the next N file downloads answer 503
    file_chunk_delay_seconds: float = 0.0  # a slow WAHA: a pause before each 64 KiB sent
    # The WhatsApp session: its status per session (WORKING unless a pairing is played), the
    # QR code WAHA shows while SCAN_QR_CODE (a new one at each rotation), restarts asked.
    statuses: dict[str, str] = field(default_factory=dict)
    qr_value: str = ""
    qr_rotations: int = 0
    restarts: int = 0
    logouts: int = 0
    # check-exists: numbers (digits) registered before Brazil's ninth digit, which WhatsApp
    # knows by their 12-digit id, and numbers not on WhatsApp at all.
    legacy_numbers: set[str] = field(default_factory=set)
    unknown_numbers: set[str] = field(default_factory=set)
    exists_checks: int = 0
    sends: deque[Sent] = field(default_factory=lambda: deque(maxlen=100_000))
    sends_total: int = 0
    webhooks_posted: int = 0
    webhook_failures: int = 0

    def __post_init__(self) -> None:
        self._tasks: set[asyncio.Task[None]] = set()
        self._http: httpx.AsyncClient | None = None
        send_routes = [Route(path, self._send, methods=["POST"]) for path in REQUIRED]
        self.app = Starlette(
            routes=[
                *send_routes,
                Route("/api/contacts/profile-picture", self._picture, methods=["GET"]),
                Route("/api/contacts/check-exists", self._check_exists, methods=["GET"]),
                Route("/_sim/numbers", self._numbers, methods=["POST"]),
                Route("/api/sessions", self._sessions, methods=["GET"]),
                Route("/api/sessions/{session}", self._session, methods=["GET"]),
                Route("/ping", self._ping, methods=["GET"]),
                Route("/api/files/{session}/{name}", self._file, methods=["GET"]),
                Route("/api/{session}/auth/qr", self._qr, methods=["GET"]),
                Route("/api/sessions/{session}/{action}", self._session_action, methods=["POST"]),
                Route("/_sim/pair", self._pair, methods=["POST"]),
                Route("/_sim/status", self._status, methods=["POST"]),
                Route("/_sim/customer-media", self._customer_media, methods=["POST"]),
                Route("/_sim/customer-message", self._customer_message, methods=["POST"]),
                Route("/_sim/fail", self._fail, methods=["POST"]),
                Route("/_sim/reset", self._reset, methods=["POST"]),
                Route("/_sim/sends", self._sends, methods=["GET"]),
                Route("/_sim/webhook", self._webhook, methods=["POST"]),
            ],
            lifespan=self._lifespan,
        )

    # ------------------------------------------------------------------ life cycle

    @contextlib.asynccontextmanager
    async def _lifespan(self, _app: Starlette) -> AsyncIterator[None]:
        try:
            yield
        finally:
            await self.aclose()

    async def aclose(self) -> None:
        tasks = list(self._tasks)
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        if self._http is not None:
            await self._http.aclose()
            self._http = None

    def _client(self) -> httpx.AsyncClient:
        if self._http is None:
            self._http = httpx.AsyncClient(timeout=10.0, trust_env=False)
        return self._http

    def _spawn(self, work: Any) -> None:
        task = asyncio.get_running_loop().create_task(work)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    # ------------------------------------------------------------------ webhooks

    async def post_webhook(
        self, data: dict[str, Any], *, url: str | None = None, secret: str | None = None
    ) -> int | None:
        """POSTs a signed envelope like WAHA (retrying network errors and 5xx); the last
        HTTP status, None when nothing answered or no URL is configured."""
        url = url or self.webhook_url
        if not url:
            return None
        body = encode(data)
        status: int | None = None
        for attempt in range(max(self.webhook_attempts, 1)):
            if attempt:
                await asyncio.sleep(self.webhook_retry_seconds)
            try:
                response = await self._client().post(
                    url, content=body, headers=webhook_headers(body, secret or self.webhook_secret)
                )
                status = response.status_code
            except httpx.HTTPError as error:
                log.warning("waha-sim webhook failed", url=url, error=repr(error))
                status = None
                continue
            if status < 500:
                break
        if status is not None and status < 300:
            self.webhooks_posted += 1
        else:
            self.webhook_failures += 1
        return status

    async def _post_acks(self, session: str, chat_id: str, key_id: str) -> None:
        for ack in (1, 2, 3) if self.read_acks else (1, 2):
            await asyncio.sleep(self.ack_delay_seconds)
            await self.post_webhook(
                envelope("message.ack", session, ack_payload(chat_id, key_id, ack))
            )

    async def customer_message(
        self,
        sender: str,
        text: str,
        *,
        push_name: str | None = None,
        session: str | None = None,
        key_id: str | None = None,
        url: str | None = None,
        secret: str | None = None,
    ) -> tuple[dict[str, Any], int | None]:
        """A customer writes in: the `message` envelope posted, and Ventros's answer."""
        payload = customer_payload(chat_id_of(sender), text, push_name=push_name, key_id=key_id)
        data = envelope("message", session or self.sessions[0], payload)
        return data, await self.post_webhook(data, url=url, secret=secret)

    async def customer_media(
        self,
        sender: str,
        kind: str,
        data: bytes,
        mimetype: str,
        *,
        filename: str | None = None,
        caption: str | None = None,
        push_name: str | None = None,
        session: str | None = None,
        base_url: str | None = None,
    ) -> tuple[dict[str, Any], int | None]:
        """A customer sends a file: kept for `files_lifetime_seconds` like WAHA, linked
        from the `message` webhook posted; the envelope and Ventros's answer."""
        if kind not in MEDIA_KINDS:
            raise ValueError(f"kind must be one of {', '.join(MEDIA_KINDS)}")
        session = session or self.sessions[0]
        key_id = new_key_id()
        name = f"{key_id}.{MEDIA_KINDS[kind][1]}"
        self.files[f"{session}/{name}"] = (data, mimetype, time.monotonic())
        root = (base_url or self.base_url or "http://localhost:3000").rstrip("/")
        payload = customer_media_payload(
            chat_id_of(sender),
            kind,
            f"{root}/api/files/{session}/{name}",
            mimetype,
            size=len(data),
            filename=filename,
            caption=caption,
            push_name=push_name,
            key_id=key_id,
        )
        envelope_data = envelope("message", session, payload)
        return envelope_data, await self.post_webhook(envelope_data)

    def expire_files(self) -> None:
        """Deletes the files older than their lifetime, as WAHA does."""
        now = time.monotonic()
        for key, (_data, _type, at) in list(self.files.items()):
            if now - at >= self.files_lifetime_seconds:
                del self.files[key]

    # ------------------------------------------------------------------ the session

    async def set_status(self, status: str, session: str | None = None) -> int | None:
        """The session's status changes: recorded, and a `session.status` webhook posted."""
        session = session or self.sessions[0]
        self.statuses[session] = status
        now_ms = int(time.time() * 1000)
        payload = {
            "name": session,
            "status": status,
            "statuses": [{"status": status, "timestamp": now_ms}],
            "data": None,
        }
        me = ME if status == "WORKING" else None
        data = envelope("session.status", session, payload)
        data["me"] = me
        return await self.post_webhook(data)

    async def play_pairing(
        self, *, rotations: int = 3, rotate_seconds: float = 0.5, session: str | None = None
    ) -> None:
        """A phone pairs: STARTING, then SCAN_QR_CODE with a new QR code `rotations` times
        (WAHA re-emits the status at each rotation), then WORKING once it is scanned."""
        await self.set_status("STARTING", session)
        for _ in range(max(rotations, 1)):
            self.qr_value = f"2@{secrets.token_urlsafe(48)},{secrets.token_urlsafe(32)},1"
            self.qr_rotations += 1
            await self.set_status("SCAN_QR_CODE", session)
            await asyncio.sleep(rotate_seconds)
        self.qr_value = ""
        await self.set_status("WORKING", session)

    # ------------------------------------------------------------------ WAHA API

    def _authorised(self, request: Request) -> bool:
        if not self.api_key:
            return True
        given = request.headers.get("x-api-key") or request.query_params.get("x-api-key")
        return given is not None and hmac.compare_digest(given, self.api_key)

    async def _gate(self, request: Request, *, counts: bool) -> Response | None:
        """Latency, auth and injected failures: an answer to give instead, or None."""
        if self.delay_seconds > 0:
            await asyncio.sleep(self.delay_seconds)
        if not self._authorised(request):
            return _json({"message": "Unauthorized", "statusCode": 401}, 401)
        if counts and (self.fail_always or self.fail_count > 0):
            if not self.fail_always:
                self.fail_count -= 1
            status = self.fail_status
            return _json({"message": "waha-sim failing on purpose", "statusCode": status}, status)
        return None

    async def _send(self, request: Request) -> Response:
        refused = await self._gate(request, counts=True)
        if refused is not None:
            return refused
        path = request.url.path
        try:
            body = json.loads(await request.body())
        except ValueError:
            return _json({"message": "body must be JSON", "statusCode": 400}, 400)
        reason = problem(path, body, self.sessions)
        if reason:
            return _json({"message": reason, "statusCode": 400}, 400)
        now = time.time()
        key_id = new_key_id()
        self.sends.append(Sent(path, body, key_id, now))
        self.sends_total += 1
        if self.acks and self.webhook_url:
            self._spawn(self._post_acks(str(body["session"]), str(body["chatId"]), key_id))
        return _json(send_response(path, body, key_id, now), 201)

    async def _picture(self, request: Request) -> Response:
        refused = await self._gate(request, counts=False)
        if refused is not None:
            return refused
        query = request.query_params
        if not query.get("contactId") or query.get("session") not in self.sessions:
            return _json({"message": "contactId and session are required", "statusCode": 400}, 400)
        return _json({"profilePictureURL": self.picture_url}, 200)

    async def _check_exists(self, request: Request) -> Response:
        refused = await self._gate(request, counts=False)
        if refused is not None:
            return refused
        query = request.query_params
        phone = "".join(ch for ch in query.get("phone", "") if ch.isdigit())
        if not phone or query.get("session") not in self.sessions:
            return _json({"message": "phone and session are required", "statusCode": 400}, 400)
        self.exists_checks += 1
        if phone in self.unknown_numbers:
            return _json({"numberExists": False}, 200)
        return _json(
            {"numberExists": True, "chatId": f"{legacy_id(phone, self.legacy_numbers)}@c.us"}, 200
        )

    def status_of(self, name: str) -> str:
        return self.statuses.get(name, "WORKING")

    def _session_info(self, name: str) -> dict[str, Any]:
        status = self.status_of(name)
        me = ME if status == "WORKING" else None
        return {"name": name, "status": status, "me": me, "engine": {"engine": ENGINE}}

    async def _sessions(self, request: Request) -> Response:
        refused = await self._gate(request, counts=False)
        return refused or _json([self._session_info(s) for s in self.sessions], 200)

    async def _session(self, request: Request) -> Response:
        refused = await self._gate(request, counts=False)
        if refused is not None:
            return refused
        name = request.path_params["session"]
        if name not in self.sessions:
            return _json({"message": f"Session {name!r} does not exist", "statusCode": 404}, 404)
        return _json(self._session_info(name), 200)

    async def _file(self, request: Request) -> Response:
        refused = await self._gate(request, counts=False)
        if refused is not None:
            return refused
        if self.file_failures > 0:
            self.file_failures -= 1
            return _json({"message": "waha-sim failing on purpose", "statusCode": 503}, 503)
        self.expire_files()
        key = f"{request.path_params['session']}/{request.path_params['name']}"
        found = self.files.get(key)
        if found is None:
            return _json({"message": "File not found", "statusCode": 404}, 404)
        self.file_downloads += 1
        if self.file_chunk_delay_seconds <= 0:
            return Response(found[0], 200, media_type=found[1])
        return StreamingResponse(
            self._slowly(found[0]),
            media_type=found[1],
            headers={"Content-Length": str(len(found[0]))},
        )

    async def _slowly(self, data: bytes) -> AsyncIterator[bytes]:
        for start in range(0, len(data), 64 * 1024):
            await asyncio.sleep(self.file_chunk_delay_seconds)
            yield data[start : start + 64 * 1024]

    async def _qr(self, request: Request) -> Response:
        refused = await self._gate(request, counts=False)
        if refused is not None:
            return refused
        session = request.path_params["session"]
        status = self.status_of(session)
        if status != "SCAN_QR_CODE" or not self.qr_value:
            reason = f"Can get QR code only in SCAN_QR_CODE status. The current status is {status}"
            return _json({"message": reason, "statusCode": 422}, 422)
        image = io.BytesIO()
        segno.make(self.qr_value, error="l").save(image, kind="png", scale=4)
        return Response(image.getvalue(), 200, media_type="image/png")

    async def _session_action(self, request: Request) -> Response:
        refused = await self._gate(request, counts=False)
        if refused is not None:
            return refused
        session, action = request.path_params["session"], request.path_params["action"]
        if session not in self.sessions:
            return _json({"message": f"Session {session!r} does not exist", "statusCode": 404}, 404)
        if action == "restart":
            self.restarts += 1
            self._spawn(self._restarted(session))
        elif action == "logout":
            self.logouts += 1
            self._spawn(self.play_pairing(session=session))
        else:
            return _json({"message": f"unknown action {action!r}", "statusCode": 404}, 404)
        return _json(self._session_info(session), 201)

    async def _restarted(self, session: str) -> None:
        await self.set_status("STARTING", session)
        await self.set_status("WORKING", session)

    async def _ping(self, _request: Request) -> Response:
        return _json({"message": "pong"}, 200)

    # ------------------------------------------------------------------ control API

    async def _customer_message(self, request: Request) -> Response:
        data = await _body(request)
        sender, text = data.get("from"), data.get("body")
        if not isinstance(sender, str) or not isinstance(text, str) or not text:
            return _json({"message": "from and body are required"}, 400)
        try:
            chat = chat_id_of(sender)
        except ValueError as error:
            return _json({"message": str(error)}, 400)
        posted, status = await self.customer_message(
            chat,
            text,
            push_name=data.get("push_name"),
            session=data.get("session"),
            key_id=data.get("key_id"),
            url=data.get("webhook_url"),
            secret=data.get("webhook_secret"),
        )
        answer = {"event_id": posted["id"], "message_id": posted["payload"]["id"]}
        return _json({**answer, "webhook_status": status}, 200 if status is not None else 502)

    async def _customer_media(self, request: Request) -> Response:
        data = await _body(request)
        sender, kind, content = data.get("from"), data.get("kind"), data.get("data_base64")
        if not isinstance(sender, str) or not isinstance(kind, str) or not isinstance(content, str):
            return _json({"message": "from, kind and data_base64 are required"}, 400)
        try:
            posted, status = await self.customer_media(
                sender,
                kind,
                base64.b64decode(content, validate=True),
                str(data.get("mimetype") or "application/octet-stream"),
                filename=data.get("filename"),
                caption=data.get("caption"),
                push_name=data.get("push_name"),
                session=data.get("session"),
                base_url=self.base_url or str(request.base_url),
            )
        except (ValueError, binascii.Error) as error:
            return _json({"message": str(error)}, 400)
        answer = {"event_id": posted["id"], "message_id": posted["payload"]["id"]}
        return _json({**answer, "webhook_status": status}, 200 if status is not None else 502)

    async def _pair(self, request: Request) -> Response:
        data = await _body(request)
        self._spawn(
            self.play_pairing(
                rotations=int(data.get("rotations", 3)),
                rotate_seconds=float(data.get("rotate_seconds", 0.5)),
                session=data.get("session"),
            )
        )
        return _json({"pairing": True}, 202)

    async def _status(self, request: Request) -> Response:
        data = await _body(request)
        status = data.get("status")
        if not isinstance(status, str) or not status:
            return _json({"message": "status is required"}, 400)
        webhook = await self.set_status(status, data.get("session"))
        return _json({"status": status, "webhook_status": webhook}, 200)

    async def _numbers(self, request: Request) -> Response:
        data = await _body(request)
        self.legacy_numbers = {str(n) for n in data.get("legacy", self.legacy_numbers)}
        self.unknown_numbers = {str(n) for n in data.get("unknown", self.unknown_numbers)}
        numbers = {"legacy": sorted(self.legacy_numbers), "unknown": sorted(self.unknown_numbers)}
        return _json(numbers, 200)

    async def _fail(self, request: Request) -> Response:
        data = await _body(request)
        status = int(data.get("status", 500))
        if not 100 <= status <= 599:
            return _json({"message": "status must be an HTTP status"}, 400)
        self.fail_status = status
        self.fail_always = bool(data.get("always", False))
        self.fail_count = int(data.get("count", 0 if self.fail_always else 1))
        self.delay_seconds = float(data.get("delay_seconds", self.delay_seconds))
        return _json(self._failure_state(), 200)

    def _failure_state(self) -> dict[str, Any]:
        return {
            "status": self.fail_status,
            "count": self.fail_count,
            "always": self.fail_always,
            "delay_seconds": self.delay_seconds,
        }

    def reset(self) -> None:
        self.fail_count, self.fail_always, self.delay_seconds = 0, False, 0.0
        self.sends.clear()
        self.sends_total = self.webhooks_posted = self.webhook_failures = 0

    async def _reset(self, _request: Request) -> Response:
        self.reset()
        return _json(self._failure_state(), 200)

    async def _sends(self, request: Request) -> Response:
        limit = int(request.query_params.get("limit", "1000"))
        recent = list(self.sends)[-limit:] if limit > 0 else []
        return _json(
            {
                "total": self.sends_total,
                "webhooks_posted": self.webhooks_posted,
                "webhook_failures": self.webhook_failures,
                "sends": [s.to_json() for s in recent],
            },
            200,
        )

    async def _webhook(self, request: Request) -> Response:
        data = await _body(request)
        if "url" in data:
            self.webhook_url = data["url"] or None
        if "secret" in data:
            self.webhook_secret = data["secret"] or None
        if "acks" in data:
            self.acks = bool(data["acks"])
        if "read_acks" in data:
            self.read_acks = bool(data["read_acks"])
        return _json({"url": self.webhook_url, "acks": self.acks, "read_acks": self.read_acks}, 200)


def _json(data: Any, status: int) -> Response:
    return Response(encode(data), status, media_type="application/json")


async def _body(request: Request) -> dict[str, Any]:
    raw = await request.body()
    try:
        data = json.loads(raw) if raw else {}
    except ValueError:
        return {}
    return data if isinstance(data, dict) else {}


# --------------------------------------------------------------------------- serving


class SimulatorServer(uvicorn.Server):
    """uvicorn that sets `ready` once it listens (`port` is where). With
    `handle_signals=False` it leaves SIGINT/SIGTERM to whoever runs it (`ventros run`)."""

    def __init__(self, config: uvicorn.Config, *, handle_signals: bool = False) -> None:
        super().__init__(config)
        self.ready = asyncio.Event()
        self._handle_signals = handle_signals

    @contextlib.contextmanager
    def capture_signals(self) -> Generator[None, None, None]:
        if self._handle_signals:
            with super().capture_signals():
                yield
        else:
            yield

    async def startup(self, sockets: list[socket.socket] | None = None) -> None:
        await super().startup(sockets)
        if self.started:
            self.ready.set()

    @property
    def port(self) -> int:
        for listener in self.servers:
            for sock in listener.sockets:
                return int(sock.getsockname()[1])
        return int(self.config.port)


def server_for(
    simulator: WahaSimulator,
    *,
    host: str = "127.0.0.1",
    port: int = 0,
    handle_signals: bool = False,
) -> SimulatorServer:
    fast = os.name == "posix"
    config = uvicorn.Config(
        simulator.app,
        host=host,
        port=port,
        loop="uvloop" if fast else "asyncio",
        http="httptools" if fast else "h11",
        log_config=None,
        log_level="warning",
        access_log=False,
        lifespan="on",
        server_header=False,
        date_header=False,
        backlog=4096,
    )
    return SimulatorServer(config, handle_signals=handle_signals)


def serve(
    simulator: WahaSimulator,
    *,
    host: str = "127.0.0.1",
    port: int = 3000,
    pair_rotations: int = 0,
    pair_rotate_seconds: float = 20.0,
) -> None:
    """Serve until SIGINT/SIGTERM; prints the URL once it listens. With `pair_rotations`,
    the session starts unpaired and plays a pairing (QR codes, then WORKING)."""
    server = server_for(simulator, host=host, port=port, handle_signals=True)
    if pair_rotations > 0:
        simulator.statuses[simulator.sessions[0]] = "STARTING"

    async def main() -> None:
        announce = asyncio.create_task(_announce(server, host))
        if pair_rotations > 0:
            pairing = _pair_when_up(server, simulator, host, pair_rotations, pair_rotate_seconds)
            simulator._spawn(pairing)
        try:
            await server.serve()
        finally:
            announce.cancel()

    if server.config.loop == "uvloop":
        import uvloop

        uvloop.run(main())
    else:
        asyncio.run(main())


async def _pair_when_up(
    server: SimulatorServer, simulator: WahaSimulator, host: str, rotations: int, seconds: float
) -> None:
    await server.ready.wait()
    simulator.base_url = simulator.base_url or f"http://{host}:{server.port}"
    await simulator.play_pairing(rotations=rotations, rotate_seconds=seconds)


async def _announce(server: SimulatorServer, host: str) -> None:
    await server.ready.wait()
    print(f"WAHA simulator is up: http://{host}:{server.port}", flush=True)  # noqa: T201
