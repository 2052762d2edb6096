"""Uploads (`POST /api/v1/media`) and sending them by `media_id`: WhatsApp's types and 16 MiB
only, tenant-scoped, and WAHA gets the file as base64 or as a signed, expiring link."""

from __future__ import annotations

import base64
import os
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx
import pytest

from tests.conftest import TenantLogin
from tests.integration.test_sending_outbound import sending_event
from tests.integration.test_waha_simulator_sending import Running, customer_writes, waha
from ventros.channels.sender import Sender, SenderPolicy
from ventros.channels.waha_client import WahaClient
from ventros.conversations.handlers.sending import CONSUMER_NAME, WhenMessageSendingSendThroughWaha
from ventros.media.service import MediaLinks
from ventros.media.store import LocalMediaStore, MediaStore
from ventros.platform.consumers import Consumer, Outcome, process_event
from ventros.platform.crypto import SecretBox
from ventros.platform.ratelimit import RateLimits
from ventros.runtime.container import Container

pytestmark = pytest.mark.integration
__all__ = ["waha"]  # the simulator fixture, shared

PDF = b"%PDF-1.7\n" + os.urandom(50_000) + b"\n%%EOF"
POLICY = SenderPolicy(deadline_seconds=5.0, attempts=2, retry_base_seconds=0.01)


@pytest.fixture
async def store(tmp_path: Path, client: httpx.AsyncClient) -> AsyncIterator[MediaStore]:
    app = client._transport.app  # type: ignore[attr-defined]
    previous = getattr(app.state, "media_store", None)
    app.state.media_store = made = LocalMediaStore(tmp_path / "media")
    try:
        yield made
    finally:
        app.state.media_store = previous


async def upload(
    client: httpx.AsyncClient,
    tenant: TenantLogin,
    data: bytes,
    filename: str,
    mimetype: str,
) -> httpx.Response:
    return await client.post(
        "/api/v1/media", files={"file": (filename, data, mimetype)}, headers=tenant.headers
    )


async def test_an_upload_answers_its_id_and_link_and_the_same_content_is_one_file(
    client: httpx.AsyncClient, tenant: TenantLogin, other_tenant: TenantLogin, store: MediaStore
) -> None:
    first = await upload(client, tenant, PDF, "orçamento.pdf", "application/pdf")
    assert first.status_code == 201, first.text
    body = first.json()
    assert body["mimetype"] == "application/pdf"
    assert body["filename"] == "orçamento.pdf"
    assert body["size_bytes"] == len(PDF)
    assert body["url"] == f"/api/v1/media/{body['id']}"
    again = await upload(client, tenant, PDF, "copy.pdf", "application/octet-stream")
    assert again.json()["id"] == body["id"]

    read = await client.get(body["url"], headers=tenant.headers)
    assert read.status_code == 200
    assert read.content == PDF
    assert read.headers["content-type"] == "application/pdf"

    theirs = await client.get(body["url"], headers=other_tenant.headers)
    assert theirs.status_code == 404


async def test_20_mib_is_too_large_and_an_exe_is_refused(
    client: httpx.AsyncClient, tenant: TenantLogin, store: MediaStore
) -> None:
    big = await upload(client, tenant, b"\xff\xd8\xff" + bytes(20 << 20), "big.jpg", "image/jpeg")
    assert big.status_code == 413
    assert big.headers["content-type"].startswith("application/problem+json")

    exe = await upload(client, tenant, b"MZ\x90\x00" + bytes(1000), "setup.exe", "image/jpeg")
    assert exe.status_code == 422
    assert exe.headers["content-type"].startswith("application/problem+json")
    disguised = await upload(client, tenant, b"MZ\x90\x00" + bytes(1000), "nota.pdf", "")
    assert disguised.status_code == 422
    html = await upload(client, tenant, b"<html></html>", "page.html", "text/html")
    assert html.status_code == 422


def consumer_for(
    container: Container, client: WahaClient, store: MediaStore, public: str | None
) -> Consumer:
    sender = Sender(client, RateLimits(), POLICY)
    secret = container.settings.resolved_secret_key()
    box = SecretBox.from_secret(secret)
    links = MediaLinks(store=store, secret=secret, public_base_url=public)
    handler = WhenMessageSendingSendThroughWaha(lambda: (sender, box), media_links=lambda: links)
    return Consumer(CONSUMER_NAME, ("message.sending",), handler)


async def send_upload(
    client: httpx.AsyncClient, tenant: TenantLogin, contact_id: str, media_id: str
) -> httpx.Response:
    return await client.post(
        "/api/v1/messages/send",
        json={
            "contact_id": contact_id,
            "type": "document",
            "media_id": media_id,
            "caption": "Segue o orçamento",
        },
        headers=tenant.headers,
    )


async def last_send(waha: Running) -> dict[str, Any]:
    return waha.sim.sends[-1].body


@pytest.mark.parametrize("public", [None, "http://ventros.test"])
async def test_an_upload_is_sent_by_id_as_base64_or_a_signed_link(
    client: httpx.AsyncClient,
    container: Container,
    tenant: TenantLogin,
    waha: Running,
    waha_client: WahaClient,
    store: MediaStore,
    public: str | None,
) -> None:
    _, contact_id = await customer_writes(client, container, tenant, waha)
    uploaded = (await upload(client, tenant, PDF, "orçamento.pdf", "application/pdf")).json()
    accepted = await send_upload(client, tenant, contact_id, uploaded["id"])
    assert accepted.status_code == 202, accepted.text
    event = await sending_event(container, tenant, accepted.json()["id"])
    consumer = consumer_for(container, waha_client, store, public)
    assert await process_event(container.uow, consumer, event) is Outcome.PROCESSED

    sent = await last_send(waha)
    assert sent["caption"] == "Segue o orçamento"
    file = sent["file"]
    assert file["mimetype"] == "application/pdf"
    assert file["filename"] == "orçamento.pdf"
    if public is None:
        assert base64.b64decode(file["data"]) == PDF
    else:
        link = urlsplit(file["url"])
        fetched = await client.get(f"{link.path}?{link.query}")  # no login: the link is enough
        assert fetched.status_code == 200
        assert fetched.content == PDF
        forged = await client.get(f"{link.path}?{link.query}".replace("signature=", "signature=0"))
        assert forged.status_code == 403
    message = await client.get(f"/api/v1/messages/{accepted.json()['id']}", headers=tenant.headers)
    assert message.json()["status"] == "sent"
    assert message.json()["media"]["media_id"] == uploaded["id"]


async def test_another_tenants_media_id_cannot_be_sent(
    client: httpx.AsyncClient,
    container: Container,
    tenant: TenantLogin,
    other_tenant: TenantLogin,
    waha: Running,
    store: MediaStore,
) -> None:
    _, contact_id = await customer_writes(client, container, tenant, waha)
    theirs = (await upload(client, other_tenant, PDF, "x.pdf", "application/pdf")).json()
    refused = await send_upload(client, tenant, contact_id, theirs["id"])
    assert refused.status_code == 404
    unknown = await send_upload(client, tenant, contact_id, str(uuid.uuid4()))
    assert unknown.status_code == 404
