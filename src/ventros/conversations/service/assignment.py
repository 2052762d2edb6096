"""AssignAgentToSession: fair, capacity-safe automatic assignment, and the waiting queue.

Who gets a session: among `available` agents whose skills cover the session's required
skills and who are under capacity, the least loaded; among equals, the one idle longest
(last assignment, else the moment they became available); then by id, so it is stable.

Why it never puts an agent over capacity: an agent's load (open sessions assigned to them)
is counted only while holding that agent's row lock (`agents.repository.lock_agent`), and
every path that gives an agent a session (automatic, manual, transfer, queue drain) takes
that lock first. Two assigners that pick the same agent are serialised on the row; the
second recounts after the first committed and moves on. Candidates are tried with
`FOR UPDATE SKIP LOCKED`, so concurrent assigners spread over free agents instead of
queueing on one; each try runs in a savepoint and a rejected agent's lock is released at
once. Only when every agent with room is locked by others does it wait for them in turn;
should two such waits cross, PostgreSQL ends one as a deadlock, which undoes only that
try (its savepoint).

When nobody can take a session it waits in `session_assignments` (queued_at = when the
session started, so the queue is served in arrival order) until `drain_queue` runs: on
`agent.status_changed` and on `session.closed` (handlers/lifecycle.py).
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import cast, func, select, text
from sqlalchemy.dialects.postgresql import ARRAY, UUID, array, insert
from sqlalchemy.exc import DBAPIError

from ventros.agents import repository as agents
from ventros.agents.domain import covers
from ventros.agents.repository import AgentSlot
from ventros.conversations.domain import Session, SessionStatus
from ventros.conversations.repository import SessionRepository, sessions
from ventros.conversations.repository.tables import session_assignments
from ventros.identity.domain import AgentStatus
from ventros.identity.repository import users
from ventros.kernel.clock import utcnow
from ventros.platform.uow import UnitOfWork
from ventros.routing import service as routes

DRAIN_BATCH = 50

# deadlock_detected, lock_not_available: a wait for an agent's row that did not work out.
_LOCK_FAILURES = {"40P01", "55P03"}


@dataclass(frozen=True)
class AssignmentResult:
    session_id: uuid.UUID
    agent_id: uuid.UUID | None  # None: the session waits in the queue (or is closed)
    queued: bool = False


def rank(candidates: list[AgentSlot], loads: dict[uuid.UUID, int]) -> list[AgentSlot]:
    """Agents with room, least loaded first, then idle longest, then by id."""
    with_room = [a for a in candidates if loads.get(a.id, 0) < a.capacity]
    return sorted(with_room, key=lambda a: (loads.get(a.id, 0), a.idle_since, a.id))


async def open_loads(tx: UnitOfWork, agent_ids: list[uuid.UUID]) -> dict[uuid.UUID, int]:
    """Open sessions assigned to each of these agents."""
    if not agent_ids:
        return {}
    query = (
        select(sessions.c.agent_id, func.count())
        .where(
            sessions.c.agent_id.in_(agent_ids),
            sessions.c.status == SessionStatus.OPEN.value,
        )
        .group_by(sessions.c.agent_id)
    )
    return {row[0]: int(row[1]) for row in await tx.connection.execute(query)}


async def load_of(tx: UnitOfWork, agent_id: uuid.UUID) -> int:
    return (await open_loads(tx, [agent_id])).get(agent_id, 0)


def _usable(slot: AgentSlot, required: list[str]) -> bool:
    return slot.status is AgentStatus.AVAILABLE and covers(list(slot.skills), required)


async def _try(
    tx: UnitOfWork, agent_id: uuid.UUID, required: list[str], *, skip_locked: bool
) -> tuple[AgentSlot | None, bool]:
    """(the locked agent if they can take one more session, whether another transaction
    held their row). Runs in a savepoint: a rejected agent's lock is released at once, and
    a wait that PostgreSQL ends as a deadlock only undoes this try."""
    savepoint = await tx.connection.begin_nested()
    try:
        slot = await agents.lock_agent(tx, agent_id, skip_locked=skip_locked)
    except DBAPIError as error:
        if getattr(error.orig, "sqlstate", None) not in _LOCK_FAILURES:
            raise
        await savepoint.rollback()
        return None, True
    if slot is None:
        await savepoint.rollback()
        return None, skip_locked
    if _usable(slot, required) and await load_of(tx, agent_id) < slot.capacity:
        await savepoint.commit()
        return slot, False
    await savepoint.rollback()
    return None, False


async def claim_agent(
    tx: UnitOfWork, required: list[str], members: tuple[uuid.UUID, ...] | None = None
) -> AgentSlot | None:
    """The best agent who can take one more session, locked for this transaction;
    `members`: only these agents (the session's team), None: anyone."""
    candidates = await agents.available_agents(tx, required)
    if members is not None:
        allowed = set(members)
        candidates = [a for a in candidates if a.id in allowed]
    ranked = rank(candidates, await open_loads(tx, [a.id for a in candidates]))
    # The best-ranked agent nobody else holds, locked in one round trip (ORDER BY rank,
    # SKIP LOCKED, LIMIT 1): concurrent assigners rank alike, and trying the agents one by
    # one would make each walk past all the others' locks.
    remaining = [a.id for a in ranked]
    while remaining:
        savepoint = await tx.connection.begin_nested()
        order = func.array_position(cast(array(remaining), ARRAY(UUID(as_uuid=True))), users.c.id)
        slot = await agents.lock_first_free(tx, remaining, order)
        if slot is None:
            await savepoint.rollback()
            break  # every one left is being assigned by someone else
        if _usable(slot, required) and await load_of(tx, slot.id) < slot.capacity:
            await savepoint.commit()
            return slot
        await savepoint.rollback()  # full meanwhile: release it, try the next
        remaining.remove(slot.id)
    contended = [a for a in ranked if a.id in remaining]
    # Everyone with room was being assigned by someone else: wait for them in turn rather
    # than queue a session an agent could take the moment that transaction ends.
    for candidate in contended:
        slot, _ = await _try(tx, candidate.id, required, skip_locked=False)
        if slot is not None:
            return slot
    return None


async def lock_session(tx: UnitOfWork, session_id: uuid.UUID) -> Session | None:
    query = select(sessions.c.id).where(sessions.c.id == session_id).with_for_update()
    if (await tx.connection.execute(query)).first() is None:
        return None
    return await SessionRepository(tx).get(session_id)


async def _routing(tx: UnitOfWork, session_id: uuid.UUID) -> list[str] | None:
    query = select(session_assignments.c.required_skills).where(
        session_assignments.c.session_id == session_id
    )
    skills = (await tx.connection.execute(query)).scalar()
    return list(skills) if skills is not None else None


async def _upsert(
    tx: UnitOfWork,
    session_id: uuid.UUID,
    *,
    skills: list[str],
    queued_at: datetime | None,
    assigned_at: datetime | None,
) -> None:
    statement = insert(session_assignments).values(
        session_id=session_id,
        tenant_id=tx.tenant_id,
        required_skills=skills,
        queued_at=queued_at,
        assigned_at=assigned_at,
    )
    await tx.connection.execute(
        statement.on_conflict_do_update(
            index_elements=[session_assignments.c.session_id],
            set_={
                "required_skills": statement.excluded.required_skills,
                "queued_at": statement.excluded.queued_at,
                "assigned_at": statement.excluded.assigned_at,
            },
        )
    )


async def set_routing(
    tx: UnitOfWork, session_id: uuid.UUID, *, team_id: uuid.UUID | None, skills: list[str]
) -> None:
    """The skills a routing rule requires (the team is the session's `team_id`); the
    session is not queued by this."""
    del team_id  # kept on the session row, which assignment reads
    statement = insert(session_assignments).values(
        session_id=session_id, tenant_id=tx.tenant_id, required_skills=skills
    )
    await tx.connection.execute(
        statement.on_conflict_do_update(
            index_elements=[session_assignments.c.session_id],
            set_={"required_skills": statement.excluded.required_skills},
        )
    )


async def dequeue(tx: UnitOfWork, session_id: uuid.UUID) -> None:
    await tx.connection.execute(
        session_assignments.update()
        .where(session_assignments.c.session_id == session_id)
        .values(queued_at=None)
    )


async def give_to(
    tx: UnitOfWork,
    session: Session,
    agent_id: uuid.UUID,
    *,
    automatic: bool,
    skills: list[str] | None = None,
) -> None:
    """Records an assignment the caller decided (holding the agent's lock); `skills`: the
    session's required skills, when the caller knows them (else they are read)."""
    now = utcnow()
    session.assign(agent_id, automatic=automatic)
    await SessionRepository(tx).save(session)
    await agents.record_assignment(tx, agent_id, now)
    if skills is None:
        skills = await _routing(tx, session.id) or []
    await _upsert(tx, session.id, skills=skills, queued_at=None, assigned_at=now)


async def assign_agent_to_session(
    tx: UnitOfWork, session_id: uuid.UUID, *, required_skills: list[str] | None = None
) -> AssignmentResult:
    """AssignAgentToSession, inside the caller's unit of work: the best agent now, else the
    queue. A session assigned already, or closed, is left as it is."""
    session = await lock_session(tx, session_id)
    if session is None or not session.is_open:
        await dequeue(tx, session_id)
        return AssignmentResult(session_id, None)
    if session.agent_id is not None:
        await dequeue(tx, session_id)
        return AssignmentResult(session_id, session.agent_id)
    stored = await _routing(tx, session_id)
    skills = sorted({s.strip().lower() for s in required_skills or stored or [] if s.strip()})
    members = await routes.team_members(tx, session.team_id)
    slot = await claim_agent(tx, skills, members)
    if slot is None:
        await _upsert(tx, session_id, skills=skills, queued_at=session.started_at, assigned_at=None)
        return AssignmentResult(session_id, None, queued=True)
    await give_to(tx, session, slot.id, automatic=True, skills=skills)
    return AssignmentResult(session_id, slot.id)


async def _anyone_with_room(tx: UnitOfWork) -> bool:
    candidates = await agents.available_agents(tx, [])
    return bool(rank(candidates, await open_loads(tx, [a.id for a in candidates])))


async def waiting_sessions(tx: UnitOfWork, *, limit: int = DRAIN_BATCH) -> list[uuid.UUID]:
    """The queue, oldest first."""
    query = (
        select(session_assignments.c.session_id)
        .where(session_assignments.c.queued_at.is_not(None))
        .order_by(session_assignments.c.queued_at, session_assignments.c.session_id)
        .limit(limit)
    )
    return list((await tx.connection.execute(query)).scalars())


async def drain_queue(tx: UnitOfWork, *, limit: int = DRAIN_BATCH) -> int:
    """Assigns waiting sessions, oldest first, while agents can take them; returns how many.

    Drains of one tenant run one at a time (a transaction-level advisory lock): two drainers
    taking disjoint slices of the queue would serve a newer session before an older one, and
    would deadlock on each other's agents. Rows an assigner holds are skipped (SKIP LOCKED):
    it is serving them."""
    await tx.connection.execute(
        text("SELECT pg_advisory_xact_lock(hashtextextended('ventros.drain_queue:' || :t, 0))"),
        {"t": str(tx.tenant_id)},
    )
    query = (
        select(session_assignments.c.session_id)
        .where(session_assignments.c.queued_at.is_not(None))
        .order_by(session_assignments.c.queued_at, session_assignments.c.session_id)
        .limit(limit)
        .with_for_update(skip_locked=True)
    )
    waiting = list((await tx.connection.execute(query)).scalars())
    assigned = 0
    for session_id in waiting:
        result = await assign_agent_to_session(tx, session_id)
        if result.agent_id is not None:
            assigned += 1
        elif result.queued and not await _anyone_with_room(tx):
            break  # nobody can take anything: the rest would wait too
    return assigned


async def requeue_sessions_of(
    tx: UnitOfWork, agent_id: uuid.UUID, *, reason: str
) -> list[uuid.UUID]:
    """Takes every open session from this agent and puts it back in the waiting queue (in
    its arrival order), for someone else to serve; the sessions' ids."""
    query = select(sessions.c.id).where(
        sessions.c.agent_id == agent_id, sessions.c.closed_at.is_(None)
    )
    requeued: list[uuid.UUID] = []
    for session_id in list((await tx.connection.execute(query)).scalars()):
        session = await lock_session(tx, session_id)
        if session is None or not session.unassign(reason=reason):
            continue
        await SessionRepository(tx).save(session)
        skills = await _routing(tx, session_id) or []
        await _upsert(tx, session_id, skills=skills, queued_at=session.started_at, assigned_at=None)
        requeued.append(session_id)
    return requeued
