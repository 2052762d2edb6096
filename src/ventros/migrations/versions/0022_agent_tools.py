"""Agent productivity: canned replies, conversation labels, private notes' authors and
mentions.

Revision ID: 0022_agent_tools
Revises: 0012_security_roles
Create Date: 2026-12-03
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql as pg

from ventros.platform.rls import tenant_isolation_sql

revision: str = "0022_agent_tools"
down_revision: str | None = "0012_security_roles"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

TABLES = ("canned_replies", "labels", "session_labels", "note_mentions")


def _uuid(name: str, **kw: object) -> sa.Column:  # type: ignore[type-arg]
    return sa.Column(name, pg.UUID(as_uuid=True), **kw)  # type: ignore[arg-type]


def _ts(name: str, nullable: bool = True) -> sa.Column:  # type: ignore[type-arg]
    return sa.Column(name, sa.DateTime(timezone=True), nullable=nullable)


def upgrade() -> None:
    op.add_column("messages", _uuid("author_id"))
    op.create_table(
        "canned_replies",
        _uuid("id", primary_key=True),
        _uuid("tenant_id", nullable=False),
        _uuid("team_id"),
        sa.Column("shortcut", sa.Text, nullable=False),
        sa.Column("text", sa.Text, nullable=False),
        _uuid("media_id"),
        _uuid("created_by"),
        _ts("created_at", nullable=False),
        _ts("updated_at", nullable=False),
    )
    op.create_index(
        "uq_canned_replies_tenant_shortcut",
        "canned_replies",
        ["tenant_id", "shortcut"],
        unique=True,
        postgresql_where=sa.text("team_id IS NULL"),
    )
    op.create_index(
        "uq_canned_replies_team_shortcut",
        "canned_replies",
        ["tenant_id", "team_id", "shortcut"],
        unique=True,
        postgresql_where=sa.text("team_id IS NOT NULL"),
    )
    op.create_table(
        "labels",
        _uuid("id", primary_key=True),
        _uuid("tenant_id", nullable=False),
        sa.Column("name", sa.Text, nullable=False),
        sa.Column("color", sa.Text, nullable=False),
        _ts("created_at", nullable=False),
        _ts("updated_at", nullable=False),
    )
    op.create_index("uq_labels_tenant_id_name", "labels", ["tenant_id", "name"], unique=True)
    op.create_table(
        "session_labels",
        _uuid("session_id", primary_key=True),
        sa.Column(
            "label_id",
            pg.UUID(as_uuid=True),
            sa.ForeignKey(
                "labels.id", ondelete="CASCADE", name="fk_session_labels_label_id_labels"
            ),
            primary_key=True,
        ),
        _uuid("tenant_id", nullable=False),
        _uuid("labeled_by"),
        _ts("labeled_at", nullable=False),
    )
    op.create_index(
        "ix_session_labels_tenant_id_label_id",
        "session_labels",
        ["tenant_id", "label_id", "session_id"],
    )
    op.create_table(
        "note_mentions",
        _uuid("message_id", primary_key=True),
        _uuid("agent_id", primary_key=True),
        _uuid("tenant_id", nullable=False),
        _uuid("session_id", nullable=False),
        _ts("created_at", nullable=False),
    )
    op.create_index(
        "ix_note_mentions_tenant_id_agent_id_session_id",
        "note_mentions",
        ["tenant_id", "agent_id", "session_id"],
    )
    for table in TABLES:
        for statement in tenant_isolation_sql(table):
            op.execute(statement)


def downgrade() -> None:
    for table in reversed(TABLES):
        op.drop_table(table)
    op.drop_column("messages", "author_id")
