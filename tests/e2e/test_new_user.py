"""A small shop's first day, as a new user runs it: from `make run`'s output to Ctrl-C.

Everything goes through what a user has: the printed logins and URLs, the HTTP API and the
WhatsApp simulator `make run` starts. No test hooks."""

from __future__ import annotations

import signal
import threading
import time
from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any, TypeVar

import httpx
import pytest

from tests.e2e.test_run import Ventros, login, processes  # noqa: F401 - the fixture
from ventros.platform.embedded.postgres import free_port

pytestmark = pytest.mark.e2e

T = TypeVar("T")
CUSTOMER = "5511988887777"
PASSWORD = "Team-Password-2026"


def eventually(check: Callable[[], T | None], what: str, run: Ventros, within: float = 30) -> T:
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        value = check()
        if value is not None:
            return value
        time.sleep(0.2)
    pytest.fail(f"{what} did not happen within {within:.0f} s:\n{run.output}")


class User:
    def __init__(self, base_url: str, email: str, password: str) -> None:
        self.http = httpx.Client(
            base_url=f"{base_url}/api/v1", headers=login(base_url, email, password), timeout=10
        )

    def call(self, method: str, path: str, expect: int = 200, **kwargs: Any) -> Any:
        response = self.http.request(method, path, **kwargs)
        assert response.status_code == expect, f"{method} {path}: {response.text}"
        return response.json() if response.content else None


