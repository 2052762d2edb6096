"""Persistence of who private notes mention."""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy.dialects.postgresql import insert

from ventros.conversations.repository.tables import note_mentions
from ventros.platform.uow import UnitOfWork


async def add_mentions(
    tx: UnitOfWork,
    *,
    message_id: uuid.UUID,
    session_id: uuid.UUID,
    agent_ids: list[uuid.UUID],
    at: datetime,
) -> None:
    if not agent_ids:
        return
    await tx.connection.execute(
        insert(note_mentions).on_conflict_do_nothing(),
        [
            {
                "message_id": message_id,
                "agent_id": agent_id,
                "tenant_id": tx.tenant_id,
                "session_id": session_id,
                "created_at": at,
            }
            for agent_id in agent_ids
        ],
    )
