"""Request and response models of routing."""

from __future__ import annotations

import uuid
from datetime import date
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from ventros.routing.domain import (
    DEFAULT_TIMEZONE,
    BusinessHours,
    Conditions,
    FollowUp,
    RoutingRule,
    SlaPolicy,
    Team,
)

Weekly = dict[str, list[list[str]]]


class FollowUpBody(BaseModel):
    model_config = ConfigDict(extra="forbid")

    nudge_after_seconds: int = Field(ge=1, le=7 * 86400)
    nudge_text: str = Field(min_length=1, max_length=4096)
    close_after_seconds: int = Field(ge=1, le=7 * 86400)

    def domain(self) -> FollowUp:
        return FollowUp(self.nudge_after_seconds, self.nudge_text, self.close_after_seconds)

    @classmethod
    def of(cls, follow_up: FollowUp | None) -> FollowUpBody | None:
        return cls(**follow_up.to_json()) if follow_up else None


class BusinessHoursCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1, max_length=200)
    timezone: str = Field(default=DEFAULT_TIMEZONE, max_length=100)
    weekly: Weekly = Field(
        description='intervals per weekday: {"mon": [["09:00", "18:00"]], ...}; "24:00" ends a day'
    )
    holidays: list[date] = Field(default_factory=list, max_length=1000)
    outside_hours_reply: str | None = Field(default=None, max_length=4096)


class BusinessHoursUpdate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str | None = Field(default=None, min_length=1, max_length=200)
    timezone: str | None = Field(default=None, max_length=100)
    weekly: Weekly | None = None
    holidays: list[date] | None = Field(default=None, max_length=1000)
    outside_hours_reply: str | None = Field(default=None, max_length=4096)


class BusinessHoursRead(BaseModel):
    id: uuid.UUID
    name: str
    timezone: str
    weekly: Weekly
    holidays: list[date]
    outside_hours_reply: str | None

    @classmethod
    def of(cls, hours: BusinessHours) -> BusinessHoursRead:
        return cls(
            id=hours.id,
            name=hours.name,
            timezone=hours.timezone,
            weekly=hours.weekly,
            holidays=sorted(hours.holidays),
            outside_hours_reply=hours.outside_hours_reply,
        )


class TeamCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1, max_length=200)
    members: list[uuid.UUID] = Field(default_factory=list, max_length=1000)
    business_hours_id: uuid.UUID | None = None
    follow_up: FollowUpBody | None = None


class TeamUpdate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str | None = Field(default=None, min_length=1, max_length=200)
    members: list[uuid.UUID] | None = Field(default=None, max_length=1000)
    business_hours_id: uuid.UUID | None = None
    follow_up: FollowUpBody | None = None


class TeamRead(BaseModel):
    id: uuid.UUID
    name: str
    members: list[uuid.UUID]
    business_hours_id: uuid.UUID | None
    follow_up: FollowUpBody | None

    @classmethod
    def of(cls, team: Team) -> TeamRead:
        return cls(
            id=team.id,
            name=team.name,
            members=team.members,
            business_hours_id=team.business_hours_id,
            follow_up=FollowUpBody.of(team.follow_up),
        )


class ConditionsBody(BaseModel):
    model_config = ConfigDict(extra="forbid")

    channel_ids: list[uuid.UUID] = Field(default_factory=list, max_length=100)
    keywords: list[str] = Field(
        default_factory=list, max_length=100, description="any, as words; accents and case folded"
    )
    pattern: str | None = Field(
        default=None, max_length=500, description="regex over the folded text"
    )
    tags: list[str] = Field(default_factory=list, max_length=100)
    sources: list[str] = Field(default_factory=list, max_length=100)
    hours: Literal["within", "outside"] | None = Field(
        default=None, description="the team's business hours when the session starts"
    )

    def domain(self) -> Conditions:
        return Conditions.of(self.model_dump(mode="json"))


class RoutingRuleCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1, max_length=200)
    team_id: uuid.UUID
    conditions: ConditionsBody = Field(default_factory=ConditionsBody)
    required_skills: list[str] = Field(default_factory=list, max_length=50)
    position: int | None = Field(
        default=None, ge=0, description="0 = evaluated first; absent: last"
    )


class RoutingRuleUpdate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str | None = Field(default=None, min_length=1, max_length=200)
    team_id: uuid.UUID | None = None
    conditions: ConditionsBody | None = None
    required_skills: list[str] | None = Field(default=None, max_length=50)
    position: int | None = Field(default=None, ge=0)


class RoutingRuleOrder(BaseModel):
    model_config = ConfigDict(extra="forbid")

    ids: list[uuid.UUID] = Field(max_length=1000)


class RoutingRuleRead(BaseModel):
    id: uuid.UUID
    name: str
    position: int
    team_id: uuid.UUID
    conditions: dict[str, Any]
    required_skills: list[str]

    @classmethod
    def of(cls, rule: RoutingRule) -> RoutingRuleRead:
        return cls(
            id=rule.id,
            name=rule.name,
            position=rule.position,
            team_id=rule.team_id,
            conditions=rule.conditions.to_json(),
            required_skills=rule.required_skills,
        )


class SlaPolicyCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1, max_length=200)
    team_id: uuid.UUID | None = None
    label: str | None = Field(default=None, max_length=100)
    first_response_seconds: int | None = Field(default=None, ge=1, le=365 * 86400)
    resolution_seconds: int | None = Field(default=None, ge=1, le=365 * 86400)


class SlaPolicyUpdate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str | None = Field(default=None, min_length=1, max_length=200)
    first_response_seconds: int | None = Field(default=None, ge=1, le=365 * 86400)
    resolution_seconds: int | None = Field(default=None, ge=1, le=365 * 86400)


class SlaPolicyRead(BaseModel):
    id: uuid.UUID
    name: str
    team_id: uuid.UUID | None
    label: str | None
    first_response_seconds: int | None
    resolution_seconds: int | None

    @classmethod
    def of(cls, policy: SlaPolicy) -> SlaPolicyRead:
        return cls(
            id=policy.id,
            name=policy.name,
            team_id=policy.team_id,
            label=policy.label,
            first_response_seconds=policy.first_response_seconds,
            resolution_seconds=policy.resolution_seconds,
        )


class RoutingSettings(BaseModel):
    model_config = ConfigDict(extra="forbid")

    follow_up: FollowUpBody | None = Field(
        default=None, description="for sessions of no team, or of a team without its own"
    )
