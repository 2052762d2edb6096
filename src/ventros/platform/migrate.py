"""Schema migrations (Alembic) and the database roles the application connects as."""

from __future__ import annotations

import time
from pathlib import Path

import psycopg
from alembic import command
from alembic.config import Config
from psycopg import sql
from sqlalchemy.engine import make_url

from ventros.platform.db import sync_url
from ventros.platform.settings import APP_ROLE, SYSTEM_ROLE, RolePasswords

ROLE_ATTEMPTS = 5
MIGRATIONS_DIR = Path(__file__).resolve().parent.parent / "migrations"


def alembic_config(owner_url: str) -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    config.set_main_option(
        "sqlalchemy.url", sync_url(owner_url).render_as_string(hide_password=False)
    )
    return config


def _libpq_dsn(owner_url: str) -> str:
    url = make_url(owner_url).set(drivername="postgresql")
    return url.render_as_string(hide_password=False)


def ensure_roles(owner_url: str, passwords: RolePasswords) -> None:
    """Create or update the login roles: RLS applies to APP_ROLE; SYSTEM_ROLE bypasses it
    for cross-tenant work (outbox relay, housekeeping). Superusers and owners skip RLS, so
    the app must never connect as the owner. Each role gets its own password; without the
    system one, the system role's password is left as it is (set by whoever has it)."""
    # Roles belong to the cluster: two databases migrated at once (parallel test workers,
    # two services starting) may race on them, which PostgreSQL reports as an error.
    for attempt in range(ROLE_ATTEMPTS):
        try:
            _ensure_roles(owner_url, passwords)
            return
        except (psycopg.errors.InternalError, psycopg.errors.UniqueViolation):
            if attempt == ROLE_ATTEMPTS - 1:
                raise
            time.sleep(0.2 * (attempt + 1))


def _ensure_roles(owner_url: str, passwords: RolePasswords) -> None:
    with psycopg.connect(_libpq_dsn(owner_url), autocommit=True) as conn:
        for role, bypass, password in (
            (APP_ROLE, False, passwords.app),
            (SYSTEM_ROLE, True, passwords.system),
        ):
            exists = conn.execute("SELECT 1 FROM pg_roles WHERE rolname = %s", (role,)).fetchone()
            verb = "ALTER" if exists else "CREATE"
            options = "LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE " + (
                "BYPASSRLS" if bypass else "NOBYPASSRLS"
            )
            statement = sql.SQL(verb + " ROLE {} " + options).format(sql.Identifier(role))
            if password is not None:
                statement += sql.SQL(" PASSWORD {}").format(sql.Literal(password))
            conn.execute(statement)
        database = make_url(owner_url).database or "postgres"
        conn.execute(
            sql.SQL("GRANT CONNECT ON DATABASE {} TO {}, {}").format(
                sql.Identifier(database), sql.Identifier(APP_ROLE), sql.Identifier(SYSTEM_ROLE)
            )
        )


def upgrade(owner_url: str, passwords: RolePasswords, revision: str = "head") -> None:
    ensure_roles(owner_url, passwords)
    command.upgrade(alembic_config(owner_url), revision)


def check(owner_url: str) -> None:
    """Fails when the models and the migrations disagree (`alembic check`)."""
    command.check(alembic_config(owner_url))
