"""Persistence of the label catalogue and of the labels of sessions."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import Row, func, select
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.exc import IntegrityError

from ventros.conversations.domain import Label
from ventros.conversations.repository.tables import labels, session_labels
from ventros.kernel.errors import Conflict
from ventros.platform.uow import UnitOfWork


def _values(label: Label) -> dict[str, Any]:
    return {
        "id": label.id,
        "tenant_id": label.tenant_id,
        "name": label.name,
        "color": label.color,
        "created_at": label.created_at,
        "updated_at": label.updated_at,
    }


def _from_row(row: Row[Any]) -> Label:
    return Label(
        id=row.id,
        tenant_id=row.tenant_id,
        name=row.name,
        color=row.color,
        created_at=row.created_at,
        updated_at=row.updated_at,
    )


class LabelRepository:
    def __init__(self, uow: UnitOfWork) -> None:
        self._uow = uow

    async def id_named(self, name: str) -> uuid.UUID | None:
        """The label of this name, compared case-insensitively (`VIP` is `vip`)."""
        query = select(labels.c.id).where(func.lower(labels.c.name) == name.lower())
        found: uuid.UUID | None = (await self._uow.connection.execute(query)).scalar()
        return found

    async def _write(self, label: Label, statement: Any) -> None:
        try:
            async with self._uow.connection.begin_nested():
                await self._uow.connection.execute(statement)
        except IntegrityError as error:
            raise Conflict(
                f"a label named {label.name!r} exists already",
                existing_id=await self.id_named(label.name),
            ) from error
        self._uow.track(label)

    async def add(self, label: Label) -> None:
        await self._write(label, labels.insert().values(**_values(label)))

    async def save(self, label: Label) -> None:
        await self._write(
            label, labels.update().where(labels.c.id == label.id).values(**_values(label))
        )

    async def delete(self, label: Label) -> None:
        await self._uow.connection.execute(labels.delete().where(labels.c.id == label.id))
        self._uow.track(label)

    async def get(self, label_id: uuid.UUID) -> Label | None:
        row = (
            await self._uow.connection.execute(select(labels).where(labels.c.id == label_id))
        ).first()
        return self._uow.track(_from_row(row)) if row else None

    async def catalogue(self) -> list[Label]:
        """The whole catalogue, by name (a tenant has tens, not thousands)."""
        query = select(labels).order_by(func.lower(labels.c.name), labels.c.id)
        return [_from_row(row) for row in await self._uow.connection.execute(query)]

    async def of_session(self, session_id: uuid.UUID) -> list[Label]:
        query = (
            select(labels)
            .join(session_labels, session_labels.c.label_id == labels.c.id)
            .where(session_labels.c.session_id == session_id)
            .order_by(func.lower(labels.c.name))
        )
        return [_from_row(row) for row in await self._uow.connection.execute(query)]

    async def attach(
        self, session_id: uuid.UUID, label_id: uuid.UUID, *, by: uuid.UUID, at: datetime
    ) -> bool:
        """False when the session had the label already."""
        statement = (
            insert(session_labels)
            .values(
                session_id=session_id,
                label_id=label_id,
                tenant_id=self._uow.tenant_id,
                labeled_by=by,
                labeled_at=at,
            )
            .on_conflict_do_nothing()
            .returning(session_labels.c.session_id)
        )
        return (await self._uow.connection.execute(statement)).first() is not None

    async def detach(self, session_id: uuid.UUID, label_id: uuid.UUID) -> bool:
        """False when the session did not have the label."""
        statement = (
            session_labels.delete()
            .where(session_labels.c.session_id == session_id)
            .where(session_labels.c.label_id == label_id)
            .returning(session_labels.c.session_id)
        )
        return (await self._uow.connection.execute(statement)).first() is not None
