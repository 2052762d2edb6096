"""Outbox and event log tables, and the writer the unit of work calls before it commits."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import (
    BigInteger,
    Column,
    DateTime,
    Identity,
    Index,
    Integer,
    PrimaryKeyConstraint,
    Table,
    Text,
    func,
    text,
)
from sqlalchemy.dialects.postgresql import JSONB, UUID
from sqlalchemy.ext.asyncio import AsyncConnection

from ventros.kernel.events import DomainEvent
from ventros.platform.db import metadata

# Transient: a row waits here until the relay has published it; published rows are pruned.
outbox_events = Table(
    "outbox_events",
    metadata,
    Column("id", UUID(as_uuid=True), primary_key=True),
    Column("position", BigInteger, Identity(always=True), nullable=False, unique=True),
    Column("tenant_id", UUID(as_uuid=True), nullable=False),
    Column("name", Text, nullable=False),
    Column("aggregate_type", Text, nullable=False),
    Column("aggregate_id", UUID(as_uuid=True), nullable=False),
    Column("occurred_at", DateTime(timezone=True), nullable=False),
    Column("event", JSONB, nullable=False),
    # Commit order: a relay publishes only rows whose transaction is older than every
    # transaction still running, so a late commit with a lower position is never skipped.
    Column("txid", Text, nullable=False, server_default=text("pg_current_xact_id()::text")),
    Column("published_at", DateTime(timezone=True)),
    Column("attempts", Integer, nullable=False, server_default=text("0")),
    Column("next_attempt_at", DateTime(timezone=True)),
    Column("last_error", Text),
    Column("failed_at", DateTime(timezone=True)),
    Column("created_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    Index(
        "ix_outbox_events_pending",
        "position",
        postgresql_where=text("published_at IS NULL AND failed_at IS NULL"),
    ),
    Index("ix_outbox_events_published_at", "published_at"),
)

# Permanent: the audit trail, contact timelines and SSE resume read from here.
domain_events = Table(
    "domain_events",
    metadata,
    Column("id", UUID(as_uuid=True), primary_key=True),
    Column("tenant_id", UUID(as_uuid=True), nullable=False),
    Column("name", Text, nullable=False),
    Column("aggregate_type", Text, nullable=False),
    Column("aggregate_id", UUID(as_uuid=True), nullable=False),
    Column("contact_id", UUID(as_uuid=True)),
    Column("occurred_at", DateTime(timezone=True), nullable=False),
    Column("actor_type", Text, nullable=False),
    Column("actor_id", UUID(as_uuid=True)),
    Column("data", JSONB, nullable=False),
    Column("schema_version", Integer, nullable=False, server_default=text("1")),
    Index("ix_domain_events_tenant_id_id", "tenant_id", "id"),
    Index("ix_domain_events_tenant_id_name_id", "tenant_id", "name", "id"),
    Index("ix_domain_events_tenant_id_contact_id_id", "tenant_id", "contact_id", "id"),
)

# Idempotent consumers: an effect and its (consumer, event) row commit together.
processed_events = Table(
    "processed_events",
    metadata,
    Column("consumer", Text, nullable=False),
    Column("event_id", UUID(as_uuid=True), nullable=False),
    Column("tenant_id", UUID(as_uuid=True), nullable=False),
    Column("processed_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    PrimaryKeyConstraint("consumer", "event_id"),
)


def contact_of(event: DomainEvent) -> Any:
    """The contact an event concerns, for timelines and per-contact streams."""
    if event.aggregate_type == "contact":
        return event.aggregate_id
    return event.payload.get("contact_id")


def _outbox_json(event: DomainEvent) -> dict[str, object]:
    """The event as published: the API's event JSON plus the trace it was recorded in."""
    published = event.to_json()
    if event.traceparent:
        published["traceparent"] = event.traceparent
    return published


async def write_events(connection: AsyncConnection, events: Sequence[DomainEvent]) -> None:
    """Append events to the outbox and the event log, inside the caller's transaction."""
    if not events:
        return
    await connection.execute(
        outbox_events.insert(),
        [
            {
                "id": e.id,
                "tenant_id": e.tenant_id,
                "name": e.name,
                "aggregate_type": e.aggregate_type,
                "aggregate_id": e.aggregate_id,
                "occurred_at": e.occurred_at,
                "event": _outbox_json(e),
            }
            for e in events
        ],
    )
    await connection.execute(
        domain_events.insert(),
        [
            {
                "id": e.id,
                "tenant_id": e.tenant_id,
                "name": e.name,
                "aggregate_type": e.aggregate_type,
                "aggregate_id": e.aggregate_id,
                "contact_id": contact_of(e),
                "occurred_at": e.occurred_at,
                "actor_type": e.actor.type,
                "actor_id": e.actor.id,
                "data": e.payload,
                "schema_version": e.schema_version,
            }
            for e in events
        ],
    )
    # Delivered by PostgreSQL only if and when this transaction commits: a rolled-back
    # change never wakes the relay, and no extra round trip follows the commit.
    await connection.execute(text("SELECT pg_notify('outbox', '')"))
