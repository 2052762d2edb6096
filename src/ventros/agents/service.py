"""Agents use cases: update, status (`agent.status_changed`), current load."""

from __future__ import annotations

import uuid
from dataclasses import dataclass

from ventros.agents import domain
from ventros.agents import repository as agents
from ventros.agents.ports import RequeueSessions, SessionLoad
from ventros.identity.domain import AgentStatus, Principal, Role, User
from ventros.identity.permissions import Permission, allows, require
from ventros.identity.repository import UserRepository
from ventros.kernel.errors import NotFound, PermissionDenied, RuleViolation
from ventros.kernel.events import Actor
from ventros.platform.uow import UnitOfWork, UnitOfWorkFactory


@dataclass(frozen=True)
class AgentView:
    agent: User
    current_load: int


@dataclass(frozen=True)
class UpdateAgent:
    name: str | None = None
    role: Role | None = None
    max_concurrent_sessions: int | None = None
    skills: tuple[str, ...] | None = None


def _open(uow: UnitOfWorkFactory, principal: Principal) -> UnitOfWork:
    return uow(principal.tenant_id, Actor.user(principal.user_id))


async def _locked(tx: UnitOfWork, agent_id: uuid.UUID) -> User:
    # The row lock serialises this change with assignments to the agent.
    if await agents.lock_agent(tx, agent_id, skip_locked=False) is None:
        raise NotFound("agent not found")
    user = await UserRepository(tx).get(agent_id)
    if user is None:
        raise NotFound("agent not found")
    return user


async def get_agent(
    uow: UnitOfWorkFactory, principal: Principal, agent_id: uuid.UUID, *, load: SessionLoad
) -> AgentView:
    async with _open(uow, principal) as tx:
        user = await UserRepository(tx).get(agent_id)
        if user is None:
            raise NotFound("agent not found")
        return AgentView(user, await load(tx, agent_id))


async def update_agent(
    uow: UnitOfWorkFactory,
    principal: Principal,
    agent_id: uuid.UUID,
    command: UpdateAgent,
    *,
    load: SessionLoad,
) -> AgentView:
    async with _open(uow, principal) as tx:
        user = await _locked(tx, agent_id)
        if command.role not in (None, user.role) and principal.role is not Role.ADMIN:
            raise PermissionDenied("only admins may change a user's role")
        if user.role is Role.ADMIN and principal.role is not Role.ADMIN:
            raise PermissionDenied("only admins may change admins")
        domain.update_agent(
            user,
            name=command.name,
            role=command.role,
            max_concurrent_sessions=command.max_concurrent_sessions,
            skills=list(command.skills) if command.skills is not None else None,
        )
        await UserRepository(tx).save(user)
        current = await load(tx, agent_id)
        await tx.commit()
    return AgentView(user, current)


async def set_status(
    uow: UnitOfWorkFactory,
    principal: Principal,
    agent_id: uuid.UUID,
    status: AgentStatus,
    *,
    load: SessionLoad,
) -> AgentView:
    """An agent sets their own status; supervisors and admins anyone's."""
    async with _open(uow, principal) as tx:
        user = await _locked(tx, agent_id)
        if agent_id != principal.user_id and not allows(principal.role, Permission.AGENTS_MANAGE):
            raise PermissionDenied("an agent may set only their own status")
        domain.change_status(user, status)
        await UserRepository(tx).save(user)
        current = await load(tx, agent_id)
        await tx.commit()
    return AgentView(user, current)


async def deactivate_agent(
    uow: UnitOfWorkFactory, principal: Principal, agent_id: uuid.UUID, *, requeue: RequeueSessions
) -> AgentView:
    """Admins: the user's tokens stop working at once (every request reads the active flag),
    login is refused, and their open sessions go back to the waiting queue."""
    require(principal, Permission.USERS_MANAGE)
    if agent_id == principal.user_id:
        raise RuleViolation("you cannot deactivate yourself; ask another admin")
    async with _open(uow, principal) as tx:
        user = await _locked(tx, agent_id)
        if user.active:
            requeued = await requeue(tx, agent_id, reason="agent_deactivated")
            domain.deactivate(user, requeued_sessions=[str(s) for s in requeued])
            await UserRepository(tx).save(user)
        await tx.commit()
    return AgentView(user, 0)


async def reactivate_agent(
    uow: UnitOfWorkFactory, principal: Principal, agent_id: uuid.UUID, *, load: SessionLoad
) -> AgentView:
    require(principal, Permission.USERS_MANAGE)
    async with _open(uow, principal) as tx:
        user = await _locked(tx, agent_id)
        domain.reactivate(user)
        await UserRepository(tx).save(user)
        current = await load(tx, agent_id)
        await tx.commit()
    return AgentView(user, current)
