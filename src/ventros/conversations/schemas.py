"""Response models of the sessions and messages API."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from ventros.conversations.domain import Label, Message, Session
from ventros.conversations.ports import MessageVerdict


class CsatRead(BaseModel):
    score: int
    comment: str | None


class SessionRead(BaseModel):
    id: uuid.UUID
    tenant_id: uuid.UUID
    contact_id: uuid.UUID
    channel_id: uuid.UUID
    status: str
    agent_id: uuid.UUID | None
    started_at: datetime
    last_activity_at: datetime
    closed_at: datetime | None
    close_reason: str | None
    first_response_seconds: float | None
    average_reply_seconds: float | None
    reply_count: int
    resolution_seconds: float | None
    csat: CsatRead | None
    transfer_note: str | None = Field(
        description="The note of the last transfer, for the agent who received the session"
    )
    team_id: uuid.UUID | None = None
    first_response_due_at: datetime | None = Field(
        default=None, description="SLA: first reply due by (business time)"
    )
    resolution_due_at: datetime | None = Field(
        default=None, description="SLA: resolution due by (business time)"
    )
    sla_breached: bool = False
    snoozed_until: datetime | None = None

    @classmethod
    def of(cls, session: Session) -> SessionRead:
        return cls(
            id=session.id,
            tenant_id=session.tenant_id,
            contact_id=session.contact_id,
            channel_id=session.channel_id,
            status=session.status.value,
            agent_id=session.agent_id,
            started_at=session.started_at,
            last_activity_at=session.last_activity_at,
            closed_at=session.closed_at,
            close_reason=session.close_reason,
            first_response_seconds=session.first_response_seconds,
            average_reply_seconds=session.average_reply_seconds,
            reply_count=session.reply_count,
            resolution_seconds=session.resolution_seconds,
            csat=(
                CsatRead(score=session.csat_score, comment=session.csat_comment)
                if session.csat_score is not None
                else None
            ),
            transfer_note=session.transfer_note,
            team_id=session.team_id,
            first_response_due_at=session.first_response_due_at,
            resolution_due_at=session.resolution_due_at,
            sla_breached=session.sla_breached,
            snoozed_until=session.snoozed_until,
        )


class MediaRead(BaseModel):
    url: str | None
    mimetype: str | None
    filename: str | None
    size_bytes: int | None = None
    seconds: int | None = None
    width: int | None = None
    height: int | None = None
    voice: bool = False
    error: str | None = None
    media_id: str | None = None  # once Ventros keeps the file (url is then /api/v1/media/{id})
    status: str | None = None  # `stored`, or `unavailable` (with `reason`) when it could not be
    reason: str | None = None


class LocationRead(BaseModel):
    latitude: float
    longitude: float
    title: str | None
    address: str | None = None
    url: str | None = None
    live: bool = False


class ReactionRead(BaseModel):
    model_config = ConfigDict(populate_by_name=True)

    emoji: str
    from_: str = Field(alias="from", description="WhatsApp id of who reacted")


class AnalysisRead(BaseModel):
    """An inbound message's verdict (sentiment, language, intents), once analysed."""

    sentiment: Literal["positive", "neutral", "negative"]
    score: float = Field(ge=-1, le=1)
    language: str | None
    intents: list[str]

    @classmethod
    def of(cls, verdict: MessageVerdict) -> AnalysisRead:
        return cls(
            sentiment=verdict.sentiment,
            score=round(verdict.score, 4),
            language=verdict.language,
            intents=list(verdict.intents),
        )


class MessageRead(BaseModel):
    id: uuid.UUID
    tenant_id: uuid.UUID
    session_id: uuid.UUID | None = Field(description="null while a scheduled message waits")
    contact_id: uuid.UUID
    channel_id: uuid.UUID
    direction: str
    type: str
    text: str | None
    caption: str | None
    media: MediaRead | None
    location: LocationRead | None
    vcard: str | None
    vcards: list[str]
    participant: str | None
    status: str
    error: str | None
    external_id: str | None
    source: str | None
    reply_to: str | None
    referral: dict[str, Any] | None
    reactions: list[ReactionRead]
    revoked: bool
    created_at: datetime
    sent_at: datetime | None
    delivered_at: datetime | None
    read_at: datetime | None
    send_at: datetime | None = Field(default=None, description="a scheduled message's time")
    analysis: AnalysisRead | None = None  # inbound messages, once analysed
    transcript: str | None = None  # a voice note's words, when the tenant's LLM wrote them
    author_id: uuid.UUID | None = Field(
        default=None, description="who wrote a private note (type `note`)"
    )

    @classmethod
    def of(cls, message: Message, analysed: MessageVerdict | None = None) -> MessageRead:
        content = message.content
        return cls(
            id=message.id,
            tenant_id=message.tenant_id,
            session_id=message.session_id,
            contact_id=message.contact_id,
            channel_id=message.channel_id,
            direction=message.direction.value,
            type=content.type.value,
            text=content.text,
            caption=content.caption,
            media=MediaRead(**content.media) if content.media else None,
            location=LocationRead(**content.location) if content.location else None,
            # One vCard stream; several contacts are several BEGIN:VCARD blocks.
            vcard="\n".join(content.vcards) if content.vcards else None,
            vcards=list(content.vcards),
            participant=message.participant,
            status=message.status.value,
            error=message.error,
            external_id=message.external_id,
            source=message.source,
            reply_to=message.reply_to,
            referral=message.referral,
            reactions=[ReactionRead(emoji=r["emoji"], from_=r["from"]) for r in message.reactions],
            revoked=message.is_revoked,
            created_at=message.created_at,
            sent_at=message.sent_at,
            delivered_at=message.delivered_at,
            read_at=message.read_at,
            send_at=message.send_at,
            analysis=AnalysisRead.of(analysed) if analysed else None,
            transcript=analysed.transcript if analysed else None,
            author_id=message.author_id,
        )


class LabelRead(BaseModel):
    id: uuid.UUID
    name: str
    color: str = Field(description="#rrggbb")
    created_at: datetime
    updated_at: datetime

    @classmethod
    def of(cls, label: Label) -> LabelRead:
        return cls(
            id=label.id,
            name=label.name,
            color=label.color,
            created_at=label.created_at,
            updated_at=label.updated_at,
        )


class LabelCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = Field(max_length=200)
    color: str | None = Field(default=None, max_length=20, description="#rrggbb")


class LabelUpdate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str | None = Field(default=None, max_length=200)
    color: str | None = Field(default=None, max_length=20)


class SessionLabelAdd(BaseModel):
    model_config = ConfigDict(extra="forbid")

    label_id: uuid.UUID


class NoteCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    text: str = Field(
        max_length=4096,
        description="`@handle` (a user's email before the `@`) mentions a colleague",
    )
