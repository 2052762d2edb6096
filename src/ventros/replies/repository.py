"""Persistence of canned replies."""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy import Column, DateTime, Index, Row, Table, Text, and_, or_, select, text
from sqlalchemy.dialects.postgresql import UUID
from sqlalchemy.exc import IntegrityError

from ventros.kernel.errors import Conflict
from ventros.platform.db import metadata
from ventros.platform.uow import UnitOfWork
from ventros.replies.domain import CannedReply

canned_replies = Table(
    "canned_replies",
    metadata,
    Column("id", UUID(as_uuid=True), primary_key=True),
    Column("tenant_id", UUID(as_uuid=True), nullable=False),
    # A team's replies; no foreign key: teams are another context's (and may come later).
    Column("team_id", UUID(as_uuid=True)),
    Column("shortcut", Text, nullable=False),  # lower-case, without the slash
    Column("text", Text, nullable=False),
    Column("media_id", UUID(as_uuid=True)),
    Column("created_by", UUID(as_uuid=True)),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("updated_at", DateTime(timezone=True), nullable=False),
    # One shortcut per scope: the tenant's own, and each team's.
    Index(
        "uq_canned_replies_tenant_shortcut",
        "tenant_id",
        "shortcut",
        unique=True,
        postgresql_where=text("team_id IS NULL"),
    ),
    Index(
        "uq_canned_replies_team_shortcut",
        "tenant_id",
        "team_id",
        "shortcut",
        unique=True,
        postgresql_where=text("team_id IS NOT NULL"),
    ),
)


def _values(reply: CannedReply) -> dict[str, Any]:
    return {
        "id": reply.id,
        "tenant_id": reply.tenant_id,
        "team_id": reply.team_id,
        "shortcut": reply.shortcut,
        "text": reply.text,
        "media_id": reply.media_id,
        "created_by": reply.created_by,
        "created_at": reply.created_at,
        "updated_at": reply.updated_at,
    }


def _from_row(row: Row[Any]) -> CannedReply:
    return CannedReply(
        id=row.id,
        tenant_id=row.tenant_id,
        team_id=row.team_id,
        shortcut=row.shortcut,
        text=row.text,
        media_id=row.media_id,
        created_by=row.created_by,
        created_at=row.created_at,
        updated_at=row.updated_at,
    )


def _like(value: str) -> str:
    return value.replace("\\", "\\\\").replace("%", r"\%").replace("_", r"\_")


class CannedReplyRepository:
    def __init__(self, uow: UnitOfWork) -> None:
        self._uow = uow

    async def existing_id(self, shortcut: str, team_id: uuid.UUID | None) -> uuid.UUID | None:
        scope = (
            canned_replies.c.team_id.is_(None)
            if team_id is None
            else canned_replies.c.team_id == team_id
        )
        query = select(canned_replies.c.id).where(canned_replies.c.shortcut == shortcut, scope)
        found: uuid.UUID | None = (await self._uow.connection.execute(query)).scalar()
        return found

    async def _write(self, reply: CannedReply, statement: Any) -> None:
        try:
            async with self._uow.connection.begin_nested():
                await self._uow.connection.execute(statement)
        except IntegrityError as error:
            # Two admins saved the same shortcut at once; the other one won.
            raise Conflict(
                f"the shortcut /{reply.shortcut} exists already",
                existing_id=await self.existing_id(reply.shortcut, reply.team_id),
            ) from error
        self._uow.track(reply)

    async def add(self, reply: CannedReply) -> None:
        await self._write(reply, canned_replies.insert().values(**_values(reply)))

    async def save(self, reply: CannedReply) -> None:
        values = _values(reply)
        await self._write(
            reply,
            canned_replies.update().where(canned_replies.c.id == reply.id).values(**values),
        )

    async def delete(self, reply: CannedReply) -> None:
        await self._uow.connection.execute(
            canned_replies.delete().where(canned_replies.c.id == reply.id)
        )
        self._uow.track(reply)

    async def get(self, reply_id: uuid.UUID) -> CannedReply | None:
        query = select(canned_replies).where(canned_replies.c.id == reply_id)
        row = (await self._uow.connection.execute(query)).first()
        return self._uow.track(_from_row(row)) if row else None

    async def search(
        self,
        *,
        query: str | None,
        team_ids: list[uuid.UUID] | None,
        limit: int,
        before: uuid.UUID | None,
    ) -> list[CannedReply]:
        """Newest first, keyset before an id. `query`: a shortcut's start
        (`/obr`) or words all found in the shortcut or the text. `team_ids`: the tenant's
        replies and these teams' (None: every team's)."""
        statement = select(canned_replies)
        if team_ids is not None:
            statement = statement.where(
                or_(canned_replies.c.team_id.is_(None), canned_replies.c.team_id.in_(team_ids))
            )
        wanted = (query or "").strip()
        if wanted.startswith("/"):
            prefix = _like(wanted.removeprefix("/").strip().lower()) + "%"
            statement = statement.where(canned_replies.c.shortcut.like(prefix))
        elif wanted:
            statement = statement.where(
                and_(
                    *(
                        or_(
                            canned_replies.c.shortcut.ilike(f"%{_like(word)}%"),
                            canned_replies.c.text.ilike(f"%{_like(word)}%"),
                        )
                        # Lower-cased here too: ILIKE folds only ASCII under the C
                        # collation (the embedded PostgreSQL's), so "GRÁTIS" missed "grátis".
                        for word in wanted.lower().split()[:10]
                    )
                )
            )
        if before is not None:
            statement = statement.where(canned_replies.c.id < before)
        statement = statement.order_by(canned_replies.c.id.desc()).limit(limit)
        return [_from_row(row) for row in await self._uow.connection.execute(statement)]
