"""Ventros processes for integration tests that need more than one OS process."""

from __future__ import annotations

import asyncio
import os
import socket
import sys
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import httpx

from tests.conftest import TEST_SECRET


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@asynccontextmanager
async def api_process(owner_url: str, **settings: str) -> AsyncIterator[str]:
    """A second API as its own OS process (`ventros api`) on the same database;
    `settings` are more VENTROS_* variables (`redis_url=...`)."""
    port = _free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("VENTROS_")}
    env.update(
        VENTROS_DATABASE_URL=owner_url,
        VENTROS_SECRET_KEY=TEST_SECRET,
        VENTROS_HTTP_HOST="127.0.0.1",
        VENTROS_HTTP_PORT=str(port),
        VENTROS_LOG_JSON="false",
        VENTROS_LOG_LEVEL="warning",
    )
    env.update({f"VENTROS_{name.upper()}": value for name, value in settings.items()})
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "ventros.cli", "api", env=env, stdout=asyncio.subprocess.DEVNULL
    )
    base = f"http://127.0.0.1:{port}"
    try:
        async with httpx.AsyncClient(base_url=base, timeout=2) as http:
            deadline = time.monotonic() + 60
            while True:
                assert process.returncode is None, "ventros api exited during start-up"
                assert time.monotonic() < deadline, "ventros api did not become healthy"
                try:
                    if (await http.get("/health")).status_code == 200:
                        break
                except httpx.TransportError:
                    pass
                await asyncio.sleep(0.1)
        yield base
    finally:
        process.terminate()
        await asyncio.wait_for(process.wait(), 30)
