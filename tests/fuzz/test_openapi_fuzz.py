"""Schemathesis against /openapi.json, as a tenant admin: no input makes the API answer 500.

The app (built like tests/conftest.py builds it) is served by uvicorn on its own thread and
event loop, so the database pool never crosses loops; the fuzzer speaks real HTTP to it.
Bounded: few examples per operation, no shrinking beyond the deadline, well under 90 s.
"""

from __future__ import annotations

import asyncio
import socket
import threading
import time
from collections.abc import Iterator

import pytest
import schemathesis
import uvicorn
from hypothesis import HealthCheck, Phase, settings
from schemathesis.checks import not_a_server_error

from tests.conftest import TEST_PASSWORD, make_settings
from ventros.identity.service import create_tenant
from ventros.runtime.container import bootstrap
from ventros.runtime.http import create_app

pytestmark = pytest.mark.integration

MAX_EXAMPLES = 5
# Routes that wait on streams or external systems rather than answer.
SKIPPED_PATHS = r"(/stream$|^/webhooks/waha/)"
SEEN: list[int] = []  # status codes answered, to prove the fuzzer got past authentication


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture(scope="module")
def served(owner_url: str) -> Iterator[str]:
    container = bootstrap(make_settings(), database_url=owner_url)
    port = _free_port()
    server = uvicorn.Server(
        uvicorn.Config(create_app(container), host="127.0.0.1", port=port, log_level="warning")
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 15
    while not server.started:
        assert time.monotonic() < deadline, "uvicorn did not start"
        time.sleep(0.05)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=10)


@pytest.fixture(scope="module")
def admin_token(served: str, owner_url: str) -> str:
    import httpx

    email = f"fuzz-{time.time_ns()}@example.com"

    async def make() -> None:
        container = bootstrap(make_settings(), database_url=owner_url)
        try:
            await create_tenant(
                container.uow, name="Fuzz", admin_email=email, admin_password=TEST_PASSWORD
            )
        finally:
            await container.aclose()

    asyncio.run(make())
    answer = httpx.post(
        f"{served}/api/v1/auth/login", json={"email": email, "password": TEST_PASSWORD}
    )
    assert answer.status_code == 200, answer.text
    return str(answer.json()["access_token"])


schema = schemathesis.pytest.from_fixture("api_schema")


@pytest.fixture(scope="module")
def api_schema(served: str) -> schemathesis.BaseSchema:
    loaded = schemathesis.openapi.from_url(f"{served}/openapi.json")
    return loaded.exclude(path_regex=SKIPPED_PATHS)


@schema.parametrize()
@settings(
    max_examples=MAX_EXAMPLES,
    deadline=None,
    phases=[Phase.explicit, Phase.generate],
    suppress_health_check=list(HealthCheck),
    derandomize=True,
)
def test_no_input_makes_the_api_answer_500(case: schemathesis.Case, admin_token: str) -> None:
    response = case.call(headers={"Authorization": f"Bearer {admin_token}"})
    case.validate_response(response, checks=[not_a_server_error])
    SEEN.append(response.status_code)


def test_the_fuzzer_reached_the_routes_as_an_admin() -> None:
    if not SEEN:
        pytest.skip("run together with the fuzz test")
    assert sum(200 <= code < 300 for code in SEEN) > 20, SEEN
