"""`ventros run` end to end: real processes, embedded PostgreSQL and Temporal, no URLs set."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, TypeVar

import httpx
import pytest

from ventros.platform.embedded.postgres import (
    EmbeddedPostgres,
    PostmasterInfo,
    free_port,
    pid_alive,
)
from ventros.platform.embedded.temporal import EmbeddedTemporal

pytestmark = pytest.mark.e2e

T = TypeVar("T")

START_TIMEOUT = 90.0
STOP_TIMEOUT = 30.0


class Ventros:
    """One `ventros <command>` process; its output is collected line by line."""

    def __init__(
        self, command: str, home: Path, port: int, settings: dict[str, str] | None = None
    ) -> None:
        env = {k: v for k, v in os.environ.items() if not k.startswith("VENTROS_")}
        env.update(
            VENTROS_HOME=str(home),
            VENTROS_HTTP_HOST="127.0.0.1",
            VENTROS_HTTP_PORT=str(port),
            VENTROS_LOG_JSON="false",
            **(settings or {}),
        )
        self.base_url = f"http://127.0.0.1:{port}"
        self.lines: list[str] = []
        self.process = subprocess.Popen(
            [sys.executable, "-m", "ventros.cli", command],
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            bufsize=1,
        )
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            self.lines.append(line.rstrip("\n"))

    @property
    def output(self) -> str:
        return "\n".join(self.lines[-80:])

    def wait_healthy(self, timeout: float = START_TIMEOUT) -> float:
        """Seconds until GET /health answered 200."""
        started = time.monotonic()
        with httpx.Client(base_url=self.base_url, timeout=5) as client:
            while time.monotonic() - started < timeout:
                if self.process.poll() is not None:
                    pytest.fail(f"exited with {self.process.returncode}:\n{self.output}")
                try:
                    if client.get("/health").status_code == 200:
                        return time.monotonic() - started
                except httpx.TransportError:
                    pass
                time.sleep(0.2)
        pytest.fail(f"/health not 200 within {timeout:.0f}s:\n{self.output}")

    def line_starting(self, prefix: str) -> str:
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline:
            for line in self.lines:
                if line.startswith(prefix):
                    return line
            time.sleep(0.05)
        pytest.fail(f"no line starting with {prefix!r}:\n{self.output}")

    def terminate(self, sig: int = signal.SIGTERM, timeout: float = STOP_TIMEOUT) -> int:
        self.process.send_signal(sig)
        try:
            code = self.process.wait(timeout)
        except subprocess.TimeoutExpired:
            pytest.fail(
                f"still running {timeout:.0f}s after {signal.Signals(sig).name}:\n{self.output}"
            )
        self._reader.join(5)
        return code

    def kill(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait(10)


@pytest.fixture
def processes() -> Iterator[list[Ventros]]:
    """Every process a test starts is gone afterwards, whatever happened."""
    started: list[Ventros] = []
    yield started
    for process in started:
        process.kill()


def embedded_pids(home: Path) -> tuple[int, int]:
    postmaster = PostmasterInfo.read(home / "postgres")
    temporal = EmbeddedTemporal(home / "temporal").pid
    assert postmaster is not None, "no postmaster.pid"
    assert temporal is not None, "no Temporal server recorded"
    return postmaster.pid, temporal


def children_of(pid: int) -> set[int]:
    """Direct children of `pid` (Linux /proc; empty elsewhere)."""
    found: set[int] = set()
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            text = stat.read_text()
        except OSError:
            continue
        if int(text[text.rfind(")") + 2 :].split()[1]) == pid:
            found.add(int(stat.parent.name))
    return found


def processes_under(home: Path) -> list[str]:
    """Command lines of live processes that mention `home` (Linux /proc; empty elsewhere)."""
    found = []
    for cmdline in Path("/proc").glob("[0-9]*/cmdline"):
        try:
            args = cmdline.read_bytes().split(b"\0")
        except OSError:
            continue
        if any(str(home).encode() in arg for arg in args) and pid_alive(int(cmdline.parent.name)):
            found.append(b" ".join(args).decode(errors="replace"))
    return found


def wait_gone(pids: tuple[int, ...], timeout: float = 5.0) -> list[int]:
    deadline = time.monotonic() + timeout
    alive = [p for p in pids if pid_alive(p)]
    while alive and time.monotonic() < deadline:
        time.sleep(0.1)
        alive = [p for p in alive if pid_alive(p)]
    return alive


def login(base_url: str, email: str, password: str) -> dict[str, str]:
    response = httpx.post(
        f"{base_url}/api/v1/auth/login", json={"email": email, "password": password}, timeout=10
    )
    assert response.status_code == 200, response.text
    return {"Authorization": f"Bearer {response.json()['access_token']}"}


def test_run_serves_stops_cleanly_and_keeps_data(tmp_path: Path, processes: list[Ventros]) -> None:
    home = tmp_path / "home"

    # Cold start: fresh home, embedded PostgreSQL and Temporal.
    first = Ventros("run", home, free_port())
    processes.append(first)
    first.wait_healthy()
    email, password = first.line_starting("Demo login:").removeprefix("Demo login:").split()
    assert first.line_starting("Ventros is up:") == f"Ventros is up: {first.base_url}"

    postgres_pid, temporal_pid = embedded_pids(home)
    if Path("/proc/self/stat").exists():
        assert {postgres_pid, temporal_pid} <= children_of(first.process.pid)

    headers = login(first.base_url, email, password)
    created = httpx.post(
        f"{first.base_url}/api/v1/contacts",
        json={"name": "Ana", "phone": "+5511987654321"},
        headers=headers,
        timeout=10,
    )
    assert created.status_code == 201, created.text
    contact_id = created.json()["id"]

    # `ventros api` alone reaches the database of the running `ventros run`.
    api = Ventros("api", home, free_port())
    processes.append(api)
    api.wait_healthy()
    fetched = httpx.get(f"{api.base_url}/api/v1/contacts/{contact_id}", headers=headers)
    assert fetched.status_code == 200, fetched.text
    assert api.terminate() == 0, api.output

    # SIGTERM: exit 0, nothing left running.
    assert first.terminate(signal.SIGTERM) == 0, first.output
    assert wait_gone((postgres_pid, temporal_pid)) == [], first.output
    assert processes_under(home) == [], first.output
    assert EmbeddedPostgres(home / "postgres").running_url() is None
    assert EmbeddedTemporal(home / "temporal").running_address() is None

    # Warm start on the same home: same demo login, the contact is still there.
    second = Ventros("run", home, free_port())
    processes.append(second)
    second.wait_healthy()
    assert second.line_starting("Demo login:") == f"Demo login: {email} {password}"
    postgres_pid, temporal_pid = embedded_pids(home)
    headers = login(second.base_url, email, password)
    fetched = httpx.get(
        f"{second.base_url}/api/v1/contacts/{contact_id}", headers=headers, timeout=10
    )
    assert fetched.status_code == 200, fetched.text
    assert fetched.json()["name"] == "Ana"

    # Ctrl-C behaves like SIGTERM.
    assert second.terminate(signal.SIGINT) == 0, second.output
    assert wait_gone((postgres_pid, temporal_pid)) == [], second.output
    assert processes_under(home) == [], second.output


def test_stop_during_start_up_leaves_nothing_running(
    tmp_path: Path, processes: list[Ventros]
) -> None:
    home = tmp_path / "home"
    run = Ventros("run", home, free_port())
    processes.append(run)
    # Wait until the embedded servers are starting, then stop before the API is up.
    deadline = time.monotonic() + START_TIMEOUT
    while not (home / "temporal" / "server.json").exists():
        assert run.process.poll() is None, run.output
        assert time.monotonic() < deadline, run.output
        time.sleep(0.02)
    temporal_pid = EmbeddedTemporal(home / "temporal").pid
    assert temporal_pid is not None
    assert run.terminate(signal.SIGTERM) == 0, run.output
    postmaster = PostmasterInfo.read(home / "postgres")
    pids = (temporal_pid,) + ((postmaster.pid,) if postmaster else ())
    assert wait_gone(pids) == [], run.output
    assert processes_under_after_grace(home) == [], run.output


def processes_under_after_grace(home: Path, seconds: float = 5.0) -> list[str]:
    """A helper killed by the kernel when its parent exits (initdb) takes a moment to go."""
    deadline = time.monotonic() + seconds
    while (found := processes_under(home)) and time.monotonic() < deadline:
        time.sleep(0.1)
    return found


def test_embedded_postgres_is_reused_not_owned_by_a_second_handle(tmp_path: Path) -> None:
    # A data dir whose socket path would exceed the unix socket limit.
    data_dir = tmp_path / ("d" * 60) / "postgres"
    owner = EmbeddedPostgres(data_dir)
    url = owner.start()
    try:
        assert owner.owned
        assert url.startswith("postgresql://postgres@127.0.0.1:")
        other = EmbeddedPostgres(data_dir)
        assert other.running_url() == url
        assert other.start() == url
        assert not other.owned
        other.stop()  # not ours: the server keeps running
        assert owner.running_url() == url
    finally:
        pid = owner.pid
        owner.stop()
    assert pid is not None
    assert wait_gone((pid,)) == []
    assert EmbeddedPostgres(data_dir).running_url() is None


def test_failed_start_up_stops_the_embedded_servers(
    tmp_path: Path, processes: list[Ventros]
) -> None:
    home = tmp_path / "home"
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        run = Ventros("run", home, taken.getsockname()[1])  # the API cannot bind
        processes.append(run)
        try:
            code = run.process.wait(START_TIMEOUT)
        except subprocess.TimeoutExpired:
            pytest.fail(f"still running:\n{run.output}")
    assert code != 0, run.output
    assert "embedded PostgreSQL ready" in run.output  # it got that far
    assert processes_under(home) == [], run.output
    assert EmbeddedTemporal(home / "temporal").running_address() is None, run.output


async def test_a_crashing_background_service_is_restarted_and_the_others_keep_running(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import asyncio

    from ventros.runtime import supervisor

    monkeypatch.setattr(supervisor, "SERVICE_INITIAL_BACKOFF_SECONDS", 0.01)
    calls: list[str] = []

    async def flaky(container: object, stop: asyncio.Event) -> None:
        calls.append("flaky")
        if calls.count("flaky") < 3:
            raise RuntimeError("boom")
        await stop.wait()
        calls.append("flaky stopped")

    async def steady(container: object, stop: asyncio.Event) -> None:
        calls.append("steady")
        await stop.wait()
        calls.append("steady stopped")

    async def stubborn(container: object, stop: asyncio.Event) -> None:
        await asyncio.Event().wait()  # ignores stop: cancelled after the grace period

    monkeypatch.setattr(supervisor, "SERVICE_SHUTDOWN_GRACE_SECONDS", 0.2)
    stop = asyncio.Event()
    tasks = [
        asyncio.create_task(supervisor._supervise(service, object(), stop))  # type: ignore[arg-type]
        for service in (flaky, steady, stubborn)
    ]
    deadline = asyncio.get_running_loop().time() + 5
    while calls.count("flaky") < 3:
        assert asyncio.get_running_loop().time() < deadline, calls
        await asyncio.sleep(0.01)
    stop.set()
    await asyncio.wait_for(supervisor._finish(tasks), 5)
    assert calls.count("flaky") == 3
    assert {"flaky stopped", "steady stopped"} <= set(calls)
    assert calls.count("steady") == 1
    assert all(task.done() for task in tasks)


def _session_texts(
    base_url: str, headers: dict[str, str], channel_id: str
) -> dict[str, list[dict[str, Any]]]:
    """Per session on the channel: its messages (text, direction, status), oldest first."""
    found: dict[str, list[dict[str, Any]]] = {}
    sessions = httpx.get(f"{base_url}/api/v1/sessions", headers=headers, timeout=10)
    assert sessions.status_code == 200, sessions.text
    for session in sessions.json()["items"]:
        if session.get("channel_id") != channel_id:
            continue
        listed = httpx.get(
            f"{base_url}/api/v1/sessions/{session['id']}/messages", headers=headers, timeout=10
        )
        assert listed.status_code == 200, listed.text
        found[session["id"]] = sorted(listed.json()["items"], key=lambda m: m["created_at"])
    return found


def _eventually(check: Callable[[], T | None], what: str, output: Callable[[], str]) -> T:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        value = check()
        if value is not None:
            return value
        time.sleep(0.3)
    pytest.fail(f"{what} did not happen within 30 s:\n{output()}")


def test_the_demo_has_a_whatsapp_channel_on_the_simulator_where_customers_write_in(
    tmp_path: Path, processes: list[Ventros]
) -> None:
    from ventros.stand_ins.demo import DEMO_CHANNEL_NAME, DEMO_TEXT

    run = Ventros("run", tmp_path / "home", free_port())
    processes.append(run)
    run.wait_healthy()
    email, password = run.line_starting("Demo login:").removeprefix("Demo login:").split()
    sim_url = run.line_starting("Demo WhatsApp:").rsplit(" ", 1)[-1]
    headers = login(run.base_url, email, password)

    listed = httpx.get(f"{run.base_url}/api/v1/channels", headers=headers, timeout=10)
    assert listed.status_code == 200, listed.text
    [channel] = [c for c in listed.json()["items"] if c["name"] == DEMO_CHANNEL_NAME]
    assert channel["base_url"] == sim_url

    def first_message() -> tuple[str, dict[str, Any]] | None:
        for session_id, items in _session_texts(run.base_url, headers, channel["id"]).items():
            if items and items[0]["text"] == DEMO_TEXT:
                return session_id, items[0]
        return None

    session_id, greeting = _eventually(
        first_message, "the demo customer's message", lambda: run.output
    )
    assert greeting["direction"] == "inbound"

    # Another customer message, played from the command line.
    said = subprocess.run(
        [sys.executable, "-m", "ventros.cli", "waha-sim", "say", "--sim-url", sim_url,
         "Vocês abrem sábado?"],
        capture_output=True, text=True, timeout=30,
    )  # fmt: skip
    assert said.returncode == 0, said.stdout + said.stderr

    def texts() -> list[str] | None:
        items = _session_texts(run.base_url, headers, channel["id"]).get(session_id, [])
        found = [m["text"] for m in items]
        return found if "Vocês abrem sábado?" in found else None

    assert _eventually(texts, "the second message", lambda: run.output)[:1] == [DEMO_TEXT]

    # An answer goes out through the worker to the simulator, whose acks mark it delivered.
    sent = httpx.post(
        f"{run.base_url}/api/v1/messages/send",
        json={"contact_id": greeting["contact_id"], "type": "text", "text": "Abrimos sim!"},
        headers=headers,
        timeout=10,
    )
    assert sent.status_code == 202, sent.text

    def delivered() -> dict[str, Any] | None:
        got = httpx.get(
            f"{run.base_url}/api/v1/messages/{sent.json()['id']}", headers=headers, timeout=10
        ).json()
        return got if got["status"] == "delivered" else None

    answer = _eventually(delivered, "the answer's delivery", lambda: run.output)
    assert answer["external_id"].startswith("true_5511976543210@c.us_")
    sends = httpx.get(f"{sim_url}/_sim/sends", timeout=10).json()
    assert [s["body"]["text"] for s in sends["sends"]] == ["Abrimos sim!"]

    assert run.terminate(signal.SIGTERM) == 0, run.output
    assert processes_under(tmp_path / "home") == [], run.output


def background_children(pid: int) -> list[int]:
    """`ventros background` processes started by `pid`."""
    found = []
    for child in children_of(pid):
        try:
            args = Path(f"/proc/{child}/cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        if b"ventros.cli" in args and b"background" in args:
            found.append(child)
    return found


@pytest.mark.parametrize("background", ["process", "inline"])
def test_a_running_ventros_delivers_signed_webhooks_of_what_happens(
    tmp_path: Path, processes: list[Ventros], background: str
) -> None:
    """The whole chain as `make run` runs it: API -> outbox -> relay -> bus -> worker ->
    Temporal delivery workflow -> the subscriber, signed as the docs say; with the
    background roles in a child process of their own (the default) and in the API's."""
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

    from tests.unit.test_webhooks_docs import receiver_example

    verify = receiver_example()["verify"]
    secret = "whsec_e2e-receiver-secret"
    received: list[tuple[dict[str, str], bytes]] = []

    class Receiver(BaseHTTPRequestHandler):
        def log_message(self, *args: object) -> None:
            pass

        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers["Content-Length"]))
            received.append((dict(self.headers), body))
            self.send_response(200)
            self.end_headers()

    receiver = ThreadingHTTPServer(("127.0.0.1", 0), Receiver)
    threading.Thread(target=receiver.serve_forever, daemon=True).start()
    try:
        run = Ventros(
            "run",
            tmp_path / "home",
            free_port(),
            {
                "VENTROS_WEBHOOKS_ALLOW_PRIVATE": "true",
                "VENTROS_WAHA_SIM_DEMO": "false",
                "VENTROS_RUN_BACKGROUND": background,
            },
        )
        processes.append(run)
        run.wait_healthy()
        children = background_children(run.process.pid)
        assert len(children) == (1 if background == "process" else 0), run.output
        email, password = run.line_starting("Demo login:").removeprefix("Demo login:").split()
        headers = login(run.base_url, email, password)
        subscribed = httpx.post(
            f"{run.base_url}/api/v1/webhooks",
            json={
                "url": f"http://127.0.0.1:{receiver.server_port}/hooks",
                "events": ["contact.created"],
                "secret": secret,
            },
            headers=headers,
            timeout=10,
        )
        assert subscribed.status_code == 201, subscribed.text
        created = httpx.post(
            f"{run.base_url}/api/v1/contacts",
            json={"name": "Webhook Ana", "phone": "+5511912345678"},
            headers=headers,
            timeout=10,
        )
        assert created.status_code == 201, created.text

        def delivered() -> list[tuple[dict[str, str], bytes]] | None:
            return list(received) or None

        [(sent_headers, body)] = _eventually(delivered, "the webhook delivery", lambda: run.output)
        event = json.loads(body)
        assert event["name"] == "contact.created"
        assert event["aggregate_id"] == created.json()["id"]
        assert sent_headers["X-Ventros-Event"] == "contact.created"
        assert sent_headers["X-Ventros-Delivery"] == event["id"]
        assert verify(secret, sent_headers["X-Ventros-Signature"], body)
        assert run.terminate(signal.SIGTERM) == 0, run.output
        assert wait_gone(tuple(children)) == [], run.output  # the child stopped with it
    finally:
        receiver.shutdown()


def test_a_killed_background_process_is_started_again(
    tmp_path: Path, processes: list[Ventros]
) -> None:
    """`ventros run` supervises its `ventros background` child like any role: killed, it
    comes back (after the back-off), and Ctrl-C still stops everything."""
    run = Ventros("run", tmp_path / "home", free_port(), {"VENTROS_WAHA_SIM_DEMO": "false"})
    processes.append(run)
    run.wait_healthy()
    [first] = _eventually(
        lambda: background_children(run.process.pid) or None,
        "the background child",
        lambda: run.output,
    )
    os.kill(first, signal.SIGKILL)
    [second] = _eventually(
        lambda: [p for p in background_children(run.process.pid) if p != first] or None,
        "a new background child",
        lambda: run.output,
    )
    assert "background service crashed" in run.output
    assert run.terminate(signal.SIGINT) == 0, run.output
    assert wait_gone((second,)) == [], run.output
