"""Idempotency-Key on creating POSTs."""

import uuid

import httpx
import pytest
from sqlalchemy import select

from tests.conftest import TenantLogin
from ventros.kernel.events import Actor
from ventros.platform.idempotency import idempotency_keys
from ventros.runtime.container import Container

pytestmark = pytest.mark.integration


async def _count(client: httpx.AsyncClient, tenant: TenantLogin, name: str) -> int:
    listed = await client.get("/api/v1/contacts", params={"q": name}, headers=tenant.headers)
    return len(listed.json()["items"])


async def test_the_same_key_and_body_returns_the_first_response_and_creates_nothing_new(
    client: httpx.AsyncClient, tenant: TenantLogin
) -> None:
    name = f"Idem {uuid.uuid4().hex[:6]}"
    headers = {**tenant.headers, "Idempotency-Key": "create-1"}
    first = await client.post("/api/v1/contacts", json={"name": name}, headers=headers)
    second = await client.post("/api/v1/contacts", json={"name": name}, headers=headers)
    assert first.status_code == second.status_code == 201
    assert second.json() == first.json()
    assert second.headers["idempotent-replayed"] == "true"
    assert await _count(client, tenant, name) == 1


async def test_the_same_key_with_another_body_is_422(
    client: httpx.AsyncClient, tenant: TenantLogin
) -> None:
    headers = {**tenant.headers, "Idempotency-Key": "create-2"}
    assert (
        await client.post("/api/v1/contacts", json={"name": "One"}, headers=headers)
    ).status_code == 201
    other = await client.post("/api/v1/contacts", json={"name": "Two"}, headers=headers)
    assert other.status_code == 422
    assert other.headers["content-type"].startswith("application/problem+json")
    assert await _count(client, tenant, "Two") == 0


async def test_keys_are_per_tenant(
    client: httpx.AsyncClient, tenant: TenantLogin, other_tenant: TenantLogin
) -> None:
    body = {"name": "Shared key"}
    mine = await client.post(
        "/api/v1/contacts", json=body, headers={**tenant.headers, "Idempotency-Key": "k"}
    )
    theirs = await client.post(
        "/api/v1/contacts", json=body, headers={**other_tenant.headers, "Idempotency-Key": "k"}
    )
    assert mine.status_code == theirs.status_code == 201
    assert mine.json()["id"] != theirs.json()["id"]


async def test_a_replayed_error_is_the_same_error(
    client: httpx.AsyncClient, tenant: TenantLogin
) -> None:
    headers = {**tenant.headers, "Idempotency-Key": "bad-phone"}
    first = await client.post(
        "/api/v1/contacts", json={"name": "X", "phone": "123"}, headers=headers
    )
    second = await client.post(
        "/api/v1/contacts", json={"name": "X", "phone": "123"}, headers=headers
    )
    assert first.status_code == second.status_code == 422
    assert first.json() == second.json()


async def test_without_a_key_every_post_creates(
    client: httpx.AsyncClient, tenant: TenantLogin
) -> None:
    name = f"NoKey {uuid.uuid4().hex[:6]}"
    for _ in range(2):
        assert (
            await client.post("/api/v1/contacts", json={"name": name}, headers=tenant.headers)
        ).status_code == 201
    assert await _count(client, tenant, name) == 2


async def test_kept_responses_are_sealed_at_rest(
    client: httpx.AsyncClient, tenant: TenantLogin, container: Container
) -> None:
    name = f"Sealed {uuid.uuid4().hex[:6]}"
    headers = {**tenant.headers, "Idempotency-Key": "sealed-1"}
    assert (
        await client.post("/api/v1/contacts", json={"name": name}, headers=headers)
    ).status_code == 201
    async with container.uow(tenant.tenant_id, Actor.system()) as tx:
        stored = (
            await tx.connection.execute(
                select(idempotency_keys.c.response_body).where(idempotency_keys.c.key == "sealed-1")
            )
        ).scalar_one()
    assert name.encode() not in stored
    replay = await client.post("/api/v1/contacts", json={"name": name}, headers=headers)
    assert replay.json()["name"] == name
