"""Bad input is answered with problem+json and the right status, never a 500."""

import httpx
import pytest

from tests.conftest import TenantLogin

pytestmark = pytest.mark.integration


def _problem(response: httpx.Response, status: int) -> dict:  # type: ignore[type-arg]
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    assert response.json()["status"] == status
    return response.json()  # type: ignore[no-any-return]


async def test_malformed_json_is_400(client: httpx.AsyncClient, tenant: TenantLogin) -> None:
    response = await client.post(
        "/api/v1/contacts",
        content=b'{"name": "Ana",',
        headers={**tenant.headers, "Content-Type": "application/json"},
    )
    _problem(response, 400)


async def test_wrong_types_are_422_with_the_field_named(
    client: httpx.AsyncClient, tenant: TenantLogin
) -> None:
    response = await client.post(
        "/api/v1/contacts", json={"name": 42, "tags": "vip"}, headers=tenant.headers
    )
    body = _problem(response, 422)
    locations = {tuple(e["loc"]) for e in body["errors"]}
    assert ("body", "name") in locations
    assert ("body", "tags") in locations


async def test_an_unknown_field_is_422(client: httpx.AsyncClient, tenant: TenantLogin) -> None:
    _problem(
        await client.post(
            "/api/v1/contacts", json={"name": "A", "nmae": "B"}, headers=tenant.headers
        ),
        422,
    )


@pytest.mark.parametrize("phone", ["12", "+55 11 1234", "not a phone", "+1 000 000 0000"])
async def test_an_invalid_phone_is_422(
    client: httpx.AsyncClient, tenant: TenantLogin, phone: str
) -> None:
    body = _problem(
        await client.post(
            "/api/v1/contacts", json={"name": "A", "phone": phone}, headers=tenant.headers
        ),
        422,
    )
    assert body["errors"][0]["loc"] == ["body", "phone"]


async def test_an_invalid_email_is_422(client: httpx.AsyncClient, tenant: TenantLogin) -> None:
    _problem(
        await client.post(
            "/api/v1/contacts", json={"name": "A", "email": "a@"}, headers=tenant.headers
        ),
        422,
    )


async def test_an_oversized_body_is_413(client: httpx.AsyncClient, tenant: TenantLogin) -> None:
    big = {"name": "Big", "custom_fields": {"blob": "x" * (1 << 20)}}
    _problem(await client.post("/api/v1/contacts", json=big, headers=tenant.headers), 413)


async def test_an_oversized_streamed_body_without_length_is_413(
    client: httpx.AsyncClient, tenant: TenantLogin
) -> None:
    async def chunks():  # type: ignore[no-untyped-def]
        yield b'{"name": "Big", "custom_fields": {"blob": "'
        for _ in range(20):
            yield b"x" * 65536
        yield b'"}}'

    response = await client.post(
        "/api/v1/contacts",
        content=chunks(),
        headers={**tenant.headers, "Content-Type": "application/json"},
    )
    _problem(response, 413)


async def test_a_malformed_id_is_422_and_an_unknown_one_404(
    client: httpx.AsyncClient, tenant: TenantLogin
) -> None:
    _problem(await client.get("/api/v1/contacts/not-a-uuid", headers=tenant.headers), 422)
    _problem(
        await client.get(
            "/api/v1/contacts/00000000-0000-7000-8000-000000000000", headers=tenant.headers
        ),
        404,
    )


async def test_an_unknown_route_is_a_problem_404(client: httpx.AsyncClient) -> None:
    _problem(await client.get("/api/v1/nowhere"), 404)


async def test_every_response_carries_a_request_id_and_echoes_the_clients(
    client: httpx.AsyncClient,
) -> None:
    generated = await client.get("/health/live")
    assert len(generated.headers["x-request-id"]) >= 16
    echoed = await client.get("/health/live", headers={"X-Request-ID": "abc-123"})
    assert echoed.headers["x-request-id"] == "abc-123"
    refused = await client.get("/api/v1/me")
    assert refused.headers["x-request-id"]


async def test_health_reports_the_database_and_the_other_dependencies(
    client: httpx.AsyncClient,
) -> None:
    response = await client.get("/health")
    assert response.status_code == 200
    body = response.json()
    assert body["checks"]["database"]["healthy"] is True
    # The test app runs without Temporal: that degrades the service but does not down it.
    assert body["checks"]["temporal"] == {"healthy": False, "message": "not configured"}
    assert body["checks"]["rabbitmq"]["healthy"] is True
    assert body["status"] == "degraded"
    assert (await client.get("/health/ready")).status_code == 200


async def test_the_openapi_document_describes_the_api(client: httpx.AsyncClient) -> None:
    paths = (await client.get("/openapi.json")).json()["paths"]
    assert {
        "/api/v1/auth/login",
        "/api/v1/me",
        "/api/v1/contacts",
        "/api/v1/contacts/{contact_id}",
    } <= set(paths)


async def test_tenant_settings_are_read_by_all_and_changed_by_admins(
    client: httpx.AsyncClient, tenant: TenantLogin
) -> None:
    settings = (await client.get("/api/v1/settings", headers=tenant.headers)).json()
    assert settings["session_timeout_seconds"] == 1800
    assert settings["default_region"] == "BR"
    changed = await client.patch(
        "/api/v1/settings", json={"default_region": "US"}, headers=tenant.headers
    )
    assert changed.json()["default_region"] == "US"
    national = await client.post(
        "/api/v1/contacts", json={"name": "US", "phone": "650-253-0000"}, headers=tenant.headers
    )
    assert national.json()["phone"] == "+16502530000"
    _problem(
        await client.patch(
            "/api/v1/settings", json={"session_timeout_seconds": 0}, headers=tenant.headers
        ),
        422,
    )
