"""The tables of Conversations."""

from __future__ import annotations

from sqlalchemy import (
    Boolean,
    Column,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    Table,
    Text,
    text,
)
from sqlalchemy.dialects.postgresql import ARRAY, JSONB, UUID

from ventros.platform.db import metadata

# Session.idle_from in SQL; the index below and the sweep's query must spell it alike.
IDLE_FROM = "greatest(last_activity_at, created_at, coalesce(snoozed_until, created_at))"

sessions = Table(
    "sessions",
    metadata,
    Column("id", UUID(as_uuid=True), primary_key=True),
    Column("tenant_id", UUID(as_uuid=True), nullable=False),
    Column("contact_id", UUID(as_uuid=True), nullable=False),
    Column("channel_id", UUID(as_uuid=True), nullable=False),
    Column("status", Text, nullable=False),
    Column("agent_id", UUID(as_uuid=True)),
    Column("started_at", DateTime(timezone=True), nullable=False),
    Column("last_activity_at", DateTime(timezone=True), nullable=False),
    Column("last_inbound_at", DateTime(timezone=True)),
    Column("awaiting_reply_since", DateTime(timezone=True)),
    Column("first_response_seconds", Float),
    Column("reply_count", Integer, nullable=False, server_default=text("0")),
    Column("reply_seconds_total", Float, nullable=False, server_default=text("0")),
    Column("resolution_seconds", Float),
    Column("closed_at", DateTime(timezone=True)),
    Column("close_reason", Text),
    Column("csat_score", Integer),
    Column("csat_comment", Text),
    Column("transfer_note", Text),
    Column("team_id", UUID(as_uuid=True)),
    Column("first_response_due_at", DateTime(timezone=True)),
    Column("resolution_due_at", DateTime(timezone=True)),
    Column("sla_raised", ARRAY(Text), nullable=False, server_default=text("'{}'::text[]")),
    Column("snoozed_until", DateTime(timezone=True)),
    Column("auto_replied_at", DateTime(timezone=True)),
    Column("follow_up_nudged_at", DateTime(timezone=True)),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("updated_at", DateTime(timezone=True), nullable=False),
    # One open session per contact and channel; concurrent ingests race on this index.
    Index(
        "uq_sessions_open_contact_channel",
        "tenant_id",
        "contact_id",
        "channel_id",
        unique=True,
        postgresql_where=text("status = 'open'"),
    ),
    Index("ix_sessions_tenant_id_id", "tenant_id", text("id DESC")),
    Index("ix_sessions_tenant_id_contact_id_id", "tenant_id", "contact_id", text("id DESC")),
    Index("ix_sessions_tenant_id_channel_id_status", "tenant_id", "channel_id", "status"),
    Index("ix_sessions_tenant_id_agent_id_status", "tenant_id", "agent_id", "status"),
    Index("ix_sessions_tenant_started", "tenant_id", "started_at"),
    Index("ix_sessions_tenant_id_team_id_status", "tenant_id", "team_id", "status"),
    # The timeout sweep: open sessions by when their inactivity clock started.
    Index(
        "ix_sessions_open_idle_from",
        "tenant_id",
        text(IDLE_FROM),
        postgresql_where=text("status = 'open'"),
    ),
    # The inbox: one status, most recent activity first.
    Index(
        "ix_sessions_tenant_status_activity",
        "tenant_id",
        "status",
        text("last_activity_at DESC"),
        text("id DESC"),
    ),
)

# When a session's conversation was last opened: inbound messages after it are unread.
session_reads = Table(
    "session_reads",
    metadata,
    Column("session_id", UUID(as_uuid=True), primary_key=True),
    Column("tenant_id", UUID(as_uuid=True), nullable=False),
    Column("read_at", DateTime(timezone=True), nullable=False),
)

messages = Table(
    "messages",
    metadata,
    Column("id", UUID(as_uuid=True), primary_key=True),
    Column("tenant_id", UUID(as_uuid=True), nullable=False),
    Column("channel_id", UUID(as_uuid=True), nullable=False),
    # NULL only while a scheduled message waits (it joins a session when sent).
    Column("session_id", UUID(as_uuid=True)),
    Column("contact_id", UUID(as_uuid=True), nullable=False),
    Column("direction", Text, nullable=False),
    Column("type", Text, nullable=False),
    Column("status", Text, nullable=False),
    Column("text", Text),
    Column("caption", Text),
    Column("media", JSONB),
    Column("location", JSONB),
    Column("vcards", ARRAY(Text), nullable=False, server_default=text("'{}'::text[]")),
    Column("participant", Text),
    Column("external_id", Text),
    Column("wa_id", Text),
    Column("chat_id", Text),
    Column("source", Text),
    Column("reply_to", Text),
    Column("referral", JSONB),
    Column("reactions", JSONB, nullable=False, server_default=text("'[]'::jsonb")),
    Column("revoked", Boolean, nullable=False, server_default=text("false")),
    Column("revoked_at", DateTime(timezone=True)),
    Column("error", Text),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("received_at", DateTime(timezone=True), nullable=False),
    Column("sent_at", DateTime(timezone=True)),
    Column("delivered_at", DateTime(timezone=True)),
    Column("read_at", DateTime(timezone=True)),
    Column("send_at", DateTime(timezone=True)),  # a scheduled message's time
    Column("author_id", UUID(as_uuid=True)),  # who wrote a private note
    # `message` and `message.any` copies, and redeliveries, collapse on this.
    Index(
        "uq_messages_channel_id_external_id",
        "channel_id",
        "external_id",
        unique=True,
        postgresql_where=text("external_id IS NOT NULL"),
    ),
    # Partial, so that it never stands in for the unique index above in a lookup by
    # external id (migration 0026 says why).
    Index(
        "ix_messages_channel_id_wa_id",
        "channel_id",
        "wa_id",
        postgresql_where=text("wa_id IS NOT NULL"),
    ),
    Index("ix_messages_tenant_id_session_id_created_at", "tenant_id", "session_id", "created_at"),
    Index("ix_messages_tenant_id_contact_id_created_at", "tenant_id", "contact_id", "created_at"),
    # Outbound messages not yet answered by WAHA: the housekeeping finds abandoned ones.
    Index(
        "ix_messages_unsent_created_at",
        "created_at",
        postgresql_where=text(
            "status = 'pending' AND direction = 'outbound' AND external_id IS NULL"
        ),
    ),
    # GET /messages?status=scheduled, newest first.
    Index(
        "ix_messages_scheduled",
        "tenant_id",
        "id",
        postgresql_where=text("status = 'scheduled'"),
    ),
)

