"""Idempotency keys: the first response to a (tenant, user, key) is kept for 24 h and
replayed for the same request; the same key with another request is refused."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import timedelta
from enum import Enum
from typing import Any

from sqlalchemy import (
    Column,
    DateTime,
    Index,
    Integer,
    LargeBinary,
    PrimaryKeyConstraint,
    Table,
    Text,
    delete,
    func,
    select,
    update,
)
from sqlalchemy.dialects.postgresql import JSONB, UUID, insert

from ventros.kernel.clock import utcnow
from ventros.platform.db import metadata
from ventros.platform.uow import UnitOfWork

RETENTION = timedelta(hours=24)

idempotency_keys = Table(
    "idempotency_keys",
    metadata,
    Column("tenant_id", UUID(as_uuid=True), nullable=False),
    Column("user_id", UUID(as_uuid=True), nullable=False),
    Column("key", Text, nullable=False),
    Column("request_hash", Text, nullable=False),
    Column("status_code", Integer),
    Column("response_headers", JSONB),
    Column("response_body", LargeBinary),
    Column("created_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    PrimaryKeyConstraint("tenant_id", "user_id", "key"),
    Index("ix_idempotency_keys_created_at", "created_at"),
)


class Claim(Enum):
    NEW = "new"  # this request owns the key: run it, then store the answer
    REPLAY = "replay"  # the same request was answered before
    MISMATCH = "mismatch"  # the key was used for another request
    IN_PROGRESS = "in_progress"  # the first request is still running


@dataclass(frozen=True)
class StoredResponse:
    status_code: int
    headers: list[list[str]]
    body: bytes


@dataclass(frozen=True)
class ClaimResult:
    claim: Claim
    response: StoredResponse | None = None


def _key_of(tx: UnitOfWork, user_id: uuid.UUID, key: str) -> Any:
    table = idempotency_keys.c
    return (table.tenant_id == tx.tenant_id) & (table.user_id == user_id) & (table.key == key)


async def claim(tx: UnitOfWork, user_id: uuid.UUID, key: str, request_hash: str) -> ClaimResult:
    where = _key_of(tx, user_id, key)
    # An expired key is forgotten, so it can be used again.
    await tx.connection.execute(
        delete(idempotency_keys).where(where, idempotency_keys.c.created_at < utcnow() - RETENTION)
    )
    inserted = await tx.connection.execute(
        insert(idempotency_keys)
        .values(tenant_id=tx.tenant_id, user_id=user_id, key=key, request_hash=request_hash)
        .on_conflict_do_nothing()
        .returning(idempotency_keys.c.key)
    )
    if inserted.first() is not None:
        return ClaimResult(Claim.NEW)
    row = (await tx.connection.execute(select(idempotency_keys).where(where))).one()
    if row.request_hash != request_hash:
        return ClaimResult(Claim.MISMATCH)
    if row.status_code is None:
        return ClaimResult(Claim.IN_PROGRESS)
    stored = StoredResponse(row.status_code, row.response_headers or [], row.response_body or b"")
    return ClaimResult(Claim.REPLAY, stored)


async def complete(tx: UnitOfWork, user_id: uuid.UUID, key: str, response: StoredResponse) -> None:
    await tx.connection.execute(
        update(idempotency_keys)
        .where(_key_of(tx, user_id, key))
        .values(
            status_code=response.status_code,
            response_headers=response.headers,
            response_body=response.body,
        )
    )


async def release(tx: UnitOfWork, user_id: uuid.UUID, key: str) -> None:
    """The request failed unexpectedly: free the key so the client may retry."""
    await tx.connection.execute(delete(idempotency_keys).where(_key_of(tx, user_id, key)))
