"""HTTP routes of agents: update, status, one agent with their current load.
(Creating and listing agents are identity's routes: an agent is a user.)"""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Depends

from ventros.agents import service
from ventros.agents.schemas import AgentDetail, AgentStatusUpdate, AgentUpdate
from ventros.api.deps import Uow, authorized
from ventros.identity.domain import Principal
from ventros.identity.permissions import Permission

router = APIRouter(tags=["agents"])

AgentManager = Annotated[Principal, Depends(authorized(Permission.AGENTS_MANAGE))]
StatusSetter = Annotated[Principal, Depends(authorized(Permission.AGENTS_SET_OWN_STATUS))]
AgentReader = Annotated[Principal, Depends(authorized(Permission.AGENTS_READ))]
UserManager = Annotated[Principal, Depends(authorized(Permission.USERS_MANAGE))]


@router.get("/agents/{agent_id}", response_model=AgentDetail)
async def get_agent(agent_id: uuid.UUID, principal: AgentReader, uow: Uow) -> AgentDetail:
    """One agent, with their current load (open sessions assigned)."""
    return AgentDetail.of_view(await service.get_agent(uow, principal, agent_id))


@router.patch("/agents/{agent_id}", response_model=AgentDetail)
async def update_agent(
    agent_id: uuid.UUID, body: AgentUpdate, principal: AgentManager, uow: Uow
) -> AgentDetail:
    """Change an agent's name, role, capacity or skills (supervisors and admins)."""
    command = service.UpdateAgent(
        name=body.name,
        role=body.role,
        max_concurrent_sessions=body.max_concurrent_sessions,
        skills=tuple(body.skills) if body.skills is not None else None,
    )
    return AgentDetail.of_view(await service.update_agent(uow, principal, agent_id, command))


@router.put("/agents/{agent_id}/status", response_model=AgentDetail)
async def set_agent_status(
    agent_id: uuid.UUID, body: AgentStatusUpdate, principal: StatusSetter, uow: Uow
) -> AgentDetail:
    """Set an agent's status: their own (agents), anyone's (supervisors and admins)."""
    return AgentDetail.of_view(await service.set_status(uow, principal, agent_id, body.status))


@router.post("/agents/{agent_id}/deactivate", response_model=AgentDetail)
async def deactivate_agent(agent_id: uuid.UUID, principal: UserManager, uow: Uow) -> AgentDetail:
    """Deactivate a user (admin): their tokens stop working at once, login is refused, and
    their open sessions go back to the waiting queue (`agent.deactivated`)."""
    return AgentDetail.of_view(await service.deactivate_agent(uow, principal, agent_id))


@router.post("/agents/{agent_id}/reactivate", response_model=AgentDetail)
async def reactivate_agent(agent_id: uuid.UUID, principal: UserManager, uow: Uow) -> AgentDetail:
    """Let a deactivated user log in again (admin; `agent.reactivated`)."""
    return AgentDetail.of_view(await service.reactivate_agent(uow, principal, agent_id))
