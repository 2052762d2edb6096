"""Tables of the in-process bus (bindings, pending deliveries, dead letters), and the outbox
index the relay uses to hold back an aggregate's later events while one waits to retry."""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Column,
    DateTime,
    Identity,
    Index,
    Integer,
    LargeBinary,
    PrimaryKeyConstraint,
    Table,
    Text,
    func,
    text,
)
from sqlalchemy.dialects.postgresql import JSONB, UUID

from ventros.platform.db import metadata
from ventros.platform.outbox import outbox_events

# Like RabbitMQ bindings: declared by whoever consumes the queue, kept until removed.
bus_bindings = Table(
    "bus_bindings",
    metadata,
    Column("queue", Text, nullable=False),
    Column("exchange", Text, nullable=False),
    Column("pattern", Text, nullable=False),
    Column("regex", Text, nullable=False),  # topic_regex(pattern), matched by PostgreSQL
    Column("created_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    PrimaryKeyConstraint("queue", "exchange", "pattern"),
)

# One row per (message, queue) until the queue's consumer has handled it.
bus_deliveries = Table(
    "bus_deliveries",
    metadata,
    Column("id", BigInteger, Identity(always=True), primary_key=True),
    Column("queue", Text, nullable=False),
    Column("tenant_id", UUID(as_uuid=True)),
    Column("message_id", Text, nullable=False),
    Column("exchange", Text, nullable=False),
    Column("routing_key", Text, nullable=False),
    Column("headers", JSONB, nullable=False, server_default=text("'{}'::jsonb")),
    Column("body", LargeBinary, nullable=False),
    Column("attempt", Integer, nullable=False, server_default=text("1")),
    Column("available_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    Column("locked_until", DateTime(timezone=True)),
    Column("last_error", Text),
    Column("created_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    Index("ix_bus_deliveries_queue_id", "queue", "id"),
)

dead_letters = Table(
    "dead_letters",
    metadata,
    Column("id", BigInteger, Identity(always=True), primary_key=True),
    Column("queue", Text, nullable=False),
    Column("tenant_id", UUID(as_uuid=True)),
    Column("message_id", Text, nullable=False),
    Column("exchange", Text, nullable=False),
    Column("routing_key", Text, nullable=False),
    Column("headers", JSONB, nullable=False, server_default=text("'{}'::jsonb")),
    Column("body", LargeBinary, nullable=False),
    Column("error", Text, nullable=False),
    Column("attempts", Integer, nullable=False),
    Column("failed_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    Index("ix_dead_letters_queue_id", "queue", "id"),
)

# Rows waiting for a retry, by aggregate: the claim skips an aggregate's later rows meanwhile.
Index(
    "ix_outbox_events_backoff",
    outbox_events.c.aggregate_id,
    outbox_events.c.position,
    postgresql_where=text(
        "next_attempt_at IS NOT NULL AND published_at IS NULL AND failed_at IS NULL"
    ),
)

# Events that exhausted their publish attempts: counted for the metrics, shown to operators.
Index(
    "ix_outbox_events_failed",
    outbox_events.c.position,
    postgresql_where=text("failed_at IS NOT NULL"),
)
