"""SQL that migrations use to put a tenant-owned table under row-level security."""

from __future__ import annotations

from ventros.platform.settings import APP_ROLE, SYSTEM_ROLE

# NULLIF: after a transaction-local set_config ends the setting reads '' (not NULL), and a
# bare ''::uuid would fail every later query on that pooled connection.
CURRENT_TENANT = "NULLIF(current_setting('app.tenant_id', true), '')::uuid"


def tenant_isolation_sql(table: str, column: str = "tenant_id") -> list[str]:
    return [
        f"ALTER TABLE {table} ENABLE ROW LEVEL SECURITY",
        f"ALTER TABLE {table} FORCE ROW LEVEL SECURITY",
        f"CREATE POLICY tenant_isolation ON {table} "
        f"USING ({column} = {CURRENT_TENANT}) WITH CHECK ({column} = {CURRENT_TENANT})",
    ]


def grant_sql() -> list[str]:
    roles = f"{APP_ROLE}, {SYSTEM_ROLE}"
    return [
        f"GRANT USAGE ON SCHEMA public TO {roles}",
        f"GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA public TO {roles}",
        f"GRANT USAGE, SELECT ON ALL SEQUENCES IN SCHEMA public TO {roles}",
        # Tables of later migrations, created by the same owner, get the same grants.
        "ALTER DEFAULT PRIVILEGES IN SCHEMA public "
        f"GRANT SELECT, INSERT, UPDATE, DELETE ON TABLES TO {roles}",
        f"ALTER DEFAULT PRIVILEGES IN SCHEMA public GRANT USAGE, SELECT ON SEQUENCES TO {roles}",
    ]
