"""Request and response models of the Analysis API."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, Field, HttpUrl

from ventros.analysis.domain import Analysis
from ventros.api.time_range import DateRangeRead


class AnalysisRead(BaseModel):
    """A message's verdict, as the message API shows it."""

    sentiment: Literal["positive", "neutral", "negative"]
    score: float = Field(ge=-1, le=1)
    language: str | None
    intents: list[str]

    @classmethod
    def of(cls, analysis: Analysis) -> AnalysisRead:
        return cls(
            sentiment=analysis.sentiment.value,
            score=round(analysis.score, 4),
            language=analysis.language,
            intents=list(analysis.intents),
        )


class IntentRulesWrite(BaseModel):
    rules: dict[str, list[str]] = Field(
        description="intent -> keywords (accents and case do not matter; 'parcel*' matches "
        "any word it starts). Replaces the built-in keywords of the intents named; "
        "new intents may be added; an empty object restores the defaults."
    )


class IntentRulesRead(BaseModel):
    overrides: dict[str, list[str]]
    effective: dict[str, list[str]]


class LlmSettingsWrite(BaseModel):
    enabled: bool | None = None
    base_url: HttpUrl | None = None
    model: str | None = Field(default=None, min_length=1, max_length=200)
    transcription_model: str | None = Field(default=None, min_length=1, max_length=200)
    api_key: str | None = Field(
        default=None, max_length=4096, description="sealed at rest, never returned; '' removes it"
    )
    daily_budget: int | None = Field(default=None, ge=0, le=1_000_000)
    timeout_seconds: float | None = Field(default=None, gt=0, le=120)


class LlmSettingsRead(BaseModel):
    enabled: bool
    base_url: str
    model: str
    transcription_model: str
    has_api_key: bool
    daily_budget: int
    timeout_seconds: float

    @classmethod
    def of(cls, row: Any) -> LlmSettingsRead:
        return cls(
            enabled=row.enabled,
            base_url=row.base_url,
            model=row.model,
            transcription_model=row.transcription_model,
            has_api_key=row.api_key is not None,
            daily_budget=row.daily_budget,
            timeout_seconds=row.timeout_seconds,
        )


class MoodPoint(BaseModel):
    message_id: uuid.UUID
    sentiment: str
    score: float
    at: datetime


class SessionMoodRead(BaseModel):
    session_id: uuid.UUID
    messages: int
    average: float
    last_score: float | None
    needs_attention: bool
    attention_reason: str | None
    attention_at: datetime | None
    timeline: list[MoodPoint]


class SummaryRead(BaseModel):
    id: uuid.UUID
    session_id: uuid.UUID
    trigger: str
    text: str = Field(description="plain text as the model wrote it: escape it when shown")
    model: str
    created_at: datetime


class SuggestedReply(BaseModel):
    text: str
    source: Literal["llm", "local"]
    note: str | None


class MoodGroup(BaseModel):
    key: str | None
    sessions: int
    analysed_messages: int
    average_mood: float | None
    negative_share: float | None
    needs_attention: int
    csat_average: float | None
    csat_count: int


class MoodReport(DateRangeRead):
    group_by: Literal["agent", "channel"]
    groups: list[MoodGroup]
    overall: MoodGroup
    mood_csat_correlation: float | None = Field(
        description="Pearson correlation between a session's average mood and its CSAT "
        "(sessions with both); null with fewer than 3 such sessions"
    )
    mood_csat_sessions: int
