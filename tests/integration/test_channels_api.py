"""Channels through HTTP: CRUD, roles, secrets at rest, tenant isolation, soft delete."""

import uuid

import httpx
import pytest

from tests.conftest import TEST_PASSWORD, TenantLogin, login
from tests.integration.waha_kit import SECRET, create_channel, fixture, post_webhook, rows, scalar
from ventros.runtime.container import Container

pytestmark = pytest.mark.integration


async def _user(client: httpx.AsyncClient, admin: TenantLogin, role: str) -> dict[str, str]:
    email = f"{role}-{uuid.uuid4().hex[:8]}@example.com"
    response = await client.post(
        "/api/v1/agents",
        json={"email": email, "name": role.title(), "password": TEST_PASSWORD, "role": role},
        headers=admin.headers,
    )
    assert response.status_code == 201, response.text
    return {"Authorization": f"Bearer {await login(client, email)}"}


async def test_an_admin_connects_a_channel_and_its_secrets_never_come_back(
    client: httpx.AsyncClient, container: Container, tenant: TenantLogin
) -> None:
    created = await create_channel(
        client, tenant, enforce_24h_window=True, rate_limit_per_minute=120
    )
    channel_id = created["id"]
    assert created["webhook_url"].endswith(f"/webhooks/waha/{channel_id}")
    assert created["webhook_url"].startswith("http")
    assert created["webhook_path"] == f"/webhooks/waha/{channel_id}"
    assert created["status"] == "unknown"
    assert created["has_api_key"] is True
    assert created["enforce_24h_window"] is True
    assert created["rate_limit_per_minute"] == 120
    assert created["ingest_groups"] is False
    assert created["tenant_id"] == str(tenant.tenant_id)

    fetched = await client.get(f"/api/v1/channels/{channel_id}", headers=tenant.headers)
    listed = await client.get("/api/v1/channels", headers=tenant.headers)
    assert fetched.json() == created
    assert [c["id"] for c in listed.json()["items"]] == [channel_id]
    for body in (created, fetched.text, listed.text):
        assert "waha-api-key-123" not in str(body)
        assert SECRET not in str(body)
        assert "api_key" not in (body if isinstance(body, dict) else {})

    stored = await rows(
        container,
        tenant,
        "SELECT api_key_sealed, webhook_secret_sealed FROM channels WHERE id = :id",
        id=channel_id,
    )
    api_key_sealed, secret_sealed = stored[0]
    assert api_key_sealed.startswith("v1.")
    assert "waha-api-key-123" not in api_key_sealed
    assert secret_sealed.startswith("v1.")
    assert SECRET not in secret_sealed

    events = await rows(
        container,
        tenant,
        "SELECT data::text FROM domain_events"
        " WHERE aggregate_id = :id AND name = 'channel.created'",
        id=channel_id,
    )
    assert len(events) == 1
    assert "waha-api-key-123" not in events[0][0]
    assert "whsec" not in events[0][0]


async def test_other_roles_read_channels_but_only_admins_manage_them(
    client: httpx.AsyncClient, tenant: TenantLogin
) -> None:
    channel_id = (await create_channel(client, tenant))["id"]
    for role in ("supervisor", "agent", "viewer"):
        headers = await _user(client, tenant, role)
        assert (await client.get("/api/v1/channels", headers=headers)).status_code == 200
        assert (
            await client.get(f"/api/v1/channels/{channel_id}", headers=headers)
        ).status_code == 200
        refused = await client.post(
            "/api/v1/channels",
            json={"name": "x", "base_url": "http://w:3000", "webhook_secret": "s"},
            headers=headers,
        )
        assert refused.status_code == 403, role
        assert (
            await client.patch(
                f"/api/v1/channels/{channel_id}", json={"name": "y"}, headers=headers
            )
        ).status_code == 403
        assert (
            await client.delete(f"/api/v1/channels/{channel_id}", headers=headers)
        ).status_code == 403


