"""Analysis: each inbound message's sentiment, language and intents; the customer's mood
per session and its attention flag; tenants' intent rules; the optional LLM's settings
(key sealed), daily usage and session summaries.

Revision ID: 0015_analysis
Revises: 0013_media
Create Date: 2026-12-03
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql as pg

from ventros.platform.rls import tenant_isolation_sql

revision: str = "0015_analysis"
down_revision: str | None = "0013_media"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

TABLES = (
    "message_analyses",
    "session_moods",
    "intent_rules",
    "llm_settings",
    "llm_usage",
    "session_summaries",
)


def _uuid(name: str, **kw: object) -> sa.Column:  # type: ignore[type-arg]
    return sa.Column(name, pg.UUID(as_uuid=True), **kw)  # type: ignore[arg-type]


def _ts(name: str, nullable: bool = True) -> sa.Column:  # type: ignore[type-arg]
    return sa.Column(name, sa.DateTime(timezone=True), nullable=nullable)


def upgrade() -> None:
    op.create_table(
        "message_analyses",
        _uuid("message_id", primary_key=True),
        _uuid("tenant_id", nullable=False),
        _uuid("session_id", nullable=False),
        sa.Column("sentiment", sa.Text, nullable=False),
        sa.Column("score", sa.Float, nullable=False),
        sa.Column("language", sa.Text),
        sa.Column(
            "intents",
            pg.ARRAY(sa.Text),
            nullable=False,
            server_default=sa.text("'{}'::text[]"),
        ),
        sa.Column("source", sa.Text, nullable=False),
        sa.Column("transcript", sa.Text),
        _ts("analyzed_at", nullable=False),
    )
    op.create_index(
        "ix_message_analyses_tenant_session",
        "message_analyses",
        ["tenant_id", "session_id", "analyzed_at"],
    )
    op.create_table(
        "session_moods",
        _uuid("session_id", primary_key=True),
        _uuid("tenant_id", nullable=False),
        sa.Column("messages", sa.Integer, nullable=False),
        sa.Column("score_sum", sa.Float, nullable=False),
        sa.Column("last_score", sa.Float, nullable=False),
        sa.Column("negative_streak", sa.Integer, nullable=False),
        sa.Column("needs_attention", sa.Boolean, nullable=False),
        sa.Column("attention_reason", sa.Text),
        _ts("attention_at"),
        _ts("updated_at", nullable=False),
    )
    op.create_index(
        "ix_session_moods_attention",
        "session_moods",
        ["tenant_id"],
        postgresql_where=sa.text("needs_attention"),
    )
    op.create_table(
        "intent_rules",
        _uuid("tenant_id", primary_key=True),
        sa.Column("rules", pg.JSONB, nullable=False),
        _ts("updated_at", nullable=False),
    )
    op.create_table(
        "llm_settings",
        _uuid("tenant_id", primary_key=True),
        sa.Column("enabled", sa.Boolean, nullable=False),
        sa.Column("base_url", sa.Text, nullable=False),
        sa.Column("model", sa.Text, nullable=False),
        sa.Column("transcription_model", sa.Text, nullable=False),
        sa.Column("api_key", sa.Text),
        sa.Column("daily_budget", sa.Integer, nullable=False),
        sa.Column("timeout_seconds", sa.Float, nullable=False),
        _ts("updated_at", nullable=False),
    )
    op.create_table(
        "llm_usage",
        _uuid("tenant_id", primary_key=True),
        sa.Column("day", sa.Date, primary_key=True),
        sa.Column("requests", sa.Integer, nullable=False),
    )
    op.create_table(
        "session_summaries",
        _uuid("id", primary_key=True),
        _uuid("tenant_id", nullable=False),
        _uuid("session_id", nullable=False),
        sa.Column("trigger", sa.Text, nullable=False),
        sa.Column("text", sa.Text, nullable=False),
        sa.Column("model", sa.Text, nullable=False),
        _ts("created_at", nullable=False),
    )
    op.create_index(
        "ix_session_summaries_tenant_session",
        "session_summaries",
        ["tenant_id", "session_id", "created_at"],
    )
    for table in TABLES:
        for statement in tenant_isolation_sql(table):
            op.execute(statement)


def downgrade() -> None:
    for table in reversed(TABLES):
        op.drop_table(table)
