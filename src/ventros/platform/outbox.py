"""Outbox and event log tables, and the writer the unit of work calls before it commits."""

from __future__ import annotations

import json
import uuid
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

# The commit-order horizon: every row whose transaction id is below it was committed (or
# rolled back) before any transaction still running. PostgreSQL's own horizon, the
# snapshot's xmin, counts every database of the cluster, so one long transaction anywhere
# on the server would stall the relay; transactions shown (pg_locks + pg_stat_activity,
# both readable without privileges) to belong to another database are left out. A
# transaction that ends before we look stays in: that errs on the side of waiting.
HORIZON_SQL = """
SELECT coalesce(min(x), pg_snapshot_xmax(pg_current_snapshot()))
FROM pg_snapshot_xip(pg_current_snapshot()) AS x
WHERE (x::text::bigint % 4294967296) NOT IN (
    SELECT l.transactionid::text::bigint
    FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid
    WHERE l.locktype = 'transactionid' AND l.mode = 'ExclusiveLock'
      AND a.datname IS DISTINCT FROM current_database()
)
"""

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
    # Commit order for streams: ids are taken when an event is raised, not when it commits,
    # so a stream that followed ids would skip an event whose transaction committed late.
    # Streams follow (txid, id) below the horizon instead: nothing behind them can appear.
    Column(
        "txid",
        BigInteger,
        nullable=False,
        server_default=text("(pg_current_xact_id()::text)::bigint"),
    ),
    Index("ix_domain_events_tenant_id_id", "tenant_id", "id"),
    Index("ix_domain_events_tenant_id_txid_id", "tenant_id", "txid", "id"),
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


# One statement per table for all of a transaction's events: executemany would run one
# INSERT per row, and a batch of the ingest raises thousands.
_WRITE_OUTBOX = text(
    "INSERT INTO outbox_events (id, tenant_id, name, aggregate_type, aggregate_id,"
    " occurred_at, event)"
    " SELECT r.id, r.tenant_id, r.name, r.aggregate_type, r.aggregate_id, r.occurred_at,"
    " CAST(r.event AS jsonb)"
    " FROM unnest(CAST(:ids AS uuid[]), CAST(:tenant_ids AS uuid[]), CAST(:names AS text[]),"
    " CAST(:aggregate_types AS text[]), CAST(:aggregate_ids AS uuid[]),"
    " CAST(:occurred AS timestamptz[]), CAST(:events AS text[]))"
    " AS r(id, tenant_id, name, aggregate_type, aggregate_id, occurred_at, event)"
)
_WRITE_LOG = text(
    "INSERT INTO domain_events (id, tenant_id, name, aggregate_type, aggregate_id, contact_id,"
    " occurred_at, actor_type, actor_id, data, schema_version)"
    " SELECT r.id, r.tenant_id, r.name, r.aggregate_type, r.aggregate_id, r.contact_id,"
    " r.occurred_at, r.actor_type, r.actor_id, CAST(r.data AS jsonb), r.schema_version"
    " FROM unnest(CAST(:ids AS uuid[]), CAST(:tenant_ids AS uuid[]), CAST(:names AS text[]),"
    " CAST(:aggregate_types AS text[]), CAST(:aggregate_ids AS uuid[]),"
    " CAST(:contact_ids AS uuid[]), CAST(:occurred AS timestamptz[]),"
    " CAST(:actor_types AS text[]), CAST(:actor_ids AS uuid[]), CAST(:data AS text[]),"
    " CAST(:schema_versions AS int[]))"
    " AS r(id, tenant_id, name, aggregate_type, aggregate_id, contact_id, occurred_at,"
    " actor_type, actor_id, data, schema_version)"
)


def _contact_id(event: DomainEvent) -> uuid.UUID | None:
    found = contact_of(event)
    return found if found is None or isinstance(found, uuid.UUID) else uuid.UUID(str(found))


async def write_events(connection: AsyncConnection, events: Sequence[DomainEvent]) -> None:
    """Append events to the outbox and the event log, inside the caller's transaction."""
    if not events:
        return
    common = {
        "ids": [e.id for e in events],
        "tenant_ids": [e.tenant_id for e in events],
        "names": [e.name for e in events],
        "aggregate_types": [e.aggregate_type for e in events],
        "aggregate_ids": [e.aggregate_id for e in events],
        "occurred": [e.occurred_at for e in events],
    }
    await connection.execute(
        _WRITE_OUTBOX, {**common, "events": [json.dumps(_outbox_json(e)) for e in events]}
    )
    await connection.execute(
        _WRITE_LOG,
        {
            **common,
            "contact_ids": [_contact_id(e) for e in events],
            "actor_types": [e.actor.type for e in events],
            "actor_ids": [e.actor.id for e in events],
            "data": [json.dumps(e.payload) for e in events],
            "schema_versions": [e.schema_version for e in events],
        },
    )
    # Delivered by PostgreSQL only if and when this transaction commits: a rolled-back
    # change never wakes the relay, and no extra round trip follows the commit.
    await connection.execute(text("SELECT pg_notify('outbox', '')"))
