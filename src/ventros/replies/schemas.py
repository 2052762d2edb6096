"""Request and response models of the canned replies API."""

from __future__ import annotations

import uuid
from datetime import datetime

from pydantic import BaseModel, ConfigDict, Field

from ventros.replies.domain import MAX_SHORTCUT, MAX_TEXT, CannedReply

TEXT_HELP = (
    "May use {{contact.name}}, {{contact.first_name}}, {{agent.name}} and "
    "{{custom.<field>}}; any other variable is refused (422)"
)


class CannedReplyCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    shortcut: str = Field(max_length=MAX_SHORTCUT + 1, description="`/obrigado` or `obrigado`")
    text: str = Field(max_length=MAX_TEXT, description=TEXT_HELP)
    team_id: uuid.UUID | None = Field(default=None, description="null: every agent's reply")
    media_id: uuid.UUID | None = Field(
        default=None, description="a file kept by Ventros (POST /api/v1/media) sent with it"
    )


class CannedReplyUpdate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    shortcut: str | None = Field(default=None, max_length=MAX_SHORTCUT + 1)
    text: str | None = Field(default=None, max_length=MAX_TEXT, description=TEXT_HELP)
    team_id: uuid.UUID | None = None
    media_id: uuid.UUID | None = None


class CannedReplyRead(BaseModel):
    id: uuid.UUID
    shortcut: str = Field(description="without the slash, lower-case")
    text: str
    team_id: uuid.UUID | None
    media_id: uuid.UUID | None
    created_by: uuid.UUID | None
    created_at: datetime
    updated_at: datetime

    @classmethod
    def of(cls, reply: CannedReply) -> CannedReplyRead:
        return cls(
            id=reply.id,
            shortcut=reply.shortcut,
            text=reply.text,
            team_id=reply.team_id,
            media_id=reply.media_id,
            created_by=reply.created_by,
            created_at=reply.created_at,
            updated_at=reply.updated_at,
        )


class CannedReplyRendered(BaseModel):
    id: uuid.UUID
    shortcut: str
    text: str = Field(description="the reply filled for the session's contact and the caller")
    media_id: uuid.UUID | None
