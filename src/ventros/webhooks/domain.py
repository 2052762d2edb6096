"""Outbound webhooks: the Subscription aggregate, event patterns, the retry policy and the
signature. Pure: no I/O.

A subscription's secret is not part of the aggregate: it is generated (or received) once,
sealed by the repository, and opened only by the delivery activity.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
import uuid
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any, ClassVar
from urllib.parse import urlsplit, urlunsplit

from ventros.kernel.aggregate import AggregateRoot
from ventros.kernel.clock import utcnow
from ventros.kernel.errors import RuleViolation
from ventros.kernel.ids import new_id
from ventros.webhooks import events as webhook_events

MAX_URL_LENGTH = 2048
MAX_PATTERNS = 50
MAX_PATTERN_LENGTH = 128
MIN_SECRET_LENGTH = 16
MAX_SECRET_LENGTH = 1024
MAX_ERROR_LENGTH = 500
SECRET_PREFIX = "whsec_"  # noqa: S105 - a prefix, not a secret
SIGNATURE_VERSION = "v1"
# Receivers should refuse signatures older than this (replays); see docs/webhooks.md.
SIGNATURE_TOLERANCE_SECONDS = 300

_SEGMENT = re.compile(r"^[a-z0-9_]+$")


# --------------------------------------------------------------------------- event patterns


def pattern_matches(pattern: str, event_name: str) -> bool:
    """`*` alone matches every event; otherwise dot-separated words where `*` stands for
    exactly one word: `message.*` matches `message.sent`, not `message` nor `contact.created`."""
    if pattern == "*":
        return True
    wanted = pattern.split(".")
    words = event_name.split(".")
    return len(wanted) == len(words) and all(
        w in ("*", n) for w, n in zip(wanted, words, strict=True)
    )


def clean_patterns(patterns: list[str]) -> list[str]:
    cleaned: list[str] = []
    for raw in patterns:
        pattern = raw.strip().lower()
        if not pattern or len(pattern) > MAX_PATTERN_LENGTH:
            raise RuleViolation(
                f"an event pattern must be 1-{MAX_PATTERN_LENGTH} characters", field="events"
            )
        if pattern != "*" and not all(
            word == "*" or _SEGMENT.match(word) for word in pattern.split(".")
        ):
            raise RuleViolation(
                f"invalid event pattern {raw!r}: use names like 'contact.created', "
                "'message.*', or '*' for every event",
                field="events",
            )
        if pattern not in cleaned:
            cleaned.append(pattern)
    if not cleaned:
        raise RuleViolation("at least one event pattern is needed", field="events")
    if len(cleaned) > MAX_PATTERNS:
        raise RuleViolation(f"at most {MAX_PATTERNS} event patterns", field="events")
    return cleaned


# --------------------------------------------------------------------------- target URL


def clean_url(raw: str) -> str:
    """An absolute http(s) URL with a host. Where it may point (SSRF) is checked elsewhere:
    that needs DNS."""
    url = raw.strip()
    if not url or len(url) > MAX_URL_LENGTH:
        raise RuleViolation(f"url must be 1-{MAX_URL_LENGTH} characters", field="url")
    try:
        parts = urlsplit(url)
        port = parts.port  # raises on a non-numeric or out-of-range port
    except ValueError as error:
        raise RuleViolation(f"invalid url: {error}", field="url") from error
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise RuleViolation("url must be an absolute http(s) URL", field="url")
    if port == 0:
        raise RuleViolation("invalid url: port 0", field="url")
    if parts.fragment:
        raise RuleViolation("url must not have a fragment", field="url")
    if any(ch.isspace() for ch in url):
        raise RuleViolation("url must not contain spaces", field="url")
    return url


def redacted_url(url: str) -> str:
    """The URL without credentials or query (which often carry tokens), for events and logs."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    if ":" in host:
        host = f"[{host}]"
    netloc = f"{host}:{parts.port}" if parts.port else host
    return urlunsplit((parts.scheme, netloc, parts.path, "", ""))


# --------------------------------------------------------------------------- secret and signature


def new_secret() -> str:
    return SECRET_PREFIX + secrets.token_urlsafe(32)


def clean_secret(raw: str) -> str:
    if raw != raw.strip() or not MIN_SECRET_LENGTH <= len(raw) <= MAX_SECRET_LENGTH:
        raise RuleViolation(
            f"secret must be {MIN_SECRET_LENGTH}-{MAX_SECRET_LENGTH} characters, "
            "without spaces around it",
            field="secret",
        )
    return raw


def signature(secret: str, body: bytes, timestamp: int) -> str:
    """`X-Ventros-Signature`: `t=<unix seconds>,v1=<hex HMAC-SHA256 of "<t>.<body>">`."""
    signed = str(timestamp).encode() + b"." + body
    digest = hmac.new(secret.encode(), signed, hashlib.sha256).hexdigest()
    return f"t={timestamp},{SIGNATURE_VERSION}={digest}"


