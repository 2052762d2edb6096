"""Web app benchmark: server time of the inbox's first page with many open sessions and of
a conversation with many messages (UI.md target: p95 < 150 ms), rendered in-process
through the real app (ASGI, cookie login, templates) on real PostgreSQL.

    .venv/bin/python bench/web.py [--sessions 10000] [--messages 5000] [--requests 50]
        [--write bench/RESULTS.md]

Seeds one tenant with `--sessions` open sessions (each with a contact and two messages) and
one conversation of `--messages` messages, bulk-inserted in a throwaway database (created,
migrated and dropped: wa_kit.scratch_database), then times `--requests` GETs of
/app/inbox?view=all and of /app/inbox/{id} (its latest 50 messages) after a warm-up.

Server: VENTROS_BENCH_DATABASE_URL, else VENTROS_TEST_DATABASE_URL, else the local default.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
import time
import uuid
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
import psycopg

sys.path.insert(0, str(Path(__file__).resolve().parent))

from wa_kit import libpq, percentile, scratch_database

from ventros.identity.service import create_tenant
from ventros.kernel.clock import utcnow
from ventros.kernel.ids import new_id
from ventros.platform.migrate import upgrade
from ventros.platform.settings import Settings
from ventros.runtime.container import bootstrap
from ventros.runtime.http import create_app

SECRET = "test-secret-key-0123456789-abcdefghijklmnopqrstuvwxyz"
PASSWORD = "Bench-Password-1"


def settings() -> Settings:
    return Settings(
        secret_key=SECRET,
        home=Path(".ventros-bench"),
        log_json=False,
        log_level="WARNING",
        database_url=None,
        rabbitmq_url=None,
    )


pct = percentile


def seed(url: str, tenant_id: uuid.UUID, sessions: int, messages: int) -> uuid.UUID:
    """Bulk rows with COPY (as the owner: a bench of reads, not of the write path)."""
    now = utcnow()
    channel_id = new_id()
    long_session = new_id()
    with psycopg.connect(libpq(url)) as conn, conn.cursor() as cur:
        contacts: list[tuple[Any, ...]] = []
        rows: list[tuple[Any, ...]] = []
        texts: list[tuple[Any, ...]] = []
        for i in range(sessions):
            contact_id, session_id = new_id(), long_session if i == 0 else new_id()
            at = now - timedelta(seconds=i * 7)
            contacts.append(
                (contact_id, tenant_id, f"Cliente {i}", f"+5511{900000000 + i}", now, now)
            )
            rows.append(
                (session_id, tenant_id, contact_id, channel_id, "open", None, at, at, at, now, now)
            )
            for k in range(messages if i == 0 else 2):
                sent = at - timedelta(seconds=k)
                texts.append((new_id(), tenant_id, channel_id, session_id, contact_id, "inbound",
                              "text", "received", f"mensagem {k}", sent, sent))  # fmt: skip
        with cur.copy(
            "COPY contacts (id, tenant_id, name, phone, created_at, updated_at) FROM STDIN"
        ) as copy:
            for row in contacts:
                copy.write_row(row)
        with cur.copy(
            "COPY sessions (id, tenant_id, contact_id, channel_id, status, agent_id, started_at,"
            " last_activity_at, last_inbound_at, created_at, updated_at) FROM STDIN"
        ) as copy:
            for row in rows:
                copy.write_row(row)
        with cur.copy(
            "COPY messages (id, tenant_id, channel_id, session_id, contact_id, direction, type,"
            " status, text, created_at, received_at) FROM STDIN"
        ) as copy:
            for row in texts:
                copy.write_row(row)
        conn.commit()
        cur.execute("ANALYZE")
    return long_session


async def timed(http: httpx.AsyncClient, path: str, n: int) -> list[float]:
    for _ in range(3):
        assert (await http.get(path)).status_code == 200
    took = []
    for _ in range(n):
        began = time.perf_counter()
        response = await http.get(path)
        took.append((time.perf_counter() - began) * 1000)
        assert response.status_code == 200, response.status_code
    return took


async def main(args: argparse.Namespace) -> str:
    with scratch_database("web") as url:
        container = None
        try:
            upgrade(url, settings().role_passwords())
            container = bootstrap(settings(), database_url=url)
            created = await create_tenant(
                container.uow,
                name="Bench",
                admin_email="bench@example.com",
                admin_password=PASSWORD,
            )
            long_session = seed(url, created.tenant_id, args.sessions, args.messages)
            transport = httpx.ASGITransport(app=create_app(container))
            async with httpx.AsyncClient(transport=transport, base_url="http://bench") as http:
                login = await http.post(
                    "/login", data={"email": "bench@example.com", "password": PASSWORD}
                )
                assert login.status_code == 303, login.text
                inbox = await timed(http, "/app/inbox?view=all", args.requests)
                conversation = await timed(http, f"/app/inbox/{long_session}", args.requests)
        finally:
            if container is not None:
                await container.aclose()
    line = (
        f"| web | {args.sessions} open sessions, a {args.messages}-message conversation |"
        f" inbox first page p50 {pct(inbox, 0.5):.1f} ms, p95 {pct(inbox, 0.95):.1f} ms;"
        f" conversation p50 {pct(conversation, 0.5):.1f} ms,"
        f" p95 {pct(conversation, 0.95):.1f} ms (target p95 < 150 ms) |"
    )
    print(f"{os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.1f}")
    print(line)
    return line


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sessions", type=int, default=10_000)
    parser.add_argument("--messages", type=int, default=5_000)
    parser.add_argument("--requests", type=int, default=50)
    parser.add_argument("--write", default=None, help="append the result row to this file")
    arguments = parser.parse_args()
    row = asyncio.run(main(arguments))
    if arguments.write:
        with Path(arguments.write).open("a", encoding="utf-8") as results:
            results.write(row + "\n")
