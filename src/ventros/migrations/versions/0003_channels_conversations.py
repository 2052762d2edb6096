"""Channels (secrets sealed), inbound WAHA events, sessions, messages, early message updates.

Revision ID: 0003_channels_conversations
Revises: 0002_event_backbone
Create Date: 2026-11-29
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql as pg

from ventros.platform.rls import tenant_isolation_sql
from ventros.platform.settings import APP_ROLE, SYSTEM_ROLE

revision: str = "0003_channels_conversations"
down_revision: str | None = "0002_event_backbone"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

TENANT_TABLES = ("channels", "inbound_events", "sessions", "messages", "pending_message_updates")

# The webhook must find a channel's tenant and (sealed) secret before it knows the tenant;
# the app role sees no channel without one. Owned by the system role (BYPASSRLS), this
# answers exactly that one question for one unguessable id, and nothing else.
FIND_WEBHOOK_CHANNEL = f"""
CREATE FUNCTION ventros_find_webhook_channel(p_channel_id uuid)
RETURNS TABLE (tenant_id uuid, webhook_secret_sealed text)
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = public, pg_temp AS $$
    SELECT c.tenant_id, c.webhook_secret_sealed
    FROM channels c WHERE c.id = p_channel_id AND c.deleted_at IS NULL
$$;
ALTER FUNCTION ventros_find_webhook_channel(uuid) OWNER TO {SYSTEM_ROLE};
REVOKE ALL ON FUNCTION ventros_find_webhook_channel(uuid) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION ventros_find_webhook_channel(uuid) TO {APP_ROLE};
"""


def _uuid(name: str, **kw: object) -> sa.Column:  # type: ignore[type-arg]
    return sa.Column(name, pg.UUID(as_uuid=True), **kw)  # type: ignore[arg-type]


def _ts(name: str, nullable: bool = True, **kw: object) -> sa.Column:  # type: ignore[type-arg]
    return sa.Column(name, sa.DateTime(timezone=True), nullable=nullable, **kw)  # type: ignore[arg-type]


def upgrade() -> None:
    op.create_table(
        "channels",
        _uuid("id"),
        _uuid("tenant_id", nullable=False),
        sa.Column("name", sa.Text, nullable=False),
        sa.Column("type", sa.Text, nullable=False),
        sa.Column("base_url", sa.Text, nullable=False),
        sa.Column("waha_session", sa.Text, nullable=False),
        sa.Column("api_key_sealed", sa.Text),
        sa.Column("webhook_secret_sealed", sa.Text, nullable=False),
        sa.Column("enforce_24h_window", sa.Boolean, nullable=False),
        sa.Column("rate_limit_per_minute", sa.Integer, nullable=False),
        sa.Column("ingest_groups", sa.Boolean, nullable=False),
        sa.Column("status", sa.Text, nullable=False),
        _ts("status_changed_at"),
        _ts("created_at", nullable=False),
        _ts("updated_at", nullable=False),
        _ts("deleted_at"),
        sa.PrimaryKeyConstraint("id", name="pk_channels"),
    )
    op.create_index(
        "ix_channels_tenant_id_id_live",
        "channels",
        ["tenant_id", sa.text("id DESC")],
        postgresql_where=sa.text("deleted_at IS NULL"),
    )

    op.create_table(
        "inbound_events",
        _uuid("id"),
        _uuid("tenant_id", nullable=False),
        _uuid("channel_id", nullable=False),
        sa.Column("event_key", sa.Text, nullable=False),
        sa.Column("event", sa.Text, nullable=False),
        sa.Column("body", pg.JSONB, nullable=False),
        _ts("received_at", nullable=False, server_default=sa.func.now()),
        sa.Column("attempts", sa.Integer, nullable=False, server_default=sa.text("0")),
        _ts("available_at", nullable=False, server_default=sa.func.now()),
        _ts("processed_at"),
        sa.Column("outcome", sa.Text),
        sa.Column("last_error", sa.Text),
        sa.PrimaryKeyConstraint("id", name="pk_inbound_events"),
        sa.UniqueConstraint(
            "channel_id", "event_key", name="uq_inbound_events_channel_id_event_key"
        ),
    )
    op.create_index(
        "ix_inbound_events_pending",
        "inbound_events",
        ["tenant_id", "id"],
        postgresql_where=sa.text("processed_at IS NULL"),
    )
    op.create_index("ix_inbound_events_processed_at", "inbound_events", ["processed_at"])

    op.create_table(
        "sessions",
        _uuid("id"),
        _uuid("tenant_id", nullable=False),
        _uuid("contact_id", nullable=False),
        _uuid("channel_id", nullable=False),
        sa.Column("status", sa.Text, nullable=False),
        _uuid("agent_id"),
        _ts("started_at", nullable=False),
        _ts("last_activity_at", nullable=False),
        _ts("last_inbound_at"),
        _ts("awaiting_reply_since"),
        sa.Column("first_response_seconds", sa.Float),
        _ts("closed_at"),
        sa.Column("close_reason", sa.Text),
        sa.Column("csat_score", sa.Integer),
        sa.Column("csat_comment", sa.Text),
        _ts("created_at", nullable=False),
        _ts("updated_at", nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_sessions"),
    )
    op.create_index(
        "uq_sessions_open_contact_channel",
        "sessions",
        ["tenant_id", "contact_id", "channel_id"],
        unique=True,
        postgresql_where=sa.text("status = 'open'"),
    )
    op.create_index("ix_sessions_tenant_id_id", "sessions", ["tenant_id", sa.text("id DESC")])
    op.create_index(
        "ix_sessions_tenant_id_contact_id_id",
        "sessions",
        ["tenant_id", "contact_id", sa.text("id DESC")],
    )
    op.create_index(
        "ix_sessions_tenant_id_channel_id_status", "sessions", ["tenant_id", "channel_id", "status"]
    )
    op.create_index(
        "ix_sessions_tenant_id_agent_id_status", "sessions", ["tenant_id", "agent_id", "status"]
    )

    op.create_table(
        "messages",
        _uuid("id"),
        _uuid("tenant_id", nullable=False),
        _uuid("channel_id", nullable=False),
        _uuid("session_id", nullable=False),
        _uuid("contact_id", nullable=False),
        sa.Column("direction", sa.Text, nullable=False),
        sa.Column("type", sa.Text, nullable=False),
        sa.Column("status", sa.Text, nullable=False),
        sa.Column("text", sa.Text),
        sa.Column("caption", sa.Text),
        sa.Column("media", pg.JSONB),
        sa.Column("location", pg.JSONB),
        sa.Column(
            "vcards", pg.ARRAY(sa.Text), nullable=False, server_default=sa.text("'{}'::text[]")
        ),
        sa.Column("participant", sa.Text),
        sa.Column("external_id", sa.Text),
        sa.Column("wa_id", sa.Text),
        sa.Column("chat_id", sa.Text),
        sa.Column("source", sa.Text),
        sa.Column("reply_to", sa.Text),
        sa.Column("referral", pg.JSONB),
        sa.Column("reactions", pg.JSONB, nullable=False, server_default=sa.text("'[]'::jsonb")),
        sa.Column("revoked", sa.Boolean, nullable=False, server_default=sa.text("false")),
        _ts("revoked_at"),
        sa.Column("error", sa.Text),
        _ts("created_at", nullable=False),
        _ts("received_at", nullable=False),
        _ts("sent_at"),
        _ts("delivered_at"),
        _ts("read_at"),
        sa.PrimaryKeyConstraint("id", name="pk_messages"),
    )
    op.create_index(
        "uq_messages_channel_id_external_id",
        "messages",
        ["channel_id", "external_id"],
        unique=True,
        postgresql_where=sa.text("external_id IS NOT NULL"),
    )
    op.create_index("ix_messages_channel_id_wa_id", "messages", ["channel_id", "wa_id"])
    op.create_index(
        "ix_messages_tenant_id_session_id_created_at",
        "messages",
        ["tenant_id", "session_id", "created_at"],
    )
    op.create_index(
        "ix_messages_tenant_id_contact_id_created_at",
        "messages",
        ["tenant_id", "contact_id", "created_at"],
    )

    op.create_table(
        "pending_message_updates",
        _uuid("id"),
        _uuid("tenant_id", nullable=False),
        _uuid("channel_id", nullable=False),
        sa.Column("kind", sa.Text, nullable=False),
        sa.Column("external_id", sa.Text),
        sa.Column("wa_id", sa.Text),
        sa.Column("data", pg.JSONB, nullable=False),
        _ts("created_at", nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_pending_message_updates"),
    )
    op.create_index(
        "ix_pending_message_updates_channel_id_external_id",
        "pending_message_updates",
        ["channel_id", "external_id"],
    )
    op.create_index(
        "ix_pending_message_updates_channel_id_wa_id",
        "pending_message_updates",
        ["channel_id", "wa_id"],
    )
    op.create_index(
        "ix_pending_message_updates_created_at", "pending_message_updates", ["created_at"]
    )

    # Contacts WhatsApp knows by no phone number (groups, hidden @lid ids).
    op.create_index(
        "ix_contacts_tenant_id_whatsapp_id",
        "contacts",
        ["tenant_id", sa.text("(custom_fields ->> 'whatsapp_id')")],
        postgresql_where=sa.text("deleted_at IS NULL AND custom_fields ? 'whatsapp_id'"),
    )

    for table in TENANT_TABLES:
        for statement in tenant_isolation_sql(table):
            op.execute(statement)
    op.execute(FIND_WEBHOOK_CHANNEL)


def downgrade() -> None:
    op.execute("DROP FUNCTION IF EXISTS ventros_find_webhook_channel(uuid)")
    op.drop_index("ix_contacts_tenant_id_whatsapp_id", table_name="contacts")
    for table in reversed(TENANT_TABLES):
        op.drop_table(table)
