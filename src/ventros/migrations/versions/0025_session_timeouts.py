"""Open sessions indexed by when their inactivity clock started, for the timeout sweep.

One workflow sweeps every tenant's overdue sessions each second
(conversations/workflows.py, `SessionTimeoutsWorkflow`) instead of one timer workflow per
session; this partial index lets its query read only the sessions that are due.

Revision ID: 0025_session_timeouts
Revises: 0024_contact_search
Create Date: 2026-12-03
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0025_session_timeouts"
down_revision: str | None = "0024_contact_search"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# The same expression as conversations/repository/tables.py IDLE_FROM (a migration keeps
# its own copy: it must not change when the code does).
IDLE_FROM = "greatest(last_activity_at, created_at, coalesce(snoozed_until, created_at))"


def upgrade() -> None:
    op.execute(
        f"CREATE INDEX ix_sessions_open_idle_from ON sessions (tenant_id, ({IDLE_FROM})) "
        "WHERE status = 'open'"
    )


def downgrade() -> None:
    op.execute("DROP INDEX ix_sessions_open_idle_from")
