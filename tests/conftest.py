"""Shared fixtures: one migrated database per test run (per xdist worker), real PostgreSQL.

With VENTROS_TEST_DATABASE_URL (CI) a fresh database is created on that server; without it
an embedded PostgreSQL is started from the pgserver wheel, so `make test` needs no server.
Tests isolate by tenant: each creates its own tenants, so nothing needs truncating.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import AsyncIterator, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import psycopg
import pytest
from psycopg import sql
from sqlalchemy.engine import make_url

from ventros.identity.service import create_tenant
from ventros.platform.migrate import upgrade
from ventros.platform.settings import Settings
from ventros.runtime.container import Container, bootstrap
from ventros.runtime.http import create_app

TEST_SECRET = "test-secret-key-0123456789-abcdefghijklmnopqrstuvwxyz"
TEST_PASSWORD = "Test-Password-1"


def _libpq(url: str) -> str:
    return make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)


@pytest.fixture(scope="session")
def server_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """Owner URL of a PostgreSQL server: the configured one, or an embedded one."""
    configured = os.environ.get("VENTROS_TEST_DATABASE_URL")
    if configured:
        yield configured
        return
    from ventros.platform.embedded.postgres import EmbeddedPostgres

    server = EmbeddedPostgres(Path(tmp_path_factory.mktemp("pg")) / "data")
    url = server.start()
    try:
        yield url
    finally:
        server.stop()


@contextmanager
def fresh_database(server_url: str, name: str) -> Iterator[str]:
    """A database of its own on the server, migrated; dropped on exit. Its owner URL."""
    with psycopg.connect(_libpq(server_url), autocommit=True) as conn:
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    url = make_url(server_url).set(database=name).render_as_string(hide_password=False)
    upgrade(url, make_settings().role_passwords())
    try:
        yield url
    finally:
        with psycopg.connect(_libpq(server_url), autocommit=True) as conn:
            conn.execute(
                sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
            )


@pytest.fixture(scope="session")
def owner_url(server_url: str, worker_id: str) -> Iterator[str]:
    """A freshly created and migrated database, dropped at the end of the run."""
    with fresh_database(server_url, f"ventros_test_{worker_id}_{uuid.uuid4().hex[:8]}") as url:
        yield url


@pytest.fixture(scope="session")
def worker_id(request: pytest.FixtureRequest) -> str:
    return str(getattr(request.config, "workerinput", {}).get("workerid", "main"))


def make_settings(**overrides: Any) -> Settings:
    values: dict[str, Any] = {
        "secret_key": TEST_SECRET,
        "home": Path(".ventros-test"),
        "log_json": False,
        "database_url": None,
        "rabbitmq_url": None,
        # Channels point at loopback WAHA stand-ins (tests/integration/test_channels_ssrf.py
        # checks the production default, off).
        "waha_allow_private": True,
    }
    values.update(overrides)
    return Settings(**values)


@pytest.fixture(scope="session")
async def container(owner_url: str) -> AsyncIterator[Container]:
    built = bootstrap(make_settings(), database_url=owner_url)
    try:
        yield built
    finally:
        await built.aclose()


@pytest.fixture(scope="session")
async def client(container: Container) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=create_app(container))
    async with httpx.AsyncClient(transport=transport, base_url="http://ventros.test") as http:
        yield http


@dataclass
class TenantLogin:
    tenant_id: uuid.UUID
    admin_id: uuid.UUID
    email: str
    token: str

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"}


async def login(client: httpx.AsyncClient, email: str, password: str = TEST_PASSWORD) -> str:
    response = await client.post("/api/v1/auth/login", json={"email": email, "password": password})
    assert response.status_code == 200, response.text
    return str(response.json()["access_token"])


async def new_tenant(container: Container, client: httpx.AsyncClient) -> TenantLogin:
    email = f"admin-{uuid.uuid4().hex[:10]}@example.com"
    created = await create_tenant(
        container.uow, name="Tenant " + email, admin_email=email, admin_password=TEST_PASSWORD
    )
    return TenantLogin(created.tenant_id, created.admin_id, email, await login(client, email))


@pytest.fixture
async def tenant(container: Container, client: httpx.AsyncClient) -> TenantLogin:
    return await new_tenant(container, client)


@pytest.fixture
async def other_tenant(container: Container, client: httpx.AsyncClient) -> TenantLogin:
    return await new_tenant(container, client)
