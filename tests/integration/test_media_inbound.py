"""Inbound media is kept by Ventros: a photo, a voice note and a PDF a customer sends through
the WAHA simulator are copied before the simulator deletes them, and served byte for byte by
`GET /api/v1/media/{id}` — on the local store and on an S3-compatible server (moto)."""

from __future__ import annotations

import asyncio
import hashlib
import os
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import text

from tests.conftest import TEST_SECRET, TenantLogin
from tests.integration.s3_kit import S3Server
from tests.integration.waha_kit import channel_on_simulator, ingest, rows, scalar
from ventros.channels.waha_client import WahaClient
from ventros.kernel.events import DomainEvent
from ventros.media.handlers import CONSUMER_NAME, MediaDeps, WhenMessageReceivedKeepMedia
from ventros.media.service import DownloadPolicy
from ventros.media.store import LocalMediaStore, MediaStore, S3MediaStore
from ventros.platform.consumers import Consumer, Outcome, process_event
from ventros.platform.crypto import SecretBox
from ventros.runtime.container import Container
from ventros.stand_ins.waha import WahaSimulator, server_for

pytestmark = pytest.mark.integration

SECRET = "whsec-mídia-Ótica"
PNG_LIKE = b"\xff\xd8\xff\xe0" + os.urandom(300_000)  # a JPEG's magic, then noise
VOICE = b"OggS" + os.urandom(40_000)
PDF = b"%PDF-1.7\n" + os.urandom(150_000) + b"\n%%EOF"
FILES = (
    ("image", PNG_LIKE, "image/jpeg", None),
    ("voice", VOICE, "audio/ogg; codecs=opus", None),
    ("document", PDF, "application/pdf", "orçamento-lentes.pdf"),
)


class Running:
    def __init__(self, sim: WahaSimulator, url: str) -> None:
        self.sim, self.url = sim, url


@pytest.fixture
async def waha(client: httpx.AsyncClient) -> AsyncIterator[Running]:
    sim = WahaSimulator(api_key="sim-key", webhook_secret=SECRET, acks=False)
    sim._http = client  # the simulator's webhooks reach the in-process API
    server = server_for(sim, port=0)
    task = asyncio.create_task(server.serve())
    await asyncio.wait_for(server.ready.wait(), 10)
    sim.base_url = f"http://127.0.0.1:{server.port}"
    try:
        yield Running(sim, sim.base_url)
    finally:
        sim._http = None
        server.should_exit = True
        await asyncio.wait_for(task, 10)


@pytest.fixture(scope="module")
def s3_server() -> Iterator[S3Server]:
    with S3Server.start() as server:
        yield server


@pytest.fixture(params=["local", "s3"])
async def store(
    request: pytest.FixtureRequest, tmp_path: Path, client: httpx.AsyncClient
) -> AsyncIterator[MediaStore]:
    """The store under test, also the one the API serves from."""
    app = client._transport.app  # type: ignore[attr-defined]
    made: MediaStore
    if request.param == "local":
        made = LocalMediaStore(tmp_path / "media")
    else:
        server: S3Server = request.getfixturevalue("s3_server")
        made = S3MediaStore(
            bucket=f"media-{uuid.uuid4().hex[:8]}",
            endpoint_url=server.url,
            region="us-east-1",
            access_key_id="testing",
            secret_access_key="testing",
        )
    previous = getattr(app.state, "media_store", None)
    app.state.media_store = made
    try:
        yield made
    finally:
        app.state.media_store = previous
        await made.aclose()


def keeper(store: MediaStore, client: WahaClient, budget: float = 5.0) -> Consumer:
    deps = MediaDeps(
        store=store,
        client=client,
        box=SecretBox.from_secret(TEST_SECRET),
        policy=DownloadPolicy(
            budget_seconds=budget, retry_base_seconds=0.05, retry_max_seconds=0.2
        ),
    )
    return Consumer(
        CONSUMER_NAME, ("message.received",), WhenMessageReceivedKeepMedia(lambda: deps)
    )


async def received_events(container: Container, tenant: TenantLogin) -> list[DomainEvent]:
    async with container.database.system.connect() as connection:
        found = await connection.execute(
            text(
                "SELECT event FROM outbox_events WHERE tenant_id = :t AND name = 'message.received'"
                " ORDER BY position"
            ),
            {"t": tenant.tenant_id},
        )
        return [DomainEvent.from_json(row.event) for row in found]


async def keep_all(container: Container, tenant: TenantLogin, consumer: Consumer) -> None:
    """The media consumer on every `message.received` of the tenant, each handled once."""
    for event in await received_events(container, tenant):
        assert await process_event(container.uow, consumer, event) is Outcome.PROCESSED


async def media_of(container: Container, tenant: TenantLogin) -> list[dict[str, Any]]:
    found = await rows(
        container, tenant, "SELECT media FROM messages WHERE media IS NOT NULL ORDER BY id"
    )
    return [row.media for row in found]


