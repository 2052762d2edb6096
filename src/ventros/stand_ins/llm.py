"""Local stand-in for an OpenAI-compatible LLM provider: `POST /v1/chat/completions` and
the Whisper-compatible `POST /v1/audio/transcriptions` (multipart: `file`, `model`), with
OpenAI's bodies and errors (`{"error": {message, type, code}}`, 401 without the key, 429
with Retry-After), and `GET /media/<name>` serving a voice note to transcribe.

Tests steer it: `answer` (what the model says; default a short summary of the last user
message), `intents` (the answer to an intent-classification prompt), `transcript`,
`fail(times, status)`, `delay_seconds` (a slow model, for timeouts), `malformed(times)`
(a 200 whose body is not JSON). Everything received is kept in `requests`.

Demo: `python -m ventros.stand_ins.llm [--port 8766]`, then set the tenant's provider to
`http://127.0.0.1:8766/v1` (PUT /api/v1/analysis/llm).
"""

from __future__ import annotations

import argparse
import json
import threading
import time
import uuid
from dataclasses import dataclass, field
from email.parser import BytesParser
from email.policy import HTTP
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

VOICE_NOTE = b"OggS\x00\x02fake-opus-voice-note"


@dataclass
class LlmRequest:
    path: str
    headers: dict[str, str]
    body: Any  # JSON for chat; {"model", "filename", "bytes"} for transcriptions


@dataclass
class LlmStandIn:
    port: int = 0
    api_key: str | None = None
    answer: str | None = None
    intents: list[str] = field(default_factory=list)
    transcript: str = "Oi, queria saber do meu pedido, ele ainda não chegou."
    delay_seconds: float = 0.0
    requests: list[LlmRequest] = field(default_factory=list)
    _failures: list[int] = field(default_factory=list)
    _malformed: int = 0
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def __post_init__(self) -> None:
        self._server = ThreadingHTTPServer(("127.0.0.1", self.port), self._handler())
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}/v1"

    @property
    def media_url(self) -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}/media/voice.ogg"

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()

    def fail(self, times: int = 1, status: int = 500) -> None:
        with self._lock:
            self._failures.extend([status] * times)

    def malformed(self, times: int = 1) -> None:
        with self._lock:
            self._malformed += times

    def _next_fault(self) -> int | str | None:
        with self._lock:
            if self._failures:
                return self._failures.pop(0)
            if self._malformed:
                self._malformed -= 1
                return "malformed"
        return None

    def chat_answer(self, body: dict[str, Any]) -> str:
        messages = body.get("messages") or []
        system = " ".join(m.get("content", "") for m in messages if m.get("role") == "system")
        if "Classifique" in system:
            return json.dumps({"intents": self.intents})
        if self.answer is not None:
            return self.answer
        said = [m.get("content", "") for m in messages if m.get("role") == "user"]
        last = said[-1].strip().splitlines()[-1] if said and said[-1].strip() else ""
        return f"Resumo: {last[:200]}"

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        stand_in = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: object) -> None:
                pass

            def _send(self, status: int, body: bytes, content_type: str, **headers: str) -> None:
                self.send_response(status)
                self.send_header("Content-Type", content_type)
                self.send_header("Content-Length", str(len(body)))
                for name, value in headers.items():
                    self.send_header(name.replace("_", "-"), value)
                self.end_headers()
                self.wfile.write(body)

            def _json(self, status: int, body: Any, **headers: str) -> None:
                self._send(status, json.dumps(body).encode(), "application/json", **headers)

            def _error(self, status: int, message: str, kind: str, code: str) -> None:
                extra = {"Retry_After": "0"} if status == 429 else {}
                self._json(
                    status, {"error": {"message": message, "type": kind, "code": code}}, **extra
                )

            def do_GET(self) -> None:
                if self.path.startswith("/media/"):
                    self._send(200, VOICE_NOTE, "audio/ogg")
                else:
                    self._error(404, "not found", "invalid_request_error", "not_found")

            def do_POST(self) -> None:
                raw = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                headers = {k.lower(): v for k, v in self.headers.items()}
                if stand_in.delay_seconds:
                    time.sleep(stand_in.delay_seconds)
                if stand_in.api_key and headers.get("authorization") != (
                    f"Bearer {stand_in.api_key}"
                ):
                    self._error(401, "Incorrect API key", "invalid_request_error", "invalid_key")
                    return
                if self.path.endswith("/chat/completions"):
                    self._chat(raw, headers)
                elif self.path.endswith("/audio/transcriptions"):
                    self._transcription(raw, headers)
                else:
                    self._error(404, "not found", "invalid_request_error", "not_found")

            def _fault(self) -> bool:
                fault = stand_in._next_fault()
                if fault == "malformed":
                    self._send(200, b'{"choices": [ {"message": ', "application/json")
                elif fault == 429:
                    self._error(429, "Rate limit reached", "requests", "rate_limit_exceeded")
                elif isinstance(fault, int):
                    self._error(fault, "The server had an error", "server_error", "server_error")
                return fault is not None

            def _chat(self, raw: bytes, headers: dict[str, str]) -> None:
                try:
                    body = json.loads(raw)
                    assert isinstance(body.get("model"), str)
                    assert isinstance(body.get("messages"), list)
                except (ValueError, AssertionError, AttributeError):
                    self._error(400, "invalid body", "invalid_request_error", "invalid_body")
                    return
                stand_in.requests.append(LlmRequest(self.path, headers, body))
                if self._fault():
                    return
                content = stand_in.chat_answer(body)
                self._json(
                    200,
                    {
                        "id": f"chatcmpl-{uuid.uuid4().hex[:24]}",
                        "object": "chat.completion",
                        "created": int(time.time()),
                        "model": body["model"],
                        "choices": [
                            {
                                "index": 0,
                                "message": {"role": "assistant", "content": content},
                                "finish_reason": "stop",
                            }
                        ],
                        "usage": {"prompt_tokens": 1, "completion_tokens": 1, "total_tokens": 2},
                    },
                )

            def _transcription(self, raw: bytes, headers: dict[str, str]) -> None:
                kind = headers.get("content-type", "")
                if not kind.startswith("multipart/form-data"):
                    self._error(400, "multipart expected", "invalid_request_error", "bad_type")
                    return
                parts = BytesParser(policy=HTTP).parsebytes(
                    b"Content-Type: " + kind.encode() + b"\r\n\r\n" + raw
                )
                fields: dict[str, Any] = {}
                for part in parts.iter_parts():
                    name = part.get_param("name", header="content-disposition")
                    fields[str(name)] = (part.get_filename(), part.get_payload(decode=True))
                if "file" not in fields or "model" not in fields:
                    self._error(400, "file and model required", "invalid_request_error", "fields")
                    return
                filename, audio = fields["file"]
                body = {"model": fields["model"][1].decode(), "filename": filename, "bytes": audio}
                stand_in.requests.append(LlmRequest(self.path, headers, body))
                if self._fault():
                    return
                self._json(200, {"text": stand_in.transcript})

        return Handler


def main() -> None:  # pragma: no cover - manual demo
    parser = argparse.ArgumentParser(description="Local OpenAI-compatible LLM stand-in")
    parser.add_argument("--port", type=int, default=8766)
    parser.add_argument("--api-key", default=None)
    args = parser.parse_args()
    stand_in = LlmStandIn(port=args.port, api_key=args.api_key)
    print(f"LLM stand-in on {stand_in.base_url}", flush=True)  # noqa: T201 - the demo says where
    try:
        threading.Event().wait()
    except KeyboardInterrupt:
        stand_in.close()


if __name__ == "__main__":  # pragma: no cover
    main()
