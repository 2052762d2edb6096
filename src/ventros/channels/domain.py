"""The Channel aggregate: one WhatsApp number reached through one WAHA session. Pure: no I/O.

Secrets (the WAHA API key, the webhook secret) are plain strings here; the repository
seals them before they reach the database and they never leave through the API.
"""

from __future__ import annotations

import re
import uuid
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any
from urllib.parse import urlsplit

from ventros.channels import events
from ventros.kernel.aggregate import AggregateRoot
from ventros.kernel.clock import utcnow
from ventros.kernel.errors import RuleViolation
from ventros.kernel.ids import new_id

MAX_NAME_LENGTH = 200
MAX_SECRET_LENGTH = 1024
MIN_RATE_LIMIT = 1
MAX_RATE_LIMIT = 1_000_000
DEFAULT_RATE_LIMIT = 60
DEFAULT_WAHA_SESSION = "default"

# Before WAHA has reported anything; afterwards WAHA's own value, lower-cased
# (`working`, `stopped`, `starting`, `scan_qr_code`, `failed`, ...).
STATUS_UNKNOWN = "unknown"
STATUS_WORKING = "working"

_SESSION_NAME = re.compile(r"^[A-Za-z0-9_.-]{1,128}$")
_STATUS = re.compile(r"^[a-z0-9_]{1,64}$")


class ChannelType(StrEnum):
    WAHA = "waha"


def clean_name(name: str) -> str:
    cleaned = " ".join(name.split())
    if not cleaned:
        raise RuleViolation("name must not be empty", field="name")
    if len(cleaned) > MAX_NAME_LENGTH:
        raise RuleViolation(f"name must be at most {MAX_NAME_LENGTH} characters", field="name")
    return cleaned


def clean_base_url(raw: str) -> str:
    url = raw.strip().rstrip("/")
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise RuleViolation("base_url must be an http(s) URL", field="base_url")
    if parts.query or parts.fragment:
        raise RuleViolation("base_url must not have a query or fragment", field="base_url")
    return url


def clean_session_name(raw: str) -> str:
    name = raw.strip()
    if not _SESSION_NAME.match(name):
        raise RuleViolation(
            "waha_session must be 1-128 letters, digits, '.', '_' or '-'", field="waha_session"
        )
    return name


def clean_secret(raw: str, field_name: str) -> str:
    if not raw or raw != raw.strip():
        raise RuleViolation(
            f"{field_name} must be non-empty, without spaces around it", field=field_name
        )
    if len(raw) > MAX_SECRET_LENGTH:
        raise RuleViolation(
            f"{field_name} must be at most {MAX_SECRET_LENGTH} characters", field=field_name
        )
    return raw


def clean_rate_limit(value: int) -> int:
    if not MIN_RATE_LIMIT <= value <= MAX_RATE_LIMIT:
        raise RuleViolation(
            f"rate_limit_per_minute must be {MIN_RATE_LIMIT}..{MAX_RATE_LIMIT}",
            field="rate_limit_per_minute",
        )
    return value


def normalise_status(raw: str) -> str:
    """WAHA's session status as stored: lower-case; anything odd becomes `unknown`."""
    status = raw.strip().lower()
    return status if _STATUS.match(status) else STATUS_UNKNOWN


