"""Session lifecycle use cases: manual assignment, transfer, close, CSAT.

Who may act is `Session.check_writer`, the one rule of every write into a session (here and
in sending): supervisors and admins (`sessions:assign_any`) on any session; agents
(`sessions:act_own`) on sessions assigned to them, or on an unassigned open one, which they
take (`authorize_write`). A missing or foreign session is 404 before any 403. Only users who
can answer (not viewers) are given sessions.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from itertools import groupby

import structlog

from ventros.agents import repository as agents
from ventros.conversations.domain import CLOSE_TIMEOUT, Session
from ventros.conversations.repository import SessionRepository
from ventros.conversations.repository.sessions import Overdue, overdue_sessions
from ventros.conversations.service import assignment
from ventros.identity.domain import Principal, TenantSettings
from ventros.identity.permissions import ANSWERING_ROLES, Permission, allows
from ventros.kernel.clock import utcnow
from ventros.kernel.errors import Conflict, NotFound, PermissionDenied, RuleViolation
from ventros.kernel.events import Actor
from ventros.platform.metrics import PROCESS
from ventros.platform.uow import UnitOfWork, UnitOfWorkFactory

log = structlog.get_logger(__name__)

CLOSE_BY_AGENT = "agent"


@dataclass(frozen=True)
class AssignSession:
    agent_id: uuid.UUID | None = None  # None: automatic assignment
    force: bool = False
    required_skills: tuple[str, ...] | None = None


def _open(uow: UnitOfWorkFactory, principal: Principal) -> UnitOfWork:
    return uow(principal.tenant_id, Actor.user(principal.user_id))


def _supervises(principal: Principal) -> bool:
    return allows(principal.role, Permission.SESSIONS_ASSIGN_ANY)


async def _locked_session(tx: UnitOfWork, session_id: uuid.UUID) -> Session:
    session = await assignment.lock_session(tx, session_id)
    if session is None:
        raise NotFound("session not found")
    return session


async def authorize_write(
    tx: UnitOfWork, principal: Principal, session: Session, doing: str
) -> None:
    """Applies `Session.check_writer` for this user; an agent acting on an unassigned open
    session takes it first (holding their row lock, as every assignment does)."""
    if session.check_writer(principal.user_id, supervises=_supervises(principal), doing=doing):
        await agents.lock_agent(tx, principal.user_id, skip_locked=False)
        await assignment.give_to(tx, session, principal.user_id, automatic=False)
        await assignment.dequeue(tx, session.id)


async def _lock_target(
    tx: UnitOfWork, agent_id: uuid.UUID, *, force: bool, principal: Principal
) -> None:
    """Locks the receiving agent and checks their capacity (409 unless forced)."""
    if force and not _supervises(principal):
        raise PermissionDenied("only supervisors may assign over capacity")
    slot = await agents.lock_agent(tx, agent_id, skip_locked=False)
    if slot is None:
        raise NotFound("agent not found")
    if slot.role not in ANSWERING_ROLES:
        raise RuleViolation(
            f"A {slot.role.value} cannot be given sessions: only agents, supervisors and "
            "admins can answer customers.",
            field="agent_id",
        )
    if not force and await assignment.load_of(tx, agent_id) >= slot.capacity:
        raise Conflict(
            f"the agent is at capacity ({slot.capacity} open sessions); a supervisor may "
            'force the assignment with "force": true',
            existing_id=agent_id,
        )


async def assign_session(
    uow: UnitOfWorkFactory, principal: Principal, session_id: uuid.UUID, command: AssignSession
) -> Session:
    async with _open(uow, principal) as tx:
        session = await _locked_session(tx, session_id)
        if command.agent_id is None:
            if not _supervises(principal):
                raise PermissionDenied("automatic assignment is for supervisors")
            await assignment.assign_agent_to_session(
                tx,
                session_id,
                required_skills=list(command.required_skills)
                if command.required_skills is not None
                else None,
            )
            await tx.commit()
            return await _reload(uow, principal, session_id)
        if not _supervises(principal) and command.agent_id != principal.user_id:
            raise PermissionDenied("an agent may only take unassigned sessions themselves")
        session.check_writer(principal.user_id, supervises=_supervises(principal), doing="take")
        if session.agent_id == command.agent_id:
            return session
        session.ensure_open("assigned")
        await _lock_target(tx, command.agent_id, force=command.force, principal=principal)
        await assignment.give_to(tx, session, command.agent_id, automatic=False)
        await assignment.dequeue(tx, session_id)
        await tx.commit()
    return session


async def _reload(uow: UnitOfWorkFactory, principal: Principal, session_id: uuid.UUID) -> Session:
    async with _open(uow, principal) as tx:
        session = await SessionRepository(tx).get(session_id)
    if session is None:
        raise NotFound("session not found")
    return session


async def transfer_session(
    uow: UnitOfWorkFactory,
    principal: Principal,
    session_id: uuid.UUID,
    *,
    to_agent_id: uuid.UUID,
    note: str | None = None,
    force: bool = False,
) -> Session:
    """`session.transferred`, with the handoff note."""
    async with _open(uow, principal) as tx:
        session = await _locked_session(tx, session_id)
        await authorize_write(tx, principal, session, "transfer")
        session.ensure_open("transferred")
        await _lock_target(tx, to_agent_id, force=force, principal=principal)
        session.transfer_to(to_agent_id, note=note)
        await SessionRepository(tx).save(session)
        await agents.record_assignment(tx, to_agent_id, session.updated_at)
        await assignment.dequeue(tx, session_id)
        await tx.commit()
    return session


async def close_session(
    uow: UnitOfWorkFactory, principal: Principal, session_id: uuid.UUID, *, reason: str | None
) -> Session:
    """`session.closed` with the reason (default `agent`); closing a closed one is a no-op."""
    async with _open(uow, principal) as tx:
        session = await _locked_session(tx, session_id)
        await authorize_write(tx, principal, session, "close")
        session.close(reason or CLOSE_BY_AGENT)
        await SessionRepository(tx).save(session)
        await assignment.dequeue(tx, session_id)
        await tx.commit()
    return session


async def snooze_session(
    uow: UnitOfWorkFactory, principal: Principal, session_id: uuid.UUID, *, until: datetime
) -> Session:
    """`session.snoozed`: out of the inbox until `until` (in the future), when the
    session's service clock brings it back (`session.unsnoozed`). The caller wakes it."""
    async with _open(uow, principal) as tx:
        session = await _locked_session(tx, session_id)
        await authorize_write(tx, principal, session, "snooze")
        session.snooze(until, now=utcnow())
        await SessionRepository(tx).save(session)
        await tx.commit()
    return session


