"""Per-tenant request limits and login throttling."""

import uuid

import httpx
import pytest

from tests.conftest import TEST_PASSWORD, TenantLogin
from ventros.identity.domain import Principal, Role
from ventros.identity.service import update_settings
from ventros.kernel.ids import TenantId, UserId
from ventros.platform.ratelimit import RateLimits
from ventros.runtime.container import Container

pytestmark = pytest.mark.integration


async def test_a_tenant_over_its_limit_gets_429_with_retry_after(
    container: Container, client: httpx.AsyncClient, tenant: TenantLogin, other_tenant: TenantLogin
) -> None:
    admin = Principal(UserId(tenant.admin_id), TenantId(tenant.tenant_id), Role.ADMIN, tenant.email)
    await update_settings(container.uow, admin, {"rate_limit_per_minute": 3})

    answers = [await client.get("/api/v1/contacts", headers=tenant.headers) for _ in range(4)]
    assert [r.status_code for r in answers] == [200, 200, 200, 429]
    assert [r.headers["x-ratelimit-remaining"] for r in answers[:3]] == ["2", "1", "0"]
    assert all(r.headers["x-ratelimit-limit"] == "3" for r in answers)
    refused = answers[-1]
    assert refused.headers["content-type"].startswith("application/problem+json")
    assert 1 <= int(refused.headers["retry-after"]) <= 60

    # Another tenant is not affected.
    other = await client.get("/api/v1/contacts", headers=other_tenant.headers)
    assert other.status_code == 200
    assert other.headers["x-ratelimit-limit"] == "100"


async def test_health_and_webhook_paths_are_not_limited(client: httpx.AsyncClient) -> None:
    response = await client.get("/health/live")
    assert "x-ratelimit-limit" not in response.headers


async def test_ten_failed_logins_lock_the_email_even_for_the_right_password(
    client: httpx.AsyncClient, tenant: TenantLogin
) -> None:
    for _ in range(10):
        wrong = await client.post(
            "/api/v1/auth/login", json={"email": tenant.email, "password": "Wrong-pass-1"}
        )
        assert wrong.status_code == 401
    locked = await client.post(
        "/api/v1/auth/login", json={"email": tenant.email, "password": TEST_PASSWORD}
    )
    assert locked.status_code == 429
    assert int(locked.headers["retry-after"]) > 0
    assert locked.headers["content-type"].startswith("application/problem+json")


@pytest.mark.parametrize("backend", ["memory", "redis"])
async def test_the_limiter_counts_per_key_on_each_backend(backend: str) -> None:
    import os

    redis_url = os.environ.get("VENTROS_TEST_REDIS_URL")
    if backend == "redis":
        if not redis_url:
            if os.environ.get("VENTROS_REQUIRE_SERVICES") == "1":
                pytest.fail("VENTROS_TEST_REDIS_URL is required when VENTROS_REQUIRE_SERVICES=1")
            pytest.skip("no Redis: set VENTROS_TEST_REDIS_URL to run this test")
    limits = RateLimits(redis_url if backend == "redis" else None)
    key = uuid.uuid4().hex
    verdicts = [await limits.hit_per_minute(2, "test", key) for _ in range(3)]
    assert [v.allowed for v in verdicts] == [True, True, False]
    assert (await limits.hit_per_minute(2, "test", key + "-other")).allowed
