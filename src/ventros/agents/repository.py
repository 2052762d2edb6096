"""Persistence of what assignment needs to know about agents.

The agent itself is the identity context's `users` row (read and written through
`identity.repository`); this module adds `agent_activity` (when each agent last received a
session, for "idle longest first") and the row locks that make assignment safe.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Column, ColumnElement, DateTime, Table, select
from sqlalchemy.dialects.postgresql import UUID, insert

from ventros.identity.domain import AgentStatus, Role
from ventros.identity.permissions import ANSWERING_ROLES
from ventros.identity.repository import users
from ventros.platform.db import metadata
from ventros.platform.uow import UnitOfWork

agent_activity = Table(
    "agent_activity",
    metadata,
    Column("agent_id", UUID(as_uuid=True), primary_key=True),
    Column("tenant_id", UUID(as_uuid=True), nullable=False),
    Column("last_assigned_at", DateTime(timezone=True)),
)


@dataclass(frozen=True)
class AgentSlot:
    """An agent as assignment sees it."""

    id: uuid.UUID
    capacity: int
    skills: tuple[str, ...]
    status: AgentStatus
    # Since when the agent has had nothing new: the last assignment, else the moment they
    # became available.
    idle_since: datetime
    role: Role = Role.AGENT


def _slot(row: object) -> AgentSlot:
    last = getattr(row, "last_assigned_at", None)
    changed: datetime = row.status_changed_at  # type: ignore[attr-defined]
    return AgentSlot(
        id=row.id,  # type: ignore[attr-defined]
        capacity=row.max_concurrent_sessions,  # type: ignore[attr-defined]
        skills=tuple(row.skills),  # type: ignore[attr-defined]
        status=AgentStatus(row.status),  # type: ignore[attr-defined]
        idle_since=max(last, changed) if last is not None else changed,
        role=Role(row.role),  # type: ignore[attr-defined]
    )


async def available_agents(tx: UnitOfWork, required_skills: list[str]) -> list[AgentSlot]:
    """Available agents with room in principle (capacity > 0) whose skills cover these."""
    query = (
        select(
            users.c.id,
            users.c.max_concurrent_sessions,
            users.c.skills,
            users.c.status,
            users.c.status_changed_at,
            users.c.role,
            agent_activity.c.last_assigned_at,
        )
        .select_from(users.outerjoin(agent_activity, agent_activity.c.agent_id == users.c.id))
        .where(
            users.c.status == AgentStatus.AVAILABLE.value,
            users.c.role.in_([role.value for role in ANSWERING_ROLES]),
            users.c.active.is_(True),
            users.c.max_concurrent_sessions > 0,
            users.c.skills.contains(sorted(set(required_skills))),
        )
    )
    return [_slot(row) for row in await tx.connection.execute(query)]


async def lock_agent(tx: UnitOfWork, agent_id: uuid.UUID, *, skip_locked: bool) -> AgentSlot | None:
    """Locks the agent's row until the transaction ends; None if it does not exist, or (with
    `skip_locked`) another transaction holds it. Every assignment takes this lock before it
    counts the agent's load, so two assigners never both see room that only one may fill."""
    query = (
        select(
            users.c.id,
            users.c.max_concurrent_sessions,
            users.c.skills,
            users.c.status,
            users.c.status_changed_at,
            users.c.role,
        )
        .where(users.c.id == agent_id)
        .with_for_update(of=users, skip_locked=skip_locked)
    )
    row = (await tx.connection.execute(query)).first()
    if row is None:
        return None
    last = (
        await tx.connection.execute(
            select(agent_activity.c.last_assigned_at).where(agent_activity.c.agent_id == agent_id)
        )
    ).scalar()
    slot = _slot(row)
    if last is not None:
        slot = AgentSlot(
            slot.id,
            slot.capacity,
            slot.skills,
            slot.status,
            max(last, row.status_changed_at),
            slot.role,
        )
    return slot


async def lock_first_free(
    tx: UnitOfWork, agent_ids: list[uuid.UUID], order: ColumnElement[Any]
) -> AgentSlot | None:
    """Locks the first of these agents (by `order`) no other transaction holds, in one
    round trip (SKIP LOCKED); None when every one is held."""
    query = (
        select(
            users.c.id,
            users.c.max_concurrent_sessions,
            users.c.skills,
            users.c.status,
            users.c.status_changed_at,
            users.c.role,
            agent_activity.c.last_assigned_at,
        )
        .select_from(users.outerjoin(agent_activity, agent_activity.c.agent_id == users.c.id))
        .where(users.c.id.in_(agent_ids))
        .order_by(order)
        .limit(1)
        .with_for_update(of=users, skip_locked=True)
    )
    row = (await tx.connection.execute(query)).first()
    return _slot(row) if row is not None else None


async def record_assignment(tx: UnitOfWork, agent_id: uuid.UUID, at: datetime) -> None:
    statement = insert(agent_activity).values(
        agent_id=agent_id, tenant_id=tx.tenant_id, last_assigned_at=at
    )
    await tx.connection.execute(
        statement.on_conflict_do_update(
            index_elements=[agent_activity.c.agent_id],
            set_={"last_assigned_at": statement.excluded.last_assigned_at},
        )
    )
