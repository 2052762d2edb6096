"""A role started beside `ventros run` (`ventros worker`, no VENTROS_TEMPORAL_ADDRESS)
resolves the embedded Temporal of that run, like its database, and its consumers start
their workflows there: before the runtime, consumers built their Temporal client from
their own process's environment and dropped session timeouts."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import TEST_SECRET
from tests.integration.temporal_kit import _temporal_cli
from ventros.conversations import events
from ventros.conversations.workflows import workflow_id_of
from ventros.kernel.events import DomainEvent
from ventros.platform.embedded.temporal import EmbeddedTemporal
from ventros.runtime.commands import load_settings
from ventros.runtime.container import bootstrap
from ventros.runtime.locate import resolved
from ventros.runtime.registry import wire

pytestmark = pytest.mark.integration


@pytest.fixture
def embedded_temporal(tmp_path: Path) -> Iterator[tuple[Path, str]]:
    """What `ventros run` leaves running under its home: the embedded Temporal."""
    _temporal_cli()  # skips (or fails under VENTROS_REQUIRE_SERVICES=1) without the binary
    server = EmbeddedTemporal(tmp_path / "temporal")
    address = server.start()
    try:
        yield tmp_path, address
    finally:
        server.stop()


async def test_a_worker_beside_ventros_run_starts_session_lifecycles_on_its_temporal(
    owner_url: str, embedded_temporal: tuple[Path, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    home, address = embedded_temporal
    monkeypatch.delenv("VENTROS_TEMPORAL_ADDRESS", raising=False)
    monkeypatch.setenv("VENTROS_HOME", str(home))
    settings = resolved(load_settings(database_url=owner_url, secret_key=TEST_SECRET))
    assert settings.temporal_address == address

    container = bootstrap(settings, database_url=owner_url)
    try:
        [start_lifecycle] = [
            c
            for c in wire(container).consumers
            if c.name == "conversations.start_session_lifecycle"
        ]
        session_id = uuid.uuid4()
        started = DomainEvent(
            events.SESSION_STARTED,
            uuid.uuid4(),
            "session",
            session_id,
            {"session_id": str(session_id)},
        )
        await start_lifecycle.handler(started, None)  # type: ignore[arg-type]  # unused

        client = await container.temporal.client()
        handle = client.get_workflow_handle(workflow_id_of(session_id))
        description = await asyncio.wait_for(handle.describe(), 10)
        assert description.task_queue == settings.temporal_task_queue
        await handle.terminate("test over")
    finally:
        await container.aclose()
