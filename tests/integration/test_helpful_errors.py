"""Refusals tell the user what to do next, in words, not in permission codes."""

from __future__ import annotations

import httpx
import pytest

from tests.conftest import TenantLogin
from tests.integration.test_contacts_api import _user
from tests.integration.test_sessions_assignment import add_agent, assign, open_session
from ventros.runtime.container import Container

pytestmark = pytest.mark.integration


async def test_a_permission_refusal_is_a_sentence_naming_who_may(
    client: httpx.AsyncClient, tenant: TenantLogin
) -> None:
    viewer = await _user(client, tenant, "viewer")
    refused = await client.post("/api/v1/contacts", json={"name": "Nope"}, headers=viewer)
    assert refused.status_code == 403, refused.text
    detail = refused.json()["detail"]
    assert detail.startswith("viewers cannot create or change contacts"), detail
    assert "contacts:write" not in detail
    assert "an agent" in detail


async def test_a_private_webhook_url_names_the_setting_for_local_testing(
    client: httpx.AsyncClient, tenant: TenantLogin
) -> None:
    response = await client.post(
        "/api/v1/webhooks",
        json={"url": "http://127.0.0.1:8080/hook", "events": ["*"]},
        headers=tenant.headers,
    )
    assert response.status_code == 422, response.text
    assert "VENTROS_WEBHOOKS_ALLOW_PRIVATE" in response.json()["detail"]


async def test_an_agent_at_capacity_says_a_supervisor_may_force_it(
    container: Container, client: httpx.AsyncClient, tenant: TenantLogin
) -> None:
    full = await add_agent(container, tenant, capacity=1)
    taken = await open_session(container, tenant)
    assert (await assign(container, tenant, taken.id)).agent_id == full.id
    session = await open_session(container, tenant)
    response = await client.post(
        f"/api/v1/sessions/{session.id}/assign",
        json={"agent_id": str(full.id)},
        headers=tenant.headers,
    )
    assert response.status_code == 409, response.text
    detail = response.json()["detail"]
    assert "a supervisor may force the assignment" in detail
    assert '"force": true' in detail


@pytest.mark.parametrize(
    ("content", "content_type"),
    [
        ("name=Ana&phone=%2B5511987654321", "application/x-www-form-urlencoded"),
        ("name: Ana", "text/plain"),
    ],
)
async def test_a_body_that_is_not_json_is_415_saying_to_send_json(
    client: httpx.AsyncClient, tenant: TenantLogin, content: str, content_type: str
) -> None:
    response = await client.post(
        "/api/v1/contacts",
        content=content,
        headers={**tenant.headers, "Content-Type": content_type},
    )
    assert response.status_code == 415, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    assert "Content-Type: application/json" in response.json()["detail"]


async def test_a_json_body_with_a_wrong_field_is_still_422(
    client: httpx.AsyncClient, tenant: TenantLogin
) -> None:
    response = await client.post("/api/v1/contacts", json=["Ana"], headers=tenant.headers)
    assert response.status_code == 422, response.text
