"""A role started beside `ventros run` (`ventros worker`, no VENTROS_TEMPORAL_ADDRESS)
resolves the embedded Temporal of that run, like its database, and starts its workflows
there: before the runtime, roles built their Temporal client from their own process's
environment and dropped session timeouts."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path

import pytest
from temporalio.client import WorkflowExecutionStatus
from temporalio.service import RPCError

from tests.conftest import TEST_SECRET
from tests.integration.processes import eventually
from tests.integration.temporal_kit import _temporal_cli
from ventros.conversations.workflows import timeouts_workflow_id
from ventros.platform.embedded.temporal import EmbeddedTemporal
from ventros.platform.temporal import run_temporal_worker
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


async def test_a_worker_beside_ventros_run_starts_the_session_timeouts_on_its_temporal(
    owner_url: str, embedded_temporal: tuple[Path, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    home, address = embedded_temporal
    monkeypatch.delenv("VENTROS_TEMPORAL_ADDRESS", raising=False)
    monkeypatch.setenv("VENTROS_HOME", str(home))
    settings = resolved(load_settings(database_url=owner_url, secret_key=TEST_SECRET))
    assert settings.temporal_address == address

    container = bootstrap(settings, database_url=owner_url)
    stop = asyncio.Event()
    parts = [part() for part in wire(container).worker_parts]
    worker = asyncio.create_task(run_temporal_worker(container, stop, parts=parts))
    try:
        client = await container.temporal.client()
        handle = client.get_workflow_handle(timeouts_workflow_id(settings.temporal_task_queue))

        async def sweeping() -> bool:
            try:
                description = await handle.describe()
            except RPCError:  # not started yet
                return False
            return description.status == WorkflowExecutionStatus.RUNNING

        await eventually(sweeping, within=30)
        await handle.terminate("test over")
    finally:
        stop.set()
        await asyncio.wait_for(worker, 30)
        await container.aclose()
