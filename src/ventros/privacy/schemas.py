"""Wire shapes of the LGPD routes."""

from __future__ import annotations

import uuid
from typing import Any

from pydantic import BaseModel, Field


class ContactExportRead(BaseModel):
    """Everything stored about one contact, section by section, as stored."""

    contact: dict[str, Any]
    sessions: list[dict[str, Any]] = Field(default_factory=list)
    messages: list[dict[str, Any]] = Field(default_factory=list)
    trackings: list[dict[str, Any]] = Field(default_factory=list)
    pipeline_positions: list[dict[str, Any]] = Field(default_factory=list)
    pipeline_history: list[dict[str, Any]] = Field(default_factory=list)
    conversions: list[dict[str, Any]] = Field(default_factory=list)
    events: list[dict[str, Any]] = Field(default_factory=list)


class AnonymizedRead(BaseModel):
    contact_id: uuid.UUID
    messages_erased: int
    trackings_erased: int
