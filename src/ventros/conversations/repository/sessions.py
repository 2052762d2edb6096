"""Persistence of sessions."""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import (
    Row,
    Select,
    any_,
    bindparam,
    column,
    select,
    text,
)
from sqlalchemy.dialects.postgresql import ARRAY, UUID, insert

from ventros.conversations.domain import (
    Session,
    SessionStatus,
)
from ventros.conversations.repository.tables import IDLE_FROM, session_labels, sessions
from ventros.platform.db import text_array_from_json, unnest_arrays
from ventros.platform.uow import UnitOfWork


@dataclass(frozen=True)
class SessionFilter:
    status: SessionStatus | None = None
    agent_id: uuid.UUID | None = None
    contact_id: uuid.UUID | None = None
    channel_id: uuid.UUID | None = None
    needs_attention: bool | None = None  # flagged by Analysis (its session_moods table)
    label_id: uuid.UUID | None = None  # sessions with this label
    team_id: uuid.UUID | None = None


# Analysis owns the mood; a subquery by name keeps Conversations from importing it.
_FLAGGED_SESSIONS = text("SELECT session_id FROM session_moods WHERE needs_attention").columns(
    column("session_id", UUID(as_uuid=True))
)


def _session_values(session: Session) -> dict[str, Any]:
    return {
        "id": session.id,
        "tenant_id": session.tenant_id,
        "contact_id": session.contact_id,
        "channel_id": session.channel_id,
        "status": session.status.value,
        "agent_id": session.agent_id,
        "started_at": session.started_at,
        "last_activity_at": session.last_activity_at,
        "last_inbound_at": session.last_inbound_at,
        "awaiting_reply_since": session.awaiting_reply_since,
        "first_response_seconds": session.first_response_seconds,
        "reply_count": session.reply_count,
        "reply_seconds_total": session.reply_seconds_total,
        "resolution_seconds": session.resolution_seconds,
        "closed_at": session.closed_at,
        "close_reason": session.close_reason,
        "csat_score": session.csat_score,
        "csat_comment": session.csat_comment,
        "transfer_note": session.transfer_note,
        "team_id": session.team_id,
        "first_response_due_at": session.first_response_due_at,
        "resolution_due_at": session.resolution_due_at,
        "sla_raised": session.sla_raised,
        "snoozed_until": session.snoozed_until,
        "auto_replied_at": session.auto_replied_at,
        "follow_up_nudged_at": session.follow_up_nudged_at,
        "created_at": session.created_at,
        "updated_at": session.updated_at,
    }


_SESSION_MUTABLE = (
    "status",
    "agent_id",
    "last_activity_at",
    "last_inbound_at",
    "awaiting_reply_since",
    "first_response_seconds",
    "reply_count",
    "reply_seconds_total",
    "resolution_seconds",
    "closed_at",
    "close_reason",
    "csat_score",
    "csat_comment",
    "transfer_note",
    "team_id",
    "first_response_due_at",
    "resolution_due_at",
    "sla_raised",
    "snoozed_until",
    "auto_replied_at",
    "follow_up_nudged_at",
    "updated_at",
)


_JSON_MUTABLE = frozenset(("sla_raised",))  # arrays travel as JSON: unnest would flatten them


def _changed(name: str) -> str:
    return text_array_from_json(f"u.{name}") if name in _JSON_MUTABLE else f"u.{name}"


_SAVE_MANY = text(
    "UPDATE sessions AS s SET "  # noqa: S608 - constant SQL
    + ", ".join(f"{name} = {_changed(name)}" for name in _SESSION_MUTABLE)
    + f" FROM unnest({unnest_arrays(sessions, ('id', *_SESSION_MUTABLE), as_json=_JSON_MUTABLE)})"
    + f" AS u(id, {', '.join(_SESSION_MUTABLE)}) WHERE s.id = u.id"
)


