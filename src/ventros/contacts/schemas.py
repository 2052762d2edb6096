"""Request and response models of the contacts API."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from ventros.contacts.domain import Contact


class ContactCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1, max_length=200)
    phone: str | None = Field(default=None, max_length=64)
    email: str | None = Field(default=None, max_length=320)
    tags: list[str] = Field(default_factory=list, max_length=50)
    custom_fields: dict[str, Any] = Field(default_factory=dict)
    source: str | None = Field(default=None, max_length=64)


class ContactUpdate(BaseModel):
    """Only the fields sent change; `null` clears phone, email or source."""

    model_config = ConfigDict(extra="forbid")

    name: str | None = Field(default=None, min_length=1, max_length=200)
    phone: str | None = Field(default=None, max_length=64)
    email: str | None = Field(default=None, max_length=320)
    tags: list[str] | None = Field(default=None, max_length=50)
    custom_fields: dict[str, Any] | None = None
    source: str | None = Field(default=None, max_length=64)


class ContactRead(BaseModel):
    id: uuid.UUID
    tenant_id: uuid.UUID
    name: str
    phone: str | None
    email: str | None
    tags: list[str]
    custom_fields: dict[str, Any]
    source: str | None
    profile_picture_url: str | None
    created_at: datetime
    updated_at: datetime

    @classmethod
    def of(cls, contact: Contact) -> ContactRead:
        return cls(
            id=contact.id,
            tenant_id=contact.tenant_id,
            name=contact.name,
            phone=str(contact.phone) if contact.phone else None,
            email=str(contact.email) if contact.email else None,
            tags=contact.tags,
            custom_fields=contact.custom_fields,
            source=contact.source,
            profile_picture_url=contact.profile_picture_url,
            created_at=contact.created_at,
            updated_at=contact.updated_at,
        )