async def record_csat(
    uow: UnitOfWorkFactory,
    principal: Principal,
    session_id: uuid.UUID,
    *,
    score: int,
    comment: str | None = None,
) -> Session:
    """`session.csat_recorded` on a closed session; an open one or a second score is 409."""
    async with _open(uow, principal) as tx:
        session = await _locked_session(tx, session_id)
        await authorize_write(tx, principal, session, "rate")
        session.record_csat(score, comment=comment)
        await SessionRepository(tx).save(session)
        await tx.commit()
    return session


# --------------------------------------------------------------------------- for the workflow


async def close_if_idle(tx: UnitOfWork, session_id: uuid.UUID, *, timeout_seconds: int) -> bool:
    """Closes the session with reason `timeout` if no activity moved its deadline."""
    try:
        session = await _locked_session(tx, session_id)
    except NotFound:
        return False
    now = utcnow()
    if not session.is_open or session.is_snoozed_at(now):
        return False
    if now <= session.idle_deadline(timeout_seconds):
        return False
    session.close(CLOSE_TIMEOUT)
    await SessionRepository(tx).save(session)
    await assignment.dequeue(tx, session_id)
    return True


async def close_overdue_sessions(
    system_uow: Callable[[uuid.UUID], UnitOfWork], uow: UnitOfWorkFactory, *, limit: int
) -> int:
    """Closes (reason `timeout`) up to `limit` sessions of any tenant whose inactivity
    timeout has passed, each tenant in its own transaction; how many were due (at `limit`,
    more may be waiting)."""
    now = utcnow()
    default_timeout = TenantSettings().session_timeout_seconds
    async with system_uow(uuid.UUID(int=0)) as tx:
        overdue = await overdue_sessions(tx, now=now, default_timeout=default_timeout, limit=limit)
    overdue.sort(key=lambda due: due.tenant_id)
    closed = 0
    for tenant_id, due in groupby(overdue, key=lambda due: due.tenant_id):
        try:
            closed += await _close_idle(uow, tenant_id, list(due))
        except Exception:  # one tenant's failure must not stop every tenant's timeouts
            log.exception("closing overdue sessions failed", tenant_id=str(tenant_id))
    PROCESS.conversation_sessions_timed_out_total.inc(closed)
    return len(overdue)


