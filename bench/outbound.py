"""Outbound WhatsApp benchmark: messages sent to a WAHA stand-in.

    .venv/bin/python bench/outbound.py [--outbound 2000] [--concurrency 32]
        [--write bench/RESULTS.md]

N messages are queued through the send use case (what `POST /api/v1/messages/send` runs; not
timed), then the sending consumer (`WhenMessageSendingSendThroughWaha` via `process_event`,
as the worker runs it) handles their `message.sending` events, `--concurrency` at a time,
against the WAHA stand-in: msg/s from the first to the last sent.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
from sqlalchemy import select

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from tests.stand_ins.waha import WahaStandIn  # noqa: E402
from wa_kit import SECRET, Bench, bench_tenant, machine_line, scalar, write_section  # noqa: E402

from ventros.channels.sender import Sender, SenderPolicy  # noqa: E402
from ventros.channels.waha_client import WahaClient  # noqa: E402
from ventros.conversations.sending import SendMessage, send_message_as  # noqa: E402
from ventros.conversations.sending_handlers import (  # noqa: E402
    CONSUMER_NAME,
    WhenMessageSendingSendThroughWaha,
)
from ventros.kernel.events import Actor  # noqa: E402
from ventros.platform.consumers import Consumer, process_event  # noqa: E402
from ventros.platform.crypto import SecretBox  # noqa: E402
from ventros.platform.outbox import domain_events  # noqa: E402
from ventros.platform.ratelimit import RateLimits  # noqa: E402
from ventros.webhooks.repository import load_event  # noqa: E402


async def run(args: argparse.Namespace) -> dict[str, Any]:
    waha = WahaStandIn()
    try:
        async with bench_tenant(waha.base_url, waha.api_key) as b:
            await b.http.post(
                "/api/v1/contacts",
                json={"name": "Bench customer", "phone": "+5511980000000"},
                headers=b.headers,
            )
            contact_id = await _a_contact(b.http, b.headers)
            return await outbound(b, contact_id, waha, args)
    finally:
        waha.close()


async def _a_contact(http: httpx.AsyncClient, headers: dict[str, str]) -> str:
    contacts = await http.get("/api/v1/contacts", params={"limit": 1}, headers=headers)
    return str(contacts.json()["items"][0]["id"])


async def outbound(
    b: Bench,
    contact_id: str,
    waha: WahaStandIn,
    args: argparse.Namespace,
) -> dict[str, Any]:
    # Queued through the send use case in this process (what POST /messages/send runs; the
    # API's per-tenant rate limit would otherwise pace the setup), not timed.
    box = SecretBox.from_secret(SECRET)
    for n in range(args.outbound):
        await send_message_as(
            b.container.uow,
            box,
            b.tenant_id,
            Actor.system(),
            SendMessage(
                contact_id=uuid.UUID(contact_id),
                channel_id=uuid.UUID(b.channel_id),
                type="text",
                text=f"Resposta {n}",
            ),
        )
    async with b.container.uow(b.tenant_id, Actor.system()) as tx:
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
            await process_event(b.container.uow, consumer, event)

    started = time.perf_counter()
    await asyncio.gather(*(lane() for _ in range(args.concurrency)))
    elapsed = time.perf_counter() - started
    await client.aclose()
    sent = len(waha.sends()) - before
    stored_sent = await scalar(
        b.container,
        b.tenant_id,
        "SELECT count(*) FROM messages WHERE direction = 'outbound' AND status = 'sent'",
    )
    return {
        "messages": len(events),
        "sent_to_waha": sent,
        "marked_sent": int(stored_sent),
        "seconds": elapsed,
        "rate": sent / elapsed,
    }


def report(o: dict[str, Any], args: argparse.Namespace) -> str:
    return "\n".join(
        [
            f"Measured {datetime.now(UTC):%Y-%m-%d %H:%M} UTC: {machine_line(args)}",
            "",
            "| measure | messages | msg/s | target |",
            "|---|---|---|---|",
            f"| outbound to the WAHA stand-in | {o['sent_to_waha']} | {o['rate']:.0f} "
            "| >= 500 msg/s |",
            "",
        ]
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--outbound", type=int, default=2000)
    parser.add_argument("--concurrency", type=int, default=32)
    parser.add_argument("--write", type=Path, help="replace the outbound section of this file")
    args = parser.parse_args()
    results = asyncio.run(run(args))
    print(json.dumps(results, indent=2, default=str))
    table = report(results, args)
    print(table)
    if args.write:
        write_section(args.write, "outbound", table)


if __name__ == "__main__":
    main()
