"""Users can be deactivated; login looks up one exact email and says whether it is active.

`ventros_find_login` runs as the system role (SECURITY DEFINER) for the app role, which
cannot see other tenants' users: it answers exactly one email (compared lower-cased, no
patterns, NULL answers nothing), so the app role cannot list users or password hashes.

Revision ID: 0012_security_roles
Revises: 0014_web_sessions
Create Date: 2026-12-03
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from ventros.platform.settings import APP_ROLE, SYSTEM_ROLE

revision: str = "0012_security_roles"
down_revision: str | None = "0014_web_sessions"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_GRANTS = f"""
ALTER FUNCTION ventros_find_login(text) OWNER TO {SYSTEM_ROLE};
REVOKE ALL ON FUNCTION ventros_find_login(text) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION ventros_find_login(text) TO {APP_ROLE};
"""

FIND_ONE_LOGIN = f"""
CREATE FUNCTION ventros_find_login(p_email text)
RETURNS TABLE (
    id uuid, tenant_id uuid, email text, role text, active boolean, password_hash text
)
LANGUAGE sql STABLE STRICT SECURITY DEFINER SET search_path = public, pg_temp AS $$
    SELECT u.id, u.tenant_id, u.email, u.role, u.active, u.password_hash
    FROM users u WHERE lower(u.email) = lower(p_email) LIMIT 1
$$;
{_GRANTS}
"""

FIND_LOGIN_BEFORE = f"""
CREATE FUNCTION ventros_find_login(p_email text)
RETURNS TABLE (id uuid, tenant_id uuid, email text, role text, password_hash text)
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = public, pg_temp AS $$
    SELECT u.id, u.tenant_id, u.email, u.role, u.password_hash
    FROM users u WHERE lower(u.email) = lower(p_email)
$$;
{_GRANTS}
"""


def upgrade() -> None:
    op.add_column(
        "users", sa.Column("active", sa.Boolean, nullable=False, server_default=sa.text("true"))
    )
    op.execute("DROP FUNCTION ventros_find_login(text)")
    op.execute(FIND_ONE_LOGIN)


def downgrade() -> None:
    op.execute("DROP FUNCTION ventros_find_login(text)")
    op.execute(FIND_LOGIN_BEFORE)
    op.drop_column("users", "active")