def _session_from_row(row: Row[Any]) -> Session:
    return Session(
        id=row.id,
        tenant_id=row.tenant_id,
        contact_id=row.contact_id,
        channel_id=row.channel_id,
        status=SessionStatus(row.status),
        agent_id=row.agent_id,
        started_at=row.started_at,
        last_activity_at=row.last_activity_at,
        last_inbound_at=row.last_inbound_at,
        awaiting_reply_since=row.awaiting_reply_since,
        first_response_seconds=row.first_response_seconds,
        reply_count=row.reply_count,
        reply_seconds_total=row.reply_seconds_total,
        resolution_seconds=row.resolution_seconds,
        closed_at=row.closed_at,
        close_reason=row.close_reason,
        csat_score=row.csat_score,
        csat_comment=row.csat_comment,
        transfer_note=row.transfer_note,
        team_id=row.team_id,
        first_response_due_at=row.first_response_due_at,
        resolution_due_at=row.resolution_due_at,
        sla_raised=list(row.sla_raised),
        snoozed_until=row.snoozed_until,
        auto_replied_at=row.auto_replied_at,
        follow_up_nudged_at=row.follow_up_nudged_at,
        created_at=row.created_at,
        updated_at=row.updated_at,
    )


class SessionRepository:
    def __init__(self, uow: UnitOfWork) -> None:
        self._uow = uow

    async def add(self, session: Session) -> bool:
        """False when another open session of the contact on the channel won the race."""
        statement = (
            insert(sessions)
            .values(**_session_values(session))
            .on_conflict_do_nothing(
                index_elements=["tenant_id", "contact_id", "channel_id"],
                index_where=text("status = 'open'"),
            )
            .returning(sessions.c.id)
        )
        added = (await self._uow.connection.execute(statement)).scalar() is not None
        if added:
            self._uow.track(session)
        return added

    async def save(self, session: Session) -> None:
        values = _session_values(session)
        await self._uow.connection.execute(
            sessions.update().where(sessions.c.id == session.id).values(**values)
        )
        self._uow.track(session)

    async def get(self, session_id: uuid.UUID) -> Session | None:
        row = (
            await self._uow.connection.execute(select(sessions).where(sessions.c.id == session_id))
        ).first()
        return self._uow.track(_session_from_row(row)) if row else None

    async def find_open(self, *, contact_id: uuid.UUID, channel_id: uuid.UUID) -> Session | None:
        query = (
            select(sessions)
            .where(
                sessions.c.contact_id == contact_id,
                sessions.c.channel_id == channel_id,
                sessions.c.status == SessionStatus.OPEN.value,
            )
            .with_for_update()
        )
        row = (await self._uow.connection.execute(query)).first()
        return self._uow.track(_session_from_row(row)) if row else None

    async def find_open_many(
        self, *, channel_id: uuid.UUID, contact_ids: list[uuid.UUID]
    ) -> dict[uuid.UUID, Session]:
        """The open sessions of these contacts on the channel, locked, by contact id."""
        if not contact_ids:
            return {}
        query = (
            select(sessions)
            .where(
                sessions.c.channel_id == channel_id,
                # An array, not an IN list: one statement text whatever the number.
                sessions.c.contact_id
                == any_(bindparam("contact_ids", sorted(set(contact_ids)), type_=ARRAY(UUID))),
                sessions.c.status == SessionStatus.OPEN.value,
            )
            .order_by(sessions.c.id)
            .with_for_update()
        )
        rows = await self._uow.connection.execute(query)
        found = [self._uow.track(_session_from_row(row)) for row in rows]
        return {session.contact_id: session for session in found}

    async def add_many(self, new: list[Session]) -> bool:
        """Inserts new sessions; False when another open session of one of the contacts
        was created meanwhile (nothing is tracked then: the caller retries)."""
        if not new:
            return True
        statement = (
            insert(sessions)
            .on_conflict_do_nothing(
                index_elements=["tenant_id", "contact_id", "channel_id"],
                index_where=text("status = 'open'"),
            )
            .returning(sessions.c.id)
        )
        # executemany: SQLAlchemy sends it as multi-row INSERTs, compiled once and cached.
        result = await self._uow.connection.execute(
            statement, [_session_values(session) for session in new]
        )
        inserted = set(result.scalars())
        if len(inserted) != len(new):
            return False
        for session in new:
            self._uow.track(session)
        return True

    async def save_many(self, changed: list[Session]) -> None:
        """Writes sessions this unit of work loaded (and so tracks) already, in one
        statement (executemany would run an UPDATE per session)."""
        if not changed:
            return
        rows = [_session_values(session) for session in changed]
        params: dict[str, list[Any]] = {"id": [row["id"] for row in rows]}
        for name in _SESSION_MUTABLE:
            values = [row[name] for row in rows]
            params[name] = [json.dumps(v) for v in values] if name in _JSON_MUTABLE else values
        await self._uow.connection.execute(_SAVE_MANY, params)

    async def open_for_channel(self, channel_id: uuid.UUID) -> list[Session]:
        query = (
            select(sessions)
            .where(
                sessions.c.channel_id == channel_id,
                sessions.c.status == SessionStatus.OPEN.value,
            )
            .with_for_update()
        )
        rows = await self._uow.connection.execute(query)
        return [self._uow.track(_session_from_row(row)) for row in rows]

    async def waiting_of_team(self, team_id: uuid.UUID, *, limit: int = 200) -> list[Session]:
        query = (
            select(sessions)
            .where(
                sessions.c.team_id == team_id,
                sessions.c.status == SessionStatus.OPEN.value,
                sessions.c.agent_id.is_(None),
            )
            .order_by(sessions.c.started_at, sessions.c.id)
            .limit(limit)
        )
        return [_session_from_row(row) for row in await self._uow.connection.execute(query)]

    async def list(
        self, filters: SessionFilter, *, limit: int, before: uuid.UUID | None
    ) -> list[Session]:
        query: Select[Any] = select(sessions)
        if before is not None:
            query = query.where(sessions.c.id < before)
        if filters.status is not None:
            query = query.where(sessions.c.status == filters.status.value)
        if filters.agent_id is not None:
            query = query.where(sessions.c.agent_id == filters.agent_id)
        if filters.contact_id is not None:
            query = query.where(sessions.c.contact_id == filters.contact_id)
        if filters.channel_id is not None:
            query = query.where(sessions.c.channel_id == filters.channel_id)
        if filters.team_id is not None:
            query = query.where(sessions.c.team_id == filters.team_id)
        if filters.needs_attention is not None:
            flagged = sessions.c.id.in_(_FLAGGED_SESSIONS)
            query = query.where(flagged if filters.needs_attention else ~flagged)
        if filters.label_id is not None:
            labelled = select(session_labels.c.session_id).where(
                session_labels.c.label_id == filters.label_id
            )
            query = query.where(sessions.c.id.in_(labelled))
        query = query.order_by(sessions.c.id.desc()).limit(limit)
        return [_session_from_row(row) for row in await self._uow.connection.execute(query)]


