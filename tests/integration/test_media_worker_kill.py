"""A worker process SIGKILLed in the middle of a media download, then run again: the file is
stored once, and no message is left pointing at WAHA."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest

from tests.conftest import TenantLogin
from tests.integration.test_media_inbound import PDF, SECRET, media_of
from tests.integration.waha_kit import channel_on_simulator, ingest, scalar
from ventros.runtime.container import Container
from ventros.stand_ins.waha import WahaSimulator, server_for

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]

# The media consumer in its own process, on every message.received of one tenant.
WORKER = """
import asyncio, sys
from pathlib import Path
from sqlalchemy import text
from tests.conftest import TEST_SECRET, make_settings
from tests.integration.test_media_inbound import keeper
from ventros.runtime.container import bootstrap
from ventros.channels.waha_client import WahaClient
from ventros.kernel.events import DomainEvent
from ventros.media.store import LocalMediaStore
from ventros.platform.consumers import process_event

async def main() -> None:
    owner_url, tenant, root = sys.argv[1:4]
    container = bootstrap(make_settings(), database_url=owner_url)
    client = WahaClient.create(timeout_seconds=10)
    consumer = keeper(LocalMediaStore(Path(root)), client, budget=30.0)
    async with container.database.system.connect() as connection:
        found = await connection.execute(
            text("SELECT event FROM outbox_events WHERE tenant_id = :t"
                 " AND name = 'message.received' ORDER BY position"), {"t": tenant})
        events = [DomainEvent.from_json(row.event) for row in found]
    try:
        for event in events:
            await process_event(container.uow, consumer, event)
    finally:
        await client.aclose()
        await container.aclose()

asyncio.run(main())
"""


def start_worker(owner_url: str, tenant: TenantLogin, root: Path) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [sys.executable, "-c", WORKER, owner_url, str(tenant.tenant_id), str(root)],
        cwd=ROOT,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )


@pytest.fixture
async def slow_waha(client: httpx.AsyncClient) -> AsyncIterator[WahaSimulator]:
    sim = WahaSimulator(api_key="sim-key", webhook_secret=SECRET, acks=False)
    sim._http = client
    server = server_for(sim, port=0)
    task = asyncio.create_task(server.serve())
    await asyncio.wait_for(server.ready.wait(), 10)
    sim.base_url = f"http://127.0.0.1:{server.port}"
    try:
        yield sim
    finally:
        sim._http = None
        server.should_exit = True
        await asyncio.wait_for(task, 10)


def stored_objects(root: Path) -> list[Path]:
    return [p for p in root.rglob("*") if p.is_file() and not p.name.startswith(".")]


async def test_a_worker_killed_mid_download_stores_the_file_once_after_a_restart(
    client: httpx.AsyncClient,
    container: Container,
    tenant: TenantLogin,
    owner_url: str,
    slow_waha: WahaSimulator,
    tmp_path: Path,
) -> None:
    await channel_on_simulator(client, tenant, slow_waha, secret=SECRET)
    await slow_waha.customer_media("5511983217654", "document", PDF, "application/pdf")
    await ingest(container, tenant)
    root = tmp_path / "media"

    slow_waha.file_chunk_delay_seconds = 1.0  # about 3 s for the file: time to kill it
    first = start_worker(owner_url, tenant, root)
    deadline = time.monotonic() + 30
    while slow_waha.file_downloads == 0 and time.monotonic() < deadline:
        assert first.poll() is None, first.stderr.read() if first.stderr else ""
        await asyncio.sleep(0.05)
    assert slow_waha.file_downloads == 1
    first.send_signal(signal.SIGKILL)
    first.wait(10)
    assert await scalar(container, tenant, "SELECT count(*) FROM media_files") == 0
    assert stored_objects(root) == []

    slow_waha.file_chunk_delay_seconds = 0.0
    second = start_worker(owner_url, tenant, root)
    _, errors = await asyncio.to_thread(second.communicate, None, 60)
    assert second.returncode == 0, errors.decode()

    assert await scalar(container, tenant, "SELECT count(*) FROM media_files") == 1
    assert len(stored_objects(root)) == 1
    assert stored_objects(root)[0].read_bytes() == PDF
    [media] = await media_of(container, tenant)
    assert media["status"] == "stored"
    assert media["url"] == f"/api/v1/media/{media['media_id']}"
    pointing_at_waha = await scalar(
        container, tenant, "SELECT count(*) FROM messages WHERE media->>'url' LIKE '%/api/files/%'"
    )
    assert pointing_at_waha == 0
