"""Event backbone benchmark: outbox relay throughput and commit→handler latency, on the
in-process bus and on RabbitMQ, next to the raw ceilings of the same machine.

    .venv/bin/python bench/events.py [--events 20000] [--rate 1000] [--seconds 10]
        [--adapters inprocess,rabbitmq] [--prefetch 10] [--batch 500]
        [--write bench/RESULTS.md] [--profile-relay]

For each adapter:

* relay throughput: a relay process (`ventros relay`) is up and idle; N events are
  committed through the unit of work in one transaction; the clock runs from that commit
  until the last row is marked published (claim, publish with confirms, mark: all of it);
* latency: a relay process and a consumer (in this process, `Worker`, the same framework
  `ventros worker` runs) are up; events are committed through the unit of work at the
  offered rate (a transaction every 10 ms) for the given seconds; each event's latency is
  from the start of its commit to the moment the consumer's handler runs.

Raw ceilings, in the same run: a plain asyncpg loop inserting the same outbox and event
log rows (same transaction size), and aio-pika publishing the same messages to the same
exchange and queues with publisher confirms, windowed like the relay (gather of a batch).

Servers: VENTROS_BENCH_DATABASE_URL, else VENTROS_TEST_DATABASE_URL, else the local
default; VENTROS_BENCH_RABBITMQ_URL, else VENTROS_TEST_RABBITMQ_URL, else the local
default (RabbitMQ is skipped, and said so, when unreachable). A throwaway database and
name-prefixed exchanges and queues are created and removed at the end.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import platform
import pstats
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import aio_pika
import asyncpg
import psycopg
from psycopg import sql
from sqlalchemy.engine import make_url

from ventros.kernel.events import Actor, DomainEvent
from ventros.platform.bus import Binding, Envelope, QueueSpec, amqp, build_bus
from ventros.platform.bus.rabbitmq import RabbitMQBus
from ventros.platform.consumers import Consumer, ConsumerRegistry, Worker
from ventros.platform.metrics import Metrics
from ventros.platform.migrate import upgrade
from ventros.platform.outbox import contact_of
from ventros.platform.settings import Settings
from ventros.platform.uow import UnitOfWork
from ventros.runtime.container import Container, bootstrap
from ventros.runtime.registry import wire

DEFAULT_SERVER = "postgresql://postgres@127.0.0.1:5432/postgres"
DEFAULT_RABBITMQ = "amqp://guest:guest@127.0.0.1:5672/"
# The test suite's secret: roles are cluster-wide and their password derives from it.
SECRET = "test-secret-key-0123456789-abcdefghijklmnopqrstuvwxyz"
EVENT = "bench.happened"
BENCH_QUEUE = QueueSpec("consumers.bench", (Binding("domain.events", "bench.*"),))


def _libpq(url: str) -> str:
    return make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, round(q / 100 * (len(ordered) - 1))))
    return ordered[index]


@dataclass
class Run:
    adapter: str
    relay_rate: float = 0.0
    relay_seconds: float = 0.0
    latencies_ms: list[float] = field(default_factory=list)
    offered: int = 0
    handled: int = 0
    offered_rate: float = 0.0
    consumer_rate: float = 0.0
    relay_lag_ms: list[float] = field(default_factory=lambda: [0.0, 0.0])
    profile: str = ""

    def latency(self) -> dict[str, float]:
        if not self.latencies_ms:
            return {}
        return {
            "p50": percentile(self.latencies_ms, 50),
            "p90": percentile(self.latencies_ms, 90),
            "p99": percentile(self.latencies_ms, 99),
            "max": max(self.latencies_ms),
            "mean": statistics.fmean(self.latencies_ms),
        }


@dataclass
class Bench:
    args: argparse.Namespace
    server: str
    rabbitmq: str | None
    database_url: str = ""
    home: Path = field(default_factory=lambda: Path(tempfile.mkdtemp(prefix="ventros-bench-")))
    prefix: str = field(default_factory=lambda: f"bench{uuid.uuid4().hex[:8]}.")
    raw_insert_rate: float = 0.0
    uow_commit_rate: float = 0.0
    raw_publish_rate: float = 0.0
    raw_batched_rate: float = 0.0
    runs: list[Run] = field(default_factory=list)

    def settings(self, adapter: str) -> Settings:
        return Settings(
            secret_key=SECRET,
            home=self.home,
            database_url=self.database_url,
            rabbitmq_url=self.rabbitmq if adapter == "rabbitmq" else None,
            rabbitmq_prefix=self.prefix,
            bus_prefetch=self.args.prefetch,
            relay_batch_size=self.args.batch,
            log_json=False,
        )

    def env(self, adapter: str) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith("VENTROS_")}
        env.update(
            {
                "VENTROS_DATABASE_URL": self.database_url,
                "VENTROS_SECRET_KEY": SECRET,
                "VENTROS_HOME": str(self.home),
                "VENTROS_LOG_JSON": "0",
                "VENTROS_RABBITMQ_PREFIX": self.prefix,
                "VENTROS_RELAY_BATCH_SIZE": str(self.args.batch),
                "VENTROS_BUS_PREFETCH": str(self.args.prefetch),
            }
        )
        if adapter == "rabbitmq" and self.rabbitmq:
            env["VENTROS_RABBITMQ_URL"] = self.rabbitmq
        return env

    # ------------------------------------------------------------------ database

    def create_database(self) -> None:
        name = f"ventros_bench_{uuid.uuid4().hex[:8]}"
        with psycopg.connect(_libpq(self.server), autocommit=True) as conn:
            conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
        self.database_url = (
            make_url(self.server).set(database=name).render_as_string(hide_password=False)
        )
        upgrade(self.database_url, self.settings("inprocess").role_passwords())

    def drop_database(self) -> None:
        name = make_url(self.database_url).database
        with psycopg.connect(_libpq(self.server), autocommit=True) as conn:
            conn.execute(
                sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
            )

    async def execute(self, statement: str) -> None:
        connection = await asyncpg.connect(_libpq(self.database_url))
        try:
            await connection.execute(statement)
        finally:
            await connection.close()

    async def fetchval(self, statement: str) -> Any:
        connection = await asyncpg.connect(_libpq(self.database_url))
        try:
            return await connection.fetchval(statement)
        finally:
            await connection.close()


def events_for(tenant: uuid.UUID, count: int, aggregates: int = 100) -> list[DomainEvent]:
    ids = [uuid.uuid4() for _ in range(aggregates)]
    return [
        DomainEvent(
            name=EVENT,
            tenant_id=tenant,
            aggregate_type="bench",
            aggregate_id=ids[i % aggregates],
            payload={"n": i, "text": "x" * 120},
        )
        for i in range(count)
    ]


async def commit(container: Container, tenant: uuid.UUID, events: list[DomainEvent]) -> None:
    async with container.uow(tenant, Actor.system()) as tx:
        for event in events:
            tx.add_event(event)
        await tx.commit()


# ---------------------------------------------------------------------- raw ceilings


async def raw_insert_rate(bench: Bench, count: int, per_tx: int) -> float:
    """The outbox and event log rows the unit of work writes, by a bare asyncpg loop."""
    tenant = uuid.uuid4()
    events = events_for(tenant, count)
    connection = await asyncpg.connect(_libpq(bench.database_url))
    try:
        started = time.perf_counter()
        for start in range(0, count, per_tx):
            chunk = events[start : start + per_tx]
            async with connection.transaction():
                await connection.executemany(
                    "INSERT INTO outbox_events (id, tenant_id, name, aggregate_type,"
                    " aggregate_id, occurred_at, event) VALUES ($1,$2,$3,$4,$5,$6,$7)",
                    [
                        (
                            e.id,
                            e.tenant_id,
                            e.name,
                            e.aggregate_type,
                            e.aggregate_id,
                            e.occurred_at,
                            json.dumps(e.to_json()),
                        )
                        for e in chunk
                    ],
                )
                await connection.executemany(
                    "INSERT INTO domain_events (id, tenant_id, name, aggregate_type,"
                    " aggregate_id, contact_id, occurred_at, actor_type, actor_id, data,"
                    " schema_version) VALUES ($1,$2,$3,$4,$5,$6,$7,$8,$9,$10,$11)",
                    [
                        (
                            e.id,
                            e.tenant_id,
                            e.name,
                            e.aggregate_type,
                            e.aggregate_id,
                            contact_of(e),
                            e.occurred_at,
                            e.actor.type,
                            e.actor.id,
                            json.dumps(e.payload),
                            e.schema_version,
                        )
                        for e in chunk
                    ],
                )
                await connection.execute("SELECT pg_notify('outbox', '')")
        return count / (time.perf_counter() - started)
    finally:
        await connection.execute("TRUNCATE outbox_events, domain_events")
        await connection.close()


async def uow_commit_rate(bench: Bench, container: Container, count: int, per_tx: int) -> float:
    tenant = uuid.uuid4()
    events = events_for(tenant, count)
    started = time.perf_counter()
    for start in range(0, count, per_tx):
        await commit(container, tenant, events[start : start + per_tx])
    rate = count / (time.perf_counter() - started)
    await bench.execute("TRUNCATE outbox_events, domain_events")
    return rate


async def raw_publish_rate(bench: Bench, count: int, window: int) -> float:
    """aio-pika alone: the same bodies to the same exchange and queues, confirms windowed."""
    assert bench.rabbitmq is not None
    events = events_for(uuid.uuid4(), count)
    bodies = [json.dumps(e.to_json()).encode() for e in events]
    connection = await aio_pika.connect_robust(bench.rabbitmq)
    try:
        channel = await connection.channel(publisher_confirms=True)
        exchange = await channel.get_exchange(bench.prefix + "domain.events")
        started = time.perf_counter()
        for start in range(0, count, window):
            await asyncio.gather(
                *(
                    exchange.publish(
                        aio_pika.Message(
                            body,
                            delivery_mode=aio_pika.DeliveryMode.PERSISTENT,
                            message_id=str(e.id),
                            content_type="application/json",
                            headers={"tenant_id": str(e.tenant_id)},
                        ),
                        routing_key=EVENT,
                        mandatory=False,
                    )
                    for e, body in zip(
                        events[start : start + window], bodies[start : start + window], strict=True
                    )
                )
            )
        return count / (time.perf_counter() - started)
    finally:
        await connection.close()


async def raw_batched_rate(bench: Bench, count: int, window: int) -> float:
    """The adapter's own publish path (frames of a window in one write), no database."""
    assert bench.rabbitmq is not None
    events = events_for(uuid.uuid4(), count)
    envelopes = [
        Envelope(
            str(e.id), EVENT, json.dumps(e.to_json()).encode(), {"tenant_id": str(e.tenant_id)}
        )
        for e in events
    ]
    connection = await aio_pika.connect_robust(bench.rabbitmq)
    try:
        channel = await connection.channel(publisher_confirms=True)
        underlay = await channel.get_underlay_channel()
        exchange = bench.prefix + "domain.events"
        started = time.perf_counter()
        for start in range(0, count, window):
            results = await amqp.publish_batch(
                underlay,  # type: ignore[arg-type]
                [(exchange, e) for e in envelopes[start : start + window]],
                timeout_seconds=30,
            )
            assert all(r.outcome.value == "confirmed" for r in results)
        return count / (time.perf_counter() - started)
    finally:
        await connection.close()


