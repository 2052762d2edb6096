"""WhatsApp benchmark: webhook acceptance, end-to-end ingest, outbound sending.

    .venv/bin/python bench/whatsapp.py [--webhooks 20000] [--ingest 10000] [--outbound 2000]
        [--concurrency 32] [--write bench/WHATSAPP.md] [--profile-api PATH]

* webhook acceptance: the API (`create_app`, uvicorn + uvloop + httptools, one process) on
  127.0.0.1; `--concurrency` keep-alive connections post signed WAHA `message` envelopes
  (distinct messages, 200 contacts) as fast as it answers; no ingest worker runs. msg/s
  over the whole run; latency per request (send → full response).
* end-to-end ingest: the same server plus an ingest worker process (`run_ingest`, what
  `ventros worker` runs); the messages are posted the same way; latency of each message is
  from its webhook's insert (`inbound_events.received_at`, when the 200 is decided) to the
  ingest transaction that stored it (`processed_at`, the same transaction as the message);
  msg/s = messages / (last processed - first received).
* outbound: N messages queued through `POST /api/v1/messages/send` (not timed), then the
  sending consumer (`WhenMessageSendingSendThroughWaha` via `process_event`, as the worker
  runs it) handles their `message.sending` events, `--concurrency` at a time, against the
  WAHA stand-in (tests/stand_ins/waha.py): msg/s from the first to the last sent.

Durable settings throughout (the server's defaults: synchronous_commit on, fsync on).
Server: VENTROS_BENCH_DATABASE_URL, else VENTROS_TEST_DATABASE_URL, else the local default;
a throwaway database is created and dropped at the end.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import hashlib
import hmac
import json
import os
import platform
import signal
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import psycopg
from psycopg import sql
from sqlalchemy import select, text
from sqlalchemy.engine import make_url

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.stand_ins.waha import WahaStandIn  # noqa: E402

from ventros.bootstrap import bootstrap  # noqa: E402
from ventros.channels.sender import Sender, SenderPolicy  # noqa: E402
from ventros.channels.waha_client import WahaClient  # noqa: E402
from ventros.conversations.sending import SendMessage, send_message_as  # noqa: E402
from ventros.conversations.sending_handlers import (  # noqa: E402
    CONSUMER_NAME,
    WhenMessageSendingSendThroughWaha,
)
from ventros.identity.service import create_tenant  # noqa: E402
from ventros.kernel.events import Actor  # noqa: E402
from ventros.platform.consumers import Consumer, process_event  # noqa: E402
from ventros.platform.crypto import SecretBox  # noqa: E402
from ventros.platform.migrate import upgrade  # noqa: E402
from ventros.platform.outbox import domain_events  # noqa: E402
from ventros.platform.ratelimit import RateLimits  # noqa: E402
from ventros.platform.settings import Settings  # noqa: E402
from ventros.webhooks.repository import load_event  # noqa: E402

DEFAULT_SERVER = "postgresql://postgres@127.0.0.1:5432/postgres"
SECRET = "test-secret-key-0123456789-abcdefghijklmnopqrstuvwxyz"
PASSWORD = "Bench-Password-1"
HOOK_SECRET = "bench-webhook-secret"
CONTACTS = 200

SERVER = """
import sys, uvicorn
from pathlib import Path
from ventros.api.app import create_app
from ventros.bootstrap import bootstrap
from ventros.platform.settings import Settings
settings = Settings(secret_key=sys.argv[2], home=Path(sys.argv[4]), log_json=False,
                    database_url=None, rabbitmq_url=None)
container = bootstrap(settings, database_url=sys.argv[1])
uvicorn.run(create_app(container), host="127.0.0.1", port=int(sys.argv[3]), loop="uvloop",
            http="httptools", log_level="warning", access_log=False)
"""

WORKER = """
import asyncio, signal, sys
from pathlib import Path
from ventros.bootstrap import bootstrap
from ventros.conversations.worker import run_ingest
from ventros.platform.settings import Settings

async def main() -> None:
    settings = Settings(secret_key=sys.argv[2], home=Path(sys.argv[3]), log_json=False,
                        database_url=None, rabbitmq_url=None)
    container = bootstrap(settings, database_url=sys.argv[1])
    stop = asyncio.Event()
    asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, stop.set)
    try:
        await run_ingest(container, stop)
    finally:
        await container.aclose()

