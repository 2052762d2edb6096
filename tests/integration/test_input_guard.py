"""Every string input refuses NUL (422, never a 500), and JSON nesting has a limit (400)."""

from typing import Any

import httpx
import pytest

from tests.conftest import TenantLogin
from tests.integration.waha_kit import create_channel, post_webhook
from ventros.kernel.json_input import MAX_JSON_DEPTH

pytestmark = pytest.mark.integration


@pytest.mark.parametrize(
    ("path", "params"),
    [
        ("/api/v1/contacts", {"q": "ana\x00"}),
        ("/api/v1/contacts", {"tag": "vip\x00"}),
        ("/api/v1/contacts", {"source": "\x00"}),
        ("/api/v1/events", {"name": "contact.created\x00"}),
    ],
)
async def test_a_nul_in_a_query_parameter_is_422(
    client: httpx.AsyncClient, tenant: TenantLogin, path: str, params: dict[str, str]
) -> None:
    response = await client.get(path, params=params, headers=tenant.headers)
    assert response.status_code == 422, response.text
    (name,) = params
    assert response.json()["errors"][0]["loc"] == ["query", name]


@pytest.mark.parametrize(
    ("field", "value", "loc"),
    [
        ("name", "Ana\x00", ["body", "name"]),
        ("email", "ana\x00@example.com", ["body", "email"]),
        ("tags", ["ok", "v\x00ip"], ["body", "tags", 1]),
        ("custom_fields", {"cpf": {"deep": "1\x002"}}, ["body", "custom_fields", "cpf", "deep"]),
        ("custom_fields", {"k\x00ey": "v"}, ["body", "custom_fields", "k\x00ey"]),
        ("source", "insta\x00gram", ["body", "source"]),
    ],
)
async def test_a_nul_in_a_contact_field_is_422(
    client: httpx.AsyncClient, tenant: TenantLogin, field: str, value: Any, loc: list[Any]
) -> None:
    body = {"name": "Ana", "phone": "+5511987654321", field: value}
    response = await client.post("/api/v1/contacts", json=body, headers=tenant.headers)
    assert response.status_code == 422, response.text
    assert response.json()["errors"][0]["loc"] == loc


async def test_a_nul_in_the_login_email_is_422(client: httpx.AsyncClient) -> None:
    response = await client.post(
        "/api/v1/auth/login", json={"email": "a\x00@example.com", "password": "x"}
    )
    assert response.status_code == 422, response.text


async def test_a_nul_in_the_path_is_422(client: httpx.AsyncClient, tenant: TenantLogin) -> None:
    response = await client.get("/api/v1/contacts/%00", headers=tenant.headers)
    assert response.status_code == 422, response.text


async def test_api_json_nested_past_the_limit_is_400_and_under_it_is_served(
    client: httpx.AsyncClient, tenant: TenantLogin
) -> None:
    body = '{"name": "Ana", "custom_fields": {"k": ' + "[" * 100_000 + "]" * 100_000 + "}}"
    response = await client.post(
        "/api/v1/contacts",
        content=body,
        headers={**tenant.headers, "Content-Type": "application/json"},
    )
    assert response.status_code == 400, response.text
    assert str(MAX_JSON_DEPTH) in response.json()["detail"]
    shallow = {"name": "Ana", "custom_fields": {"k": [[["x"]]]}}
    response = await client.post("/api/v1/contacts", json=shallow, headers=tenant.headers)
    assert response.status_code == 201, response.text


async def test_a_deeply_nested_signed_waha_webhook_is_400(
    client: httpx.AsyncClient, tenant: TenantLogin
) -> None:
    channel_id = (await create_channel(client, tenant))["id"]
    nested = b'{"event": "message", "session": "default", "payload": ' + b"[" * 50_000
    body = nested + b"]" * 50_000 + b"}"
    response = await post_webhook(client, channel_id, body)
    assert response.status_code == 400, response.text
    assert "deeper" in response.json()["detail"]
