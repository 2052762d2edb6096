"""Request and response models of the agents API."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, ConfigDict, Field

from ventros.agents.service import AgentView
from ventros.identity.domain import AgentStatus, Role
from ventros.identity.schemas import AgentRead


class AgentUpdate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str | None = Field(default=None, min_length=1, max_length=200)
    role: Role | None = None
    max_concurrent_sessions: int | None = Field(default=None, ge=0, le=1000)
    skills: list[str] | None = Field(default=None, max_length=50)


class AgentStatusUpdate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    status: AgentStatus


class AgentDetail(AgentRead):
    status_changed_at: datetime
    current_load: int = Field(description="open sessions assigned to the agent")

    @classmethod
    def of_view(cls, view: AgentView) -> AgentDetail:
        return cls(
            **AgentRead.of(view.agent).model_dump(),
            status_changed_at=view.agent.status_changed_at,
            current_load=view.current_load,
        )