async def fetch_bytes(client: httpx.AsyncClient, url: str, tenant: TenantLogin) -> bytes:
    response = await client.get(url, headers=tenant.headers)
    if response.status_code == 307:  # S3: a short-lived presigned link
        async with httpx.AsyncClient(trust_env=False) as outside:
            direct = await outside.get(response.headers["location"])
        assert direct.status_code == 200, direct.text
        return direct.content
    assert response.status_code == 200, response.text
    return response.content


async def customer_sends_files(
    client: httpx.AsyncClient, container: Container, tenant: TenantLogin, waha: Running
) -> str:
    channel = await channel_on_simulator(client, tenant, waha.sim, secret=SECRET)
    for kind, data, mimetype, filename in FILES:
        _, status = await waha.sim.customer_media(
            "5511983217654", kind, data, mimetype, filename=filename, push_name="Rafael Lima"
        )
        assert status == 200
    assert await ingest(container, tenant) == 3
    return channel


async def test_image_voice_and_pdf_stay_viewable_after_waha_deleted_them(
    client: httpx.AsyncClient,
    container: Container,
    tenant: TenantLogin,
    waha: Running,
    store: MediaStore,
    waha_client: WahaClient,
) -> None:
    await customer_sends_files(client, container, tenant, waha)
    await keep_all(container, tenant, keeper(store, waha_client))

    waha.sim.files_lifetime_seconds = 0  # WAHA deleted its copies
    waha.sim.expire_files()
    assert waha.sim.files == {}

    kept = await media_of(container, tenant)
    assert [m["status"] for m in kept] == ["stored"] * 3
    assert not any("/api/files/" in str(m["url"]) for m in kept)
    for media, (_kind, data, _mimetype, filename) in zip(kept, FILES, strict=True):
        assert media["url"] == f"/api/v1/media/{media['media_id']}"
        assert media["size_bytes"] == len(data)
        body = await fetch_bytes(client, "http://ventros.test" + media["url"], tenant)
        assert hashlib.sha256(body).hexdigest() == hashlib.sha256(data).hexdigest()
        if filename:
            assert media["filename"] == filename
    voice = kept[1]
    assert voice["voice"] is True  # what WAHA said stays beside the new link
    assert voice["mimetype"] == "audio/ogg"

    message_id = await scalar(container, tenant, "SELECT id FROM messages LIMIT 1")
    read = await client.get(f"/api/v1/messages/{message_id}", headers=tenant.headers)
    assert read.json()["media"]["status"] == "stored"


async def test_the_same_file_twice_is_stored_once_per_tenant(
    client: httpx.AsyncClient,
    container: Container,
    tenant: TenantLogin,
    waha: Running,
    store: MediaStore,
    waha_client: WahaClient,
) -> None:
    await channel_on_simulator(client, tenant, waha.sim, secret=SECRET)
    for _ in range(2):
        await waha.sim.customer_media("5511983217654", "document", PDF, "application/pdf")
    await ingest(container, tenant)
    await keep_all(container, tenant, keeper(store, waha_client))
    kept = await media_of(container, tenant)
    assert len(kept) == 2
    assert kept[0]["media_id"] == kept[1]["media_id"]
    assert await scalar(container, tenant, "SELECT count(*) FROM media_files") == 1


async def test_a_file_gone_from_waha_is_marked_unavailable_with_the_reason(
    client: httpx.AsyncClient,
    container: Container,
    tenant: TenantLogin,
    waha: Running,
    store: MediaStore,
    waha_client: WahaClient,
) -> None:
    await customer_sends_files(client, container, tenant, waha)
    waha.sim.files.clear()  # expired before Ventros came for it
    await keep_all(container, tenant, keeper(store, waha_client))
    kept = await media_of(container, tenant)
    assert [m["status"] for m in kept] == ["unavailable"] * 3
    assert all(m["url"] is None for m in kept)
    assert all("404" in m["reason"] for m in kept)


async def test_a_flaky_waha_is_retried_within_the_files_lifetime(
    client: httpx.AsyncClient,
    container: Container,
    tenant: TenantLogin,
    waha: Running,
    store: MediaStore,
    waha_client: WahaClient,
) -> None:
    await customer_sends_files(client, container, tenant, waha)
    waha.sim.file_failures = 2  # two 503s before the file comes
    await keep_all(container, tenant, keeper(store, waha_client))
    assert waha.sim.file_failures == 0
    assert [m["status"] for m in await media_of(container, tenant)] == ["stored"] * 3


async def test_another_tenants_media_is_not_found(
    client: httpx.AsyncClient,
    container: Container,
    tenant: TenantLogin,
    other_tenant: TenantLogin,
    waha: Running,
    store: MediaStore,
    waha_client: WahaClient,
) -> None:
    await customer_sends_files(client, container, tenant, waha)
    await keep_all(container, tenant, keeper(store, waha_client))
    media = (await media_of(container, tenant))[0]
    assert media["status"] == "stored"
    theirs = await client.get(media["url"], headers=other_tenant.headers)
    assert theirs.status_code == 404
    assert theirs.headers["content-type"].startswith("application/problem+json")
    anonymous = await client.get(media["url"])
    assert anonymous.status_code == 401, anonymous.text
