"""Outbound WhatsApp benchmark: messages sent to the WAHA simulator (`ventros waha-sim`).

    .venv/bin/python bench/outbound.py [--outbound 2000] [--chats 200]
        [--path worker|lanes] [--concurrency 32] [--profile FILE] [--write bench/RESULTS.md]

The simulator runs as its own process (uvicorn, no acks). N messages to `--chats` customers
are queued through the send use case (what `POST /api/v1/messages/send` runs; not timed).
Then, timed until every message is `sent` in the database:

- `--path worker` (default): the real worker path in this process — the outbox relay
  publishes the `message.sending` events on the in-process bus and the consumer framework's
  worker runs the sending consumer (dispatch mode: WAHA called outside the transaction,
  concurrently per channel, results recorded in batches);
- `--path lanes`: the old way, `--concurrency` lanes of `process_event` with the consumer
  inline (WAHA called inside each event's transaction).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import cProfile
import json
import os
import signal
import subprocess
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

from wa_kit import (  # noqa: E402
    SECRET,
    Bench,
    bench_tenant,
    free_port,
    machine_line,
    scalar,
    write_section,
)

from ventros.channels.sender import Sender, SenderPolicy  # noqa: E402
from ventros.channels.waha_client import WahaClient  # noqa: E402
from ventros.contacts.service import CreateContact, create_contact  # noqa: E402
from ventros.conversations.handlers.sending import (  # noqa: E402
    CONSUMER_NAME,
    WhenMessageSendingSendThroughWaha,
)
from ventros.conversations.service.sending import SendMessage, send_message_as  # noqa: E402
from ventros.identity.domain import Principal, Role  # noqa: E402
from ventros.kernel.events import Actor  # noqa: E402
from ventros.kernel.ids import TenantId, UserId  # noqa: E402
from ventros.platform.consumers import (  # noqa: E402
    Consumer,
    ConsumerRegistry,
    process_event,
    run_worker,
)
from ventros.platform.crypto import SecretBox  # noqa: E402
from ventros.platform.outbox import domain_events  # noqa: E402
from ventros.platform.ratelimit import RateLimits  # noqa: E402
from ventros.platform.relay import run_relay  # noqa: E402
from ventros.webhooks.repository import load_event  # noqa: E402

API_KEY = "bench-waha-key"
SENT_SQL = "SELECT count(*) FROM messages WHERE direction = 'outbound' AND status = 'sent'"


@contextlib.contextmanager
def simulator(port: int) -> Any:
    """`ventros waha-sim` in its own process, acks off (no webhook URL)."""
    command = [sys.executable, "-m", "ventros.cli", "waha-sim", "--port", str(port)]
    command += ["--api-key", API_KEY, "--no-acks"]
    env = {**os.environ, "PYTHONPATH": str(ROOT / "src")}
    process = subprocess.Popen(command, cwd=ROOT, env=env, stdout=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 20
        while True:
            with contextlib.suppress(httpx.HTTPError):
                if httpx.get(f"http://127.0.0.1:{port}/ping", timeout=1).status_code == 200:
                    break
            if process.poll() is not None or time.monotonic() > deadline:
                raise SystemExit("the WAHA simulator did not start")
            time.sleep(0.1)
        yield f"http://127.0.0.1:{port}"
    finally:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(5)


async def sim_total(sim_url: str) -> int:
    async with httpx.AsyncClient() as http:
        answer = await http.get(f"{sim_url}/_sim/sends", params={"limit": 0})
        return int(answer.json()["total"])


async def run(args: argparse.Namespace) -> dict[str, Any]:
    with simulator(free_port()) as sim_url:
        async with bench_tenant(sim_url, API_KEY) as b:
            contact_ids = await _contacts(b, args.chats)
            await _queue(b, contact_ids, args.outbound)
            return await outbound(b, sim_url, args)


async def _contacts(b: Bench, count: int) -> list[uuid.UUID]:
    # The create-contact use case in this process (the API's per-tenant rate limit would
    # pace 200 POSTs over minutes), as the tenant's admin.
    me = (await b.http.get("/api/v1/me", headers=b.headers)).json()
    admin = Principal(
        user_id=UserId(uuid.UUID(me["id"])),
        tenant_id=TenantId(b.tenant_id),
        role=Role(me["role"]),
        email=me["email"],
    )
    ids = []
    for n in range(count):
        command = CreateContact(name=f"Bench customer {n}", phone=f"+55119{70000000 + n:08d}")
        ids.append((await create_contact(b.container.uow, admin, command)).id)
    return ids


async def _queue(b: Bench, contact_ids: list[uuid.UUID], count: int) -> None:
    # Through the send use case in this process (what POST /messages/send runs; the API's
    # per-tenant rate limit would otherwise pace the setup), not timed. Eight at a time,
    # each lane with its own customers (one customer's messages in order, one session).
    box = SecretBox.from_secret(SECRET)

    async def lane(first: int) -> None:
        for n in range(count):
            if n % len(contact_ids) % 8 != first:
                continue
            await send_message_as(
                b.container.uow,
                box,
                b.tenant_id,
                Actor.system(),
                SendMessage(
                    contact_id=contact_ids[n % len(contact_ids)],
                    channel_id=uuid.UUID(b.channel_id),
                    type="text",
                    text=f"Resposta {n}",
                ),
            )

    await asyncio.gather(*(lane(first) for first in range(8)))


def _sender() -> Sender:
    policy = SenderPolicy(
        deadline_seconds=600.0,
        attempts=3,
        retry_base_seconds=0.05,
        retry_max_seconds=0.2,
        breaker_failures=50,
        breaker_reset_seconds=5.0,
    )
    return Sender(WahaClient.create(timeout_seconds=10.0), RateLimits(), policy)


async def outbound(b: Bench, sim_url: str, args: argparse.Namespace) -> dict[str, Any]:
    box = SecretBox.from_secret(SECRET)
    sender = _sender()
    before = await sim_total(sim_url)
    profiler = cProfile.Profile() if args.profile else None
    if profiler:
        profiler.enable()
    cpu = time.process_time()
    started = time.perf_counter()
    if args.path == "worker":
        await _through_worker(b, sender, box, args.outbound, sim_url, trace=args.trace)
    else:
        await _through_lanes(b, sender, box, args.concurrency)
    elapsed = time.perf_counter() - started
    cpu = time.process_time() - cpu
    if profiler:
        profiler.disable()
        profiler.dump_stats(args.profile)
    await sender.client.aclose()
    sent = await sim_total(sim_url) - before
    stored_sent = await scalar(b.container, b.tenant_id, SENT_SQL)
    return {
        "path": args.path,
        "messages": args.outbound,
        "chats": args.chats,
        "sent_to_waha": sent,
        "marked_sent": int(stored_sent),
        "seconds": elapsed,
        "cpu_seconds_this_process": cpu,
        "rate": int(stored_sent) / elapsed,
    }


async def _through_worker(
    b: Bench, sender: Sender, box: SecretBox, count: int, sim_url: str, *, trace: bool
) -> None:
    handler = WhenMessageSendingSendThroughWaha(lambda: (sender, box), dispatch=True)
    registry = ConsumerRegistry([Consumer(CONSUMER_NAME, ("message.sending",), handler)])
    stop = asyncio.Event()
    worker = asyncio.create_task(run_worker(b.container, stop, registry=registry))
    relay = asyncio.create_task(run_relay(b.container, stop))
    started = time.perf_counter()
    try:
        while (done := int(await scalar(b.container, b.tenant_id, SENT_SQL))) < count:
            if trace:
                sent = await sim_total(sim_url)
                print(f"{time.perf_counter() - started:6.2f}s sent {sent} recorded {done}")
            for task in (worker, relay):
                if task.done():
                    task.result()
                    raise SystemExit("the worker or the relay stopped")
            await asyncio.sleep(0.25 if trace else 0.05)
    finally:
        stop.set()
        await asyncio.wait_for(asyncio.gather(worker, relay, return_exceptions=True), 30)


async def _through_lanes(b: Bench, sender: Sender, box: SecretBox, concurrency: int) -> None:
    async with b.container.uow(b.tenant_id, Actor.system()) as tx:
        ids = list(
            (
                await tx.connection.execute(
                    select(domain_events.c.id).where(domain_events.c.name == "message.sending")
                )
            ).scalars()
        )
        loaded = [await load_event(tx, event_id) for event_id in ids]
    consumer = Consumer(
        CONSUMER_NAME,
        ("message.sending",),
        WhenMessageSendingSendThroughWaha(lambda: (sender, box)),
    )
    work = iter([e for e in loaded if e is not None])

    async def lane() -> None:
        for event in work:
            await process_event(b.container.uow, consumer, event)

    await asyncio.gather(*(lane() for _ in range(concurrency)))


def report(o: dict[str, Any], args: argparse.Namespace) -> str:
    return "\n".join(
        [
            f"Measured {datetime.now(UTC):%Y-%m-%d %H:%M} UTC: {machine_line(args)}",
            "",
            "| measure | messages | msg/s | target |",
            "|---|---|---|---|",
            f"| outbound to the WAHA simulator ({o['path']} path, {o['chats']} chats) "
            f"| {o['marked_sent']} | {o['rate']:.0f} | >= 500 msg/s |",
            "",
        ]
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--outbound", type=int, default=2000)
    parser.add_argument("--chats", type=int, default=200, help="customers the messages go to")
    parser.add_argument("--path", choices=("worker", "lanes"), default="worker")
    parser.add_argument("--concurrency", type=int, default=32, help="lanes (--path lanes)")
    parser.add_argument("--trace", action="store_true", help="print progress while timing")
    parser.add_argument("--profile", help="cProfile this process's timed part into FILE")
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
