"""Foundation: tenants, users, contacts, outbox, event log, processed events; RLS; roles' grants.

Revision ID: 0001_foundation
Revises:
Create Date: 2026-11-29
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql as pg

from ventros.platform.rls import grant_sql, tenant_isolation_sql
from ventros.platform.settings import APP_ROLE, SYSTEM_ROLE

revision: str = "0001_foundation"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

TENANT_TABLES = ("users", "contacts", "outbox_events", "domain_events", "processed_events")

FIND_LOGIN = f"""
CREATE FUNCTION ventros_find_login(p_email text)
RETURNS TABLE (id uuid, tenant_id uuid, email text, role text, password_hash text)
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = public, pg_temp AS $$
    SELECT u.id, u.tenant_id, u.email, u.role, u.password_hash
    FROM users u WHERE lower(u.email) = lower(p_email)
$$;
ALTER FUNCTION ventros_find_login(text) OWNER TO {SYSTEM_ROLE};
REVOKE ALL ON FUNCTION ventros_find_login(text) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION ventros_find_login(text) TO {APP_ROLE};
"""


def _uuid(name: str, **kw: object) -> sa.Column:  # type: ignore[type-arg]
    return sa.Column(name, pg.UUID(as_uuid=True), **kw)  # type: ignore[arg-type]


def _ts(name: str, nullable: bool = True, **kw: object) -> sa.Column:  # type: ignore[type-arg]
    return sa.Column(name, sa.DateTime(timezone=True), nullable=nullable, **kw)  # type: ignore[arg-type]


def upgrade() -> None:
    op.create_table(
        "tenants",
        _uuid("id", primary_key=True),
        sa.Column("name", sa.Text, nullable=False),
        sa.Column("settings", pg.JSONB, nullable=False, server_default=sa.text("'{}'::jsonb")),
        _ts("created_at", nullable=False, server_default=sa.func.now()),
        sa.PrimaryKeyConstraint("id", name="pk_tenants"),
    )
    op.create_table(
        "users",
        _uuid("id"),
        _uuid("tenant_id", nullable=False),
        sa.Column("email", sa.Text, nullable=False),
        sa.Column("name", sa.Text, nullable=False),
        sa.Column("role", sa.Text, nullable=False),
        sa.Column("password_hash", sa.Text, nullable=False),
        sa.Column(
            "max_concurrent_sessions", sa.Integer, nullable=False, server_default=sa.text("5")
        ),
        sa.Column(
            "skills", pg.ARRAY(sa.Text), nullable=False, server_default=sa.text("'{}'::text[]")
        ),
        sa.Column("status", sa.Text, nullable=False, server_default=sa.text("'offline'")),
        _ts("status_changed_at", nullable=False),
        _ts("created_at", nullable=False),
        _ts("updated_at", nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_users"),
    )
    op.create_index("uq_users_email", "users", [sa.text("lower(email)")], unique=True)
    op.create_index("ix_users_tenant_id_id", "users", ["tenant_id", "id"])

    op.create_table(
        "contacts",
        _uuid("id"),
        _uuid("tenant_id", nullable=False),
        sa.Column("name", sa.Text, nullable=False),
        sa.Column("phone", sa.Text),
        sa.Column("email", sa.Text),
        sa.Column(
            "tags", pg.ARRAY(sa.Text), nullable=False, server_default=sa.text("'{}'::text[]")
        ),
        sa.Column("custom_fields", pg.JSONB, nullable=False, server_default=sa.text("'{}'::jsonb")),
        sa.Column("source", sa.Text),
        sa.Column("profile_picture_url", sa.Text),
        sa.Column("kind", sa.Text, nullable=False, server_default=sa.text("'person'")),
        _uuid("merged_into_id"),
        _ts("created_at", nullable=False),
        _ts("updated_at", nullable=False),
        _ts("deleted_at"),
        sa.PrimaryKeyConstraint("id", name="pk_contacts"),
    )
    op.create_index(
        "uq_contacts_tenant_id_phone",
        "contacts",
        ["tenant_id", "phone"],
        unique=True,
        postgresql_where=sa.text("deleted_at IS NULL AND phone IS NOT NULL"),
    )
    op.create_index(
        "uq_contacts_tenant_id_email",
        "contacts",
        ["tenant_id", "email"],
        unique=True,
        postgresql_where=sa.text("deleted_at IS NULL AND email IS NOT NULL"),
    )
    op.create_index(
        "ix_contacts_tenant_id_id_live",
        "contacts",
        ["tenant_id", sa.text("id DESC")],
        postgresql_where=sa.text("deleted_at IS NULL"),
    )
    op.create_index("ix_contacts_tags", "contacts", ["tags"], postgresql_using="gin")
    op.create_index("ix_contacts_tenant_id_source", "contacts", ["tenant_id", "source"])

    op.create_table(
        "outbox_events",
        _uuid("id"),
        sa.Column("position", sa.BigInteger, sa.Identity(always=True), nullable=False),
        _uuid("tenant_id", nullable=False),
        sa.Column("name", sa.Text, nullable=False),
        sa.Column("aggregate_type", sa.Text, nullable=False),
        _uuid("aggregate_id", nullable=False),
        _ts("occurred_at", nullable=False),
        sa.Column("event", pg.JSONB, nullable=False),
        sa.Column(
            "txid", sa.Text, nullable=False, server_default=sa.text("pg_current_xact_id()::text")
        ),
        _ts("published_at"),
        sa.Column("attempts", sa.Integer, nullable=False, server_default=sa.text("0")),
        _ts("next_attempt_at"),
        sa.Column("last_error", sa.Text),
        _ts("failed_at"),
        _ts("created_at", nullable=False, server_default=sa.func.now()),
        sa.PrimaryKeyConstraint("id", name="pk_outbox_events"),
        sa.UniqueConstraint("position", name="uq_outbox_events_position"),
    )
    op.create_index(
        "ix_outbox_events_pending",
        "outbox_events",
        ["position"],
        postgresql_where=sa.text("published_at IS NULL AND failed_at IS NULL"),
    )
    op.create_index("ix_outbox_events_published_at", "outbox_events", ["published_at"])

    op.create_table(
        "domain_events",
        _uuid("id"),
        _uuid("tenant_id", nullable=False),
        sa.Column("name", sa.Text, nullable=False),
        sa.Column("aggregate_type", sa.Text, nullable=False),
        _uuid("aggregate_id", nullable=False),
        _uuid("contact_id"),
        _ts("occurred_at", nullable=False),
        sa.Column("actor_type", sa.Text, nullable=False),
        _uuid("actor_id"),
        sa.Column("data", pg.JSONB, nullable=False),
        sa.Column("schema_version", sa.Integer, nullable=False, server_default=sa.text("1")),
        sa.PrimaryKeyConstraint("id", name="pk_domain_events"),
    )
    op.create_index("ix_domain_events_tenant_id_id", "domain_events", ["tenant_id", "id"])
    op.create_index(
        "ix_domain_events_tenant_id_name_id", "domain_events", ["tenant_id", "name", "id"]
    )
    op.create_index(
        "ix_domain_events_tenant_id_contact_id_id",
        "domain_events",
        ["tenant_id", "contact_id", "id"],
    )

    op.create_table(
        "processed_events",
        sa.Column("consumer", sa.Text, nullable=False),
        _uuid("event_id", nullable=False),
        _uuid("tenant_id", nullable=False),
        _ts("processed_at", nullable=False, server_default=sa.func.now()),
        sa.PrimaryKeyConstraint("consumer", "event_id", name="pk_processed_events"),
    )

    for statement in tenant_isolation_sql("tenants", column="id"):
        op.execute(statement)
    for table in TENANT_TABLES:
        for statement in tenant_isolation_sql(table):
            op.execute(statement)
    for statement in grant_sql():
        op.execute(statement)
    op.execute(FIND_LOGIN)


def downgrade() -> None:
    op.execute("DROP FUNCTION IF EXISTS ventros_find_login(text)")
    for table in (
        "processed_events",
        "domain_events",
        "outbox_events",
        "contacts",
        "users",
        "tenants",
    ):
        op.drop_table(table)
