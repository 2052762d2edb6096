"""Login, tokens and the problem+json answers to bad credentials."""

import base64
import json
import uuid
from datetime import timedelta

import httpx
import jwt
import pytest

from tests.conftest import TEST_PASSWORD, TEST_SECRET, TenantLogin, login
from ventros.kernel.clock import utcnow

pytestmark = pytest.mark.integration


def _assert_problem(response: httpx.Response, status: int) -> dict:  # type: ignore[type-arg]
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    body = response.json()
    assert body["status"] == status
    assert {"type", "title", "detail"} <= set(body)
    return body  # type: ignore[no-any-return]


async def test_login_gives_a_bearer_token_that_identifies_the_user(
    client: httpx.AsyncClient, tenant: TenantLogin
) -> None:
    response = await client.post(
        "/api/v1/auth/login", json={"email": tenant.email.upper(), "password": TEST_PASSWORD}
    )
    assert response.status_code == 200
    body = response.json()
    assert body["token_type"] == "bearer"
    assert body["expires_in"] == 86_400
    claims = jwt.decode(body["access_token"], TEST_SECRET, algorithms=["HS256"])
    assert {"sub", "tid", "role", "exp", "iat", "jti"} <= set(claims)

    me = await client.get("/api/v1/me", headers={"Authorization": f"Bearer {body['access_token']}"})
    assert me.status_code == 200
    assert me.json() == {
        "id": str(tenant.admin_id),
        "tenant_id": str(tenant.tenant_id),
        "email": tenant.email,
        "name": "Administrator",
        "role": "admin",
    }


async def test_wrong_password_and_unknown_email_get_the_same_answer(
    client: httpx.AsyncClient, tenant: TenantLogin
) -> None:
    wrong = await client.post(
        "/api/v1/auth/login", json={"email": tenant.email, "password": "nope-Nope-1"}
    )
    unknown = await client.post(
        "/api/v1/auth/login", json={"email": "nobody@example.com", "password": "nope-Nope-1"}
    )
    assert _assert_problem(wrong, 401)["detail"] == _assert_problem(unknown, 401)["detail"]


async def test_the_api_needs_a_token(client: httpx.AsyncClient) -> None:
    _assert_problem(await client.get("/api/v1/me"), 401)
    _assert_problem(
        await client.get("/api/v1/contacts", headers={"Authorization": "Basic abc"}), 401
    )


def _forge(claims: dict, key: str = TEST_SECRET, alg: str = "HS256") -> str:  # type: ignore[type-arg]
    return jwt.encode(claims, key, algorithm=alg)


def _claims(tenant: TenantLogin, **overrides: object) -> dict:  # type: ignore[type-arg]
    now = utcnow()
    claims = {
        "sub": str(tenant.admin_id),
        "tid": str(tenant.tenant_id),
        "role": "admin",
        "iat": now,
        "exp": now + timedelta(hours=1),
        "jti": str(uuid.uuid4()),
    }
    claims.update(overrides)
    return claims


async def test_an_expired_token_is_401(client: httpx.AsyncClient, tenant: TenantLogin) -> None:
    token = _forge(_claims(tenant, exp=utcnow() - timedelta(seconds=5)))
    body = _assert_problem(
        await client.get("/api/v1/me", headers={"Authorization": f"Bearer {token}"}), 401
    )
    assert "expired" in body["detail"]


async def test_a_tampered_token_is_401(client: httpx.AsyncClient, tenant: TenantLogin) -> None:
    header, payload, signature = tenant.token.split(".")
    claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    claims["role"] = "admin" if claims["role"] != "admin" else "viewer"
    forged_payload = base64.urlsafe_b64encode(json.dumps(claims).encode()).decode().rstrip("=")
    token = f"{header}.{forged_payload}.{signature}"
    _assert_problem(
        await client.get("/api/v1/me", headers={"Authorization": f"Bearer {token}"}), 401
    )


async def test_a_token_signed_with_another_key_is_401(
    client: httpx.AsyncClient, tenant: TenantLogin
) -> None:
    token = _forge(_claims(tenant), key="another-key-of-sufficient-length-000000")
    _assert_problem(
        await client.get("/api/v1/me", headers={"Authorization": f"Bearer {token}"}), 401
    )


async def test_an_alg_none_token_is_401(client: httpx.AsyncClient, tenant: TenantLogin) -> None:
    header = base64.urlsafe_b64encode(b'{"alg":"none","typ":"JWT"}').decode().rstrip("=")
    claims = _claims(tenant)
    claims["iat"] = int(claims["iat"].timestamp())
    claims["exp"] = int(claims["exp"].timestamp())
    payload = base64.urlsafe_b64encode(json.dumps(claims).encode()).decode().rstrip("=")
    token = f"{header}.{payload}."
    _assert_problem(
        await client.get("/api/v1/me", headers={"Authorization": f"Bearer {token}"}), 401
    )


async def test_a_token_missing_a_required_claim_is_401(
    client: httpx.AsyncClient, tenant: TenantLogin
) -> None:
    claims = _claims(tenant)
    del claims["jti"]
    _assert_problem(
        await client.get("/api/v1/me", headers={"Authorization": f"Bearer {_forge(claims)}"}), 401
    )


async def test_a_garbage_token_is_401(client: httpx.AsyncClient) -> None:
    _assert_problem(
        await client.get("/api/v1/me", headers={"Authorization": "Bearer not.a.jwt"}), 401
    )


async def test_an_admin_creates_users_and_they_log_in_with_their_role(
    client: httpx.AsyncClient, tenant: TenantLogin
) -> None:
    email = f"viewer-{uuid.uuid4().hex[:8]}@example.com"
    created = await client.post(
        "/api/v1/agents",
        json={"email": email, "name": "Vera", "password": TEST_PASSWORD, "role": "viewer"},
        headers=tenant.headers,
    )
    assert created.status_code == 201, created.text
    assert "password" not in created.text
    token = await login(client, email)
    me = await client.get("/api/v1/me", headers={"Authorization": f"Bearer {token}"})
    assert me.json()["role"] == "viewer"


async def test_emails_are_unique_across_tenants(
    client: httpx.AsyncClient, tenant: TenantLogin, other_tenant: TenantLogin
) -> None:
    response = await client.post(
        "/api/v1/agents",
        json={"email": tenant.email, "name": "Copy", "password": TEST_PASSWORD, "role": "agent"},
        headers=other_tenant.headers,
    )
    body = _assert_problem(response, 409)
    assert "existing_id" not in body  # the holder is in another tenant


async def test_a_weak_password_is_422(client: httpx.AsyncClient, tenant: TenantLogin) -> None:
    response = await client.post(
        "/api/v1/agents",
        json={"email": "weak@example.com", "name": "Weak", "password": "1234", "role": "agent"},
        headers=tenant.headers,
    )
    _assert_problem(response, 422)
