"""HTTP routes of agents: create and list (an agent is a user of identity), update,
status, one agent with their current load."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Depends, status

from ventros.agents import service
from ventros.agents.ports import REQUEUE_SESSIONS, SESSION_LOAD, RequeueSessions, SessionLoad
from ventros.agents.schemas import AgentDetail, AgentStatusUpdate, AgentUpdate
from ventros.api.deps import ContainerDep, Uow, authorized
from ventros.identity import service as users
from ventros.identity.domain import Principal
from ventros.identity.permissions import Permission
from ventros.identity.schemas import AgentCreate, AgentRead

router = APIRouter(tags=["agents"])


async def _session_load(container: ContainerDep) -> SessionLoad:
    return container.ports.get(SESSION_LOAD)  # conversations provides it


Load = Annotated[SessionLoad, Depends(_session_load)]


async def _requeue(container: ContainerDep) -> RequeueSessions:
    return container.ports.get(REQUEUE_SESSIONS)  # conversations provides it


Requeue = Annotated[RequeueSessions, Depends(_requeue)]

AgentManager = Annotated[Principal, Depends(authorized(Permission.AGENTS_MANAGE))]
StatusSetter = Annotated[Principal, Depends(authorized(Permission.AGENTS_SET_OWN_STATUS))]
AgentReader = Annotated[Principal, Depends(authorized(Permission.AGENTS_READ))]
UserCreator = Annotated[Principal, Depends(authorized(Permission.USERS_CREATE))]


@router.post("/agents", status_code=status.HTTP_201_CREATED, response_model=AgentRead)
async def create_agent(body: AgentCreate, principal: UserCreator, uow: Uow) -> AgentRead:
    """Create a user of this tenant with a role (admin)."""
    command = users.RegisterUser(
        email=str(body.email),
        name=body.name,
        password=body.password,
        role=body.role,
        max_concurrent_sessions=body.max_concurrent_sessions,
        skills=tuple(body.skills),
    )
    return AgentRead.of(await users.register_user(uow, principal, command))


@router.get("/agents", response_model=list[AgentRead])
async def list_agents(principal: AgentReader, uow: Uow) -> list[AgentRead]:
    """The tenant's users."""
    return [AgentRead.of(u) for u in await users.list_users(uow, principal)]


UserManager = Annotated[Principal, Depends(authorized(Permission.USERS_MANAGE))]


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


@router.post("/agents/{agent_id}/deactivate", response_model=AgentDetail)
async def deactivate_agent(
    agent_id: uuid.UUID, principal: UserManager, uow: Uow, requeue: Requeue
) -> AgentDetail:
    """Deactivate a user (admin): their tokens stop working at once, login is refused, and
    their open sessions go back to the waiting queue (`agent.deactivated`)."""
    return AgentDetail.of_view(
        await service.deactivate_agent(uow, principal, agent_id, requeue=requeue)
    )


@router.post("/agents/{agent_id}/reactivate", response_model=AgentDetail)
async def reactivate_agent(
    agent_id: uuid.UUID, principal: UserManager, uow: Uow, load: Load
) -> AgentDetail:
    """Let a deactivated user log in again (admin; `agent.reactivated`)."""
    return AgentDetail.of_view(await service.reactivate_agent(uow, principal, agent_id, load=load))
