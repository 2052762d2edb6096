"""Ventros processes for integration tests that need more than one OS process."""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from pathlib import Path

import httpx

from tests.conftest import TEST_SECRET


def ventros_env(owner_url: str, **settings: str) -> dict[str, str]:
    """The environment of a Ventros process on the test database: no VENTROS_* variable of
    the test run leaks in; `settings` are more VENTROS_* variables (`redis_url=...`)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("VENTROS_")}
    env.update(
        VENTROS_DATABASE_URL=owner_url,
        VENTROS_SECRET_KEY=TEST_SECRET,
        VENTROS_LOG_JSON="false",
        VENTROS_LOG_LEVEL="warning",
    )
    env.update({f"VENTROS_{name.upper()}": value for name, value in settings.items()})
    return env


async def eventually(
    check: Callable[[], Awaitable[bool]], *, within: float = 10.0, interval: float = 0.05
) -> None:
    deadline = time.monotonic() + within
    while not await check():
        if time.monotonic() > deadline:
            raise AssertionError(f"condition not met within {within}s")
        await asyncio.sleep(interval)


class VentrosProcess:
    """`python -m ventros.cli <command>` as a child process with its log in a file."""

    def __init__(self, command: str, env: dict[str, str], log_path: Path) -> None:
        self.log_path = log_path
        self._log = log_path.open("wb")
        self.process = subprocess.Popen(
            [sys.executable, "-m", "ventros.cli", command],
            env=env,
            stdout=self._log,
            stderr=subprocess.STDOUT,
        )

    @property
    def pid(self) -> int:
        return self.process.pid

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    async def wait_for_log(self, needle: str, within: float = 30.0) -> None:
        async def logged() -> bool:
            if self.process.poll() is not None:
                raise AssertionError(f"process exited early:\n{self.log()[-3000:]}")
            return needle in self.log()

        try:
            await eventually(logged, within=within, interval=0.05)
        except AssertionError as error:
            raise AssertionError(f"{error}; log:\n{self.log()[-3000:]}") from error

    def kill(self) -> None:
        """SIGKILL, by pid: no cleanup, no goodbye, like a crash."""
        os.kill(self.process.pid, signal.SIGKILL)
        self.process.wait(10)

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(15)
            except subprocess.TimeoutExpired:
                self.kill()
        self._log.close()


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@asynccontextmanager
async def api_process(
    owner_url: str, *, start_seconds: float = 60, **settings: str
) -> AsyncIterator[str]:
    """A second API as its own OS process (`ventros api`) on the same database;
    `settings` are more VENTROS_* variables (`redis_url=...`)."""
    port = _free_port()
    env = ventros_env(owner_url, http_host="127.0.0.1", http_port=str(port), **settings)
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "ventros.cli", "api", env=env, stdout=asyncio.subprocess.DEVNULL
    )
    base = f"http://127.0.0.1:{port}"
    try:
        async with httpx.AsyncClient(base_url=base, timeout=2) as http:
            deadline = time.monotonic() + start_seconds
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
