"""A channel's WAHA base_url and a message's media_url follow the outbound-webhook SSRF
policy (issue 19, 9): public addresses only, unless VENTROS_WAHA_ALLOW_PRIVATE is set."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest

from tests.conftest import TenantLogin, login, make_settings
from tests.integration.waha_kit import SECRET
from ventros.identity.service import create_tenant
from ventros.runtime.container import bootstrap
from ventros.runtime.http import create_app

pytestmark = pytest.mark.integration

PUBLIC = "http://93.184.215.14:3000"  # a literal: no DNS, nothing is sent to it here
INSIDE = [
    "http://127.0.0.1:3000",
    "http://localhost:3000",
    "http://10.0.0.5:3000",
    "http://169.254.169.254/latest/meta-data",
    "http://[::1]:3000",
    "http://[64:ff9b::7f00:1]:3000",
    "http://[::ffff:10.0.0.5]:3000",
]


@pytest.fixture
async def strict(owner_url: str) -> AsyncIterator[tuple[httpx.AsyncClient, TenantLogin]]:
    """An app as production runs it: VENTROS_WAHA_ALLOW_PRIVATE unset."""
    container = bootstrap(make_settings(waha_allow_private=False), database_url=owner_url)
    transport = httpx.ASGITransport(app=create_app(container))
    try:
        async with httpx.AsyncClient(transport=transport, base_url="http://ventros.test") as http:
            email = f"ssrf-{id(http)}@example.com"
            created = await create_tenant(
                container.uow, name="SSRF", admin_email=email, admin_password="Test-Password-1"
            )
            yield (
                http,
                TenantLogin(created.tenant_id, created.admin_id, email, await login(http, email)),
            )
    finally:
        await container.aclose()


def _channel(base_url: str) -> dict[str, str]:
    return {"name": "Loja", "type": "waha", "base_url": base_url, "webhook_secret": SECRET}


@pytest.mark.parametrize("base_url", INSIDE)
async def test_a_channel_base_url_inside_our_network_is_422(
    strict: tuple[httpx.AsyncClient, TenantLogin], base_url: str
) -> None:
    client, admin = strict
    response = await client.post("/api/v1/channels", json=_channel(base_url), headers=admin.headers)
    assert response.status_code == 422, response.text
    problem = response.json()
    assert problem["errors"][0]["loc"] == ["body", "base_url"]
    assert "VENTROS_WAHA_ALLOW_PRIVATE" in problem["detail"]


async def test_a_public_base_url_is_accepted_and_cannot_be_patched_inside(
    strict: tuple[httpx.AsyncClient, TenantLogin],
) -> None:
    client, admin = strict
    created = await client.post("/api/v1/channels", json=_channel(PUBLIC), headers=admin.headers)
    assert created.status_code == 201, created.text
    channel_id = created.json()["id"]
    patched = await client.patch(
        f"/api/v1/channels/{channel_id}",
        json={"base_url": "http://192.168.0.10:3000"},
        headers=admin.headers,
    )
    assert patched.status_code == 422, patched.text
    kept = await client.get(f"/api/v1/channels/{channel_id}", headers=admin.headers)
    assert kept.json()["base_url"] == PUBLIC


async def test_a_media_url_inside_our_network_is_422(
    strict: tuple[httpx.AsyncClient, TenantLogin],
) -> None:
    client, admin = strict
    contact = await client.post(
        "/api/v1/contacts", json={"name": "Ana", "phone": "+5511987654321"}, headers=admin.headers
    )
    body = {
        "contact_id": contact.json()["id"],
        "type": "image",
        "media_url": "http://169.254.169.254/latest/meta-data/iam",
    }
    response = await client.post("/api/v1/messages/send", json=body, headers=admin.headers)
    assert response.status_code == 422, response.text
    assert response.json()["errors"][0]["loc"] == ["body", "media_url"]


async def test_the_operator_setting_allows_a_private_waha(
    client: httpx.AsyncClient, tenant: TenantLogin
) -> None:
    # The shared test app runs with VENTROS_WAHA_ALLOW_PRIVATE (tests/conftest.py).
    response = await client.post(
        "/api/v1/channels", json=_channel("http://127.0.0.1:3000"), headers=tenant.headers
    )
    assert response.status_code == 201, response.text
