"""Assignment benchmark: how many new sessions per second AssignAgentToSession keeps up with
(target: 100/s), on real PostgreSQL, through the auto-assign consumer (`process_event`, the
same per-event transaction the worker runs), in `--processes` worker processes (each its own
container, engine and pool; all assign to the same agents, so they contend on the same rows).

    .venv/bin/python bench/assignment.py [--processes 2] [--agents 50] [--capacity 100]
        [--burst 2000] [--rate 100] [--seconds 10] [--concurrency 16]

Phases (each process takes its share and they start together):

* burst: `--burst` sessions are committed at once, then the workers assign them as fast as
  they can (agents have room for all): sessions/s = burst / wall time;
* offered rate: sessions open at `--rate`/s in total for `--seconds` (each process opens its
  share every 50 ms and hands each session to its workers as it commits); reports the rate
  achieved and the lag from a session's commit to its assignment;
* queue: every agent is full; a burst of sessions is assigned (each one waits): sessions/s.

Server: VENTROS_BENCH_DATABASE_URL, else VENTROS_TEST_DATABASE_URL, else the local default.
A throwaway database is created, migrated like tests/conftest.py does, and dropped at the end.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import subprocess
import sys
import time
import uuid
from pathlib import Path
from typing import Any

import psycopg
from sqlalchemy import text

sys.path.insert(0, str(Path(__file__).resolve().parent))

from wa_kit import libpq, scratch_database

from ventros.agents.domain import change_status
from ventros.conversations.domain import Session
from ventros.conversations.handlers.lifecycle import ASSIGN
from ventros.conversations.repository import SessionRepository
from ventros.identity.domain import AgentStatus, Role, User
from ventros.identity.repository import UserRepository
from ventros.identity.service import create_tenant
from ventros.kernel.clock import utcnow
from ventros.kernel.events import Actor, DomainEvent
from ventros.platform.consumers import Outcome, process_event
from ventros.platform.migrate import upgrade
from ventros.platform.settings import Settings
from ventros.runtime.container import Container, bootstrap

SECRET = "test-secret-key-0123456789-abcdefghijklmnopqrstuvwxyz"
PASSWORD = "Bench-Password-1"


def settings(pool: int) -> Settings:
    return Settings(
        secret_key=SECRET,
        home=Path(".ventros-bench"),
        log_json=False,
        log_level="WARNING",
        database_url=None,
        rabbitmq_url=None,
        db_pool_size=pool,
    )


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))] if ordered else float("nan")


async def add_agents(c: Container, tenant_id: uuid.UUID, count: int, capacity: int) -> None:
    async with c.uow(tenant_id, Actor.system()) as tx:
        for _ in range(count):
            user = User.register(
                tenant_id=tenant_id,
                email=f"agent-{uuid.uuid4().hex[:10]}@example.com",
                name="Agent",
                role=Role.AGENT,
                password_hash="x",
                max_concurrent_sessions=capacity,
            )
            change_status(user, AgentStatus.AVAILABLE)
            await UserRepository(tx).add(user)
        await tx.commit()


async def open_sessions(c: Container, tenant_id: uuid.UUID, count: int) -> list[DomainEvent]:
    started = []
    async with c.uow(tenant_id, Actor.system()) as tx:
        repo = SessionRepository(tx)
        for _ in range(count):
            session = Session.open(
                tenant_id=tenant_id, contact_id=uuid.uuid4(), channel_id=uuid.uuid4(), at=utcnow()
            )
            started.append(session.pending_events[0])
            assert await repo.add(session)
        await tx.commit()
    return started


class Workers:
    """Two worker containers, each running at most `concurrency` assignments at once."""

    def __init__(self, workers: list[Container], concurrency: int) -> None:
        self.workers = workers
        self.gates = [asyncio.Semaphore(concurrency) for _ in workers]
        self.next = 0
        self.failed = 0

    async def assign(self, event: DomainEvent) -> float:
        index = self.next = (self.next + 1) % len(self.workers)
        async with self.gates[index]:
            outcome = await process_event(self.workers[index].uow, ASSIGN, event)
        if outcome is not Outcome.PROCESSED:
            self.failed += 1
        return time.perf_counter()


async def counts(c: Container, tenant_id: uuid.UUID) -> dict[str, int]:
    async with c.uow(tenant_id, Actor.system()) as tx:
        row = (
            await tx.connection.execute(
                text(
                    "SELECT count(*) FILTER (WHERE agent_id IS NOT NULL),"
                    " count(*) FILTER (WHERE agent_id IS NULL) FROM sessions WHERE status='open'"
                )
            )
        ).one()
        over = (
            await tx.connection.execute(
                text(
                    "SELECT count(*) FROM (SELECT s.agent_id, count(*) AS n FROM sessions s"
                    " WHERE s.status='open' AND s.agent_id IS NOT NULL GROUP BY s.agent_id) l"
                    " JOIN users u ON u.id = l.agent_id WHERE l.n > u.max_concurrent_sessions"
                )
            )
        ).scalar_one()
    return {"assigned": int(row[0]), "waiting": int(row[1]), "agents_over_capacity": int(over)}


async def burst(pool: Workers, c: Container, tenant_id: uuid.UUID, n: int) -> dict[str, Any]:
    events = await open_sessions(c, tenant_id, n)
    start = time.perf_counter()
    await asyncio.gather(*(pool.assign(e) for e in events))
    elapsed = time.perf_counter() - start
    return {"sessions": n, "seconds": round(elapsed, 3), "per_second": round(n / elapsed, 1)}


async def offered(
    pool: Workers, c: Container, tenant_id: uuid.UUID, rate: int, seconds: float
) -> dict[str, Any]:
    lags: list[float] = []
    tasks: list[asyncio.Task[None]] = []

    async def one(event: DomainEvent, opened: float) -> None:
        lags.append((await pool.assign(event)) - opened)

    tick = 0.05  # sessions are opened in small commits, every 50 ms
    per_tick = max(1, round(rate * tick))
    start = time.perf_counter()
    opened = 0
    while time.perf_counter() - start < seconds:
        target = start + (opened / rate)
        if (delay := target - time.perf_counter()) > 0:
            await asyncio.sleep(delay)
        events = await open_sessions(c, tenant_id, per_tick)
        at = time.perf_counter()
        tasks += [asyncio.create_task(one(e, at)) for e in events]
        opened += per_tick
    offered_seconds = time.perf_counter() - start
    await asyncio.gather(*tasks)
    total = time.perf_counter() - start
    return {
        "offered_per_second": rate,
        "sessions": opened,
        "offered_seconds": round(offered_seconds, 2),
        "drained_after_seconds": round(total - offered_seconds, 3),
        "achieved_per_second": round(opened / total, 1),
        "lag_ms_p50": round(statistics.median(lags) * 1000, 1),
        "lag_ms_p95": round(pct(lags, 0.95) * 1000, 1),
        "lag_ms_p99": round(pct(lags, 0.99) * 1000, 1),
        "lag_ms_max": round(max(lags) * 1000, 1),
    }


async def child(args: argparse.Namespace) -> None:
    """One worker process: its share of a phase, started at `--start-at`; prints JSON."""
    worker = bootstrap(settings(args.concurrency + 2), database_url=args.url)
    try:
        tenant_id = uuid.UUID(args.tenant)
        pool = Workers([worker], args.concurrency)
        if args.phase == "warmup":
            await burst(pool, worker, tenant_id, 20)
            print(json.dumps({"ok": True}))
            return
        events = await open_sessions(worker, tenant_id, args.count) if args.count else []
        await asyncio.sleep(max(0.0, args.start_at - time.time()))
        began = time.time()
        if args.phase == "burst":
            await asyncio.gather(*(pool.assign(e) for e in events))
            print(json.dumps({"began": began, "ended": time.time(), "sessions": len(events)}))
        else:
            result = await offered(pool, worker, tenant_id, args.rate, args.seconds)
            print(json.dumps({"began": began, "ended": time.time(), **result}))
    finally:
        await worker.aclose()


def _spawn(
    args: argparse.Namespace, url: str, tenant_id: uuid.UUID, phase: str, **extra: Any
) -> list[dict[str, Any]]:
    start_at = time.time() + 8.0  # time for every process to start and open its sessions
    commands = []
    for _ in range(args.processes):
        command = [
            sys.executable,
            __file__,
            "--child",
            "--url",
            url,
            "--tenant",
            str(tenant_id),
            "--phase",
            phase,
            "--start-at",
            str(start_at),
            "--concurrency",
            str(args.concurrency),
        ]
        for name, value in extra.items():
            command += [f"--{name}", str(value)]
        commands.append(command)
    running = [subprocess.Popen(c, stdout=subprocess.PIPE, text=True) for c in commands]
    results = []
    for process in running:
        out, _ = process.communicate(timeout=600)
        if process.returncode != 0:
            raise SystemExit(f"a worker process failed ({process.returncode})")
        results.append(json.loads(out.strip().splitlines()[-1]))
    return results


def _burst_figures(results: list[dict[str, Any]]) -> dict[str, Any]:
    sessions = sum(r["sessions"] for r in results)
    seconds = max(r["ended"] for r in results) - min(r["began"] for r in results)
    return {
        "sessions": sessions,
        "seconds": round(seconds, 3),
        "per_second": round(sessions / seconds, 1),
    }


async def main(args: argparse.Namespace) -> None:
    with scratch_database("assign") as url:
        main_c: Container | None = None
        try:
            upgrade(url, settings(1).role_passwords())
            main_c = bootstrap(settings(5), database_url=url)
            created = await create_tenant(
                main_c.uow, name="Bench", admin_email="bench@example.com", admin_password=PASSWORD
            )
            tenant_id = created.tenant_id
            with psycopg.connect(libpq(url), autocommit=True) as conn:
                conn.execute(
                    "UPDATE tenants SET settings = settings || '{\"auto_assign\": true}'::jsonb"
                    " WHERE id = %s",
                    (tenant_id,),
                )
            await add_agents(main_c, tenant_id, args.agents, args.capacity)
            n = args.processes
            print(
                f"PostgreSQL {url.rsplit('@', 1)[-1]} on {os.cpu_count()} CPUs"
                f" (load average {os.getloadavg()[0]:.1f}); {args.agents} agents x capacity"
                f" {args.capacity}; {n} worker processes"
                f" x {args.concurrency} concurrent assignments"
            )
            _spawn(args, url, tenant_id, "warmup", count=0)
            results = _spawn(args, url, tenant_id, "burst", count=args.burst // n)
            room = await counts(main_c, tenant_id)
            print("burst (agents have room):", _burst_figures(results), room)
            results = _spawn(
                args, url, tenant_id, "offered", count=0, rate=args.rate // n, seconds=args.seconds
            )
            sessions = sum(r["sessions"] for r in results)
            total = max(r["ended"] for r in results) - min(r["began"] for r in results)
            figures = {
                "offered_per_second": args.rate,
                "sessions": sessions,
                "achieved_per_second": round(sessions / total, 1),
                "drained_after_seconds": max(r["drained_after_seconds"] for r in results),
                "lag_ms_p50_worst_process": max(r["lag_ms_p50"] for r in results),
                "lag_ms_p99_worst_process": max(r["lag_ms_p99"] for r in results),
                "lag_ms_max": max(r["lag_ms_max"] for r in results),
            }
            print(f"offered {args.rate}/s:", figures, await counts(main_c, tenant_id))
            # Fill every agent, then measure sessions that must wait.
            left = args.agents * args.capacity - (await counts(main_c, tenant_id))["assigned"]
            if left > 0:
                _spawn(args, url, tenant_id, "burst", count=-(-left // n))
            results = _spawn(args, url, tenant_id, "burst", count=args.burst // n)
            full = await counts(main_c, tenant_id)
            print("queue (all agents full):", _burst_figures(results), full)
        finally:
            if main_c is not None:
                await main_c.aclose()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--processes", type=int, default=2)
    parser.add_argument("--agents", type=int, default=50)
    parser.add_argument("--capacity", type=int, default=100)
    parser.add_argument("--burst", type=int, default=2000)
    parser.add_argument("--rate", type=int, default=100)
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--concurrency", type=int, default=16)
    # A worker process (spawned by the benchmark itself).
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--url", help=argparse.SUPPRESS)
    parser.add_argument("--tenant", help=argparse.SUPPRESS)
    parser.add_argument("--phase", help=argparse.SUPPRESS)
    parser.add_argument("--count", type=int, default=0, help=argparse.SUPPRESS)
    parser.add_argument("--start-at", type=float, default=0.0, help=argparse.SUPPRESS)
    parsed = parser.parse_args()
    asyncio.run(child(parsed) if parsed.child else main(parsed))
