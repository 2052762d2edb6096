"""Webhook subscriptions through HTTP: admin only, secrets shown once, SSRF refused,
tenants apart. (The shared app refuses private targets: VENTROS_WEBHOOKS_ALLOW_PRIVATE
is off.)"""

import uuid
from typing import Any

import httpx
import pytest
from sqlalchemy import select

from tests.conftest import TEST_PASSWORD, TenantLogin, login, new_tenant
from ventros.kernel.events import Actor
from ventros.platform.outbox import domain_events
from ventros.runtime.container import Container
from ventros.webhooks.repository import webhook_subscriptions

pytestmark = pytest.mark.integration

# A public address as a literal: accepted without DNS (nothing is sent to it here).
PUBLIC_URL = "https://93.184.215.14/ventros?token=abc"


@pytest.fixture(scope="module")
async def admin(container: Container, client: httpx.AsyncClient) -> TenantLogin:
    """One tenant for the tests that need no empty tenant (creating tenants is slow)."""
    return await new_tenant(container, client)


@pytest.fixture(scope="module")
async def other_admin(container: Container, client: httpx.AsyncClient) -> TenantLogin:
    """Another tenant, which never creates a webhook."""
    return await new_tenant(container, client)


@pytest.fixture(scope="module")
async def members(client: httpx.AsyncClient, admin: TenantLogin) -> dict[str, dict[str, str]]:
    return {role: await _user(client, admin, role) for role in ("supervisor", "agent", "viewer")}


async def _user(client: httpx.AsyncClient, admin: TenantLogin, role: str) -> dict[str, str]:
    email = f"{role}-{uuid.uuid4().hex[:8]}@example.com"
    response = await client.post(
        "/api/v1/agents",
        json={"email": email, "name": role.title(), "password": TEST_PASSWORD, "role": role},
        headers=admin.headers,
    )
    assert response.status_code == 201, response.text
    return {"Authorization": f"Bearer {await login(client, email)}"}


async def _create(client: httpx.AsyncClient, admin: TenantLogin, **body: Any) -> dict[str, Any]:
    body = {"url": PUBLIC_URL, "events": ["message.*", "contact.created"], **body}
    response = await client.post("/api/v1/webhooks", json=body, headers=admin.headers)
    assert response.status_code == 201, response.text
    return dict(response.json())


async def test_an_admin_creates_a_webhook_and_sees_the_generated_secret_once(
    client: httpx.AsyncClient, admin: TenantLogin, container: Container
) -> None:
    created = await _create(client, admin)
    assert created["secret"].startswith("whsec_")
    assert created["url"] == PUBLIC_URL
    assert created["events"] == ["message.*", "contact.created"]
    assert created["status"] == "active"
    assert created["disabled_reason"] is None
    assert created["retry_policy"] == {
        "initial_interval_seconds": 1.0,
        "max_interval_seconds": 3600.0,
        "max_elapsed_seconds": 86400.0,
        "max_attempts": None,
    }

    one = await client.get(f"/api/v1/webhooks/{created['id']}", headers=admin.headers)
    listed = await client.get("/api/v1/webhooks", headers=admin.headers)
    assert one.status_code == 200
    assert "secret" not in one.json()
    assert listed.json()["items"] == [one.json()]
    assert created["secret"] not in one.text + listed.text

    async with container.uow(admin.tenant_id, Actor.system()) as tx:
        sealed = (
            await tx.connection.execute(
                select(webhook_subscriptions.c.secret_sealed).where(
                    webhook_subscriptions.c.id == uuid.UUID(created["id"])
                )
            )
        ).scalar_one()
        audit = (
            await tx.connection.execute(
                select(domain_events.c.data, domain_events.c.actor_id).where(
                    domain_events.c.aggregate_id == uuid.UUID(created["id"])
                )
            )
        ).one()
    assert created["secret"] not in sealed
    assert audit.actor_id == admin.admin_id
    assert audit.data["url"] == "https://93.184.215.14/ventros"  # no query: it may hold tokens


async def test_a_given_secret_and_retry_policy_are_kept(
    client: httpx.AsyncClient, admin: TenantLogin
) -> None:
    policy = {
        "initial_interval_seconds": 0.5,
        "max_interval_seconds": 60.0,
        "max_elapsed_seconds": 600.0,
        "max_attempts": 7,
    }
    created = await _create(client, admin, secret="my-own-secret-0123456789", retry_policy=policy)
    assert created["secret"] == "my-own-secret-0123456789"
    assert created["retry_policy"] == policy


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1:8080/hook",
        "http://localhost/hook",
        "http://169.254.169.254/latest/meta-data/",
        "http://10.0.0.7/hook",
        "http://[::1]/hook",
        "http://2130706433/",
        "ftp://93.184.215.14/",
        "not a url",
    ],
)
async def test_urls_that_reach_inside_or_are_not_http_are_refused(
    client: httpx.AsyncClient, admin: TenantLogin, url: str
) -> None:
    response = await client.post(
        "/api/v1/webhooks", json={"url": url, "events": ["*"]}, headers=admin.headers
    )
    assert response.status_code == 422, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    assert response.json()["errors"][0]["loc"] == ["body", "url"]


