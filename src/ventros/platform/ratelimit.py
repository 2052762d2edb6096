"""Rate limits with the `limits` library: in memory by default, Redis when configured
(shared by every API process)."""

from __future__ import annotations

import math
import time
from dataclasses import dataclass

from limits import RateLimitItemPerMinute, RateLimitItemPerSecond
from limits.aio.storage import MemoryStorage, RedisStorage, Storage
from limits.aio.strategies import MovingWindowRateLimiter

LOGIN_FAILURES_PER_EMAIL = 10
LOGIN_FAILURES_PER_IP = 100
LOGIN_WINDOW_SECONDS = 15 * 60


@dataclass(frozen=True)
class Verdict:
    allowed: bool
    limit: int
    remaining: int
    reset_seconds: int


def _storage(redis_url: str | None) -> Storage:
    if redis_url:
        uri = "async+" + redis_url if not redis_url.startswith("async+") else redis_url
        return RedisStorage(uri, implementation="redispy", key_prefix="ventros")
    return MemoryStorage()


class RateLimits:
    def __init__(self, redis_url: str | None = None) -> None:
        self.storage = _storage(redis_url)
        self._limiter = MovingWindowRateLimiter(self.storage)

    async def hit_per_minute(self, limit: int, *key: str) -> Verdict:
        """Counts one request against `limit` per minute for `key`."""
        item = RateLimitItemPerMinute(limit)
        allowed = await self._limiter.hit(item, *key)
        stats = await self._limiter.get_window_stats(item, *key)
        reset = max(1, math.ceil(stats.reset_time - time.time()))
        return Verdict(allowed, limit, max(0, stats.remaining), reset)

    async def login_blocked(self, email: str, ip: str) -> int | None:
        """Seconds to wait when the email or the IP has failed too often, else None."""
        for item, key in self._login_items(email, ip):
            stats = await self._limiter.get_window_stats(item, *key)
            if stats.remaining <= 0:
                return max(1, math.ceil(stats.reset_time - time.time()))
        return None

    async def record_login_failure(self, email: str, ip: str) -> None:
        for item, key in self._login_items(email, ip):
            await self._limiter.hit(item, *key)

    @staticmethod
    def _login_items(email: str, ip: str) -> list[tuple[RateLimitItemPerSecond, tuple[str, ...]]]:
        return [
            (
                RateLimitItemPerSecond(LOGIN_FAILURES_PER_EMAIL, LOGIN_WINDOW_SECONDS),
                ("login-email", email.strip().lower()),
            ),
            (
                RateLimitItemPerSecond(LOGIN_FAILURES_PER_IP, LOGIN_WINDOW_SECONDS),
                ("login-ip", ip),
            ),
        ]
