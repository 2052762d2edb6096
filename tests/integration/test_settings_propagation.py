"""Tenant settings changes apply to the next request in every API process (issue 19,
item 6): a lowered rate limit set through one process is the limit of the very next request
another process serves, with no cache window in between."""

from __future__ import annotations

import asyncio
import time
import uuid

import httpx
import pytest
from sqlalchemy import text

from tests.conftest import TenantLogin
from tests.integration.processes import api_process
from ventros.api.ratelimit import TenantLimitCache
from ventros.identity.service import rate_limit_of
from ventros.kernel.events import Actor
from ventros.platform.invalidation import TENANT_SETTINGS, Invalidations, announce
from ventros.runtime.container import Container

pytestmark = pytest.mark.integration


async def _limit(http: httpx.AsyncClient, tenant: TenantLogin) -> str:
    response = await http.get("/api/v1/contacts", headers=tenant.headers)
    assert response.status_code == 200, response.text
    return response.headers["x-ratelimit-limit"]


async def test_a_lowered_rate_limit_applies_to_the_next_request_in_every_api_process(
    owner_url: str, client: httpx.AsyncClient, tenant: TenantLogin
) -> None:
    async with (
        api_process(owner_url) as other_url,
        httpx.AsyncClient(base_url=other_url, timeout=10) as other,
    ):
        # Both processes have read (and may cache) the default limit.
        for _ in range(2):
            assert await _limit(other, tenant) == "100"
            assert await _limit(client, tenant) == "100"
        changed = await client.patch(
            "/api/v1/settings", json={"rate_limit_per_minute": 40}, headers=tenant.headers
        )
        assert changed.status_code == 200, changed.text
        assert await _limit(other, tenant) == "40"
        assert await _limit(client, tenant) == "40"
        # And back, set through the other process this time.
        changed = await other.patch(
            "/api/v1/settings", json={"rate_limit_per_minute": 70}, headers=tenant.headers
        )
        assert changed.status_code == 200, changed.text
        assert await _limit(client, tenant) == "70"
        assert await _limit(other, tenant) == "70"


async def test_a_process_caches_the_limit_while_listening_and_forgets_it_on_a_change(
    container: Container, tenant: TenantLogin
) -> None:
    loads: list[uuid.UUID] = []

    async def load(tenant_id: uuid.UUID) -> int:
        loads.append(tenant_id)
        return await rate_limit_of(container.uow, tenant_id)

    cache = TenantLimitCache(
        load, invalidations=Invalidations(container.database.app_dsn(), TENANT_SETTINGS)
    )
    assert cache.invalidations is not None
    try:
        await cache.get(tenant.tenant_id)
        deadline = time.monotonic() + 10
        while not cache.invalidations.live:
            assert time.monotonic() < deadline, "the listener never connected"
            await asyncio.sleep(0.01)
        assert await cache.get(tenant.tenant_id) == 100
        before = len(loads)
        assert await cache.get(tenant.tenant_id) == 100
        assert len(loads) == before  # cached
        seen = cache.invalidations.generation
        async with container.uow(tenant.tenant_id, Actor.system()) as tx:
            await tx.connection.execute(
                text("UPDATE tenants SET settings = settings || '{\"rate_limit_per_minute\": 7}'")
            )
            notice = await announce(tx, TENANT_SETTINGS, str(tenant.tenant_id))
            await tx.commit()
        assert await cache.invalidations.delivered(notice, within=10)
        assert cache.invalidations.generation > seen
        assert await cache.get(tenant.tenant_id) == 7
    finally:
        await cache.invalidations.close()