asyncio.run(main())
"""


def _libpq(url: str) -> str:
    return make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    if not ordered:
        return float("nan")
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def settings(home: str) -> Settings:
    return Settings(
        secret_key=SECRET, home=Path(home), log_json=False, database_url=None, rabbitmq_url=None
    )


def envelope(run: str, n: int) -> bytes:
    phone = f"55119{80000000 + n % CONTACTS:08d}"
    data = {
        "id": f"evt_{run}_{n:08d}",
        "timestamp": 1784641200000 + n,
        "event": "message",
        "session": "default",
        "me": {"id": "5511940028922@c.us", "pushName": "Bench"},
        "payload": {
            "id": f"false_{phone}@c.us_{run}{n:020X}",
            "timestamp": int(time.time()),
            "from": f"{phone}@c.us",
            "fromMe": False,
            "source": "app",
            "body": f"Olá! mensagem {n}",
            "hasMedia": False,
            "media": None,
            "ack": 2,
            "ackName": "DEVICE",
            "location": None,
            "vCards": None,
            "replyTo": None,
        },
        "engine": "NOWEB",
    }
    return json.dumps(data, ensure_ascii=False, separators=(",", ":")).encode()


def request_bytes(channel_id: str, body: bytes) -> bytes:
    signature = hmac.new(HOOK_SECRET.encode(), body, hashlib.sha512).hexdigest()
    head = (
        f"POST /webhooks/waha/{channel_id} HTTP/1.1\r\n"
        "Host: 127.0.0.1\r\n"
        "Content-Type: application/json\r\n"
        f"X-Webhook-Hmac: {signature}\r\n"
        "X-Webhook-Hmac-Algorithm: sha512\r\n"
        f"Content-Length: {len(body)}\r\n\r\n"
    )
    return head.encode() + body


async def _read_response(reader: asyncio.StreamReader) -> int:
    head = await reader.readuntil(b"\r\n\r\n")
    status = int(head.split(b" ", 2)[1])
    length = 0
    for line in head.split(b"\r\n"):
        if line.lower().startswith(b"content-length:"):
            length = int(line.split(b":", 1)[1])
    if length:
        await reader.readexactly(length)
    return status


async def post_all(port: int, requests: list[bytes], concurrency: int) -> tuple[float, list[float]]:
    """Posts every request over `concurrency` keep-alive connections; (seconds, latencies)."""
    queue = iter(requests)
    latencies: list[float] = []
    failures: list[int] = []

    async def connection() -> None:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        try:
            for raw in queue:
                started = time.perf_counter()
                writer.write(raw)
                status = await _read_response(reader)
                latencies.append(time.perf_counter() - started)
                if status != 200:
                    failures.append(status)
        finally:
            writer.close()

    started = time.perf_counter()
    await asyncio.gather(*(connection() for _ in range(concurrency)))
    elapsed = time.perf_counter() - started
    if failures:
        raise SystemExit(f"{len(failures)} webhooks were refused, e.g. {failures[:5]}")
    return elapsed, latencies


def start(script: str, *args: str, profile: str | None = None) -> subprocess.Popen[bytes]:
    command = [sys.executable]
    if profile:
        command = [sys.executable, "-m", "cProfile", "-o", profile]
        path = Path(tempfile.mkdtemp()) / "script.py"
        path.write_text(script)
        command += [str(path), *args]
    else:
        command += ["-c", script, *args]
    env = {**os.environ, "PYTHONPATH": str(ROOT / "src")}
    return subprocess.Popen(command, cwd=ROOT, env=env)


def stop(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(20)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(5)


async def wait_up(port: int) -> None:
    deadline = time.monotonic() + 30
    async with httpx.AsyncClient() as http:
        while True:
            with contextlib.suppress(httpx.HTTPError):
                if (await http.get(f"http://127.0.0.1:{port}/health")).status_code < 500:
                    return
            if time.monotonic() > deadline:
                raise SystemExit("the API did not start")
            await asyncio.sleep(0.2)


async def run(args: argparse.Namespace) -> dict[str, Any]:
    server = os.environ.get("VENTROS_BENCH_DATABASE_URL") or os.environ.get(
        "VENTROS_TEST_DATABASE_URL", DEFAULT_SERVER
    )
    name = f"ventros_bench_whatsapp_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(_libpq(server), autocommit=True) as conn:
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    url = make_url(server).set(database=name).render_as_string(hide_password=False)
    home = tempfile.mkdtemp(prefix="ventros-bench-")
    results: dict[str, Any] = {}
    try:
        upgrade(url, settings(home).resolved_app_password())
        container = bootstrap(settings(home), database_url=url)
        email = f"bench-{uuid.uuid4().hex[:8]}@example.com"
        created = await create_tenant(
            container.uow, name="Bench", admin_email=email, admin_password=PASSWORD
        )
        port = free_port()
        api = start(SERVER, url, SECRET, str(port), home, profile=args.profile_api)
        waha = WahaStandIn()
        try:
            await wait_up(port)
            base = f"http://127.0.0.1:{port}"
            async with httpx.AsyncClient(base_url=base, timeout=30) as http:
                token = (
                    await http.post(
                        "/api/v1/auth/login", json={"email": email, "password": PASSWORD}
                    )
                ).json()["access_token"]
                headers = {"Authorization": f"Bearer {token}"}
                channel = (
                    await http.post(
                        "/api/v1/channels",
                        json={
                            "name": "Bench",
                            "type": "waha",
                            "base_url": waha.base_url,
                            "api_key": waha.api_key,
                            "waha_session": "default",
                            "webhook_secret": HOOK_SECRET,
                            "rate_limit_per_minute": 1_000_000,
                        },
                        headers=headers,
                    )
                ).json()
                channel_id = channel["id"]

                # warm-up (connections, caches), not counted
                warm = [request_bytes(channel_id, envelope("w", n)) for n in range(500)]
                await post_all(port, warm, args.concurrency)

                # 1. webhook acceptance, no worker
                reqs = [request_bytes(channel_id, envelope("a", n)) for n in range(args.webhooks)]
                elapsed, lat = await post_all(port, reqs, args.concurrency)
                results["webhook"] = {
                    "messages": args.webhooks,
                    "seconds": elapsed,
                    "rate": args.webhooks / elapsed,
                    "p50_ms": percentile(lat, 0.50) * 1000,
                    "p99_ms": percentile(lat, 0.99) * 1000,
                }
                print("webhook", results["webhook"], flush=True)

                # drain the backlog before the ingest run (not counted)
                worker = start(WORKER, url, SECRET, home)
                try:
                    await _wait_drained(container, created.tenant_id, limit_seconds=600)
                    # 2. end-to-end ingest, worker running
                    reqs = [request_bytes(channel_id, envelope("i", n)) for n in range(args.ingest)]
                    since = datetime.now(UTC)
                    elapsed, lat = await post_all(port, reqs, args.concurrency)
                    await _wait_drained(container, created.tenant_id, limit_seconds=600)
                    results["ingest"] = await _ingest_figures(container, created.tenant_id, since)
                    results["ingest"]["webhook_rate_meanwhile"] = args.ingest / elapsed
                    print("ingest", results["ingest"], flush=True)
                finally:
                    stop(worker)

                # 3. outbound
                contact_id = await _a_contact(http, headers)
                results["outbound"] = await _outbound(
                    container, created.tenant_id, contact_id, waha, args
                )
                print("outbound", results["outbound"], flush=True)
        finally:
            stop(api)
            waha.close()
            await container.aclose()
    finally:
        with psycopg.connect(_libpq(server), autocommit=True) as conn:
            conn.execute(
                sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
            )
    return results


async def _scalar(container: Any, tenant_id: uuid.UUID, query: str, **params: Any) -> Any:
    async with container.uow(tenant_id, Actor.system()) as tx:
        return (await tx.connection.execute(text(query), params)).scalar()


async def _wait_drained(container: Any, tenant_id: uuid.UUID, *, limit_seconds: float) -> None:
    deadline = time.monotonic() + limit_seconds
    pending = "SELECT count(*) FROM inbound_events WHERE processed_at IS NULL"
    while await _scalar(container, tenant_id, pending):
        if time.monotonic() > deadline:
            raise SystemExit("ingest did not drain in time")
        await asyncio.sleep(0.2)


async def _ingest_figures(container: Any, tenant_id: uuid.UUID, since: datetime) -> dict[str, Any]:
    async with container.uow(tenant_id, Actor.system()) as tx:
        rows = list(
            await tx.connection.execute(
                text(
                    "SELECT received_at, processed_at, outcome FROM inbound_events "
                    "WHERE received_at >= :since"
                ),
                {"since": since},
            )
        )
    lat = [(r.processed_at - r.received_at).total_seconds() for r in rows]
    first = min(r.received_at for r in rows)
    last = max(r.processed_at for r in rows)
    span = (last - first).total_seconds()
    ingested = sum(1 for r in rows if r.outcome == "ingested")
    return {
        "messages": len(rows),
        "ingested": ingested,
        "seconds": span,
        "rate": len(rows) / span,
        "p50_ms": percentile(lat, 0.50) * 1000,
        "p99_ms": percentile(lat, 0.99) * 1000,
    }


async def _a_contact(http: httpx.AsyncClient, headers: dict[str, str]) -> str:
    contacts = await http.get("/api/v1/contacts", params={"limit": 1}, headers=headers)
    return str(contacts.json()["items"][0]["id"])


async def _outbound(
    container: Any,
    tenant_id: uuid.UUID,
    contact_id: str,
    waha: WahaStandIn,
    args: argparse.Namespace,
) -> dict[str, Any]:
    # Queued through the send use case in this process (what POST /messages/send runs; the
    # API's per-tenant rate limit would otherwise pace the setup), not timed.
    box = SecretBox.from_secret(SECRET)
    for n in range(args.outbound):
        await send_message_as(
            container.uow,
            box,
            tenant_id,
            Actor.system(),
            SendMessage(contact_id=uuid.UUID(contact_id), type="text", text=f"Resposta {n}"),
        )
    async with container.uow(tenant_id, Actor.system()) as tx:
        ids = list(
            (
                await tx.connection.execute(
                    select(domain_events.c.id).where(domain_events.c.name == "message.sending")
                )
            ).scalars()
        )
        loaded = [await load_event(tx, event_id) for event_id in ids]
    events = [e for e in loaded if e is not None]
    client = WahaClient.create(timeout_seconds=10.0)
    policy = SenderPolicy(
        deadline_seconds=600.0,
        attempts=3,
        retry_base_seconds=0.05,
        retry_max_seconds=0.2,
        breaker_failures=50,
        breaker_reset_seconds=5.0,
    )
    sender = Sender(client, RateLimits(), policy)
    consumer = Consumer(
        CONSUMER_NAME,
        ("message.sending",),
        WhenMessageSendingSendThroughWaha(lambda: (sender, box)),
    )
    before = len(waha.sends())
    work = iter(events)

    async def lane() -> None:
        for event in work:
            await process_event(container.uow, consumer, event)

    started = time.perf_counter()
    await asyncio.gather(*(lane() for _ in range(args.concurrency)))
    elapsed = time.perf_counter() - started
    await client.aclose()
    sent = len(waha.sends()) - before
    stored_sent = await _scalar(
        container,
        tenant_id,
        "SELECT count(*) FROM messages WHERE direction = 'outbound' AND status = 'sent'",
    )
    return {
        "messages": len(events),
        "sent_to_waha": sent,
        "marked_sent": int(stored_sent),
        "seconds": elapsed,
        "rate": sent / elapsed,
    }


def write(path: Path, results: dict[str, Any], args: argparse.Namespace) -> None:
    w, i, o = results["webhook"], results["ingest"], results["outbound"]
    lines = [
        "",
        f"## Run {datetime.now(UTC):%Y-%m-%d %H:%M} UTC",
        "",
        f"`{' '.join(sys.argv)}` — {os.cpu_count()} cores, {platform.python_version()}, "
        f"concurrency {args.concurrency}",
        "",
        "| measure | messages | msg/s | p50 | p99 | target |",
        "|---|---|---|---|---|---|",
        f"| webhook acceptance | {w['messages']} | {w['rate']:.0f} | {w['p50_ms']:.1f} ms "
        f"| {w['p99_ms']:.1f} ms | ≥ 3,000 msg/s, p99 ≤ 50 ms |",
        f"| end-to-end ingest | {i['messages']} | {i['rate']:.0f} | {i['p50_ms']:.0f} ms "
        f"| {i['p99_ms']:.0f} ms | ≥ 1,500 msg/s, p99 ≤ 500 ms |",
        f"| outbound to the WAHA stand-in | {o['sent_to_waha']} | {o['rate']:.0f} | | "
        "| ≥ 500 msg/s |",
        "",
    ]
    with path.open("a") as out:
        out.write("\n".join(lines))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--webhooks", type=int, default=20000)
    parser.add_argument("--ingest", type=int, default=10000)
    parser.add_argument("--outbound", type=int, default=2000)
    parser.add_argument("--concurrency", type=int, default=32)
    parser.add_argument("--write", type=Path)
    parser.add_argument("--profile-api", help="cProfile the API process into this file")
    args = parser.parse_args()
    results = asyncio.run(run(args))
    print(json.dumps(results, indent=2, default=str))
    if args.write:
        write(args.write, results, args)


if __name__ == "__main__":
    main()