# ---------------------------------------------------------------------- relay process


class RelayProcess:
    def __init__(self, bench: Bench, adapter: str, *, profile: bool) -> None:
        self.log_path = bench.home / f"relay-{adapter}-{uuid.uuid4().hex[:6]}.log"
        self.profile_path = self.log_path.with_suffix(".prof") if profile else None
        command = [sys.executable]
        if self.profile_path is not None:
            command += ["-m", "cProfile", "-o", str(self.profile_path)]
        command += ["-m", "ventros.cli", "relay"]
        self._log = self.log_path.open("wb")
        self.process = subprocess.Popen(
            command, env=bench.env(adapter), stdout=self._log, stderr=subprocess.STDOUT
        )

    async def wait_active(self) -> None:
        deadline = time.monotonic() + 60
        while "relay active" not in self.log_path.read_text(errors="replace"):
            if self.process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError("relay did not start:\n" + self.log_path.read_text())
            await asyncio.sleep(0.05)

    def stop(self) -> str:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(30)
            except subprocess.TimeoutExpired:
                self.process.kill()
        self._log.close()
        if self.profile_path is None or not self.profile_path.exists():
            return ""
        out = tempfile.SpooledTemporaryFile(mode="w+")
        stats = pstats.Stats(str(self.profile_path), stream=out)  # type: ignore[arg-type]
        stats.sort_stats("tottime").print_stats(25)
        out.seek(0)
        return out.read()


