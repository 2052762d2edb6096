"""Shared kit of the WhatsApp benchmarks (bench/inbound.py, bench/outbound.py): a throwaway
database with one tenant and one WAHA channel, the API in its own process (uvicorn + uvloop +
httptools), signed WAHA envelopes, and a raw keep-alive HTTP/1.1 load generator.

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
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import psycopg
from psycopg import sql
from sqlalchemy import text
from sqlalchemy.engine import make_url

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from ventros.identity.service import create_tenant  # noqa: E402
from ventros.kernel.events import Actor  # noqa: E402
from ventros.platform.migrate import upgrade  # noqa: E402
from ventros.platform.settings import Settings  # noqa: E402
from ventros.runtime.container import bootstrap  # noqa: E402

DEFAULT_SERVER = "postgresql://postgres@127.0.0.1:5432/postgres"
SECRET = "test-secret-key-0123456789-abcdefghijklmnopqrstuvwxyz"
PASSWORD = "Bench-Password-1"
HOOK_SECRET = "bench-webhook-secret"
CONTACTS = 200

SERVER = """
import sys, uvicorn
from pathlib import Path
from ventros.runtime.http import create_app
from ventros.runtime.container import bootstrap
from ventros.platform.settings import Settings
settings = Settings(secret_key=sys.argv[2], home=Path(sys.argv[4]), log_json=False,
                    database_url=None, rabbitmq_url=None)
container = bootstrap(settings, database_url=sys.argv[1])
uvicorn.run(create_app(container), host="127.0.0.1", port=int(sys.argv[3]), loop="uvloop",
            http="httptools", log_level="warning", access_log=False)
"""


def libpq(url: str) -> str:
    return make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)


@contextlib.contextmanager
def scratch_database(purpose: str) -> Iterator[str]:
    """A new database on the bench's PostgreSQL server (VENTROS_BENCH_DATABASE_URL, else
    the tests'), dropped afterwards whatever happens; yields its owner URL."""
    server = os.environ.get("VENTROS_BENCH_DATABASE_URL") or os.environ.get(
        "VENTROS_TEST_DATABASE_URL", DEFAULT_SERVER
    )
    name = f"ventros_bench_{purpose}_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(libpq(server), autocommit=True) as conn:
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    try:
        yield make_url(server).set(database=name).render_as_string(hide_password=False)
    finally:
        with psycopg.connect(libpq(server), autocommit=True) as conn:
            conn.execute(
                sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
            )


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


async def post_all(
    port: int, requests: list[bytes], concurrency: int, *, rate: float | None = None
) -> tuple[float, list[float]]:
    """Posts every request over `concurrency` keep-alive connections; (seconds, latencies).

    Without `rate`, as fast as the server answers; with it, request n is sent at n / rate
    seconds after the start (or as soon as a connection is free, when late)."""
    queue = iter(enumerate(requests))
    latencies: list[float] = []
    failures: list[int] = []
    began = time.perf_counter()

    async def connection() -> None:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        try:
            for n, raw in queue:
                if rate:
                    delay = began + n / rate - time.perf_counter()
                    if delay > 0:
                        await asyncio.sleep(delay)
                started = time.perf_counter()
                writer.write(raw)
                status = await _read_response(reader)
                latencies.append(time.perf_counter() - started)
                if status != 200:
                    failures.append(status)
        finally:
            writer.close()

    await asyncio.gather(*(connection() for _ in range(concurrency)))
    elapsed = time.perf_counter() - began
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


@dataclass
class Bench:
    """A running API on a throwaway database, with one tenant and one WAHA channel."""

    url: str
    home: str
    port: int
    container: Any
    tenant_id: uuid.UUID
    channel_id: str
    http: httpx.AsyncClient
    headers: dict[str, str]


@contextlib.asynccontextmanager
async def bench_tenant(
    waha_base_url: str, waha_api_key: str, *, profile_api: str | None = None
) -> AsyncIterator[Bench]:
    with scratch_database("whatsapp") as url:
        home = tempfile.mkdtemp(prefix="ventros-bench-")
        upgrade(url, settings(home).role_passwords())
        container = bootstrap(settings(home), database_url=url)
        email = f"bench-{uuid.uuid4().hex[:8]}@example.com"
        created = await create_tenant(
            container.uow, name="Bench", admin_email=email, admin_password=PASSWORD
        )
        port = free_port()
        api = start(SERVER, url, SECRET, str(port), home, profile=profile_api)
        try:
            await wait_up(port)
            async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", timeout=30) as http:
                login = {"email": email, "password": PASSWORD}
                token = (await http.post("/api/v1/auth/login", json=login)).json()["access_token"]
                headers = {"Authorization": f"Bearer {token}"}
                channel = (
                    await http.post(
                        "/api/v1/channels",
                        json={
                            "name": "Bench",
                            "type": "waha",
                            "base_url": waha_base_url,
                            "api_key": waha_api_key,
                            "waha_session": "default",
                            "webhook_secret": HOOK_SECRET,
                            "rate_limit_per_minute": 1_000_000,
                        },
                        headers=headers,
                    )
                ).json()
                yield Bench(
                    url, home, port, container, created.tenant_id, channel["id"], http, headers
                )
        finally:
            stop(api)
            await container.aclose()


async def scalar(container: Any, tenant_id: uuid.UUID, query: str, **params: Any) -> Any:
    async with container.uow(tenant_id, Actor.system()) as tx:
        return (await tx.connection.execute(text(query), params)).scalar()


def machine_line(args: argparse.Namespace) -> str:
    load = " ".join(f"{x:.2f}" for x in os.getloadavg())
    cpu = platform.processor() or platform.machine()
    return (
        f"`{' '.join(sys.argv)}` — {os.cpu_count()} cores ({cpu}), "
        f"Python {platform.python_version()}, concurrency {args.concurrency}, "
        f"load average at start {load}"
    )


def write_section(path: Path, name: str, body: str) -> None:
    """Replace (or append) the `<!-- name:begin -->` ... `<!-- name:end -->` part of `path`."""
    begin, end = f"<!-- {name}:begin -->", f"<!-- {name}:end -->"
    section = f"{begin}\n{body.rstrip()}\n{end}"
    text = path.read_text() if path.exists() else "# Benchmark results\n"
    if begin in text and end in text:
        head, rest = text.split(begin, 1)
        text = head + section + rest.split(end, 1)[1]
    else:
        text = text.rstrip("\n") + "\n\n" + section + "\n"
    path.write_text(text)
