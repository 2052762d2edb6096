"""Request and response models of the webhooks API. Secrets appear only in `WebhookCreated`."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field

from ventros.webhooks.domain import (
    MAX_PATTERN_LENGTH,
    MAX_PATTERNS,
    MAX_SECRET_LENGTH,
    MAX_URL_LENGTH,
    MIN_SECRET_LENGTH,
    DeliveryAttempt,
    DeliveryPolicy,
    Subscription,
)


class RetryPolicy(BaseModel):
    """Exponential backoff from `initial_interval_seconds`, doubling, capped at
    `max_interval_seconds`, for at most `max_elapsed_seconds` (and `max_attempts`)."""

    model_config = ConfigDict(extra="forbid")

    initial_interval_seconds: float = Field(
        default=1.0, ge=DeliveryPolicy.MIN_INTERVAL, le=DeliveryPolicy.MAX_INTERVAL
    )
    max_interval_seconds: float = Field(
        default=3600.0, ge=DeliveryPolicy.MIN_INTERVAL, le=DeliveryPolicy.MAX_INTERVAL
    )
    max_elapsed_seconds: float = Field(default=86_400.0, ge=0, le=DeliveryPolicy.MAX_ELAPSED)
    max_attempts: int | None = Field(default=None, ge=1, le=DeliveryPolicy.MAX_ATTEMPTS)

    @classmethod
    def of(cls, policy: DeliveryPolicy) -> RetryPolicy:
        return cls(**policy.to_json())


class WebhookCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    url: str = Field(min_length=1, max_length=MAX_URL_LENGTH)
    events: list[Annotated[str, Field(max_length=MAX_PATTERN_LENGTH)]] = Field(
        min_length=1,
        max_length=MAX_PATTERNS,
        description="Event names or patterns: 'contact.created', 'message.*', '*' (all).",
    )
    secret: str | None = Field(
        default=None,
        min_length=MIN_SECRET_LENGTH,
        max_length=MAX_SECRET_LENGTH,
        description="Signing secret; generated when absent. Returned only in this response.",
    )
    retry_policy: RetryPolicy | None = None


class WebhookUpdate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    enabled: bool = Field(description="false disables the webhook; true enables it again.")


class WebhookRead(BaseModel):
    id: uuid.UUID
    url: str
    events: list[str]
    status: Literal["active", "disabled"]
    disabled_reason: str | None
    disabled_at: datetime | None
    failing_since: datetime | None
    last_success_at: datetime | None
    last_failure_at: datetime | None
    retry_policy: RetryPolicy
    created_at: datetime
    updated_at: datetime

    @classmethod
    def of(cls, subscription: Subscription) -> WebhookRead:
        return cls(
            id=subscription.id,
            url=subscription.url,
            events=list(subscription.events),
            status=subscription.status.value,
            disabled_reason=subscription.disabled_reason,
            disabled_at=subscription.disabled_at,
            failing_since=subscription.failing_since,
            last_success_at=subscription.last_success_at,
            last_failure_at=subscription.last_failure_at,
            retry_policy=RetryPolicy.of(subscription.policy),
            created_at=subscription.created_at,
            updated_at=subscription.updated_at,
        )


class WebhookCreated(WebhookRead):
    secret: str = Field(description="The signing secret. Shown once: store it now.")

    @classmethod
    def with_secret(cls, subscription: Subscription, secret: str) -> WebhookCreated:
        return cls(**WebhookRead.of(subscription).model_dump(), secret=secret)


class DeliveryRead(BaseModel):
    event_id: uuid.UUID
    event_name: str
    attempt: int
    status_code: int | None
    error: str | None
    duration_ms: int
    at: datetime

    @classmethod
    def of(cls, attempt: DeliveryAttempt) -> DeliveryRead:
        return cls(
            event_id=attempt.event_id,
            event_name=attempt.event_name,
            attempt=attempt.attempt,
            status_code=attempt.status_code,
            error=attempt.error,
            duration_ms=attempt.duration_ms,
            at=attempt.at,
        )
