"""The WhatsApp sender: one message to one channel's WAHA, politely and not twice.

- **Rate limit** per channel (`rate_limit_per_minute`), counted with the `limits` library
  (`platform.ratelimit`, shared through Redis when configured): a send over the limit waits
  for the window, within the message's deadline.
- **Retries** (tenacity): timeouts, connection errors, 429 and 5xx, with exponential backoff
  and jitter, until the attempts or the deadline run out. Other answers fail at once.
- **Circuit breaker** per channel, in this process: after `failures` sends in a row that
  failed for good it opens and sends fail fast; after `reset_seconds` one probe goes through
  (half-open) and its outcome closes or reopens it.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field

import structlog
from tenacity import (
    AsyncRetrying,
    RetryCallState,
    retry_if_exception,
    stop_after_attempt,
    stop_after_delay,
    wait_random_exponential,
)

from ventros.channels.waha_client import (
    OutgoingContent,
    SendRequest,
    SentId,
    WahaClient,
    WahaError,
    WahaTarget,
    build_send,
)
from ventros.platform.ratelimit import RateLimits
from ventros.platform.settings import Settings

log = structlog.get_logger(__name__)

CLOSED = "closed"
OPEN = "open"
HALF_OPEN = "half_open"


class SendFailed(Exception):
    """The message did not go out; `error` is what the message records."""

    def __init__(self, error: str) -> None:
        super().__init__(error)
        self.error = error


@dataclass(frozen=True)
class SenderPolicy:
    deadline_seconds: float = 120.0
    attempts: int = 6
    retry_base_seconds: float = 1.0
    retry_max_seconds: float = 30.0
    breaker_failures: int = 5
    breaker_reset_seconds: float = 30.0

    @classmethod
    def from_settings(cls, settings: Settings) -> SenderPolicy:
        return cls(
            deadline_seconds=settings.waha_send_deadline_seconds,
            attempts=settings.waha_retry_attempts,
            retry_base_seconds=settings.waha_retry_base_seconds,
            retry_max_seconds=settings.waha_retry_max_seconds,
            breaker_failures=settings.waha_breaker_failures,
            breaker_reset_seconds=settings.waha_breaker_reset_seconds,
        )


@dataclass
class CircuitBreaker:
    failures_to_open: int
    reset_seconds: float
    clock: Callable[[], float] = time.monotonic
    failures: int = 0
    opened_at: float | None = None
    probing: bool = False

    @property
    def state(self) -> str:
        if self.opened_at is None:
            return CLOSED
        if self.probing or self.clock() - self.opened_at >= self.reset_seconds:
            return HALF_OPEN
        return OPEN

    def allow(self) -> bool:
        """True if a send may go now; in half-open state only one probe at a time."""
        state = self.state
        if state == CLOSED:
            return True
        if state == HALF_OPEN and not self.probing:
            self.probing = True
            return True
        return False

    def succeeded(self) -> None:
        self.failures, self.opened_at, self.probing = 0, None, False

    def failed(self) -> None:
        self.failures += 1
        if self.probing or self.failures >= self.failures_to_open:
            self.opened_at, self.probing = self.clock(), False


@dataclass
class ChannelTarget:
    channel_id: uuid.UUID
    waha: WahaTarget
    rate_limit_per_minute: int


def _retryable(error: BaseException) -> bool:
    return isinstance(error, WahaError) and error.retryable


@dataclass
class Sender:
    client: WahaClient
    rate_limits: RateLimits
    policy: SenderPolicy = field(default_factory=SenderPolicy)
    clock: Callable[[], float] = time.monotonic
    _breakers: dict[uuid.UUID, CircuitBreaker] = field(default_factory=dict)

    def breaker(self, channel_id: uuid.UUID) -> CircuitBreaker:
        if channel_id not in self._breakers:
            self._breakers[channel_id] = CircuitBreaker(
                self.policy.breaker_failures, self.policy.breaker_reset_seconds, self.clock
            )
        return self._breakers[channel_id]

    async def send(
        self,
        target: ChannelTarget,
        chat_id: str,
        content: OutgoingContent,
        *,
        deadline_seconds: float | None = None,
    ) -> SentId:
        """Sends once in effect; raises SendFailed with the error to record."""
        request = build_send(target.waha.session, chat_id, content)
        budget = self.policy.deadline_seconds if deadline_seconds is None else deadline_seconds
        deadline = self.clock() + max(budget, 0.0)
        breaker = self.breaker(target.channel_id)
        if not breaker.allow():
            raise SendFailed("WAHA is failing: circuit breaker open for this channel")
        try:
            await self._wait_for_rate_limit(target, deadline)
            sent = await self._send_with_retries(target, request, deadline)
        except SendFailed:
            breaker.failed()
            raise
        breaker.succeeded()
        return sent

    async def _wait_for_rate_limit(self, target: ChannelTarget, deadline: float) -> None:
        while True:
            verdict = await self.rate_limits.hit_per_minute(
                target.rate_limit_per_minute, "waha-send", str(target.channel_id)
            )
            if verdict.allowed:
                return
            wait = min(float(verdict.reset_seconds), 1.0)
            if self.clock() + wait > deadline:
                raise SendFailed("rate limit of the channel: not sent before the deadline")
            await asyncio.sleep(wait)

    async def _send_with_retries(
        self, target: ChannelTarget, request: SendRequest, deadline: float
    ) -> SentId:
        remaining = max(deadline - self.clock(), 0.0)

        def log_retry(state: RetryCallState) -> None:
            error = state.outcome.exception() if state.outcome else None
            log.warning(
                "WAHA send failed; retrying",
                channel_id=str(target.channel_id),
                attempt=state.attempt_number,
                error=str(error),
            )

        retrying = AsyncRetrying(
            retry=retry_if_exception(_retryable),
            stop=stop_after_attempt(self.policy.attempts) | stop_after_delay(remaining),
            wait=wait_random_exponential(
                multiplier=self.policy.retry_base_seconds, max=self.policy.retry_max_seconds
            ),
            before_sleep=log_retry,
            reraise=True,
        )
        try:
            async for attempt in retrying:
                with attempt:
                    left = deadline - self.clock()
                    if left <= 0:
                        raise WahaError("deadline passed before WAHA answered", retryable=False)
                    async with asyncio.timeout(left):
                        return await self.client.send(target.waha, request)
        except WahaError as error:
            raise SendFailed(error.detail) from error
        except TimeoutError as error:
            raise SendFailed("deadline passed before WAHA answered") from error
        raise SendFailed("not sent")  # pragma: no cover - tenacity returns or raises
