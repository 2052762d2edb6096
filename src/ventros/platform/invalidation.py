"""Cache invalidation across processes with PostgreSQL LISTEN/NOTIFY.

A writer calls `announce` inside its unit of work: PostgreSQL delivers the notification to
every listening process when (and only if) the transaction commits, before the writer's
COMMIT returns, so by the time its HTTP answer reaches anyone the other processes have it.
A process caches only while its listener is connected (`Invalidations.live`); a process
that lost the connection reads through until it is back, and forgets everything it cached
when it reconnects (what it missed meanwhile is unknown). The `generation` lets a reader
tell whether an invalidation arrived while it was loading, so it never caches a value read
before a change it was told about.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable
from typing import Any

import asyncpg
import structlog
from sqlalchemy import text

from ventros.platform.uow import UnitOfWork

log = structlog.get_logger(__name__)

TENANT_SETTINGS = "tenant_settings"  # payload: the tenant id
RECONNECT_SECONDS = 2.0


async def announce(tx: UnitOfWork, channel: str, key: str) -> None:
    """Tells every listening process, when `tx` commits, that `key` changed."""
    await tx.connection.execute(
        text("SELECT pg_notify(:channel, :key)"), {"channel": channel, "key": key}
    )


class Invalidations:
    """One LISTEN connection on `channel`; calls `forget(key)` per notification and
    `forget(None)` (everything) on each (re)connection."""

    def __init__(self, dsn: str, channel: str, forget: Callable[[str | None], None]) -> None:
        self._dsn = dsn
        self._channel = channel
        self._forget = forget
        self._live = False
        self._generation = 0
        self._task: asyncio.Task[None] | None = None
        self._closing = asyncio.Event()

    @property
    def live(self) -> bool:
        return self._live

    @property
    def generation(self) -> int:
        return self._generation

    def start(self) -> None:
        if self._task is None and not self._closing.is_set():
            self._task = asyncio.create_task(self._listen_forever(), name=f"listen-{self._channel}")

    def _invalidate(self, key: str | None) -> None:
        self._generation += 1
        self._forget(key)

    def _on_notify(self, _connection: Any, _pid: int, _channel: str, payload: object) -> None:
        self._invalidate(str(payload) if payload else None)

    def _on_lost(self, *_: Any) -> None:
        self._live = False

    async def _listen_forever(self) -> None:
        while not self._closing.is_set():
            try:
                connection = await asyncpg.connect(self._dsn)
            except (OSError, asyncpg.PostgresError) as error:
                log.warning("invalidation listener cannot connect", error=type(error).__name__)
                await self._pause()
                continue
            try:
                connection.add_termination_listener(self._on_lost)
                await connection.add_listener(self._channel, self._on_notify)
                self._invalidate(None)  # whatever changed while we were not listening
                self._live = True
                while not self._closing.is_set() and not connection.is_closed():
                    await self._pause()
            except (OSError, asyncpg.PostgresError) as error:
                log.warning("invalidation listener lost", error=type(error).__name__)
            finally:
                self._live = False
                with contextlib.suppress(Exception):
                    await connection.close()

    async def _pause(self) -> None:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._closing.wait(), RECONNECT_SECONDS)

    async def close(self) -> None:
        self._closing.set()
        self._live = False
        if self._task is not None:
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