# Acks, reactions and revokes whose message is not stored yet (WAHA does not promise
# order); applied, then deleted, when the message arrives.
pending_message_updates = Table(
    "pending_message_updates",
    metadata,
    Column("id", UUID(as_uuid=True), primary_key=True),
    Column("tenant_id", UUID(as_uuid=True), nullable=False),
    Column("channel_id", UUID(as_uuid=True), nullable=False),
    Column("kind", Text, nullable=False),
    Column("external_id", Text),
    Column("wa_id", Text),
    Column("data", JSONB, nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Index("ix_pending_message_updates_channel_id_external_id", "channel_id", "external_id"),
    Index("ix_pending_message_updates_channel_id_wa_id", "channel_id", "wa_id"),
    Index("ix_pending_message_updates_created_at", "created_at"),
)

session_assignments = Table(
    "session_assignments",
    metadata,
    Column("session_id", UUID(as_uuid=True), primary_key=True),
    Column("tenant_id", UUID(as_uuid=True), nullable=False),
    Column("required_skills", ARRAY(Text), nullable=False, server_default=text("'{}'::text[]")),
    Column("queued_at", DateTime(timezone=True)),
    Column("assigned_at", DateTime(timezone=True)),
    Index(
        "ix_session_assignments_waiting",
        "tenant_id",
        "queued_at",
        "session_id",
        postgresql_where=text("queued_at IS NOT NULL"),
    ),
)


session_csat_requests = Table(
    "session_csat_requests",
    metadata,
    Column("session_id", UUID(as_uuid=True), primary_key=True),
    Column("tenant_id", UUID(as_uuid=True), nullable=False),
    Column("contact_id", UUID(as_uuid=True), nullable=False),
    Column("channel_id", UUID(as_uuid=True), nullable=False),
    Column("agent_id", UUID(as_uuid=True)),
    Column("status", Text, nullable=False),
    Column("reason", Text),
    Column("message_id", UUID(as_uuid=True)),
    Column("requested_at", DateTime(timezone=True), nullable=False),
    Column("answered_at", DateTime(timezone=True)),
    Column("score", Integer),
    Index(
        "ix_session_csat_requests_pending",
        "tenant_id",
        "contact_id",
        "channel_id",
        "requested_at",
        postgresql_where=text("status = 'pending'"),
    ),
)


# The tenant's catalogue of conversation labels (not a contact's tags).
labels = Table(
    "labels",
    metadata,
    Column("id", UUID(as_uuid=True), primary_key=True),
    Column("tenant_id", UUID(as_uuid=True), nullable=False),
    Column("name", Text, nullable=False),
    Column("color", Text, nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("updated_at", DateTime(timezone=True), nullable=False),
    Index("uq_labels_tenant_id_name", "tenant_id", "name", unique=True),
)

session_labels = Table(
    "session_labels",
    metadata,
    Column("session_id", UUID(as_uuid=True), primary_key=True),
    # A label deleted from the catalogue leaves every conversation with it.
    Column(
        "label_id",
        UUID(as_uuid=True),
        ForeignKey("labels.id", ondelete="CASCADE"),
        primary_key=True,
    ),
    Column("tenant_id", UUID(as_uuid=True), nullable=False),
    Column("labeled_by", UUID(as_uuid=True)),
    Column("labeled_at", DateTime(timezone=True), nullable=False),
    # The inbox and GET /sessions?label=: the sessions of one label.
    Index("ix_session_labels_tenant_id_label_id", "tenant_id", "label_id", "session_id"),
)

# Who a private note @mentioned: the mentioned agent's inbox finds the session here.
note_mentions = Table(
    "note_mentions",
    metadata,
    Column("message_id", UUID(as_uuid=True), primary_key=True),
    Column("agent_id", UUID(as_uuid=True), primary_key=True),
    Column("tenant_id", UUID(as_uuid=True), nullable=False),
    Column("session_id", UUID(as_uuid=True), nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Index("ix_note_mentions_tenant_id_agent_id_session_id", "tenant_id", "agent_id", "session_id"),
)