# Per tenant (its own timeout), the open sessions whose clock ran out, oldest first, on
# ix_sessions_open_idle_from: the sweep reads a few index entries, not every open session.
_OVERDUE = text(
    f"""
    SELECT overdue.tenant_id, overdue.id, t.timeout
    FROM (SELECT id, coalesce((settings->>'session_timeout_seconds')::int, :default_timeout)
            AS timeout FROM tenants) t
    CROSS JOIN LATERAL (
        SELECT s.tenant_id, s.id, {IDLE_FROM} AS idle_from FROM sessions s
        WHERE s.tenant_id = t.id AND s.status = 'open'
          AND {IDLE_FROM} <= CAST(:now AS timestamptz) - make_interval(secs => t.timeout)
        ORDER BY {IDLE_FROM} LIMIT :limit
    ) overdue
    ORDER BY overdue.idle_from
    LIMIT :limit
    """  # noqa: S608 - IDLE_FROM is a constant, nothing from input
)


@dataclass(frozen=True)
class Overdue:
    tenant_id: uuid.UUID
    session_id: uuid.UUID
    timeout_seconds: int


async def overdue_sessions(
    uow: UnitOfWork, *, now: datetime, default_timeout: int, limit: int
) -> list[Overdue]:
    """Open sessions of every tenant past their inactivity timeout at `now`. Runs in a
    system unit of work (RLS would show one tenant)."""
    params = {"now": now, "default_timeout": default_timeout, "limit": limit}
    rows = await uow.connection.execute(_OVERDUE, params)
    return [Overdue(row.tenant_id, row.id, row.timeout) for row in rows]
