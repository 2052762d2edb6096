"""Contact search by any part of a name, email or phone stays fast at hundreds of
thousands of contacts: a trigram index (pg_trgm) answers `ILIKE '%...%'`.

The extension ships with PostgreSQL's contrib, which the bundled development server
(`make run`'s embedded PostgreSQL) lacks: there the index is skipped and the search reads
the table, which is small on a laptop. The index is managed here by hand (env.py leaves it
out of `alembic check`), since whether it exists depends on the server.

Revision ID: 0020_web_contacts
Revises: 0023_routing_sla
Create Date: 2026-12-03
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0020_web_contacts"
down_revision: str | None = "0023_routing_sla"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

SEARCH_INDEX = "ix_contacts_search_trgm"


def _trigrams_available() -> bool:
    found = op.get_bind().execute(
        sa.text("SELECT 1 FROM pg_available_extensions WHERE name = 'pg_trgm'")
    )
    return found.first() is not None


def upgrade() -> None:
    if not _trigrams_available():
        return
    # pg_trgm is a trusted extension: the database's owner may create it.
    op.execute("CREATE EXTENSION IF NOT EXISTS pg_trgm")
    op.execute(
        f"CREATE INDEX IF NOT EXISTS {SEARCH_INDEX} ON contacts USING gin "
        "(name gin_trgm_ops, email gin_trgm_ops, phone gin_trgm_ops) "
        "WHERE deleted_at IS NULL"
    )


def downgrade() -> None:
    op.execute(f"DROP INDEX IF EXISTS {SEARCH_INDEX}")