def signature_valid(
    secret: str,
    header: str,
    body: bytes,
    *,
    now: float,
    tolerance_seconds: float = SIGNATURE_TOLERANCE_SECONDS,
) -> bool:
    """What a receiver checks (docs/webhooks.md shows the same in plain Python)."""
    timestamp: int | None = None
    candidates: list[str] = []
    for item in header.split(","):
        key, _, value = item.strip().partition("=")
        if key == "t" and value.isdigit():
            timestamp = int(value)
        elif key == SIGNATURE_VERSION:
            candidates.append(value)
    if timestamp is None or abs(now - timestamp) > tolerance_seconds:
        return False
    expected = signature(secret, body, timestamp).rpartition("=")[2]
    return any(hmac.compare_digest(expected, candidate) for candidate in candidates)


# --------------------------------------------------------------------------- retry policy


@dataclass(frozen=True, slots=True)
class DeliveryPolicy:
    """When a failed delivery is tried again: exponential backoff from `initial_interval`,
    doubling, capped at `max_interval`, until `max_elapsed` after the first attempt (or
    `max_attempts`). Each delay is shortened by up to `JITTER` at random, so the retries
    of many deliveries that failed together do not arrive together."""

    initial_interval_seconds: float = 1.0
    max_interval_seconds: float = 3600.0
    max_elapsed_seconds: float = 86_400.0
    max_attempts: int | None = None

    BACKOFF: ClassVar[float] = 2.0
    JITTER: ClassVar[float] = 0.2
    MIN_INTERVAL: ClassVar[float] = 0.1
    MAX_INTERVAL: ClassVar[float] = 86_400.0
    MAX_ELAPSED: ClassVar[float] = 7 * 86_400.0
    MAX_ATTEMPTS: ClassVar[int] = 1000

    def __post_init__(self) -> None:
        if not self.MIN_INTERVAL <= self.initial_interval_seconds <= self.MAX_INTERVAL:
            raise _policy_error(
                f"initial_interval_seconds must be {self.MIN_INTERVAL}..{self.MAX_INTERVAL:.0f}"
            )
        if not self.initial_interval_seconds <= self.max_interval_seconds <= self.MAX_INTERVAL:
            raise _policy_error(
                "max_interval_seconds must be between initial_interval_seconds "
                f"and {self.MAX_INTERVAL:.0f}"
            )
        if not 0 <= self.max_elapsed_seconds <= self.MAX_ELAPSED:
            raise _policy_error(f"max_elapsed_seconds must be 0..{self.MAX_ELAPSED:.0f}")
        if self.max_attempts is not None and not 1 <= self.max_attempts <= self.MAX_ATTEMPTS:
            raise _policy_error(f"max_attempts must be 1..{self.MAX_ATTEMPTS}")

    def delay(self, failed_attempt: int, random_fraction: float = 0.0) -> float:
        """Seconds to wait after attempt number `failed_attempt` (1-based) failed;
        `random_fraction` in [0, 1) picks the jitter."""
        exponent = min(max(failed_attempt - 1, 0), 64)
        base = min(
            self.initial_interval_seconds * self.BACKOFF**exponent, self.max_interval_seconds
        )
        return base * (1.0 - self.JITTER * min(max(random_fraction, 0.0), 1.0))

    def next_delay(
        self, failed_attempt: int, elapsed_seconds: float, random_fraction: float = 0.0
    ) -> float | None:
        """The wait before the next attempt, or None when `failed_attempt` was the last."""
        if self.max_attempts is not None and failed_attempt >= self.max_attempts:
            return None
        delay = self.delay(failed_attempt, random_fraction)
        if elapsed_seconds + delay > self.max_elapsed_seconds:
            return None
        return delay

    def to_json(self) -> dict[str, Any]:
        return {
            "initial_interval_seconds": self.initial_interval_seconds,
            "max_interval_seconds": self.max_interval_seconds,
            "max_elapsed_seconds": self.max_elapsed_seconds,
            "max_attempts": self.max_attempts,
        }

    @classmethod
    def from_json(cls, data: dict[str, Any] | None) -> DeliveryPolicy:
        data = data or {}
        defaults = cls()
        max_attempts = data.get("max_attempts")
        return cls(
            initial_interval_seconds=float(
                data.get("initial_interval_seconds", defaults.initial_interval_seconds)
            ),
            max_interval_seconds=float(
                data.get("max_interval_seconds", defaults.max_interval_seconds)
            ),
            max_elapsed_seconds=float(
                data.get("max_elapsed_seconds", defaults.max_elapsed_seconds)
            ),
            max_attempts=int(max_attempts) if max_attempts is not None else None,
        )


def _policy_error(detail: str) -> RuleViolation:
    return RuleViolation(detail, field="retry_policy")


# --------------------------------------------------------------------------- the aggregate


class SubscriptionStatus(StrEnum):
    ACTIVE = "active"
    DISABLED = "disabled"


def short_error(error: str | None) -> str | None:
    if error is None:
        return None
    return error if len(error) <= MAX_ERROR_LENGTH else error[: MAX_ERROR_LENGTH - 1] + "…"


