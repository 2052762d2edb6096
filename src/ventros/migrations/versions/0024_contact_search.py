"""Contact search runs where the trigram index can answer it.

Under row-level security PostgreSQL evaluates the tenant policy before any operator that is
not leakproof, and `ILIKE` is not: the app role's searches never used the trigram index
(0020) and read every contact of every tenant, ~0.5 s at 500,000 contacts. This function
runs as the system role (SECURITY DEFINER, BYPASSRLS) with the tenant of the caller's
transaction (`app.tenant_id`, what RLS reads) as an explicit predicate, so it answers the
caller's tenant only, and plans each call with its values (EXECUTE): the trigram bitmap for
a rare term, the primary key backwards for a common one. It returns one page of ids (`ROWS
50` tells the caller's planner so: with the default estimate of 1,000 it read the whole
primary key to join them).

Revision ID: 0024_contact_search
Revises: 0020_web_contacts
Create Date: 2026-12-03
"""

from collections.abc import Sequence

from alembic import op

from ventros.platform.settings import APP_ROLE, SYSTEM_ROLE

revision: str = "0024_contact_search"
down_revision: str | None = "0020_web_contacts"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

SEARCH = f"""
CREATE FUNCTION ventros_search_contacts(
    p_pattern text, p_digits text, p_phone text, p_before uuid, p_limit integer
) RETURNS SETOF uuid
LANGUAGE plpgsql STABLE SECURITY DEFINER ROWS 50 SET search_path = public, pg_temp AS $$
BEGIN
    RETURN QUERY EXECUTE
        'SELECT c.id FROM contacts c'
        ' WHERE c.tenant_id = NULLIF(current_setting(''app.tenant_id'', true), '''')::uuid'
        ' AND c.deleted_at IS NULL'
        ' AND ($4 IS NULL OR c.id < $4)'
        ' AND (c.name ILIKE $1 OR c.email ILIKE $1'
        '      OR ($3 IS NOT NULL AND c.phone = $3)'
        '      OR ($2 <> '''' AND c.phone LIKE ''%'' || $2 || ''%''))'
        ' ORDER BY c.id DESC LIMIT $5'
    USING p_pattern, p_digits, p_phone, p_before, p_limit;
END
$$;
ALTER FUNCTION ventros_search_contacts(text, text, text, uuid, integer) OWNER TO {SYSTEM_ROLE};
REVOKE ALL ON FUNCTION ventros_search_contacts(text, text, text, uuid, integer) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION ventros_search_contacts(text, text, text, uuid, integer)
    TO {APP_ROLE};
"""


def upgrade() -> None:
    op.execute(SEARCH)


def downgrade() -> None:
    op.execute("DROP FUNCTION ventros_search_contacts(text, text, text, uuid, integer)")
