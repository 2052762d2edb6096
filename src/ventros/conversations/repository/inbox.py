"""The inbox read model: one page of sessions with what an agent scans for (contact,
last message, unread count, assignee), in one query over indexed columns.

It reads the contacts', channels' and users' tables for names: a read model that joins
for display and writes nothing (the aggregates stay their contexts' own)."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import text
from sqlalchemy.dialects.postgresql import insert

from ventros.conversations.domain import Message
from ventros.conversations.repository.messages import _message_from_row
from ventros.conversations.repository.tables import session_reads
from ventros.platform.uow import UnitOfWork

UNREAD_CAP = 99  # counted up to this; the badge says "99+" beyond


@dataclass(frozen=True)
class InboxItem:
    session_id: uuid.UUID
    status: str
    contact_id: uuid.UUID
    contact_name: str
    contact_phone: str | None
    channel_name: str | None
    agent_id: uuid.UUID | None
    agent_name: str | None
    started_at: datetime
    last_activity_at: datetime
    last_inbound_at: datetime | None
    last_type: str | None
    last_text: str | None
    last_direction: str | None
    unread: int
    sort_at: datetime
    mentioned: bool = False  # a private note in it @mentions the reader
    team_name: str | None = None


@dataclass(frozen=True)
class InboxQuery:
    view: str  # mine | unassigned | all | closed
    user_id: uuid.UUID
    search: str | None = None
    after: tuple[datetime, uuid.UUID] | None = None
    label_id: uuid.UUID | None = None


# A snoozed session leaves the open views until it comes back.
_AWAKE = "(s.snoozed_until IS NULL OR s.snoozed_until <= now())"
_WHERE = {
    "mine": f"s.status = 'open' AND s.agent_id = :user_id AND {_AWAKE}",
    "unassigned": f"s.status = 'open' AND s.agent_id IS NULL AND {_AWAKE}",
    "all": f"s.status = 'open' AND {_AWAKE}",
    "closed": "s.status = 'closed'",
    # Open or closed: a colleague may ask about a conversation that has ended.
    "mentions": "EXISTS (SELECT 1 FROM note_mentions nm WHERE nm.tenant_id = s.tenant_id"
    " AND nm.agent_id = :user_id AND nm.session_id = s.id)",
}


def _sql(query: InboxQuery) -> tuple[str, dict[str, Any]]:
    # The waiting queue is served oldest first; every other view most recent first.
    ascending = query.view == "unassigned"
    sort = "s.started_at" if ascending else "s.last_activity_at"
    params: dict[str, Any] = {"user_id": query.user_id, "cap": UNREAD_CAP}
    where = [_WHERE[query.view]]
    if query.search:
        digits = "".join(ch for ch in query.search if ch.isdigit())
        clauses = ["c.name ILIKE :name"]
        params["name"] = "%" + query.search.replace("%", r"\%").replace("_", r"\_") + "%"
        if len(digits) >= 3:
            clauses.append("c.phone LIKE :phone")
            params["phone"] = "%" + digits + "%"
        where.append("(" + " OR ".join(clauses) + ")")
    if query.label_id is not None:
        where.append(
            "EXISTS (SELECT 1 FROM session_labels sl WHERE sl.tenant_id = s.tenant_id"
            " AND sl.label_id = :label_id AND sl.session_id = s.id)"
        )
        params["label_id"] = query.label_id
    if query.after is not None:
        where.append(f"({sort}, s.id) {'>' if ascending else '<'} (:after_at, :after_id)")
        params["after_at"], params["after_id"] = query.after
    direction = "ASC" if ascending else "DESC"
    # Assembled from the fixed fragments above only; every value is a bound parameter.
    sql = f"""
        SELECT s.id AS session_id, s.status, s.contact_id, c.name AS contact_name,
               c.phone AS contact_phone, ch.name AS channel_name, s.agent_id,
               u.name AS agent_name, s.started_at, s.last_activity_at, s.last_inbound_at,
               last.type AS last_type, COALESCE(last.text, last.caption) AS last_text,
               last.direction AS last_direction, unread.n AS unread, {sort} AS sort_at,
               EXISTS (
                   SELECT 1 FROM note_mentions nm WHERE nm.tenant_id = s.tenant_id
                   AND nm.agent_id = :user_id AND nm.session_id = s.id
               ) AS mentioned,
               tm.name AS team_name
        FROM sessions s
        JOIN contacts c ON c.id = s.contact_id
        LEFT JOIN channels ch ON ch.id = s.channel_id
        LEFT JOIN users u ON u.id = s.agent_id
        LEFT JOIN teams tm ON tm.id = s.team_id
        LEFT JOIN session_reads r ON r.session_id = s.id
        LEFT JOIN LATERAL (
            SELECT m.type, m.text, m.caption, m.direction FROM messages m
            WHERE m.tenant_id = s.tenant_id AND m.session_id = s.id
            ORDER BY m.created_at DESC, m.id DESC LIMIT 1
        ) last ON true
        LEFT JOIN LATERAL (
            SELECT count(*) AS n FROM (
                SELECT 1 FROM messages m
                WHERE m.tenant_id = s.tenant_id AND m.session_id = s.id
                  AND m.direction = 'inbound'
                  AND m.created_at > COALESCE(r.read_at, '-infinity'::timestamptz)
                LIMIT :cap
            ) capped
        ) unread ON true
        WHERE s.tenant_id = NULLIF(current_setting('app.tenant_id', true), '')::uuid
          AND {" AND ".join(where)}
        ORDER BY {sort} {direction}, s.id {direction}
        LIMIT :limit
    """  # noqa: S608
    return sql, params


async def inbox_page(tx: UnitOfWork, query: InboxQuery, *, limit: int) -> list[InboxItem]:
    sql, params = _sql(query)
    params["limit"] = limit
    rows = await tx.connection.execute(text(sql), params)
    return [InboxItem(**row._mapping) for row in rows]


async def inbox_item(tx: UnitOfWork, session_id: uuid.UUID, user_id: uuid.UUID) -> InboxItem | None:
    """One session as the inbox shows it, whatever its status (for live updates)."""
    for view in ("all", "closed"):
        sql, params = _sql(InboxQuery(view=view, user_id=user_id))
        sql = sql.replace("ORDER BY", "AND s.id = :session_id ORDER BY")
        params.update(limit=1, session_id=session_id)
        row = (await tx.connection.execute(text(sql), params)).first()
        if row is not None:
            return InboxItem(**row._mapping)
    return None


async def mark_read(tx: UnitOfWork, session_id: uuid.UUID, at: datetime) -> None:
    statement = insert(session_reads).values(
        session_id=session_id, tenant_id=tx.tenant_id, read_at=at
    )
    await tx.connection.execute(
        statement.on_conflict_do_update(
            index_elements=[session_reads.c.session_id],
            set_={"read_at": statement.excluded.read_at},
        )
    )


async def latest_messages(
    tx: UnitOfWork, session_id: uuid.UUID, *, limit: int, before: uuid.UUID | None
) -> list[Message]:
    """The newest `limit` messages before `before` (a message id), returned oldest first:
    a long conversation opens on its end and pages back."""
    where = (
        "m.tenant_id = NULLIF(current_setting('app.tenant_id', true), '')::uuid"
        " AND m.session_id = :session_id"
    )
    params: dict[str, Any] = {"session_id": session_id, "limit": limit}
    if before is not None:
        where += (
            " AND (m.created_at, m.id) < "
            "(SELECT b.created_at, b.id FROM messages b WHERE b.id = :before)"
        )
        params["before"] = before
    rows = await tx.connection.execute(
        text(
            f"SELECT m.* FROM messages m WHERE {where} "  # noqa: S608 (fixed fragments)
            "ORDER BY m.created_at DESC, m.id DESC LIMIT :limit"
        ),
        params,
    )
    return [_message_from_row(row) for row in reversed(list(rows))]
