"""Pairing a phone through the WAHA simulator: status, QR code (PNG) while SCAN_QR_CODE, then
WORKING — each change seen as `channel.status_changed` on the SSE stream; restart, logout."""

from __future__ import annotations

import asyncio
import json

import httpx
import pytest

from tests.conftest import TenantLogin
from tests.integration.test_event_streams import read_events, serving
from tests.integration.test_waha_simulator_sending import SECRET, Running, waha
from tests.integration.waha_kit import channel_on_simulator, create_channel, ingest
from ventros.runtime.container import Container

pytestmark = pytest.mark.integration
__all__ = ["waha"]  # the simulator fixture, shared

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


async def channel_on(client: httpx.AsyncClient, tenant: TenantLogin, waha: Running) -> str:
    return await channel_on_simulator(client, tenant, waha.sim, secret=SECRET)


async def status_of(client: httpx.AsyncClient, tenant: TenantLogin, channel: str) -> dict:  # type: ignore[type-arg]
    response = await client.get(f"/api/v1/channels/{channel}/status", headers=tenant.headers)
    assert response.status_code == 200, response.text
    return dict(response.json())


async def test_pairing_shows_a_qr_code_then_working_each_on_the_event_stream(
    client: httpx.AsyncClient, container: Container, tenant: TenantLogin, waha: Running
) -> None:
    channel = await channel_on(client, tenant, waha)
    async with (
        serving(container) as base,
        httpx.AsyncClient(base_url=base, timeout=15) as http,
        http.stream("GET", "/api/v1/events/stream", headers=tenant.headers) as stream,
    ):
        pairing = asyncio.create_task(waha.sim.play_pairing(rotations=3, rotate_seconds=0.3))
        while waha.sim.status_of("default") != "SCAN_QR_CODE":  # noqa: ASYNC110
            await asyncio.sleep(0.02)
        await ingest(container, tenant)  # the session.status webhooks WAHA posted so far
        seen = await status_of(client, tenant, channel)
        assert seen["status"] == "SCAN_QR_CODE"
        assert seen["working"] is False
        assert seen["me"] is None
        qr = await client.get(f"/api/v1/channels/{channel}/qr", headers=tenant.headers)
        assert qr.status_code == 200
        assert qr.headers["content-type"] == "image/png"
        assert qr.content.startswith(PNG_MAGIC)
        await pairing
        await ingest(container, tenant)
        events = await read_events(stream, 3)
    changes = [json.loads(e["data"]) for e in events]
    assert [e["name"] for e in changes] == ["channel.status_changed"] * 3
    assert [e["data"]["status"] for e in changes] == ["starting", "scan_qr_code", "working"]
    assert waha.sim.qr_rotations == 3

    working = await status_of(client, tenant, channel)
    assert working == {
        "channel_id": channel,
        "status": "WORKING",
        "working": True,
        "me": {"id": "5511940028922@c.us", "push_name": "Ventros Demo"},
    }
    no_qr = await client.get(f"/api/v1/channels/{channel}/qr", headers=tenant.headers)
    assert no_qr.status_code == 409
    read = await client.get(f"/api/v1/channels/{channel}", headers=tenant.headers)
    assert read.json()["status"] == "working"


async def test_unknown_statuses_count_as_not_working(
    client: httpx.AsyncClient, container: Container, tenant: TenantLogin, waha: Running
) -> None:
    channel = await channel_on(client, tenant, waha)
    waha.sim.statuses["default"] = "PASSKEY_REQUIRED"
    seen = await status_of(client, tenant, channel)
    assert (seen["status"], seen["working"]) == ("PASSKEY_REQUIRED", False)
    waha.sim.statuses["default"] = "SOMETHING_NEW"
    assert (await status_of(client, tenant, channel))["working"] is False


async def test_restart_and_logout_reach_waha(
    client: httpx.AsyncClient, container: Container, tenant: TenantLogin, waha: Running
) -> None:
    channel = await channel_on(client, tenant, waha)
    restart = await client.post(f"/api/v1/channels/{channel}/restart", headers=tenant.headers)
    assert restart.status_code == 202
    assert waha.sim.restarts == 1
    logout = await client.post(f"/api/v1/channels/{channel}/logout", headers=tenant.headers)
    assert logout.status_code == 202
    assert waha.sim.logouts == 1


async def test_waha_down_is_a_502_and_other_tenants_channels_are_not_found(
    client: httpx.AsyncClient,
    container: Container,
    tenant: TenantLogin,
    other_tenant: TenantLogin,
    waha: Running,
) -> None:
    channel = await channel_on(client, tenant, waha)
    theirs = await client.get(f"/api/v1/channels/{channel}/status", headers=other_tenant.headers)
    assert theirs.status_code == 404
    gone = await create_channel(
        client, tenant, base_url="http://127.0.0.1:9", api_key="k", webhook_secret=SECRET
    )
    down = await client.get(f"/api/v1/channels/{gone['id']}/status", headers=tenant.headers)
    assert down.status_code == 502
    assert down.headers["content-type"].startswith("application/problem+json")
