"""Request and response models of the pipelines API."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from ventros.api.time_range import DateRangeRead
from ventros.pipelines.domain import Pipeline, PipelineMetrics, PipelinePosition


class StageCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1, max_length=200)
    kind: Literal["open", "won", "lost"] = "open"


class PipelineCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1, max_length=200)
    stages: list[StageCreate] = Field(min_length=1, max_length=50)
    allowed_transitions: list[tuple[str, str]] | None = Field(
        default=None,
        max_length=2500,
        description="[[from_stage_name, to_stage_name], ...]; absent: any move is allowed",
    )


class StageEdit(BaseModel):
    model_config = ConfigDict(extra="forbid")

    id: uuid.UUID | None = Field(
        default=None, description="an existing stage's id (kept); absent: a new stage"
    )
    name: str = Field(min_length=1, max_length=200)
    kind: Literal["open", "won", "lost"] = "open"


class PipelineUpdate(BaseModel):
    """Every field is optional; one left out stays as it is."""

    model_config = ConfigDict(extra="forbid")

    name: str | None = Field(default=None, min_length=1, max_length=200)
    stages: list[StageEdit] | None = Field(
        default=None,
        min_length=1,
        max_length=50,
        description="the whole new list, in order; an existing stage left out is removed",
    )
    allowed_transitions: list[tuple[str, str]] | None = Field(
        default=None,
        max_length=2500,
        description="[[from_stage_name, to_stage_name], ...] as edited; null: any move; "
        "absent: the current ones between stages that stay",
    )
    move_contacts_to: dict[uuid.UUID, uuid.UUID] = Field(
        default_factory=dict,
        max_length=50,
        description="{removed_stage_id: stage_id}: where the contacts of a removed stage go "
        "(a stage that stays); required for each removed stage that holds contacts",
    )


class StageRead(BaseModel):
    id: uuid.UUID
    name: str
    kind: Literal["open", "won", "lost"]
    position: int


class PipelineRead(BaseModel):
    id: uuid.UUID
    tenant_id: uuid.UUID
    name: str
    stages: list[StageRead]
    allowed_transitions: list[tuple[str, str]] | None
    created_at: datetime

    @classmethod
    def of(cls, pipeline: Pipeline) -> PipelineRead:
        names = {s.id: s.name for s in pipeline.stages}
        order = {s.id: s.position for s in pipeline.stages}
        transitions = (
            None
            if pipeline.allowed_transitions is None
            else [
                (names[a], names[b])
                for a, b in sorted(
                    pipeline.allowed_transitions, key=lambda p: (order[p[0]], order[p[1]])
                )
            ]
        )
        return cls(
            id=pipeline.id,
            tenant_id=pipeline.tenant_id,
            name=pipeline.name,
            stages=[
                StageRead(id=s.id, name=s.name, kind=s.kind.value, position=s.position)
                for s in pipeline.stages
            ],
            allowed_transitions=transitions,
            created_at=pipeline.created_at,
        )


class ContactPipelineUpdate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    pipeline_id: uuid.UUID
    stage_id: uuid.UUID


class ContactPipelineRead(BaseModel):
    contact_id: uuid.UUID
    pipeline_id: uuid.UUID
    stage_id: uuid.UUID
    entered_at: datetime

    @classmethod
    def of(cls, position: PipelinePosition) -> ContactPipelineRead:
        assert position.stage_id is not None
        assert position.entered_at is not None
        return cls(
            contact_id=position.contact_id,
            pipeline_id=position.pipeline_id,
            stage_id=position.stage_id,
            entered_at=position.entered_at,
        )


class StageMetricsRead(BaseModel):
    stage_id: uuid.UUID
    name: str
    kind: Literal["open", "won", "lost"]
    contacts: int = Field(description="contacts in the stage now")
    entered: int = Field(description="entries into the stage within the range")
    exited_to_next: int = Field(description="of those, moved on to the immediately next stage")
    conversion_rate: float | None = Field(description="exited_to_next / entered (0..1)")
    avg_seconds_in_stage: float | None = Field(description="mean stay, over those that left")


class PipelineMetricsRead(DateRangeRead):
    pipeline_id: uuid.UUID
    stages: list[StageMetricsRead]
    win_rate: float | None = Field(description="won / (won + lost) entries within the range")

    @classmethod
    def of(cls, metrics: PipelineMetrics, since: datetime, until: datetime) -> PipelineMetricsRead:
        return cls(
            pipeline_id=metrics.pipeline_id,
            since=since,
            until=until,
            stages=[
                StageMetricsRead(
                    stage_id=m.stage.id,
                    name=m.stage.name,
                    kind=m.stage.kind.value,
                    contacts=m.figures.contacts,
                    entered=m.figures.entered,
                    exited_to_next=m.figures.exited_to_next,
                    conversion_rate=m.conversion_rate,
                    avg_seconds_in_stage=m.figures.avg_seconds_in_stage,
                )
                for m in metrics.stages
            ],
            win_rate=metrics.win_rate,
        )
