"""Acks, reactions and revokes that arrived before their message."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import and_, delete, or_, text
from sqlalchemy.ext.asyncio import AsyncConnection

from ventros.conversations.repository.tables import pending_message_updates
from ventros.platform.uow import UnitOfWork


@dataclass(frozen=True)
class PendingUpdate:
    kind: str  # "status" | "reaction" | "revoke"
    data: dict[str, Any]


# One index lookup per asked id, whatever the table holds: `= ANY(:ids)` lets the planner
# scan the channel's rows and compare each with the array (see MessageRepository's twin).
_WAITING_KEYS = text(
    """
    SELECT wanted.key
    FROM unnest(CAST(:external_ids AS text[])) AS wanted(key)
    CROSS JOIN LATERAL (
        SELECT 1 FROM pending_message_updates p
        WHERE p.channel_id = :channel_id AND p.external_id = wanted.key LIMIT 1
    ) AS hit
    UNION
    SELECT wanted.key
    FROM unnest(CAST(:wa_ids AS text[])) AS wanted(key)
    CROSS JOIN LATERAL (
        SELECT 1 FROM pending_message_updates p
        WHERE p.channel_id = :channel_id AND p.wa_id = wanted.key LIMIT 1
    ) AS hit
    """
)


class PendingUpdateRepository:
    def __init__(self, uow: UnitOfWork) -> None:
        self._uow = uow

    async def add(
        self,
        *,
        update_id: uuid.UUID,
        channel_id: uuid.UUID,
        kind: str,
        data: dict[str, Any],
        created_at: datetime,
        external_id: str | None = None,
        wa_id: str | None = None,
    ) -> None:
        await self._uow.connection.execute(
            pending_message_updates.insert().values(
                id=update_id,
                tenant_id=self._uow.tenant_id,
                channel_id=channel_id,
                kind=kind,
                external_id=external_id,
                wa_id=wa_id,
                data=data,
                created_at=created_at,
            )
        )

    async def waiting_keys(
        self, *, channel_id: uuid.UUID, external_ids: list[str], wa_ids: list[str]
    ) -> set[str]:
        """Which of these external or bare ids have updates waiting for them."""
        if not external_ids and not wa_ids:
            return set()
        params = {"channel_id": channel_id, "external_ids": external_ids, "wa_ids": wa_ids}
        result = await self._uow.connection.execute(_WAITING_KEYS, params)
        return set(result.scalars())

    async def take(
        self, *, channel_id: uuid.UUID, external_id: str | None, wa_id: str | None
    ) -> list[PendingUpdate]:
        """Removes and returns the updates waiting for this message, oldest first."""
        keys = []
        if external_id:
            keys.append(pending_message_updates.c.external_id == external_id)
        if wa_id:
            keys.append(pending_message_updates.c.wa_id == wa_id)
        if not keys:
            return []
        statement = (
            delete(pending_message_updates)
            .where(and_(pending_message_updates.c.channel_id == channel_id, or_(*keys)))
            .returning(
                pending_message_updates.c.id,
                pending_message_updates.c.kind,
                pending_message_updates.c.data,
            )
        )
        rows = sorted(await self._uow.connection.execute(statement), key=lambda row: row.id)
        return [PendingUpdate(row.kind, dict(row.data)) for row in rows]


async def prune_pending_updates(connection: AsyncConnection, *, older_than: datetime) -> int:
    """Updates whose message never came (e.g. acks of messages sent by another tool)."""
    statement = delete(pending_message_updates).where(
        pending_message_updates.c.created_at < older_than
    )
    return int((await connection.execute(statement)).rowcount or 0)
