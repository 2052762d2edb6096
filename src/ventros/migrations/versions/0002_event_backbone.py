"""Event backbone: in-process bus bindings, deliveries and dead letters; outbox backoff index.

Revision ID: 0002_event_backbone
Revises: 0001_foundation
Create Date: 2026-11-29
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql as pg

from ventros.platform.rls import tenant_isolation_sql

revision: str = "0002_event_backbone"
down_revision: str | None = "0001_foundation"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# The relay and the bus use the system role (BYPASSRLS); RLS keeps the app role to its tenant.
TENANT_TABLES = ("bus_deliveries", "dead_letters")


def _message_columns() -> list[sa.Column]:  # type: ignore[type-arg]
    return [
        sa.Column("queue", sa.Text, nullable=False),
        sa.Column("tenant_id", pg.UUID(as_uuid=True)),
        sa.Column("message_id", sa.Text, nullable=False),
        sa.Column("exchange", sa.Text, nullable=False),
        sa.Column("routing_key", sa.Text, nullable=False),
        sa.Column("headers", pg.JSONB, nullable=False, server_default=sa.text("'{}'::jsonb")),
        sa.Column("body", sa.LargeBinary, nullable=False),
    ]


def upgrade() -> None:
    op.create_table(
        "bus_bindings",
        sa.Column("queue", sa.Text, nullable=False),
        sa.Column("exchange", sa.Text, nullable=False),
        sa.Column("pattern", sa.Text, nullable=False),
        sa.Column("regex", sa.Text, nullable=False),
        sa.Column(
            "created_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()
        ),
        sa.PrimaryKeyConstraint("queue", "exchange", "pattern", name="pk_bus_bindings"),
    )
    op.create_table(
        "bus_deliveries",
        sa.Column("id", sa.BigInteger, sa.Identity(always=True), nullable=False),
        *_message_columns(),
        sa.Column("attempt", sa.Integer, nullable=False, server_default=sa.text("1")),
        sa.Column(
            "available_at",
            sa.DateTime(timezone=True),
            nullable=False,
            server_default=sa.func.now(),
        ),
        sa.Column("locked_until", sa.DateTime(timezone=True)),
        sa.Column("last_error", sa.Text),
        sa.Column(
            "created_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()
        ),
        sa.PrimaryKeyConstraint("id", name="pk_bus_deliveries"),
    )
    op.create_index("ix_bus_deliveries_queue_id", "bus_deliveries", ["queue", "id"])
    op.create_table(
        "dead_letters",
        sa.Column("id", sa.BigInteger, sa.Identity(always=True), nullable=False),
        *_message_columns(),
        sa.Column("error", sa.Text, nullable=False),
        sa.Column("attempts", sa.Integer, nullable=False),
        sa.Column(
            "failed_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()
        ),
        sa.PrimaryKeyConstraint("id", name="pk_dead_letters"),
    )
    op.create_index("ix_dead_letters_queue_id", "dead_letters", ["queue", "id"])
    op.create_index(
        "ix_outbox_events_backoff",
        "outbox_events",
        ["aggregate_id", "position"],
        postgresql_where=sa.text(
            "next_attempt_at IS NOT NULL AND published_at IS NULL AND failed_at IS NULL"
        ),
    )
    op.create_index(
        "ix_outbox_events_failed",
        "outbox_events",
        ["position"],
        postgresql_where=sa.text("failed_at IS NOT NULL"),
    )
    for table in TENANT_TABLES:
        for statement in tenant_isolation_sql(table):
            op.execute(statement)


def downgrade() -> None:
    op.drop_index("ix_outbox_events_failed", table_name="outbox_events")
    op.drop_index("ix_outbox_events_backoff", table_name="outbox_events")
    for table in ("dead_letters", "bus_deliveries", "bus_bindings"):
        op.drop_table(table)
