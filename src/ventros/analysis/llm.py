"""The optional LLM provider: any OpenAI-compatible HTTP endpoint (`/chat/completions`,
`/audio/transcriptions`), set per tenant, off by default.

Every call has a timeout, retries on timeouts, 429 and 5xx (honouring a short Retry-After),
and goes through a circuit breaker per endpoint, so a provider that is down costs one
fast failure per call, not a timeout each. Every outcome is counted in
`llm_requests_total{operation,outcome}`. Callers turn a failure into "no summary", "local
intents" or "no transcript": nothing here ever blocks a conversation.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import httpx

from ventros.channels.sender import CircuitBreaker
from ventros.platform.metrics import Metrics

CHAT = "chat"
TRANSCRIPTION = "transcription"
MAX_RETRY_AFTER_SECONDS = 2.0
MAX_ANSWER_CHARS = 8_000


@dataclass(frozen=True)
class LlmConfig:
    base_url: str
    model: str
    transcription_model: str = "whisper-1"
    api_key: str | None = None
    timeout_seconds: float = 10.0
    daily_budget: int = 1000


class LlmFailed(Exception):
    """The provider gave no usable answer; `outcome` names why (a metric label)."""

    def __init__(self, outcome: str, detail: str = "") -> None:
        super().__init__(f"{outcome}: {detail}" if detail else outcome)
        self.outcome = outcome


@dataclass
class LlmClient:
    http: httpx.AsyncClient = field(default_factory=lambda: httpx.AsyncClient())
    retries: int = 2
    breaker_failures: int = 5
    breaker_reset_seconds: float = 30.0
    metrics: Metrics | None = None
    sleep: Callable[[float], Any] = asyncio.sleep
    _breakers: dict[str, CircuitBreaker] = field(default_factory=dict)

    def _breaker(self, base_url: str) -> CircuitBreaker:
        if base_url not in self._breakers:
            self._breakers[base_url] = CircuitBreaker(
                self.breaker_failures, self.breaker_reset_seconds, time.monotonic
            )
        return self._breakers[base_url]

    def count(self, operation: str, outcome: str) -> None:
        metrics = self.metrics or Metrics.latest
        if metrics is not None:
            metrics.llm_requests_total.labels(operation, outcome).inc()

    async def chat(self, config: LlmConfig, messages: Sequence[dict[str, str]]) -> str:
        """The model's answer to a chat, as plain text."""
        body = {"model": config.model, "messages": list(messages), "temperature": 0.2}
        answer = await self._call(CHAT, config, "/chat/completions", json=body)
        try:
            content = answer["choices"][0]["message"]["content"]
        except (KeyError, IndexError, TypeError) as error:
            self.count(CHAT, "malformed")
            raise LlmFailed("malformed", "no choices[0].message.content") from error
        if not isinstance(content, str) or not content.strip():
            self.count(CHAT, "malformed")
            raise LlmFailed("malformed", "empty answer")
        self.count(CHAT, "ok")
        return content.strip()[:MAX_ANSWER_CHARS]

    async def transcribe(
        self, config: LlmConfig, audio: bytes, *, filename: str, mimetype: str
    ) -> str:
        """A voice note's words (Whisper-compatible `/audio/transcriptions`)."""
        answer = await self._call(
            TRANSCRIPTION,
            config,
            "/audio/transcriptions",
            data={"model": config.transcription_model, "response_format": "json"},
            files={"file": (filename, audio, mimetype)},
        )
        words = answer.get("text") if isinstance(answer, dict) else None
        if not isinstance(words, str):
            self.count(TRANSCRIPTION, "malformed")
            raise LlmFailed("malformed", "no text")
        self.count(TRANSCRIPTION, "ok")
        return words.strip()[:MAX_ANSWER_CHARS]

    async def _call(
        self, operation: str, config: LlmConfig, path: str, **request: Any
    ) -> dict[str, Any]:
        breaker = self._breaker(config.base_url)
        if not breaker.allow():
            self.count(operation, "circuit_open")
            raise LlmFailed("circuit_open")
        headers = {"Authorization": f"Bearer {config.api_key}"} if config.api_key else {}
        url = config.base_url.rstrip("/") + path
        outcome, detail = "unavailable", ""
        for attempt in range(self.retries + 1):
            wait = 0.2 * (attempt + 1)
            try:
                response = await self.http.post(
                    url, headers=headers, timeout=config.timeout_seconds, **request
                )
            except httpx.TimeoutException:
                outcome, detail = "timeout", f"no answer in {config.timeout_seconds}s"
            except httpx.HTTPError as error:
                outcome, detail = "unavailable", type(error).__name__
            else:
                if response.status_code == 429 or response.status_code >= 500:
                    outcome = "rate_limited" if response.status_code == 429 else "unavailable"
                    detail = f"HTTP {response.status_code}"
                    wait = _retry_after(response, wait)
                elif response.status_code >= 400:
                    breaker.succeeded()  # the provider answered: our request is at fault
                    self.count(operation, "rejected")
                    raise LlmFailed("rejected", f"HTTP {response.status_code}")
                else:
                    breaker.succeeded()
                    return _json(self, operation, response)
            if attempt < self.retries:
                await self.sleep(wait)
        breaker.failed()
        self.count(operation, outcome)
        raise LlmFailed(outcome, detail)

    async def aclose(self) -> None:
        await self.http.aclose()


def _retry_after(response: httpx.Response, default: float) -> float:
    try:
        return min(float(response.headers.get("retry-after", default)), MAX_RETRY_AFTER_SECONDS)
    except ValueError:
        return default


def _json(client: LlmClient, operation: str, response: httpx.Response) -> dict[str, Any]:
    try:
        body = response.json()
    except ValueError as error:
        client.count(operation, "malformed")
        raise LlmFailed("malformed", "not JSON") from error
    if not isinstance(body, dict):
        client.count(operation, "malformed")
        raise LlmFailed("malformed", "not a JSON object")
    return body
