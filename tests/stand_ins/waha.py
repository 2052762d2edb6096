"""A local WAHA stand-in for tests that steer a server in their own thread from Python
(`ventros.stand_ins.waha` is the full simulator, with webhooks, and owns the table of send
endpoints both use): an HTTP server on 127.0.0.1 that checks requests against WAHA's real
API (reference/waha.md §2-3: session in the body, `X-Api-Key`, required fields per endpoint)
and answers like WAHA on the NOWEB engine (201 with a Baileys message; the profile picture
as `{profilePictureURL}`). It can be told to fail: the next n requests with a status, every
request, or after a delay (timeouts).
"""

from __future__ import annotations

import json
import secrets
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

from ventros.stand_ins.waha import REQUIRED, problem

PICTURE_URL = "https://pps.whatsapp.net/v/t61.24694-24/stand-in.jpg"


@dataclass
class Received:
    method: str
    path: str
    body: dict[str, Any] | None
    query: dict[str, str]
    headers: dict[str, str]
    at: float


@dataclass
class WahaStandIn:
    api_key: str = "waha-api-key-123"
    sessions: tuple[str, ...] = ("default",)
    requests: list[Received] = field(default_factory=list)
    fail_next: int = 0
    fail_status: int = 500
    fail_always: bool = False
    delay_seconds: float = 0.0
    answered_ids: list[str] = field(default_factory=list)
    picture_url: str | None = PICTURE_URL
    next_key_ids: list[str] = field(default_factory=list)  # else random

    def __post_init__(self) -> None:
        self._lock = threading.Lock()
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()

    @property
    def base_url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}"

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()

    def sends(self) -> list[Received]:
        return [r for r in self.requests if r.path in REQUIRED]

    def fail(self, times: int = 1, status: int = 500) -> None:
        self.fail_next, self.fail_status = times, status

    def _decide(self) -> int | None:
        with self._lock:
            if self.fail_always:
                return self.fail_status
            if self.fail_next > 0:
                self.fail_next -= 1
                return self.fail_status
        return None

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: object) -> None:
                pass

            def _answer(self, status: int, body: Any) -> None:
                data = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def _common(self, method: str) -> tuple[Received, bool]:
                split = urlsplit(self.path)
                length = int(self.headers.get("Content-Length") or 0)
                raw = self.rfile.read(length) if length else b""
                body = json.loads(raw) if raw else None
                query = {k: v[0] for k, v in parse_qs(split.query).items()}
                received = Received(
                    method, split.path, body, query, dict(self.headers), time.monotonic()
                )
                outer.requests.append(received)
                if outer.delay_seconds:
                    time.sleep(outer.delay_seconds)
                if self.headers.get("X-Api-Key") != outer.api_key:
                    self._answer(401, {"message": "Unauthorized", "statusCode": 401})
                    return received, False
                failing = outer._decide()
                if failing is not None:
                    self._answer(failing, {"message": "stand-in failing", "statusCode": failing})
                    return received, False
                return received, True

            def do_POST(self) -> None:
                received, go_on = self._common("POST")
                if not go_on:
                    return
                body = received.body
                if received.path not in REQUIRED:
                    self._answer(404, {"message": f"Cannot POST {received.path}"})
                    return
                refused = problem(received.path, body, outer.sessions)
                if refused:
                    self._answer(400, {"message": refused, "statusCode": 400})
                    return
                assert body is not None
                with outer._lock:
                    queued = outer.next_key_ids.pop(0) if outer.next_key_ids else None
                key_id = queued or "3EB0" + secrets.token_hex(9).upper()
                remote = str(body["chatId"]).replace("@c.us", "@s.whatsapp.net")
                outer.answered_ids.append(f"true_{body['chatId']}_{key_id}")
                self._answer(
                    201,
                    {
                        "key": {"remoteJid": remote, "fromMe": True, "id": key_id},
                        "message": {"extendedTextMessage": {"text": body.get("text", "")}},
                        "messageTimestamp": str(int(time.time())),
                        "status": "PENDING",
                    },
                )

            def do_GET(self) -> None:
                received, go_on = self._common("GET")
                if not go_on:
                    return
                if received.path != "/api/contacts/profile-picture":
                    self._answer(404, {"message": f"Cannot GET {received.path}"})
                    return
                query = received.query
                if not query.get("contactId") or query.get("session") not in outer.sessions:
                    self._answer(400, {"message": "contactId and session are required"})
                    return
                self._answer(200, {"profilePictureURL": outer.picture_url})

        return Handler