async def wait_published(bench: Bench, within: float = 300) -> float:
    deadline = time.monotonic() + within
    connection = await asyncpg.connect(_libpq(bench.database_url))
    try:
        while await connection.fetchval(
            "SELECT EXISTS (SELECT 1 FROM outbox_events WHERE published_at IS NULL)"
        ):
            if time.monotonic() > deadline:
                raise RuntimeError("the relay did not drain the outbox")
            await asyncio.sleep(0.005)
        return time.perf_counter()
    finally:
        await connection.close()


async def purge(bench: Bench, adapter: str) -> None:
    await bench.execute("TRUNCATE outbox_events, domain_events, processed_events, bus_deliveries")
    if adapter == "rabbitmq" and bench.rabbitmq:
        connection = await aio_pika.connect(bench.rabbitmq)
        try:
            channel = await connection.channel()
            for name in ("domain.events.all", BENCH_QUEUE.name):
                queue = await channel.declare_queue(bench.prefix + name, passive=True)
                await queue.purge()
        finally:
            await connection.close()


# ---------------------------------------------------------------------- one adapter


async def run_adapter(bench: Bench, adapter: str) -> Run:
    args = bench.args
    run = Run(adapter)
    container = bootstrap(bench.settings(adapter), database_url=bench.database_url)
    bus = build_bus(container.settings, container.database, name="bench-worker")
    await bus.start([BENCH_QUEUE])
    relay = RelayProcess(bench, adapter, profile=args.profile_relay)
    try:
        await relay.wait_active()

        # Throughput: a backlog of N committed at once, drained by the idle relay.
        tenant = uuid.uuid4()
        backlog = events_for(tenant, args.events)
        started = time.perf_counter()
        await commit(container, tenant, backlog)
        committed = time.perf_counter()
        finished = await wait_published(bench)
        run.relay_seconds = finished - committed
        run.relay_rate = args.events / run.relay_seconds
        print(
            f"[{adapter}] relay: {args.events} events in {run.relay_seconds:.2f}s ="
            f" {run.relay_rate:,.0f}/s (commit of the backlog took {committed - started:.2f}s)"
        )
        await purge(bench, adapter)

        # Latency at the offered rate: a producer process commits through the unit of
        # work, stamping each event with the time its commit starts; the consumer (here,
        # the real framework) takes the difference when its handler runs.
        handled_at: dict[uuid.UUID, float] = {}
        latencies: list[float] = []
        everything = asyncio.Event()

        async def when_bench_happened_record(event: DomainEvent, _tx: UnitOfWork) -> None:
            if event.id not in handled_at:
                handled_at[event.id] = now = time.time()
                latencies.append((now - event.payload["t"]) * 1000)
                if run.offered and len(handled_at) >= run.offered:
                    everything.set()

        worker = Worker(
            bus,
            ConsumerRegistry([Consumer("bench", ("bench.*",), when_bench_happened_record)]),
            container.uow,
            Metrics(),
        )
        await worker.start()
        producer = await asyncio.create_subprocess_exec(
            sys.executable,
            __file__,
            "--produce",
            "--rate",
            str(args.rate),
            "--seconds",
            str(args.seconds),
            env=bench.env(adapter),
            stdout=asyncio.subprocess.PIPE,
        )
        out, _ = await producer.communicate()
        produced = json.loads(out.decode().strip().splitlines()[-1])
        run.offered = produced["events"]
        run.offered_rate = produced["rate"]
        if len(handled_at) >= run.offered:
            everything.set()
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(everything.wait(), 120)
        run.handled = len(handled_at)
        run.latencies_ms = latencies
        # Where the time went: commit → published (the relay's share).
        run.relay_lag_ms = await bench.fetchval(
            "SELECT array[percentile_cont(0.5) WITHIN GROUP (ORDER BY lag),"
            " percentile_cont(0.99) WITHIN GROUP (ORDER BY lag)] FROM ("
            " SELECT extract(epoch FROM published_at - created_at) * 1000 AS lag"
            " FROM outbox_events WHERE name = 'bench.happened') lags"
        )
        lat = run.latency()
        print(
            f"[{adapter}] latency at {run.offered_rate:,.0f}/s offered: p50 {lat.get('p50', 0):.1f}"
            f" ms, p90 {lat.get('p90', 0):.1f} ms, p99 {lat.get('p99', 0):.1f} ms, max"
            f" {lat.get('max', 0):.1f} ms; handled {run.handled}/{run.offered};"
            f" of which commit→published p50 {run.relay_lag_ms[0]:.1f} ms,"
            f" p99 {run.relay_lag_ms[1]:.1f} ms"
        )
        await bus.close()
        await worker.close()
    finally:
        run.profile = relay.stop()
        with contextlib.suppress(Exception):
            await bus.close()
        await container.aclose()
    await purge(bench, adapter)
    return run