async def _close_idle(uow: UnitOfWorkFactory, tenant_id: uuid.UUID, due: list[Overdue]) -> int:
    closed = 0
    async with uow(tenant_id, Actor.system()) as tx:
        for session in due:
            timeout = session.timeout_seconds
            closed += await close_if_idle(tx, session.session_id, timeout_seconds=timeout)
        await tx.commit()
    return closed


async def close_by_system(tx: UnitOfWork, session_id: uuid.UUID, reason: str) -> bool:
    try:
        session = await _locked_session(tx, session_id)
    except NotFound:
        return False
    if not session.is_open:
        return False
    session.close(reason)
    await SessionRepository(tx).save(session)
    await assignment.dequeue(tx, session_id)
    return True


# --------------------------------------------------------------------------- for contact merge


async def move_contact_sessions(
    tx: UnitOfWork, *, from_contact_id: uuid.UUID, to_contact_id: uuid.UUID
) -> int:
    """Contact merge: the duplicate's sessions and messages become the survivor's. Where
    both have an open session on a channel they collapse into the survivor's: the
    duplicate's messages move into it and the duplicate's closes with reason `merged`."""
    from sqlalchemy import select

    from ventros.conversations.domain import CLOSE_MERGED, SessionStatus
    from ventros.conversations.repository import messages, sessions

    repo = SessionRepository(tx)
    query = (
        select(sessions.c.id)
        .where(
            sessions.c.contact_id == from_contact_id,
            sessions.c.status == SessionStatus.OPEN.value,
        )
        .order_by(sessions.c.id)
        .with_for_update()
    )
    for session_id in list((await tx.connection.execute(query)).scalars()):
        duplicate = await repo.get(session_id)
        assert duplicate is not None
        survivor = await repo.find_open(contact_id=to_contact_id, channel_id=duplicate.channel_id)
        if survivor is None:
            continue
        await tx.connection.execute(
            messages.update()
            .where(messages.c.session_id == duplicate.id)
            .values(session_id=survivor.id)
        )
        survivor.last_activity_at = max(survivor.last_activity_at, duplicate.last_activity_at)
        if duplicate.last_inbound_at is not None:
            survivor.last_inbound_at = max(
                survivor.last_inbound_at or duplicate.last_inbound_at, duplicate.last_inbound_at
            )
        if survivor.agent_id is None and duplicate.agent_id is not None:
            survivor.assign(duplicate.agent_id)
        duplicate.close(CLOSE_MERGED)
        await repo.save(duplicate)
        await repo.save(survivor)
        await assignment.dequeue(tx, duplicate.id)
    moved = await tx.connection.execute(
        sessions.update()
        .where(sessions.c.contact_id == from_contact_id)
        .values(contact_id=to_contact_id)
    )
    await tx.connection.execute(
        messages.update()
        .where(messages.c.contact_id == from_contact_id)
        .values(contact_id=to_contact_id)
    )
    return int(moved.rowcount or 0)
