"""HTTP routes that act on a session: assign, transfer, close, CSAT. Each answers the
session. Agents act on their own sessions only; supervisors and admins on any."""

from __future__ import annotations

import uuid
from datetime import UTC
from typing import Annotated

from fastapi import APIRouter, Depends
from pydantic import AwareDatetime, BaseModel, ConfigDict, Field

from ventros.api.deps import ContainerDep, Uow, authorized
from ventros.conversations import service_clock
from ventros.conversations.schemas import SessionRead
from ventros.conversations.service import lifecycle
from ventros.identity.domain import Principal
from ventros.identity.permissions import Permission

router = APIRouter(tags=["conversations"])

SessionActor = Annotated[Principal, Depends(authorized(Permission.SESSIONS_ACT_OWN))]


class SessionAssign(BaseModel):
    model_config = ConfigDict(extra="forbid")

    agent_id: uuid.UUID | None = Field(default=None, description="absent: automatic")
    force: bool = Field(default=False, description="over capacity (supervisors)")
    required_skills: list[str] | None = Field(default=None, max_length=50)


class SessionTransfer(BaseModel):
    model_config = ConfigDict(extra="forbid")

    to_agent_id: uuid.UUID
    note: str | None = Field(default=None, max_length=2000)
    force: bool = False


class SessionClose(BaseModel):
    model_config = ConfigDict(extra="forbid")

    reason: str | None = Field(default=None, max_length=200)


class SessionSnooze(BaseModel):
    model_config = ConfigDict(extra="forbid")

    until: AwareDatetime = Field(description="when the session comes back to the inbox")


class SessionCsat(BaseModel):
    model_config = ConfigDict(extra="forbid")

    score: int = Field(ge=1, le=5)
    comment: str | None = Field(default=None, max_length=2000)


@router.post("/sessions/{session_id}/assign", response_model=SessionRead)
async def assign_session(
    session_id: uuid.UUID, body: SessionAssign, principal: SessionActor, uow: Uow
) -> SessionRead:
    """Assign to an agent, or `{}` for automatic assignment (else the session waits)."""
    command = lifecycle.AssignSession(
        agent_id=body.agent_id,
        force=body.force,
        required_skills=tuple(body.required_skills) if body.required_skills is not None else None,
    )
    return SessionRead.of(await lifecycle.assign_session(uow, principal, session_id, command))


@router.post("/sessions/{session_id}/transfer", response_model=SessionRead)
async def transfer_session(
    session_id: uuid.UUID, body: SessionTransfer, principal: SessionActor, uow: Uow
) -> SessionRead:
    """Hand the session to another agent with a note."""
    session = await lifecycle.transfer_session(
        uow, principal, session_id, to_agent_id=body.to_agent_id, note=body.note, force=body.force
    )
    return SessionRead.of(session)


@router.post("/sessions/{session_id}/close", response_model=SessionRead)
async def close_session(
    session_id: uuid.UUID, principal: SessionActor, uow: Uow, body: SessionClose | None = None
) -> SessionRead:
    """Close the session (reason default `agent`)."""
    reason = body.reason if body else None
    return SessionRead.of(await lifecycle.close_session(uow, principal, session_id, reason=reason))


@router.post("/sessions/{session_id}/csat", response_model=SessionRead)
async def record_csat(
    session_id: uuid.UUID, body: SessionCsat, principal: SessionActor, uow: Uow
) -> SessionRead:
    """The customer's rating, 1..5, once per session (a second one is 409)."""
    session = await lifecycle.record_csat(
        uow, principal, session_id, score=body.score, comment=body.comment
    )
    return SessionRead.of(session)


@router.post("/sessions/{session_id}/snooze", response_model=SessionRead)
async def snooze_session(
    session_id: uuid.UUID,
    body: SessionSnooze,
    principal: SessionActor,
    uow: Uow,
    container: ContainerDep,
) -> SessionRead:
    """Put the session aside until `until` (future): it leaves the inbox and comes back."""
    until = body.until.astimezone(UTC)
    session = await service_clock.snooze_session(
        uow, principal, session_id, until=until, temporal=container.temporal
    )
    return SessionRead.of(session)