@dataclass(eq=False)
class Channel(AggregateRoot):
    aggregate_type = "channel"

    id: uuid.UUID
    tenant_id: uuid.UUID
    name: str
    base_url: str
    waha_session: str
    webhook_secret: str
    api_key: str | None = None
    type: ChannelType = ChannelType.WAHA
    enforce_24h_window: bool = False
    rate_limit_per_minute: int = DEFAULT_RATE_LIMIT
    ingest_groups: bool = False
    status: str = STATUS_UNKNOWN
    status_changed_at: datetime | None = None
    created_at: datetime = field(default_factory=utcnow)
    updated_at: datetime = field(default_factory=utcnow)
    deleted_at: datetime | None = None

    @classmethod
    def create(
        cls,
        *,
        tenant_id: uuid.UUID,
        name: str,
        base_url: str,
        webhook_secret: str,
        api_key: str | None = None,
        waha_session: str = DEFAULT_WAHA_SESSION,
        enforce_24h_window: bool = False,
        rate_limit_per_minute: int = DEFAULT_RATE_LIMIT,
        ingest_groups: bool = False,
    ) -> Channel:
        channel = cls(
            id=new_id(),
            tenant_id=tenant_id,
            name=clean_name(name),
            base_url=clean_base_url(base_url),
            waha_session=clean_session_name(waha_session),
            webhook_secret=clean_secret(webhook_secret, "webhook_secret"),
            api_key=clean_secret(api_key, "api_key") if api_key is not None else None,
            enforce_24h_window=enforce_24h_window,
            rate_limit_per_minute=clean_rate_limit(rate_limit_per_minute),
            ingest_groups=ingest_groups,
        )
        channel.record(events.CHANNEL_CREATED, channel.snapshot())
        return channel

    @property
    def is_deleted(self) -> bool:
        return self.deleted_at is not None

    @property
    def webhook_path(self) -> str:
        return f"/webhooks/waha/{self.id}"

    def snapshot(self) -> dict[str, Any]:
        """What events say about a channel: everything but the secrets."""
        return {
            "channel_id": str(self.id),
            "name": self.name,
            "type": self.type.value,
            "base_url": self.base_url,
            "waha_session": self.waha_session,
            "enforce_24h_window": self.enforce_24h_window,
            "rate_limit_per_minute": self.rate_limit_per_minute,
            "ingest_groups": self.ingest_groups,
            "status": self.status,
        }

    def update(
        self,
        *,
        name: str | None = None,
        base_url: str | None = None,
        waha_session: str | None = None,
        api_key: str | None = None,
        webhook_secret: str | None = None,
        enforce_24h_window: bool | None = None,
        rate_limit_per_minute: int | None = None,
        ingest_groups: bool | None = None,
        clear_api_key: bool = False,
    ) -> None:
        before = self.snapshot()
        secrets_changed: list[str] = []
        if name is not None:
            self.name = clean_name(name)
        if base_url is not None:
            self.base_url = clean_base_url(base_url)
        if waha_session is not None:
            self.waha_session = clean_session_name(waha_session)
        if enforce_24h_window is not None:
            self.enforce_24h_window = enforce_24h_window
        if rate_limit_per_minute is not None:
            self.rate_limit_per_minute = clean_rate_limit(rate_limit_per_minute)
        if ingest_groups is not None:
            self.ingest_groups = ingest_groups
        if api_key is not None or clear_api_key:
            new_key = clean_secret(api_key, "api_key") if api_key is not None else None
            if new_key != self.api_key:
                self.api_key = new_key
                secrets_changed.append("api_key")
        if webhook_secret is not None:
            new_secret = clean_secret(webhook_secret, "webhook_secret")
            if new_secret != self.webhook_secret:
                self.webhook_secret = new_secret
                secrets_changed.append("webhook_secret")
        after = self.snapshot()
        changes = {key: after[key] for key in after if after[key] != before[key]}
        if changes or secrets_changed:
            self.updated_at = utcnow()
            self.record(
                events.CHANNEL_UPDATED,
                {
                    "channel_id": str(self.id),
                    "changes": changes,
                    # Which secrets were replaced, never their values.
                    "secrets_changed": secrets_changed,
                },
            )

    def change_status(self, raw_status: str, *, at: datetime) -> bool:
        """Applies a status WAHA reported at `at`; an older report than the last one
        applied is ignored (webhooks are retried and may arrive out of order)."""
        status = normalise_status(raw_status)
        if self.status_changed_at is not None and at < self.status_changed_at:
            return False
        if status == self.status:
            self.status_changed_at = at
            return False
        previous = self.status
        self.status = status
        self.status_changed_at = at
        self.updated_at = utcnow()
        self.record(
            events.CHANNEL_STATUS_CHANGED,
            {
                "channel_id": str(self.id),
                "status": status,
                "previous_status": previous,
                "reported_at": at.isoformat(),
            },
        )
        return True

    def delete(self) -> None:
        if self.is_deleted:
            return
        self.deleted_at = utcnow()
        self.updated_at = self.deleted_at
        self.record(events.CHANNEL_DELETED, {"channel_id": str(self.id)})


@dataclass(frozen=True, slots=True)
class InboundEvent:
    """A WAHA webhook delivery as stored before it is answered 200, waiting for ingest."""

    id: uuid.UUID
    tenant_id: uuid.UUID
    channel_id: uuid.UUID
    event: str
    body: dict[str, Any]
    received_at: datetime
    attempts: int = 0
    traceparent: str | None = None  # the webhook request's trace, continued by the ingest