# ---------------------------------------------------------------------- report


def machine() -> dict[str, str]:
    cpu = "unknown"
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    memory = "unknown"
    with contextlib.suppress(OSError):
        kb = int(Path("/proc/meminfo").read_text().split()[1])
        memory = f"{kb / 1024 / 1024:.0f} GiB"
    return {
        "cpu": f"{os.cpu_count()} cores, {cpu}",
        "memory": memory,
        "os": platform.platform(),
        "python": platform.python_version(),
        "load average at start (1, 5, 15 min)": " ".join(f"{x:.2f}" for x in os.getloadavg()),
    }


async def server_facts(bench: Bench) -> dict[str, str]:
    connection = await asyncpg.connect(_libpq(bench.database_url))
    try:
        version = await connection.fetchval("SHOW server_version")
        fsync = await connection.fetchval("SHOW fsync")
        sync = await connection.fetchval("SHOW synchronous_commit")
    finally:
        await connection.close()
    facts = {"postgresql": f"{version} (fsync={fsync}, synchronous_commit={sync})"}
    if bench.rabbitmq:
        connection = await aio_pika.connect(bench.rabbitmq)
        props = connection.transport.connection.server_properties  # type: ignore[union-attr]
        facts["rabbitmq"] = str(props.get("version", "?"))
        await connection.close()
    return facts


