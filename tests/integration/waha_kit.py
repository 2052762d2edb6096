"""Helpers for tests that play WAHA: the fixture envelopes, compact as WAHA sends them, signed
with the channel's webhook secret (hex HMAC-SHA512 of the raw body)."""

from __future__ import annotations

import copy
import json
import uuid
from functools import cache
from pathlib import Path
from typing import Any

import httpx
from sqlalchemy import text

from tests.conftest import TenantLogin
from ventros.channels.waha import sign
from ventros.conversations.worker import ingest_pending
from ventros.kernel.events import Actor
from ventros.runtime.container import Container
from ventros.stand_ins.waha import WahaSimulator

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "waha"
SECRET = "whsec-Ótica-visão-clara"  # non-ASCII on purpose: the key is UTF-8
MESSAGE_FIXTURES = (
    "message.text.json",
    "message.image.json",
    "message.audio.json",
    "message.video.json",
    "message.document.json",
    "message.location.json",
    "message.vcard.json",
    "message.sticker.json",
    "message.from_me.json",
    "message.ctwa_ad_referral.json",
)


@cache
def _load(name: str) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((FIXTURES / name).read_text())
    return data


def fixture(name: str) -> dict[str, Any]:
    """A fresh copy of a fixture envelope (tests may change it)."""
    return copy.deepcopy(_load(name))


def compact(envelope: dict[str, Any]) -> bytes:
    """What WAHA posts: `JSON.stringify` output, compact, UTF-8, no \\u escapes."""
    return json.dumps(envelope, ensure_ascii=False, separators=(",", ":")).encode()


async def create_channel(
    client: httpx.AsyncClient, login: TenantLogin, **overrides: Any
) -> dict[str, Any]:
    body = {
        "name": "Loja Pinheiros",
        "type": "waha",
        "base_url": "http://localhost:3000",
        "api_key": "waha-api-key-123",
        "waha_session": "default",
        "webhook_secret": SECRET,
        **overrides,
    }
    response = await client.post("/api/v1/channels", json=body, headers=login.headers)
    assert response.status_code == 201, response.text
    created: dict[str, Any] = response.json()
    return created


async def post_webhook(
    client: httpx.AsyncClient,
    channel_id: str,
    envelope: dict[str, Any] | bytes,
    *,
    secret: str = SECRET,
    headers: dict[str, str] | None = None,
) -> httpx.Response:
    body = envelope if isinstance(envelope, bytes) else compact(envelope)
    signed = {
        "Content-Type": "application/json",
        "X-Webhook-Hmac": sign(secret, body),
        "X-Webhook-Hmac-Algorithm": "sha512",
        "X-Webhook-Request-Id": uuid.uuid4().hex,
        **(headers or {}),
    }
    return await client.post(
        f"/webhooks/waha/{channel_id}",
        content=body,
        headers={k: v for k, v in signed.items() if v},
    )


async def deliver(
    client: httpx.AsyncClient, channel_id: str, *names_or_envelopes: str | dict[str, Any]
) -> None:
    """Posts fixtures (by file name) or envelopes, each answered 200."""
    for item in names_or_envelopes:
        envelope = fixture(item) if isinstance(item, str) else item
        response = await post_webhook(client, channel_id, envelope)
        assert response.status_code == 200, response.text


async def ingest(container: Container, login: TenantLogin) -> int:
    return await ingest_pending(container, tenant_id=login.tenant_id)


async def scalar(container: Container, login: TenantLogin, sql: str, **params: Any) -> Any:
    """One value read as the tenant (RLS applies)."""
    async with container.uow(login.tenant_id, Actor.system()) as tx:
        return (await tx.connection.execute(text(sql), params)).scalar()


async def rows(container: Container, login: TenantLogin, sql: str, **params: Any) -> list[Any]:
    async with container.uow(login.tenant_id, Actor.system()) as tx:
        return list(await tx.connection.execute(text(sql), params))


async def channel_on_simulator(
    client: httpx.AsyncClient, login: TenantLogin, sim: WahaSimulator, *, secret: str
) -> str:
    """A channel on a running WAHA simulator (`sim.base_url`), whose webhooks reach the
    in-process API; the channel's id."""
    channel = await create_channel(
        client, login, base_url=sim.base_url, api_key=sim.api_key, webhook_secret=secret
    )
    sim.webhook_url = f"http://ventros.test/webhooks/waha/{channel['id']}"
    return str(channel["id"])
