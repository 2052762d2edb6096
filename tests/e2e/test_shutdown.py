"""Ctrl-C ends `ventros run` quickly and cleanly, whatever its clients do."""

from __future__ import annotations

import signal
import threading
import time
from pathlib import Path

import httpx

from tests.e2e.test_run import Ventros, login, processes  # noqa: F401 - the fixture
from ventros.platform.embedded.postgres import free_port

SHUTDOWN_LIMIT_SECONDS = 5.0


def _hold_event_stream(base_url: str, headers: dict[str, str], opened: threading.Event) -> None:
    """A client that keeps its stream open and never lets go on its own."""
    try:
        with (
            httpx.Client(base_url=base_url, timeout=httpx.Timeout(5, read=None)) as client,
            client.stream("GET", "/api/v1/events/stream", headers=headers) as stream,
        ):
            opened.set()
            for _ in stream.iter_raw():
                pass
    except httpx.HTTPError:
        pass  # the server went away: what this test wants


def test_ctrl_c_with_an_open_event_stream_exits_within_five_seconds_without_errors(
    tmp_path: Path,
    processes: list[Ventros],  # noqa: F811
) -> None:
    run = Ventros("run", tmp_path / "home", free_port())
    processes.append(run)
    run.wait_healthy()
    email, password = run.line_starting("Demo login:").removeprefix("Demo login:").split()
    headers = login(run.base_url, email, password)
    # The banner: where things are, every demo login, how to stop.
    assert run.line_starting("  Web app").split()[-1] == f"{run.base_url}/app"
    assert email in run.line_starting("  Logins")
    assert "Ctrl-C" in run.line_starting("  Stop")
    # The demo's WhatsApp answers go out through the shared WAHA client: make it open.
    contacts = httpx.get(f"{run.base_url}/api/v1/contacts", headers=headers, timeout=10)
    assert contacts.status_code == 200, contacts.text

    opened = threading.Event()
    client = threading.Thread(
        target=_hold_event_stream, args=(run.base_url, headers, opened), daemon=True
    )
    client.start()
    assert opened.wait(10), run.output

    began = time.monotonic()
    code = run.terminate(signal.SIGINT, timeout=30)
    took = time.monotonic() - began
    assert code == 0, run.output
    assert took < SHUTDOWN_LIMIT_SECONDS, f"took {took:.1f}s:\n{run.output}"
    output = "\n".join(run.lines)
    assert "Unclosed" not in output, output
    assert "Traceback" not in output, output
    assert "[error" not in output, output  # e.g. "ASGI callable returned without completing"
