"""Request and response models of the channels API. Secrets go in, never out."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from ventros.channels.domain import (
    DEFAULT_RATE_LIMIT,
    DEFAULT_WAHA_SESSION,
    MAX_RATE_LIMIT,
    MAX_SECRET_LENGTH,
    MIN_RATE_LIMIT,
    Channel,
)


class ChannelCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1, max_length=200)
    type: Literal["waha"] = "waha"
    base_url: str = Field(min_length=1, max_length=2000, examples=["http://localhost:3000"])
    api_key: str | None = Field(default=None, min_length=1, max_length=MAX_SECRET_LENGTH)
    waha_session: str = Field(default=DEFAULT_WAHA_SESSION, min_length=1, max_length=128)
    webhook_secret: str = Field(
        min_length=1,
        max_length=MAX_SECRET_LENGTH,
        description="WAHA's hmac.key for this session's webhook",
    )
    enforce_24h_window: bool = False
    rate_limit_per_minute: int = Field(
        default=DEFAULT_RATE_LIMIT, ge=MIN_RATE_LIMIT, le=MAX_RATE_LIMIT
    )
    ingest_groups: bool = False


class ChannelUpdate(BaseModel):
    """Only the fields sent change; `api_key: null` removes the key."""

    model_config = ConfigDict(extra="forbid")

    name: str | None = Field(default=None, min_length=1, max_length=200)
    base_url: str | None = Field(default=None, min_length=1, max_length=2000)
    api_key: str | None = Field(default=None, min_length=1, max_length=MAX_SECRET_LENGTH)
    waha_session: str | None = Field(default=None, min_length=1, max_length=128)
    webhook_secret: str | None = Field(default=None, min_length=1, max_length=MAX_SECRET_LENGTH)
    enforce_24h_window: bool | None = None
    rate_limit_per_minute: int | None = Field(default=None, ge=MIN_RATE_LIMIT, le=MAX_RATE_LIMIT)
    ingest_groups: bool | None = None


class ChannelRead(BaseModel):
    id: uuid.UUID
    tenant_id: uuid.UUID
    name: str
    type: str
    base_url: str
    waha_session: str
    enforce_24h_window: bool
    rate_limit_per_minute: int
    ingest_groups: bool
    status: str = Field(description="WAHA's session status, lower-case; `unknown` until reported")
    status_changed_at: datetime | None
    has_api_key: bool
    webhook_url: str = Field(description="Where WAHA must post this channel's events")
    webhook_path: str
    created_at: datetime
    updated_at: datetime

    @classmethod
    def of(cls, channel: Channel, *, base_url: str) -> ChannelRead:
        return cls(
            id=channel.id,
            tenant_id=channel.tenant_id,
            name=channel.name,
            type=channel.type.value,
            base_url=channel.base_url,
            waha_session=channel.waha_session,
            enforce_24h_window=channel.enforce_24h_window,
            rate_limit_per_minute=channel.rate_limit_per_minute,
            ingest_groups=channel.ingest_groups,
            status=channel.status,
            status_changed_at=channel.status_changed_at,
            has_api_key=channel.api_key is not None,
            webhook_url=base_url.rstrip("/") + channel.webhook_path,
            webhook_path=channel.webhook_path,
            created_at=channel.created_at,
            updated_at=channel.updated_at,
        )


class WebhookAccepted(BaseModel):
    status: Literal["stored", "duplicate"]
    event: str
