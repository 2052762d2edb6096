"""Whole-system WhatsApp benchmark: the system started as users start it, load from outside.

    .venv/bin/python bench/e2e.py [--layout embedded|production] [--mix steady|campaign]
        [--rates 500,1000,1500] [--seconds 15] [--workers 1] [--runs 1]
        [--write bench/RESULTS.md]

* `embedded`: `ventros run` on a fresh VENTROS_HOME (embedded PostgreSQL and Temporal,
  in-process bus), exactly what `make run` starts.
* `production`: separate OS processes `ventros api`, `ventros worker` (x `--workers`),
  `ventros ingest`, `ventros relay`, `ventros temporal-worker` on RabbitMQ, the machine's
  PostgreSQL (a throwaway database) and a Temporal dev server, as README's table documents.

Load is open-loop: message n is due at `start + n / rate` whatever the server does, so a
slow server cannot slow the offered load (no coordinated omission). Latencies are taken
from that due time: the webhook's answer (200 = stored durably), and the `message.received`
event arriving on `GET /api/v1/events/stream` (what an open inbox sees). Each message's
text carries its number, so every event is matched to its message.

Mixes: `steady` — 2,000 known customers (each writes once in a warm-up, not counted);
`campaign` — 500 msg/s from the known customers plus 200 new customers per second for
10 s (contact, session, assignment and what follows `session.started`).

Diagnosis: `VENTROS_BENCH_EMBEDDED_DATABASE_URL=postgresql://...` runs `ventros run` on that
PostgreSQL instead of the embedded one (an empty database: the demo is seeded into it), so
that a server with `pg_stat_statements` shows what the in-process layout asks of it. Its
CPU is then not counted.

After each run: exactly-once is checked through the audit trail (`GET /api/v1/events?
name=message.received`: every offered message exactly once), and the CPU used by every
process of the system (and the load generator) is divided by the messages.
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
import re
import secrets
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path

import aiohttp

ROOT = Path(__file__).resolve().parents[1]
HOOK_SECRET = "bench-e2e-webhook-secret"
SIM_KEY = "bench-e2e-waha-key"
KNOWN = 2_000
PASSWORD = "Bench-E2E-Password-1"
TICK = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    if not ordered:
        return float("nan")
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


# ------------------------------------------------------------------ processes and their CPU


@dataclass
class Process:
    role: str
    popen: subprocess.Popen[str]
    lines: list[str] = field(default_factory=list)

    def line_starting(self, prefix: str, timeout: float = 120) -> str:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for line in list(self.lines):
                if line.startswith(prefix):
                    return line
            if self.popen.poll() is not None:
                break
            time.sleep(0.1)
        tail = "\n".join(self.lines[-40:])
        raise SystemExit(f"{self.role}: no line {prefix!r}:\n{tail}")


def start(role: str, args: list[str], env: dict[str, str]) -> Process:
    popen = subprocess.Popen(
        [sys.executable, "-m", "ventros.cli", *args],
        cwd=ROOT,
        env=env,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        bufsize=1,
    )
    process = Process(role, popen)

    def read() -> None:
        assert popen.stdout is not None
        for line in popen.stdout:
            process.lines.append(line.rstrip("\n"))
            del process.lines[:-2000]

    threading.Thread(target=read, daemon=True).start()
    return process


def stop(processes: list[Process]) -> None:
    for p in reversed(processes):
        if p.popen.poll() is None:
            p.popen.send_signal(signal.SIGTERM)
    for p in reversed(processes):
        try:
            p.popen.wait(30)
        except subprocess.TimeoutExpired:
            p.popen.kill()
            p.popen.wait(5)


def _stat(pid: int) -> tuple[int, int, float] | None:
    """(parent pid, own cpu ticks, reaped children's ticks) from /proc."""
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    fields = text[text.rfind(")") + 2 :].split()
    return int(fields[1]), int(fields[11]) + int(fields[12]), int(fields[13]) + int(fields[14])


def _label(pid: int, role: str) -> str:
    try:
        args = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
    except OSError:
        return role
    name = Path(args[0].decode(errors="replace")).name
    if name.startswith("postgres"):
        return "postgres"
    if name == "temporal":
        return "temporal"
    if role == "ventros run" and b"background" in args:
        return "ventros background"  # `ventros run`'s child: consumers, ingest, relay
    return role


def cpu_seconds(roots: dict[str, int]) -> dict[str, float]:
    """CPU seconds per label of every process under `roots` (role -> pid), reaped ones too."""
    stats = {}
    for entry in Path("/proc").glob("[0-9]*"):
        stat = _stat(int(entry.name))
        if stat:
            stats[int(entry.name)] = stat
    children: dict[int, list[int]] = {}
    for pid, (ppid, _, _) in stats.items():
        children.setdefault(ppid, []).append(pid)
    totals: dict[str, float] = {}

    def walk(pid: int, role: str) -> None:
        if pid not in stats:
            return
        _, own, reaped = stats[pid]
        label = _label(pid, role)
        totals[label] = totals.get(label, 0.0) + (own + reaped) / TICK
        for child in children.get(pid, []):
            walk(child, role)

    for role, pid in roots.items():
        walk(pid, role)
    return totals


def own_cpu() -> float:
    usage = os.times()
    return usage.user + usage.system


# ------------------------------------------------------------------ the system, started


@dataclass
class System:
    base_url: str
    port: int
    processes: list[Process]
    token: str
    channel_id: str

    @property
    def roots(self) -> dict[str, int]:
        roots: dict[str, int] = {}
        for p in self.processes:
            role = p.role
            while role in roots:
                role += "'"
            roots[role] = p.popen.pid
        return roots


def cli(env: dict[str, str], *args: str) -> str:
    """One `ventros` command to its end; its output, or the bench stops with its error."""
    done = subprocess.run(
        [sys.executable, "-m", "ventros.cli", *args], env=env, capture_output=True, text=True
    )
    if done.returncode:
        raise SystemExit(f"ventros {' '.join(args)}: {done.stderr or done.stdout}")
    return done.stdout


def base_env(home: Path, port: int, **settings: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("VENTROS_")}
    env.update(
        PYTHONPATH=str(ROOT / "src"),
        VENTROS_HOME=str(home),
        VENTROS_HTTP_HOST="127.0.0.1",
        VENTROS_HTTP_PORT=str(port),
        VENTROS_LOG_JSON="true",  # what a log collector gets (stdout is not a terminal)
        # the simulator listens on loopback: a self-hosted WAHA on a private address
        VENTROS_WAHA_ALLOW_PRIVATE="true",
    )
    env.update({f"VENTROS_{k.upper()}": v for k, v in settings.items()})
    return env


async def wait_healthy(base_url: str, processes: list[Process], within: float = 180) -> None:
    deadline = time.monotonic() + within
    async with aiohttp.ClientSession() as http:
        while time.monotonic() < deadline:
            for p in processes:
                if p.popen.poll() is not None:
                    tail = "\n".join(p.lines[-40:])
                    raise SystemExit(f"{p.role} exited with {p.popen.returncode}:\n{tail}")
            with contextlib.suppress(aiohttp.ClientError, OSError):
                async with http.get(f"{base_url}/health/ready") as answer:
                    if answer.status == 200:
                        return
            await asyncio.sleep(0.3)
    raise SystemExit(f"{base_url} did not become ready")


async def prepare_tenant(base_url: str, email: str, password: str, sim_url: str) -> tuple[str, str]:
    """A token and a channel on the simulator; limits raised so the bench's reads count not."""
    async with aiohttp.ClientSession(base_url=base_url) as http:
        async with http.post(
            "/api/v1/auth/login", json={"email": email, "password": password}
        ) as answer:
            assert answer.status == 200, await answer.text()
            token = (await answer.json())["access_token"]
        headers = {"Authorization": f"Bearer {token}"}
        async with http.patch(
            "/api/v1/settings", json={"rate_limit_per_minute": 1_000_000}, headers=headers
        ) as answer:
            assert answer.status == 200, await answer.text()
        async with http.post(
            "/api/v1/channels",
            json={
                "name": f"Bench {uuid.uuid4().hex[:6]}",
                "type": "waha",
                "base_url": sim_url,
                "api_key": SIM_KEY,
                "waha_session": "default",
                "webhook_secret": HOOK_SECRET,
                "rate_limit_per_minute": 1_000_000,
                "enforce_24h_window": False,
            },
            headers=headers,
        ) as answer:
            assert answer.status == 201, await answer.text()
            channel_id = (await answer.json())["id"]
    return token, channel_id


@contextlib.asynccontextmanager
async def embedded(home: Path) -> AsyncIterator[System]:
    port, sim_port = free_port(), free_port()
    processes = [
        start("waha-sim", ["waha-sim", "--port", str(sim_port), "--api-key", SIM_KEY], os.environ)
    ]
    try:
        settings = {"waha_sim_demo": "false"}
        if database := os.environ.get("VENTROS_BENCH_EMBEDDED_DATABASE_URL"):
            settings.update(database_url=database, demo="true")  # diagnosis: see the docstring
        run = start("ventros run", ["run"], base_env(home, port, **settings))
        processes.append(run)
        base_url = f"http://127.0.0.1:{port}"
        await wait_healthy(base_url, processes)
        email, password = run.line_starting("Demo login:").removeprefix("Demo login:").split()
        token, channel = await prepare_tenant(
            base_url, email, password, f"http://127.0.0.1:{sim_port}"
        )
        yield System(base_url, port, processes, token, channel)
    finally:
        stop(processes)


@contextlib.asynccontextmanager
async def production(home: Path, workers: int, apis: int = 1) -> AsyncIterator[System]:
    import psycopg
    from psycopg import sql

    from ventros.platform.embedded.temporal import EmbeddedTemporal

    server = os.environ.get("VENTROS_BENCH_DATABASE_URL") or os.environ.get(
        "VENTROS_TEST_DATABASE_URL", "postgresql://postgres@127.0.0.1:5432/postgres"
    )
    rabbit = os.environ.get("VENTROS_TEST_RABBITMQ_URL", "amqp://guest:guest@127.0.0.1:5672/")
    name = f"ventros_bench_e2e_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(server, autocommit=True) as conn:
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    url = server.rsplit("/", 1)[0] + "/" + name
    temporal = EmbeddedTemporal(home / "temporal")
    address = temporal.start()
    port, sim_port = free_port(), free_port()
    settings = {
        "database_url": url,
        "rabbitmq_url": rabbit,
        "rabbitmq_prefix": f"bench{uuid.uuid4().hex[:6]}.",
        "temporal_address": address,
        "secret_key": secrets.token_urlsafe(32),
    }
    env = base_env(home, port, **settings)
    processes = [
        start("waha-sim", ["waha-sim", "--port", str(sim_port), "--api-key", SIM_KEY], os.environ)
    ]
    try:
        await asyncio.to_thread(cli, env, "migrate")
        email = f"bench-{uuid.uuid4().hex[:8]}@example.com"
        await asyncio.to_thread(
            cli, env, "tenants", "create", "--name", "Bench", "--admin-email", email,
            "--admin-password", PASSWORD,
        )  # fmt: skip
        roles = [("api", ["api"])]
        roles += [("api", ["api"])] * (apis - 1)
        roles += [("worker", ["worker"])] * workers
        roles += [("ingest", ["ingest"]), ("relay", ["relay"])]
        roles += [("temporal-worker", ["temporal-worker"])]
        for n, (role, args) in enumerate(roles):
            # Extra APIs listen on their own port; the load goes to the first.
            extra = {"http_port": str(free_port())} if role == "api" and n else {}
            processes.append(start(role, args, base_env(home, port, **settings, **extra)))
        base_url = f"http://127.0.0.1:{port}"
        await wait_healthy(base_url, processes)
        token, channel = await prepare_tenant(
            base_url, email, PASSWORD, f"http://127.0.0.1:{sim_port}"
        )
        yield System(base_url, port, processes, token, channel)
    finally:
        stop(processes)
        temporal.stop()
        with psycopg.connect(server, autocommit=True) as conn:
            conn.execute(
                sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
            )


# ------------------------------------------------------------------ load


def envelope(run: str, n: int, phone: str) -> bytes:
    data = {
        "id": f"evt_{run}_{n:08d}",
        "timestamp": int(time.time() * 1000),
        "event": "message",
        "session": "default",
        "me": {"id": "5511940028922@c.us", "pushName": "Bench"},
        "payload": {
            "id": f"false_{phone}@c.us_{run}{n:020X}",
            "timestamp": int(time.time()),
            "from": f"{phone}@c.us",
            "fromMe": False,
            "source": "app",
            "body": f"Olá, quero saber do pedido #m{run}-{n}",
            "hasMedia": False,
            "ack": 1,
            "ackName": "SERVER",
        },
        "_data": {"notifyName": f"Cliente {phone[-4:]}"},
        "engine": "NOWEB",
    }
    return json.dumps(data, ensure_ascii=False, separators=(",", ":")).encode()


def known_phone(k: int) -> str:
    return f"55119{70000000 + k % KNOWN:08d}"


def request(channel_id: str, body: bytes) -> bytes:
    signature = hmac.new(HOOK_SECRET.encode(), body, hashlib.sha512).hexdigest()
    head = (
        f"POST /webhooks/waha/{channel_id} HTTP/1.1\r\nHost: 127.0.0.1\r\n"
        "Content-Type: application/json\r\n"
        f"X-Webhook-Hmac: {signature}\r\nX-Webhook-Hmac-Algorithm: sha512\r\n"
        f"Content-Length: {len(body)}\r\n\r\n"
    )
    return head.encode() + body


@dataclass
class Offer:
    """The messages of one run: each with its due offset (seconds from the start)."""

    run: str
    due: list[float]
    raw: list[bytes]
    new_phones: set[str]


def steady_offer(channel_id: str, rate: float, seconds: float, salt: int) -> Offer:
    run = uuid.uuid4().hex[:6]
    count = int(rate * seconds)
    raw = [request(channel_id, envelope(run, n, known_phone(n + salt))) for n in range(count)]
    return Offer(run, [n / rate for n in range(count)], raw, set())


def campaign_offer(
    channel_id: str, seconds: float = 10, steady: float = 500, new: float = 200
) -> Offer:
    run = uuid.uuid4().hex[:6]
    timed: list[tuple[float, str]] = [
        (n / steady, known_phone(n)) for n in range(int(steady * seconds))
    ]
    base = int(time.time()) % 1_000_000
    fresh = [f"55219{(base * 10 + n) % 100_000_000:08d}" for n in range(int(new * seconds))]
    timed += [(n / new, phone) for n, phone in enumerate(fresh)]
    timed.sort()
    raw = [request(channel_id, envelope(run, n, phone)) for n, (_, phone) in enumerate(timed)]
    return Offer(run, [t for t, _ in timed], raw, set(fresh))


async def _read_status(reader: asyncio.StreamReader) -> int:
    head = await reader.readuntil(b"\r\n\r\n")
    length = 0
    for line in head.split(b"\r\n"):
        if line.lower().startswith(b"content-length:"):
            length = int(line.split(b":", 1)[1])
    if length:
        await reader.readexactly(length)
    return int(head.split(b" ", 2)[1])


async def offer_load(port: int, offer: Offer, began: float, connections: int) -> list[float]:
    """Webhook answer latencies from each message's due time, open loop: every message is
    sent at its due time on an idle connection, or on a new one when none is idle (WAHA
    posts each event on a request of its own, with no cap on how many are in flight), so
    a slow answer never delays the next message. `connections` caps the open connections
    (the file descriptors of this process); a message that finds the cap reached waits."""
    answers = [float("nan")] * len(offer.raw)
    refused: list[int] = []
    idle: list[tuple[asyncio.StreamReader, asyncio.StreamWriter]] = []
    slots = asyncio.Semaphore(connections)

    async def post(n: int) -> None:
        async with slots:
            reader, writer = idle.pop() if idle else await _connect(port)
            try:
                writer.write(offer.raw[n])
                status = await _read_status(reader)
            except (ConnectionError, asyncio.IncompleteReadError):
                writer.close()  # the server closed an idle connection: once more, afresh
                reader, writer = await _connect(port)
                writer.write(offer.raw[n])
                status = await _read_status(reader)
            answers[n] = time.perf_counter() - (began + offer.due[n])
            idle.append((reader, writer))
            if status != 200:
                refused.append(status)

    posts = []
    for n in range(len(offer.raw)):
        delay = began + offer.due[n] - time.perf_counter()
        if delay > 0:
            await asyncio.sleep(delay)
        posts.append(asyncio.create_task(post(n)))
    await asyncio.gather(*posts)
    for _, writer in idle:
        writer.close()
    if refused:
        raise SystemExit(f"{len(refused)} webhooks refused, e.g. {refused[:5]}")
    return answers


async def _connect(port: int) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    return await asyncio.open_connection("127.0.0.1", port)


class Stream:
    """`GET /api/v1/events/stream`: when each bench message's `message.received` arrived."""

    PATTERN = re.compile(rb"#m([0-9a-f]{6})-(\d+)")

    def __init__(self, base_url: str, token: str) -> None:
        self.base_url, self.token = base_url, token
        self.arrived: dict[tuple[str, int], float] = {}
        self.duplicates = 0
        self.ready = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    async def __aenter__(self) -> Stream:
        self._task = asyncio.create_task(self._read())
        await asyncio.wait_for(self.ready.wait(), 30)
        return self

    async def __aexit__(self, *exc: object) -> None:
        assert self._task is not None
        self._task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self._task

    async def _read(self) -> None:
        headers = {"Authorization": f"Bearer {self.token}", "Accept": "text/event-stream"}
        timeout = aiohttp.ClientTimeout(total=None, sock_read=None)
        async with aiohttp.ClientSession(timeout=timeout) as http:
            async with http.get(f"{self.base_url}/api/v1/events/stream", headers=headers) as r:
                assert r.status == 200, await r.text()
                self.ready.set()
                wanted = False
                async for line in r.content:
                    if line.startswith(b"event:"):
                        wanted = line.strip() == b"event: message.received"
                    elif wanted and line.startswith(b"data:"):
                        found = self.PATTERN.search(line)
                        if found:
                            key = (found[1].decode(), int(found[2]))
                            if key in self.arrived:
                                self.duplicates += 1
                            else:
                                self.arrived[key] = time.perf_counter()

    def count(self, run: str) -> int:
        return sum(1 for key in self.arrived if key[0] == run)

    async def wait_for(self, run: str, count: int, within: float) -> bool:
        deadline = time.monotonic() + within
        while self.count(run) < count:
            if time.monotonic() > deadline:
                return False
            await asyncio.sleep(0.2)
        return True


async def audit_counts(system: System, run: str) -> dict[int, int]:
    """How many `message.received` events the audit trail holds per bench message number."""
    counts: dict[int, int] = {}
    headers = {"Authorization": f"Bearer {system.token}"}
    pattern = re.compile(rf"#m{run}-(\d+)")
    after: str | None = None
    async with aiohttp.ClientSession(base_url=system.base_url, headers=headers) as http:
        while True:
            params = {"name": "message.received", "limit": "200"}
            if after:
                params["after"] = after
            async with http.get("/api/v1/events", params=params) as answer:
                assert answer.status == 200, await answer.text()
                page = await answer.json()
            for item in page["items"]:
                found = pattern.search(item["data"].get("text") or "")
                if found:
                    counts[int(found[1])] = counts.get(int(found[1]), 0) + 1
            after = page["next_cursor"]
            if not after:
                return counts


async def sessions_of_new_customers(system: System, phones: set[str]) -> tuple[int, int]:
    """(sessions started for the campaign's new customers, of which assigned to an agent)."""
    headers = {"Authorization": f"Bearer {system.token}"}
    started = assigned = 0
    after: str | None = None
    async with aiohttp.ClientSession(base_url=system.base_url, headers=headers) as http:
        while True:
            params = {"status": "open", "limit": "200"}
            if after:
                params["cursor"] = after
            async with http.get("/api/v1/sessions", params=params) as answer:
                assert answer.status == 200, await answer.text()
                page = await answer.json()
            contacts = {item["contact_id"]: item for item in page["items"]}
            for contact_id, item in contacts.items():
                async with http.get(f"/api/v1/contacts/{contact_id}") as answer:
                    phone = (await answer.json()).get("phone") or ""
                if phone.removeprefix("+") in phones:
                    started += 1
                    assigned += item.get("agent_id") is not None
            after = page["next_cursor"]
            if not after:
                return started, assigned


@dataclass
class Result:
    label: str
    offered: int
    rate: float
    seconds: float
    answer_p50: float
    answer_p99: float
    e2e_p50: float
    e2e_p99: float
    sustained: float
    lost: int
    duplicated: int
    cpu_ms_per_message: dict[str, float]
    note: str = ""


def profile(
    system: System, seconds: float, folder: Path, label: str
) -> list[subprocess.Popen[bytes]]:
    """py-spy on every Python process of the system while the load runs and for half a
    minute after, while the backlog drains (collapsed stacks)."""
    folder.mkdir(parents=True, exist_ok=True)
    spies = []
    spy = str(Path(sys.executable).parent / "py-spy")
    for role, pid in system.roots.items():
        if role == "waha-sim":
            continue
        out = folder / f"{label.replace(' ', '_').replace('/', '')}-{role.replace(' ', '_')}.txt"
        spies.append(
            subprocess.Popen(
                [spy, "record", "--pid", str(pid), "--subprocesses", "--duration",
                 str(max(1, int(seconds)) + 30), "--format", "raw", "--rate", "50",
                 "--output", str(out)],
                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
            )
        )  # fmt: skip
    return spies


async def measure(
    system: System,
    streams: list[Stream],
    offer: Offer,
    label: str,
    connections: int,
    profile_to: Path | None = None,
) -> Result:
    count = len(offer.raw)
    seconds = offer.due[-1] if offer.due else 0.0
    spies = profile(system, seconds, profile_to, label) if profile_to else []
    cpu_before, gen_before = cpu_seconds(system.roots), own_cpu()
    began = time.perf_counter() + 0.5
    answers = await offer_load(system.port, offer, began, connections)
    within = max(60.0, seconds * 4)
    complete = all([await s.wait_for(offer.run, count, within=within) for s in streams])
    cpu_after, gen_after = cpu_seconds(system.roots), own_cpu()
    for spy in spies:
        spy.wait()
    # Every open inbox is to see every message: the latencies of all of them count.
    arrived = [
        (n, s.arrived[(offer.run, n)]) for s in streams for n in range(count)
        if (offer.run, n) in s.arrived
    ]  # fmt: skip
    e2e = [at - (began + offer.due[n]) for n, at in arrived]
    last = max((at for _, at in arrived), default=began)
    counts = await audit_counts(system, offer.run)
    cpu = {k: (cpu_after.get(k, 0.0) - cpu_before.get(k, 0.0)) * 1000 / count for k in cpu_after}
    cpu["load generator"] = (gen_after - gen_before) * 1000 / count
    note = "" if complete else "not every event reached the stream in time"
    if offer.new_phones:
        started, assigned = await sessions_of_new_customers(system, offer.new_phones)
        note += (
            f"{len(offer.new_phones)} new customers: {started} open sessions, "
            f"{assigned} assigned, {started - assigned} queued"
        )
    return Result(
        label=label,
        offered=count,
        rate=count / seconds if seconds else float(count),
        seconds=seconds,
        answer_p50=percentile(answers, 0.5),
        answer_p99=percentile(answers, 0.99),
        e2e_p50=percentile(e2e, 0.5) if e2e else float("nan"),
        e2e_p99=percentile(e2e, 0.99) if e2e else float("nan"),
        sustained=len(e2e) / len(streams) / (last - began) if e2e else 0.0,
        lost=sum(1 for n in range(count) if counts.get(n, 0) == 0),
        duplicated=sum(1 for c in counts.values() if c > 1) + sum(s.duplicates for s in streams),
        cpu_ms_per_message={k: round(v, 3) for k, v in sorted(cpu.items())},
        note=note,
    )


async def warm_up(system: System, stream: Stream, connections: int) -> None:
    """Every known customer writes once (contacts and sessions exist); not measured."""
    offer = steady_offer(system.channel_id, 300, KNOWN / 300, 0)
    await offer_load(system.port, offer, time.perf_counter(), connections)
    if not await stream.wait_for(offer.run, len(offer.raw), within=180):
        stored = await audit_counts(system, offer.run)
        raise SystemExit(
            f"warm-up: {stream.count(offer.run)} of {len(offer.raw)} reached the stream, "
            f"{len(stored)} are in the audit trail"
        )
    await settle(system)


async def settle(system: System, *, idle_share: float = 0.15, within: float = 180.0) -> None:
    """Waits until the system is idle (all its processes together use less than
    `idle_share` of one core over a second): what follows the warm-up's messages (sessions
    started, assigned, their workflows) must not be billed to the measured run."""
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        before = sum(cpu_seconds(system.roots).values())
        await asyncio.sleep(1.0)
        if sum(cpu_seconds(system.roots).values()) - before < idle_share:
            return
    print(f"the system did not settle within {within:.0f} s; measuring anyway", flush=True)


def machine_line() -> str:
    load = " ".join(f"{x:.2f}" for x in os.getloadavg())
    return (
        f"`{' '.join(sys.argv)}` — {os.cpu_count()} cores ({platform.machine()}), "
        f"Python {platform.python_version()}, load average at start {load}"
    )


def table(results: list[Result]) -> str:
    rows = [
        "| run | offered | rate/s | webhook p50 / p99 | end to end p50 / p99 | sustained/s "
        "| lost | dup | CPU ms per message |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for r in results:
        cpu = ", ".join(f"{k} {v:.2f}" for k, v in r.cpu_ms_per_message.items())
        total = sum(v for k, v in r.cpu_ms_per_message.items() if k != "load generator")
        rows.append(
            f"| {r.label} | {r.offered} | {r.rate:.0f} "
            f"| {r.answer_p50 * 1000:.0f} / {r.answer_p99 * 1000:.0f} ms "
            f"| {r.e2e_p50 * 1000:.0f} / {r.e2e_p99 * 1000:.0f} ms | {r.sustained:.0f} "
            f"| {r.lost} | {r.duplicated} "
            f"| system {total:.2f} ({cpu}) |"
        )
    notes = [f"- {r.label}: {r.note}" for r in results if r.note]
    return "\n".join(rows + (["", *notes] if notes else []))


def medians(results: list[Result]) -> list[Result]:
    """One row per label: the median of its runs (lost and duplicated: the worst run, since
    exactly-once must hold in every one)."""
    by_label: dict[str, list[Result]] = {}
    for r in results:
        by_label.setdefault(r.label, []).append(r)
    rows = []
    for label, runs in by_label.items():
        cpus = [r.cpu_ms_per_message for r in runs]
        keys = [k for k in cpus[0] if all(k in cpu for cpu in cpus)]
        rows.append(
            Result(
                label=f"{label}, median of {len(runs)}",
                offered=runs[0].offered,
                rate=statistics.median(r.rate for r in runs),
                seconds=statistics.median(r.seconds for r in runs),
                answer_p50=statistics.median(r.answer_p50 for r in runs),
                answer_p99=statistics.median(r.answer_p99 for r in runs),
                e2e_p50=statistics.median(r.e2e_p50 for r in runs),
                e2e_p99=statistics.median(r.e2e_p99 for r in runs),
                sustained=statistics.median(r.sustained for r in runs),
                lost=max(r.lost for r in runs),
                duplicated=max(r.duplicated for r in runs),
                cpu_ms_per_message={
                    k: statistics.median(r.cpu_ms_per_message[k] for r in runs) for k in keys
                },
            )
        )
    return rows


async def one_run(args: argparse.Namespace, home: Path) -> list[Result]:
    layout = (
        embedded(home) if args.layout == "embedded" else production(home, args.workers, args.apis)
    )
    results: list[Result] = []
    async with layout as system:
        async with contextlib.AsyncExitStack() as inboxes:
            streams = [
                await inboxes.enter_async_context(Stream(system.base_url, system.token))
                for _ in range(args.inboxes)
            ]
            await warm_up(system, streams[0], args.connections)
            team = f", {args.inboxes} inboxes open" if args.inboxes > 1 else ""
            if args.mix == "steady":
                for n, rate in enumerate(args.rates):
                    offer = steady_offer(system.channel_id, rate, args.seconds, n * 7919)
                    label = f"{args.layout} steady {rate:.0f}/s{team}"
                    results.append(
                        await measure(system, streams, offer, label, args.connections, args.profile)
                    )
                    print(table(results[-1:]), flush=True)
                    await settle(system)
            else:
                offer = campaign_offer(system.channel_id)
                label = f"{args.layout} campaign 500/s + 200 new/s{team}"
                results.append(
                    await measure(system, streams, offer, label, args.connections, args.profile)
                )
                print(table(results[-1:]), flush=True)
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--layout", choices=["embedded", "production"], default="embedded")
    parser.add_argument("--mix", choices=["steady", "campaign"], default="steady")
    parser.add_argument("--rates", default="500,1000,1500")
    parser.add_argument("--seconds", type=float, default=15)
    parser.add_argument("--workers", type=int, default=1, help="production: worker processes")
    parser.add_argument("--apis", type=int, default=1, help="production: API processes")
    parser.add_argument(
        "--connections", type=int, default=2000, help="cap on open webhook connections"
    )
    parser.add_argument(
        "--inboxes", type=int, default=1, help="event streams open (a team's inboxes)"
    )
    parser.add_argument("--runs", type=int, default=1)
    parser.add_argument("--write", type=Path)
    parser.add_argument(
        "--profile", type=Path, help="folder for py-spy stacks of each process (diagnosis)"
    )
    args = parser.parse_args()
    args.rates = [float(r) for r in args.rates.split(",")]
    header = machine_line()
    print(header, flush=True)
    results: list[Result] = []
    for _ in range(args.runs):
        with tempfile.TemporaryDirectory(prefix="ventros-e2e-") as home:
            results += asyncio.run(one_run(args, Path(home)))
    when = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())
    body = f"Measured {when}: {header}\n\n{table(results)}"
    if args.runs > 1:
        body += f"\n\nMedian of {args.runs} runs:\n\n{table(medians(results))}"
    print(body)
    if args.write:
        sys.path.insert(0, str(Path(__file__).resolve().parent))
        from wa_kit import write_section

        write_section(args.write, f"e2e-{args.layout}-{args.mix}", body)


if __name__ == "__main__":
    main()