def markers(section: str) -> tuple[str, str]:
    return f"<!-- events:{section}:begin -->", f"<!-- events:{section}:end -->"


def report(bench: Bench, facts: dict[str, str], command: str, host: dict[str, str]) -> str:
    args = bench.args
    by = {r.adapter: r for r in bench.runs}
    begin, end = markers(args.section)
    lines = [
        begin,
        f"### Event backbone — `bench/events.py` ({args.section})",
        "",
        f"Measured {datetime.now(UTC).strftime('%Y-%m-%d %H:%M UTC')} with:",
        "",
        f"    {command}",
        "",
        "| machine | |",
        "|---|---|",
        *(f"| {k} | {v} |" for k, v in {**host, **facts}.items()),
        "",
        f"Relay batch {args.batch}; consumers: RabbitMQ prefetch {args.prefetch}, in-process"
        f" lease {Settings().bus_inprocess_prefetch}; durable: fsync on, synchronous commit,"
        " persistent messages, publisher confirms.",
        "",
        "| | in-process | RabbitMQ |",
        "|---|---|---|",
        f"| relay throughput, backlog of {args.events:,} (events/s) | "
        + " | ".join(
            f"{by[a].relay_rate:,.0f}" if a in by else "—" for a in ("inprocess", "rabbitmq")
        )
        + " |",
    ]
    if bench.raw_publish_rate:
        ratio = by["rabbitmq"].relay_rate / bench.raw_publish_rate if "rabbitmq" in by else 0
        lines.append(
            f"| raw ceiling: aio-pika, confirms windowed by {args.batch} (msgs/s) | — |"
            f" {bench.raw_publish_rate:,.0f} |"
        )
        lines.append(f"| relay ÷ aio-pika ceiling | — | {ratio:.0%} |")
        batched = by["rabbitmq"].relay_rate / bench.raw_batched_rate if "rabbitmq" in by else 0
        lines.append(
            f"| raw ceiling: the adapter's batched writes alone, no database (msgs/s) | — |"
            f" {bench.raw_batched_rate:,.0f} |"
        )
        lines.append(f"| relay ÷ batched-writes ceiling | — | {batched:.0%} |")
    lines.append(
        "| offered rate achieved by the producer (events/s) | "
        + " | ".join(
            f"{by[a].offered_rate:,.0f}" if a in by else "—" for a in ("inprocess", "rabbitmq")
        )
        + " |"
    )
    for q in ("p50", "p90", "p99", "max"):
        cells = []
        for a in ("inprocess", "rabbitmq"):
            lat = by[a].latency() if a in by else {}
            cells.append(f"{lat[q]:.1f}" if q in lat else "—")
        lines.append(
            f"| commit→handler {q} at {args.rate:,}/s offered (ms) | " + " | ".join(cells) + " |"
        )
    lines.append(
        "| of which commit→published, p50 / p99 (ms) | "
        + " | ".join(
            f"{by[a].relay_lag_ms[0]:.1f} / {by[a].relay_lag_ms[1]:.1f}" if a in by else "—"
            for a in ("inprocess", "rabbitmq")
        )
        + " |"
    )
    lines.append(
        "| events handled / offered | "
        + " | ".join(
            f"{by[a].handled:,} / {by[a].offered:,}" if a in by else "—"
            for a in ("inprocess", "rabbitmq")
        )
        + " |"
    )
    lines += [
        "",
        "Writing side, same run (transactions of 100 events, outbox and event log rows):",
        "",
        "| | events/s |",
        "|---|---|",
        f"| unit of work (`container.uow`, RLS, NOTIFY) | {bench.uow_commit_rate:,.0f} |",
        f"| raw ceiling: bare asyncpg loop, same rows | {bench.raw_insert_rate:,.0f} |",
        "",
    ]
    for run in bench.runs:
        if run.profile:
            lines += [f"Relay profile ({run.adapter}), top functions by own time:", "", "```"]
            lines += [x for x in run.profile.splitlines() if x.strip()][:40]
            lines += ["```", ""]
    lines.append(end)
    return "\n".join(lines)


