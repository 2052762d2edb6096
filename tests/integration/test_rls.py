"""Row-level security is the net under every query: these tests use raw SQL with no filter."""

import uuid

import pytest
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError

from tests.conftest import TenantLogin
from ventros.runtime.container import Container

pytestmark = pytest.mark.integration


async def _create_contact(client, login: TenantLogin, name: str) -> str:  # type: ignore[no-untyped-def]
    response = await client.post("/api/v1/contacts", json={"name": name}, headers=login.headers)
    assert response.status_code == 201, response.text
    return str(response.json()["id"])


async def test_a_query_without_where_sees_only_the_current_tenants_rows(
    container: Container, client, tenant: TenantLogin, other_tenant: TenantLogin
) -> None:
    mine = await _create_contact(client, tenant, "Mine")
    theirs = await _create_contact(client, other_tenant, "Theirs")

    async with container.database.app.connect() as conn, conn.begin():
        role = (await conn.execute(text("SELECT current_user"))).scalar()
        assert role == "ventros_app"
        await conn.execute(
            text("SELECT set_config('app.tenant_id', :t, true)"), {"t": str(tenant.tenant_id)}
        )
        rows = (await conn.execute(text("SELECT id, tenant_id FROM contacts"))).all()

    ids = {str(r.id) for r in rows}
    assert mine in ids
    assert theirs not in ids
    assert {r.tenant_id for r in rows} == {tenant.tenant_id}


async def test_inserting_a_row_for_another_tenant_fails(
    container: Container, tenant: TenantLogin, other_tenant: TenantLogin
) -> None:
    async with container.database.app.connect() as conn:
        await conn.begin()
        await conn.execute(
            text("SELECT set_config('app.tenant_id', :t, true)"), {"t": str(tenant.tenant_id)}
        )
        with pytest.raises(DBAPIError, match="row-level security"):
            await conn.execute(
                text(
                    "INSERT INTO contacts (id, tenant_id, name, created_at, updated_at) "
                    "VALUES (:id, :tenant, 'Intruder', now(), now())"
                ),
                {"id": uuid.uuid4(), "tenant": other_tenant.tenant_id},
            )
        await conn.rollback()


async def test_without_a_tenant_nothing_is_visible_and_the_pooled_connection_stays_usable(
    container: Container, client, tenant: TenantLogin
) -> None:
    await _create_contact(client, tenant, "Someone")
    for _ in range(3):
        # After a transaction-local set_config ends the setting reads '' — NULLIF keeps it safe.
        async with container.database.app.connect() as conn:
            count = (await conn.execute(text("SELECT count(*) FROM contacts"))).scalar()
            assert count == 0


async def test_the_app_role_cannot_bypass_rls(container: Container) -> None:
    async with container.database.app.connect() as conn:
        row = (
            await conn.execute(
                text("SELECT rolsuper, rolbypassrls FROM pg_roles WHERE rolname = current_user")
            )
        ).one()
    assert row == (False, False)