async def test_patch_changes_only_what_is_sent_and_rotates_the_webhook_secret(
    client: httpx.AsyncClient, container: Container, tenant: TenantLogin
) -> None:
    created = await create_channel(client, tenant)
    channel_id = created["id"]
    response = await client.patch(
        f"/api/v1/channels/{channel_id}",
        json={"name": "Loja Centro", "webhook_secret": "rotated-secret", "api_key": None},
        headers=tenant.headers,
    )
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["name"] == "Loja Centro"
    assert body["has_api_key"] is False
    assert body["base_url"] == created["base_url"]

    old = await post_webhook(client, channel_id, fixture("message.text.json"))
    assert old.status_code == 401
    new = await post_webhook(
        client, channel_id, fixture("message.text.json"), secret="rotated-secret"
    )
    assert new.status_code == 200, new.text
    updated = await scalar(
        container,
        tenant,
        "SELECT data::text FROM domain_events WHERE aggregate_id = :id"
        " AND name = 'channel.updated'",
        id=channel_id,
    )
    assert "rotated-secret" not in updated
    assert "webhook_secret" in updated


@pytest.mark.parametrize(
    "body",
    [
        {"name": "x", "base_url": "ftp://waha", "webhook_secret": "s"},
        {"name": "x", "base_url": "http://waha:3000"},
        {"name": "x", "base_url": "http://waha:3000", "webhook_secret": "s", "type": "telegram"},
        {"name": "x", "base_url": "http://w", "webhook_secret": "s", "rate_limit_per_minute": 0},
        {"name": "x", "base_url": "http://w", "webhook_secret": "s", "waha_session": "a b"},
        {"name": "x", "base_url": "http://w", "webhook_secret": "s", "secret": "typo"},
    ],
)
async def test_an_invalid_channel_is_422(
    client: httpx.AsyncClient, tenant: TenantLogin, body: dict[str, object]
) -> None:
    response = await client.post("/api/v1/channels", json=body, headers=tenant.headers)
    assert response.status_code == 422, response.text
    assert response.headers["content-type"].startswith("application/problem+json")


async def test_another_tenants_channel_is_404(
    client: httpx.AsyncClient, tenant: TenantLogin, other_tenant: TenantLogin
) -> None:
    channel_id = (await create_channel(client, tenant))["id"]
    for method, body in (("GET", None), ("PATCH", {"name": "Hacked"}), ("DELETE", None)):
        response = await client.request(
            method, f"/api/v1/channels/{channel_id}", json=body, headers=other_tenant.headers
        )
        assert response.status_code == 404, (method, response.text)
    listed = await client.get("/api/v1/channels", headers=other_tenant.headers)
    assert listed.json()["items"] == []
    still = await client.get(f"/api/v1/channels/{channel_id}", headers=tenant.headers)
    assert still.json()["name"] == "Loja Pinheiros"


async def test_a_deleted_channel_is_gone_and_its_webhook_answers_404(
    client: httpx.AsyncClient, container: Container, tenant: TenantLogin
) -> None:
    channel_id = (await create_channel(client, tenant))["id"]
    deleted = await client.delete(f"/api/v1/channels/{channel_id}", headers=tenant.headers)
    assert deleted.status_code == 204
    assert (
        await client.get(f"/api/v1/channels/{channel_id}", headers=tenant.headers)
    ).status_code == 404
    assert (await client.get("/api/v1/channels", headers=tenant.headers)).json()["items"] == []
    webhook = await post_webhook(client, channel_id, fixture("message.text.json"))
    assert webhook.status_code == 404
    assert (
        await scalar(
            container, tenant, "SELECT count(*) FROM channels WHERE id = :id", id=channel_id
        )
        == 1
    ), "kept for audit"


async def test_list_pages_with_a_cursor(client: httpx.AsyncClient, tenant: TenantLogin) -> None:
    ids = [(await create_channel(client, tenant, name=f"C{i}"))["id"] for i in range(3)]
    first = (await client.get("/api/v1/channels?limit=2", headers=tenant.headers)).json()
    assert [c["id"] for c in first["items"]] == ids[::-1][:2]
    second = (
        await client.get(
            f"/api/v1/channels?limit=2&cursor={first['next_cursor']}", headers=tenant.headers
        )
    ).json()
    assert [c["id"] for c in second["items"]] == [ids[0]]
    assert second["next_cursor"] is None
