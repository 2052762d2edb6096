"""A real ingest worker process, SIGKILLed mid-stream while ~2,000 signed webhooks arrive,
then restarted: every message is stored exactly once and raises exactly one
`message.received` (the effects and the "processed" mark commit together)."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.conftest import TenantLogin
from tests.integration.waha_kit import create_channel, fixture, post_webhook, scalar
from ventros.runtime.container import Container

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]
MESSAGES = 2000
CONTACTS = 40
CONCURRENCY = 16
REDELIVER_EVERY = 7  # every 7th message is posted twice more: as `message` and `message.any`

# The worker process: `run_ingest` (what `ventros worker` runs) against the test database.
WORKER = """
import asyncio, signal, sys
from tests.conftest import make_settings
from ventros.runtime.container import bootstrap
from ventros.conversations.worker import run_ingest

async def main() -> None:
    container = bootstrap(make_settings(), database_url=sys.argv[1])
    stop = asyncio.Event()
    asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, stop.set)
    try:
        await run_ingest(container, stop)
    finally:
        await container.aclose()

asyncio.run(main())
"""


def _start_worker(owner_url: str) -> subprocess.Popen[bytes]:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    return subprocess.Popen(
        [sys.executable, "-c", WORKER, owner_url],
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )


def _envelope(n: int) -> dict[str, Any]:
    envelope = fixture("message.text.json")
    phone = f"55119{87650000 + n % CONTACTS:08d}"
    key = f"{n:032X}"
    envelope["id"] = f"evt_kill_{n:06d}"
    payload = envelope["payload"]
    payload["id"] = f"false_{phone}@c.us_{key}"
    payload["from"] = f"{phone}@c.us"
    payload["body"] = f"mensagem {n}"
    payload["timestamp"] = 1784641200 + n
    payload.pop("_data", None)
    return envelope


async def _count(container: Container, login: TenantLogin, sql: str) -> int:
    return int(await scalar(container, login, sql))


async def test_a_killed_and_restarted_worker_loses_and_duplicates_nothing(
    container: Container, client: httpx.AsyncClient, tenant: TenantLogin, owner_url: str
) -> None:
    channel = await create_channel(client, tenant)
    deliveries: list[dict[str, Any]] = []
    for n in range(MESSAGES):
        envelope = _envelope(n)
        deliveries.append(envelope)
        if n % REDELIVER_EVERY == 0:
            again = _envelope(n)
            again["id"] = f"evt_kill_any_{n:06d}"
            again["event"] = "message.any"
            deliveries += [_envelope(n), again]
    gate = asyncio.Semaphore(CONCURRENCY)

    async def post(envelope: dict[str, Any]) -> None:
        async with gate:
            response = await post_webhook(client, channel["id"], envelope)
            assert response.status_code == 200, response.text

    messages = "SELECT count(*) FROM messages"
    worker = _start_worker(owner_url)
    restarted: subprocess.Popen[bytes] | None = None
    try:
        posting = asyncio.gather(*(post(e) for e in deliveries))
        # Kill the worker mid-stream: once it has stored some, with more still arriving.
        deadline = time.monotonic() + 60
        while await _count(container, tenant, messages) < 300:
            assert worker.poll() is None, worker.stderr.read() if worker.stderr else ""
            assert time.monotonic() < deadline, "the worker stored nothing"
            await asyncio.sleep(0.01)
        worker.send_signal(signal.SIGKILL)
        worker.wait(10)
        killed_at = await _count(container, tenant, messages)
        assert not posting.done() or killed_at < MESSAGES, "killed too late to prove anything"
        await posting
        restarted = _start_worker(owner_url)
        pending = "SELECT count(*) FROM inbound_events WHERE processed_at IS NULL"
        deadline = time.monotonic() + 90
        while await _count(container, tenant, pending):
            assert restarted.poll() is None, restarted.stderr.read() if restarted.stderr else ""
            assert time.monotonic() < deadline, "the restarted worker did not drain"
            await asyncio.sleep(0.1)
    finally:
        for process in (worker, restarted):
            if process is not None and process.poll() is None:
                process.send_signal(signal.SIGTERM)
                try:
                    process.wait(15)
                except subprocess.TimeoutExpired:
                    process.kill()
                    process.wait(5)

    assert worker.returncode == -signal.SIGKILL
    assert 300 <= killed_at < MESSAGES
    assert await _count(container, tenant, messages) == MESSAGES
    assert (
        await _count(container, tenant, "SELECT count(DISTINCT external_id) FROM messages")
        == MESSAGES
    )
    received = "SELECT count(*) FROM domain_events WHERE name = 'message.received'"
    assert await _count(container, tenant, received) == MESSAGES
    assert await _count(container, tenant, "SELECT count(*) FROM contacts") == CONTACTS
    open_sessions = "SELECT count(*) FROM sessions WHERE closed_at IS NULL"
    assert await _count(container, tenant, open_sessions) == CONTACTS
    failed = "SELECT count(*) FROM inbound_events WHERE outcome = 'failed'"
    assert await _count(container, tenant, failed) == 0
    duplicates = "SELECT count(*) FROM inbound_events WHERE outcome = 'duplicate'"
    # The exact repeats are refused at the webhook; the `message.any` copies at ingest.
    redelivered = len(range(0, MESSAGES, REDELIVER_EVERY))
    assert await _count(container, tenant, duplicates) == redelivered
    stored = "SELECT count(*) FROM inbound_events"
    assert await _count(container, tenant, stored) == MESSAGES + redelivered