def write(path: Path, section: str, name: str) -> None:
    begin, end = markers(name)
    text = path.read_text() if path.exists() else "# Benchmark results\n"
    if begin in text and end in text:
        head, rest = text.split(begin, 1)
        tail = rest.split(end, 1)[1]
        text = head + section + tail
    else:
        text = text.rstrip("\n") + "\n\n" + section + "\n"
    path.write_text(text)


async def produce(args: argparse.Namespace) -> None:
    """`--produce`: commit events at the offered rate, a transaction every 10 ms."""
    settings = Settings()
    assert settings.database_url is not None
    container = bootstrap(settings, database_url=settings.database_url)
    tenant = uuid.uuid4()
    aggregates = [uuid.uuid4() for _ in range(100)]
    per_tick = max(1, round(args.rate / 100))
    ticks = int(args.seconds * 100)
    count = 0
    try:
        began = time.perf_counter()
        for tick in range(ticks):
            due = began + tick * 0.01
            if (delay := due - time.perf_counter()) > 0:
                await asyncio.sleep(delay)
            async with container.uow(tenant, Actor.system()) as tx:
                stamp = time.time()
                for _ in range(per_tick):
                    tx.add_event(
                        DomainEvent(
                            name=EVENT,
                            tenant_id=tenant,
                            aggregate_type="bench",
                            aggregate_id=aggregates[count % len(aggregates)],
                            payload={"n": count, "t": stamp, "text": "x" * 120},
                        )
                    )
                    count += 1
                await tx.commit()
        elapsed = time.perf_counter() - began
    finally:
        await container.aclose()
    print(json.dumps({"events": count, "rate": count / elapsed}))


