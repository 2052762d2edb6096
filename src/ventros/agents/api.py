"""HTTP routes of agents: update, status, one agent with their current load.
(Creating and listing agents are identity's routes: an agent is a user.)"""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Depends

from ventros.agents import service
from ventros.agents.ports import SESSION_LOAD, SessionLoad
from ventros.agents.schemas import AgentDetail, AgentStatusUpdate, AgentUpdate
from ventros.api.deps import ContainerDep, Uow, authorized
from ventros.identity.domain import Principal
from ventros.identity.permissions import Permission

router = APIRouter(tags=["agents"])


async def _session_load(container: ContainerDep) -> SessionLoad:
    return container.ports.get(SESSION_LOAD)  # conversations provides it


Load = Annotated[SessionLoad, Depends(_session_load)]

AgentManager = Annotated[Principal, Depends(authorized(Permission.AGENTS_MANAGE))]
StatusSetter = Annotated[Principal, Depends(authorized(Permission.AGENTS_SET_OWN_STATUS))]
AgentReader = Annotated[Principal, Depends(authorized(Permission.AGENTS_READ))]


@router.get("/agents/{agent_id}", response_model=AgentDetail)
async def get_agent(
    agent_id: uuid.UUID, principal: AgentReader, uow: Uow, load: Load
) -> AgentDetail:
    """One agent, with their current load (open sessions assigned)."""
    return AgentDetail.of_view(await service.get_agent(uow, principal, agent_id, load=load))


@router.patch("/agents/{agent_id}", response_model=AgentDetail)
async def update_agent(
    agent_id: uuid.UUID, body: AgentUpdate, principal: AgentManager, uow: Uow, load: Load
) -> AgentDetail:
    """Change an agent's name, role, capacity or skills (supervisors and admins)."""
    command = service.UpdateAgent(
        name=body.name,
        role=body.role,
        max_concurrent_sessions=body.max_concurrent_sessions,
        skills=tuple(body.skills) if body.skills is not None else None,
    )
    return AgentDetail.of_view(
        await service.update_agent(uow, principal, agent_id, command, load=load)
    )


@router.put("/agents/{agent_id}/status", response_model=AgentDetail)
async def set_agent_status(
    agent_id: uuid.UUID,
    body: AgentStatusUpdate,
    principal: StatusSetter,
    uow: Uow,
    load: Load,
) -> AgentDetail:
    """Set an agent's status: their own (agents), anyone's (supervisors and admins)."""
    return AgentDetail.of_view(
        await service.set_status(uow, principal, agent_id, body.status, load=load)
    )