def test_a_new_team_runs_its_first_day_and_stops_with_ctrl_c_under_5_s(
    tmp_path: Path,
    processes: list[Ventros],  # noqa: F811 - the fixture
) -> None:
    run = Ventros("run", tmp_path / "home", free_port())
    processes.append(run)
    run.wait_healthy()
    email, password = run.line_starting("Demo login:").removeprefix("Demo login:").split()
    sim_url = run.line_starting("Demo WhatsApp:").rsplit(" ", 1)[-1]
    admin = User(run.base_url, email, password)

    # The admin creates a supervisor and two agents, who log in.
    team = {}
    for role, name in (("supervisor", "Sofia"), ("agent", "Ana"), ("agent", "Bruno")):
        login_email = f"{name.lower()}@loja.example.com"
        created = admin.call(
            "POST",
            "/agents",
            201,
            json={"email": login_email, "name": name, "password": PASSWORD, "role": role},
        )
        team[name] = (created["id"], User(run.base_url, login_email, PASSWORD))
    (ana_id, ana), (bruno_id, bruno), (_, sofia) = team["Ana"], team["Bruno"], team["Sofia"]

    # A customer writes on WhatsApp (the simulator plays her phone).
    said = httpx.post(
        f"{sim_url}/_sim/customer-message",
        json={
            "from": CUSTOMER,
            "body": "Oi! Quanto custa a lente multifocal?",
            "push_name": "Joana",
        },
        timeout=10,
    )
    assert said.status_code == 200, said.text

    def joana() -> dict[str, Any] | None:
        found = sofia.call("GET", "/contacts", params={"q": CUSTOMER[-8:]})["items"]
        return found[0] if found else None

    contact = eventually(joana, "Joana's contact", run)

    def her_session() -> dict[str, Any] | None:
        found = sofia.call(
            "GET", "/sessions", params={"contact_id": contact["id"], "status": "open"}
        )["items"]
        return found[0] if found else None

    session = eventually(her_session, "Joana's session", run)

    # The supervisor gives it to Ana, who answers; the simulator's acks mark it delivered.
    sofia.call("POST", f"/sessions/{session['id']}/assign", json={"agent_id": ana_id})
    sent = ana.call(
        "POST",
        "/messages/send",
        202,
        json={"contact_id": contact["id"], "type": "text", "text": "Olá Joana! Custa R$ 890."},
    )

    def delivered() -> dict[str, Any] | None:
        message = ana.call("GET", f"/messages/{sent['id']}")
        return message if message["status"] in {"delivered", "read"} else None

    eventually(delivered, "the reply delivered", run)

    # Bruno cannot write into Ana's conversation.
    bruno.call(
        "POST",
        "/messages/send",
        403,
        json={"contact_id": contact["id"], "type": "text", "text": "Posso ajudar?"},
    )

    # Ana transfers it to Bruno with a note, which the session shows.
    note = "Cliente quer multifocal, já passei o preço"
    moved = ana.call(
        "POST",
        f"/sessions/{session['id']}/transfer",
        json={"to_agent_id": bruno_id, "note": note},
    )
    assert moved["agent_id"] == bruno_id
    assert bruno.call("GET", f"/sessions/{session['id']}")["transfer_note"] == note

    # Bruno schedules a follow-up a few seconds ahead; it is a message from the start.
    send_at = (datetime.now(UTC) + timedelta(seconds=3)).isoformat()
    scheduled = bruno.call(
        "POST",
        "/messages/schedule",
        202,
        json={
            "contact_id": contact["id"],
            "type": "text",
            "text": "Joana, conseguiu ver o orçamento?",
            "send_at": send_at,
        },
    )
    assert bruno.call("GET", f"/messages/{scheduled['id']}")["status"] == "scheduled"

    def went_out() -> dict[str, Any] | None:
        message = bruno.call("GET", f"/messages/{scheduled['id']}")
        return message if message["status"] in {"sent", "delivered", "read"} else None

    eventually(went_out, "the scheduled message sent", run)

    # A CSAT waits for the close; then Bruno closes and records it.
    bruno.call("POST", f"/sessions/{session['id']}/csat", 409, json={"score": 5})
    closed = bruno.call("POST", f"/sessions/{session['id']}/close", json={"reason": "resolved"})
    assert closed["status"] == "closed"
    rated = bruno.call("POST", f"/sessions/{session['id']}/csat", json={"score": 5})
    assert rated["csat"]["score"] == 5

    # The sale: the admin sets up a pipeline, Bruno moves Joana to won.
    pipeline = admin.call(
        "POST",
        "/pipelines",
        201,
        json={
            "name": "Vendas",
            "stages": [
                {"name": "Novo", "kind": "open"},
                {"name": "Ganho", "kind": "won"},
                {"name": "Perdido", "kind": "lost"},
            ],
        },
    )
    stages = {s["name"]: s["id"] for s in pipeline["stages"]}
    for stage in ("Novo", "Ganho"):
        bruno.call(
            "PUT",
            f"/contacts/{contact['id']}/pipeline",
            json={"pipeline_id": pipeline["id"], "stage_id": stages[stage]},
        )

    # The supervisor reads both reports for today.
    today = {"from": date.today().isoformat(), "to": (date.today() + timedelta(days=1)).isoformat()}
    service = sofia.call("GET", "/reports/service", params=today)
    assert {"from", "to"} <= service.keys()
    attribution = sofia.call("GET", "/reports/attribution", params=today)
    assert {"from", "to"} <= attribution.keys()
    funnel = sofia.call("GET", f"/pipelines/{pipeline['id']}/metrics", params=today)
    won = next(s for s in funnel["stages"] if s["name"] == "Ganho")
    assert won["contacts"] == 1

    # Someone keeps a live stream open; Ctrl-C still stops everything within 5 s.
    streaming = threading.Event()

    def hold_stream() -> None:
        headers = dict(sofia.http.headers)
        try:
            with httpx.stream(
                "GET", f"{run.base_url}/api/v1/events/stream", headers=headers, timeout=None
            ) as response:
                streaming.set()
                for _ in response.iter_lines():
                    pass
        except httpx.HTTPError:
            pass

    threading.Thread(target=hold_stream, daemon=True).start()
    assert streaming.wait(10)
    started = time.monotonic()
    assert run.terminate(signal.SIGINT, timeout=10) == 0, run.output
    assert time.monotonic() - started < 5, run.output
    assert "Unclosed" not in run.output, run.output