def reachable(url: str) -> bool:
    parsed = urlparse(url)
    try:
        with socket.create_connection((parsed.hostname or "127.0.0.1", parsed.port or 5672), 2):
            return True
    except OSError:
        return False


async def main(args: argparse.Namespace) -> None:
    server = (
        os.environ.get("VENTROS_BENCH_DATABASE_URL")
        or os.environ.get("VENTROS_TEST_DATABASE_URL")
        or DEFAULT_SERVER
    )
    rabbitmq = (
        os.environ.get("VENTROS_BENCH_RABBITMQ_URL")
        or os.environ.get("VENTROS_TEST_RABBITMQ_URL")
        or DEFAULT_RABBITMQ
    )
    host = machine()
    adapters = [a.strip() for a in args.adapters.split(",") if a.strip()]
    if "rabbitmq" in adapters and not reachable(rabbitmq):
        print(f"RabbitMQ unreachable at {rabbitmq}: the RabbitMQ runs are skipped")
        adapters.remove("rabbitmq")
    bench = Bench(args, server, rabbitmq if "rabbitmq" in adapters else None)
    await asyncio.to_thread(bench.create_database)
    declared: RabbitMQBus | None = None
    try:
        container = bootstrap(bench.settings("inprocess"), database_url=bench.database_url)
        try:
            bench.raw_insert_rate = await raw_insert_rate(bench, args.events, 100)
            bench.uow_commit_rate = await uow_commit_rate(bench, container, args.events, 100)
        finally:
            await container.aclose()
        print(
            f"writing: unit of work {bench.uow_commit_rate:,.0f} events/s,"
            f" bare asyncpg {bench.raw_insert_rate:,.0f} events/s"
        )
        if bench.rabbitmq:
            declared = RabbitMQBus(bench.rabbitmq, prefix=bench.prefix)
            # The relay processes declare the registered consumers' queues too: know them,
            # to delete them all at the end.
            await declared.start([BENCH_QUEUE, *wire(container).queue_specs()])
            bench.raw_publish_rate = await raw_publish_rate(bench, args.events, args.batch)
            print(f"raw aio-pika with windowed confirms: {bench.raw_publish_rate:,.0f} msgs/s")
            await purge(bench, "rabbitmq")
            bench.raw_batched_rate = await raw_batched_rate(bench, args.events, args.batch)
            print(f"raw batched frames with confirms: {bench.raw_batched_rate:,.0f} msgs/s")
            await purge(bench, "rabbitmq")
        for adapter in adapters:
            bench.runs.append(await run_adapter(bench, adapter))
        facts = await server_facts(bench)
    finally:
        if declared is not None:
            with contextlib.suppress(Exception):
                await declared.delete_all()
            await declared.close()
        await asyncio.to_thread(bench.drop_database)
    command = ".venv/bin/python bench/events.py " + " ".join(sys.argv[1:])
    section = report(bench, facts, command.strip(), host)
    print()
    print(section)
    if args.write:
        write(Path(args.write), section, args.section)
        print(f"\nwritten to {args.write}")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--events", type=int, default=20_000, help="backlog for the relay run")
    parser.add_argument("--rate", type=int, default=1_000, help="offered events/s for latency")
    parser.add_argument("--seconds", type=float, default=10.0, help="length of the latency run")
    parser.add_argument("--adapters", default="inprocess,rabbitmq")
    parser.add_argument("--prefetch", type=int, default=Settings().bus_prefetch)
    parser.add_argument("--batch", type=int, default=Settings().relay_batch_size)
    parser.add_argument("--write", default="bench/RESULTS.md", help="'' to only print")
    parser.add_argument("--profile-relay", action="store_true", help="cProfile the relay")
    parser.add_argument("--section", default="default", help="which section of --write")
    parser.add_argument("--produce", action="store_true", help=argparse.SUPPRESS)
    parsed = parser.parse_args()
    asyncio.run(produce(parsed) if parsed.produce else main(parsed))
