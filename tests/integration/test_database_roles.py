"""The two database roles have their own passwords, only processes that need the system
role get it, and the login lookup cannot be used to list password hashes (issue 19, 10)."""

from __future__ import annotations

import hashlib
import hmac
from base64 import b64decode, b64encode

import asyncpg
import httpx
import psycopg
import pytest
from sqlalchemy.engine import make_url

from tests.conftest import TenantLogin, login, make_settings
from ventros.platform.db import SystemRoleUnavailable, role_url
from ventros.platform.settings import APP_ROLE, SYSTEM_ROLE
from ventros.runtime.container import Container, bootstrap
from ventros.runtime.http import create_app

pytestmark = pytest.mark.integration


def _libpq(owner_url: str) -> str:
    return make_url(owner_url).set(drivername="postgresql").render_as_string(hide_password=False)


def _dsn(owner_url: str, role: str, password: str) -> str:
    url = role_url(owner_url, role, password).set(drivername="postgresql")
    return url.render_as_string(hide_password=False)


def password_matches(owner_url: str, role: str, password: str) -> bool:
    """Whether the role's stored SCRAM-SHA-256 verifier is of this password (RFC 5802), read
    as the owner: test servers often trust local connections, so logging in proves nothing."""
    with psycopg.connect(_libpq(owner_url)) as conn:
        row = conn.execute("SELECT rolpassword FROM pg_authid WHERE rolname = %s", (role,))
        stored = row.fetchone()
    if stored is None or stored[0] is None:
        return False
    method, params, keys = stored[0].split("$")
    assert method == "SCRAM-SHA-256"
    iterations, salt = params.split(":")
    stored_key = keys.split(":")[0]
    salted = hashlib.pbkdf2_hmac("sha256", password.encode(), b64decode(salt), int(iterations))
    client_key = hmac.new(salted, b"Client Key", "sha256").digest()
    return hmac.compare_digest(b64encode(hashlib.sha256(client_key).digest()).decode(), stored_key)


def test_each_role_has_its_own_password(owner_url: str) -> None:
    passwords = make_settings().role_passwords()
    assert passwords.system is not None
    assert passwords.app != passwords.system
    assert password_matches(owner_url, APP_ROLE, passwords.app)
    assert password_matches(owner_url, SYSTEM_ROLE, passwords.system)
    assert not password_matches(owner_url, SYSTEM_ROLE, passwords.app)


def test_an_explicit_app_password_alone_gives_no_system_role(owner_url: str) -> None:
    settings = make_settings(app_database_password="app-only-secret")
    assert settings.resolved_system_password() is None
    container = bootstrap(settings, database_url=owner_url)
    with pytest.raises(SystemRoleUnavailable, match="VENTROS_SYSTEM_DATABASE_PASSWORD"):
        _ = container.database.system
    explicit = make_settings(
        app_database_password="app-only-secret", system_database_password="system-secret"
    )
    assert explicit.role_passwords().system == "system-secret"


async def test_the_api_serves_without_the_system_role(owner_url: str, tenant: TenantLogin) -> None:
    # As `ventros api` runs in production: APP_DATABASE_PASSWORD only.
    app_only = make_settings(app_database_password=make_settings().resolved_app_password())
    container = bootstrap(app_only, database_url=owner_url)
    transport = httpx.ASGITransport(app=create_app(container))
    try:
        async with httpx.AsyncClient(transport=transport, base_url="http://ventros.test") as http:
            headers = {"Authorization": f"Bearer {await login(http, tenant.email)}"}
            created = await http.post(
                "/api/v1/contacts",
                json={"name": "Ana", "phone": "+5511987654321"},
                headers=headers,
            )
            assert created.status_code == 201, created.text
            assert (await http.get("/api/v1/me", headers=headers)).status_code == 200
        assert SYSTEM_ROLE not in container.database.engines
    finally:
        await container.aclose()


async def test_the_login_lookup_cannot_list_password_hashes(
    owner_url: str, container: Container, tenant: TenantLogin, other_tenant: TenantLogin
) -> None:
    app = await asyncpg.connect(_dsn(owner_url, APP_ROLE, container.database.password))
    try:
        for probe in ("%", "%@example.com", "", "admin-%", "*", None):
            rows = await app.fetch("SELECT * FROM ventros_find_login($1)", probe)
            assert rows == [], probe
        # Without a tenant, RLS shows the app role no user at all, hashes included.
        assert await app.fetch("SELECT password_hash FROM users") == []
        one = await app.fetch("SELECT * FROM ventros_find_login($1)", other_tenant.email.upper())
        assert [(r["email"], r["active"]) for r in one] == [(other_tenant.email, True)]
    finally:
        await app.close()


def test_migrations_keep_a_password_of_the_system_role_they_were_not_given(
    owner_url: str,
) -> None:
    from ventros.platform.migrate import ensure_roles
    from ventros.platform.settings import RolePasswords

    passwords = make_settings().role_passwords()
    assert passwords.system is not None
    # An `api` host running `ventros migrate` has no system password: the role keeps its own.
    ensure_roles(owner_url, RolePasswords(passwords.app, None))
    assert password_matches(owner_url, SYSTEM_ROLE, passwords.system)