@pytest.mark.parametrize(
    "body",
    [
        {"url": PUBLIC_URL, "events": []},
        {"url": PUBLIC_URL, "events": ["message.#"]},
        {"url": PUBLIC_URL, "events": ["*"], "secret": "short"},
        {"url": PUBLIC_URL, "events": ["*"], "retry_policy": {"initial_interval_seconds": 0}},
        {"url": PUBLIC_URL, "events": ["*"], "unknown": 1},
    ],
)
async def test_invalid_subscriptions_are_refused(
    client: httpx.AsyncClient, admin: TenantLogin, body: dict[str, Any]
) -> None:
    response = await client.post("/api/v1/webhooks", json=body, headers=admin.headers)
    assert response.status_code == 422, response.text


@pytest.mark.parametrize("role", ["supervisor", "agent", "viewer"])
async def test_only_admins_manage_webhooks(
    client: httpx.AsyncClient, admin: TenantLogin, members: dict[str, dict[str, str]], role: str
) -> None:
    created = await _create(client, admin)
    headers = members[role]
    body = {"url": PUBLIC_URL, "events": ["*"]}
    assert (await client.post("/api/v1/webhooks", json=body, headers=headers)).status_code == 403
    assert (await client.get("/api/v1/webhooks", headers=headers)).status_code == 403
    path = f"/api/v1/webhooks/{created['id']}"
    assert (await client.get(path, headers=headers)).status_code == 403
    assert (await client.get(path + "/deliveries", headers=headers)).status_code == 403
    assert (await client.delete(path, headers=headers)).status_code == 403


async def test_without_a_token_it_is_401(client: httpx.AsyncClient) -> None:
    assert (await client.get("/api/v1/webhooks")).status_code == 401


async def test_another_tenants_webhook_is_not_found(
    client: httpx.AsyncClient, admin: TenantLogin, other_admin: TenantLogin
) -> None:
    created = await _create(client, admin)
    path = f"/api/v1/webhooks/{created['id']}"
    for response in (
        await client.get(path, headers=other_admin.headers),
        await client.get(path + "/deliveries", headers=other_admin.headers),
        await client.patch(path, json={"enabled": False}, headers=other_admin.headers),
        await client.delete(path, headers=other_admin.headers),
    ):
        assert response.status_code == 404, response.text
    listed = await client.get("/api/v1/webhooks", headers=other_admin.headers)
    assert listed.json() == {"items": [], "next_cursor": None}
    assert (await client.get(path, headers=admin.headers)).status_code == 200


async def test_a_deleted_webhook_is_gone(client: httpx.AsyncClient, admin: TenantLogin) -> None:
    created = await _create(client, admin)
    path = f"/api/v1/webhooks/{created['id']}"
    assert (await client.delete(path, headers=admin.headers)).status_code == 204
    assert (await client.get(path, headers=admin.headers)).status_code == 404
    assert (await client.delete(path, headers=admin.headers)).status_code == 404
    listed = await client.get("/api/v1/webhooks", headers=admin.headers)
    assert created["id"] not in {item["id"] for item in listed.json()["items"]}


async def test_an_admin_disables_and_enables_a_webhook(
    client: httpx.AsyncClient, admin: TenantLogin
) -> None:
    created = await _create(client, admin)
    path = f"/api/v1/webhooks/{created['id']}"
    disabled = await client.patch(path, json={"enabled": False}, headers=admin.headers)
    assert disabled.status_code == 200
    assert disabled.json()["status"] == "disabled"
    assert disabled.json()["disabled_reason"] == "disabled by an administrator"
    enabled = await client.patch(path, json={"enabled": True}, headers=admin.headers)
    assert enabled.json()["status"] == "active"
    assert enabled.json()["disabled_reason"] is None


async def test_webhooks_are_listed_newest_first_in_pages(
    client: httpx.AsyncClient, tenant: TenantLogin
) -> None:
    ids = [(await _create(client, tenant))["id"] for _ in range(3)]
    first = await client.get("/api/v1/webhooks", params={"limit": 2}, headers=tenant.headers)
    cursor = first.json()["next_cursor"]
    assert [i["id"] for i in first.json()["items"]] == ids[::-1][:2]
    second = await client.get(
        "/api/v1/webhooks", params={"limit": 2, "cursor": cursor}, headers=tenant.headers
    )
    assert [i["id"] for i in second.json()["items"]] == ids[:1]
    assert second.json()["next_cursor"] is None


async def test_a_new_webhook_has_no_deliveries(
    client: httpx.AsyncClient, admin: TenantLogin
) -> None:
    created = await _create(client, admin)
    response = await client.get(
        f"/api/v1/webhooks/{created['id']}/deliveries", headers=admin.headers
    )
    assert response.json() == {"items": [], "next_cursor": None}