@dataclass(eq=False)
class Subscription(AggregateRoot):
    """One target URL of one tenant, and the events it wants."""

    aggregate_type = "webhook"

    id: uuid.UUID
    tenant_id: uuid.UUID
    url: str
    events: list[str]
    policy: DeliveryPolicy = field(default_factory=DeliveryPolicy)
    status: SubscriptionStatus = SubscriptionStatus.ACTIVE
    disabled_reason: str | None = None
    disabled_at: datetime | None = None
    # First failed attempt with no successful one since; None while deliveries succeed.
    failing_since: datetime | None = None
    last_success_at: datetime | None = None
    last_failure_at: datetime | None = None
    created_at: datetime = field(default_factory=utcnow)
    updated_at: datetime = field(default_factory=utcnow)
    deleted_at: datetime | None = None

    @classmethod
    def create(
        cls,
        *,
        tenant_id: uuid.UUID,
        url: str,
        events: list[str],
        policy: DeliveryPolicy | None = None,
    ) -> Subscription:
        subscription = cls(
            id=new_id(),
            tenant_id=tenant_id,
            url=clean_url(url),
            events=clean_patterns(events),
            policy=policy or DeliveryPolicy(),
        )
        subscription.record(
            webhook_events.WEBHOOK_CREATED,
            {
                "webhook_id": str(subscription.id),
                "url": redacted_url(subscription.url),
                "events": list(subscription.events),
            },
        )
        return subscription

    @property
    def is_deleted(self) -> bool:
        return self.deleted_at is not None

    @property
    def is_active(self) -> bool:
        return self.status is SubscriptionStatus.ACTIVE and not self.is_deleted

    def wants(
        self, event_name: str, aggregate_type: str, aggregate_id: uuid.UUID, occurred_at: datetime
    ) -> bool:
        """Whether an event goes to this subscription. Only what happened after it was
        created (a backlog consumed later is not news to it), and never the events about
        itself: a failing endpoint must not be sent the news of its own failures (a loop)."""
        if not self.is_active or occurred_at < self.created_at:
            return False
        if aggregate_type == self.aggregate_type and aggregate_id == self.id:
            return False
        return any(pattern_matches(p, event_name) for p in self.events)

    def attempt_succeeded(self, at: datetime) -> None:
        self.failing_since = None
        self.last_success_at = at
        self.updated_at = at

    def attempt_failed(self, at: datetime, error: str | None, *, disable_after: timedelta) -> bool:
        """Counts a failed attempt; True when the subscription has failed for so long
        (`disable_after` without one success) that it is disabled now."""
        self.last_failure_at = at
        self.updated_at = at
        if self.failing_since is None:
            self.failing_since = at
            return False
        if self.is_active and at - self.failing_since >= disable_after:
            since = self.failing_since.isoformat().replace("+00:00", "Z")
            self.disable(
                f"every delivery attempt failed since {since}; last error: {short_error(error)}",
                at=at,
            )
            return True
        return False

    def disable(self, reason: str, *, at: datetime | None = None) -> None:
        if self.status is SubscriptionStatus.DISABLED:
            return
        self.status = SubscriptionStatus.DISABLED
        self.disabled_reason = reason
        self.disabled_at = at or utcnow()
        self.updated_at = self.disabled_at
        self.record(webhook_events.WEBHOOK_DISABLED, {"webhook_id": str(self.id), "reason": reason})

    def enable(self) -> None:
        if self.status is SubscriptionStatus.ACTIVE:
            return
        self.status = SubscriptionStatus.ACTIVE
        self.disabled_reason = None
        self.disabled_at = None
        self.failing_since = None
        self.updated_at = utcnow()
        self.record(webhook_events.WEBHOOK_ENABLED, {"webhook_id": str(self.id)})

    def delete(self) -> None:
        if self.is_deleted:
            return
        self.deleted_at = utcnow()
        self.updated_at = self.deleted_at
        self.record(webhook_events.WEBHOOK_DELETED, {"webhook_id": str(self.id)})

    def delivery_failed(
        self,
        *,
        event_id: uuid.UUID,
        event_name: str,
        attempts: int,
        status_code: int | None,
        error: str | None,
    ) -> None:
        """The last attempt to deliver one event failed: nothing more will be tried."""
        self.record(
            webhook_events.WEBHOOK_DELIVERY_FAILED,
            {
                "webhook_id": str(self.id),
                "event_id": str(event_id),
                "event_name": event_name,
                "attempts": attempts,
                "last_status_code": status_code,
                "last_error": short_error(error),
            },
        )


@dataclass(frozen=True, slots=True)
class DeliveryAttempt:
    """One POST of one event to one subscription, as recorded."""

    id: uuid.UUID
    subscription_id: uuid.UUID
    event_id: uuid.UUID
    event_name: str
    attempt: int
    status_code: int | None
    error: str | None
    duration_ms: int
    at: datetime

    @property
    def succeeded(self) -> bool:
        return self.status_code is not None and 200 <= self.status_code < 300
