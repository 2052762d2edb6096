"""Cache invalidation across processes with PostgreSQL LISTEN/NOTIFY.

A writer calls `announce` inside its unit of work: PostgreSQL signals every listening
session when (and only if) the transaction commits. Delivery to each listener is
asynchronous (its backend sends the notification when it next wakes), so COMMIT returning
does not mean the others have it; a writer that promises "the next request anywhere sees
this" waits, after commit, until its own process's listener has the notice (`delivered`):
PostgreSQL signals all listeners at the same commit, so by then the others have been told
too, and the writer's answer still has to travel before anyone asks again.
A process caches only while its listener is connected (`Invalidations.live`); a process
that lost the connection reads through until it is back, and forgets everything it cached
when it reconnects (what it missed meanwhile is unknown). The `generation` lets a reader
tell whether an invalidation arrived while it was loading, so it never caches a value read
before a change it was told about.
"""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections import OrderedDict
from collections.abc import Callable
from typing import Any

import structlog
from sqlalchemy import text

from ventros.platform.listening import listen_forever
from ventros.platform.uow import UnitOfWork

log = structlog.get_logger(__name__)

TENANT_SETTINGS = "tenant_settings"  # key: the tenant id
DELIVERY_WAIT_SECONDS = 2.0
_REMEMBERED_NOTICES = 256


async def announce(tx: UnitOfWork, channel: str, key: str) -> str:
    """Tells every listening process, when `tx` commits, that `key` changed. Returns the
    notice, unique to this call, for `Invalidations.delivered`."""
    notice = f"{key} {uuid.uuid4().hex}"
    await tx.connection.execute(
        text("SELECT pg_notify(:channel, :notice)"), {"channel": channel, "notice": notice}
    )
    return notice


def _key_of(notice: str) -> str:
    return notice.split(" ", 1)[0]


class Invalidations:
    """One LISTEN connection on `channel`; calls each subscriber's `forget(key)` per
    notification and `forget(None)` (everything) on each (re)connection."""

    def __init__(self, dsn: str, channel: str) -> None:
        self._dsn = dsn
        self._channel = channel
        self._subscribers: list[Callable[[str | None], None]] = []
        self._live = False
        self._generation = 0
        self._task: asyncio.Task[None] | None = None
        self._closing = asyncio.Event()
        self._seen: OrderedDict[str, None] = OrderedDict()
        self._waiting: dict[str, asyncio.Event] = {}

    def subscribe(self, forget: Callable[[str | None], None]) -> None:
        self._subscribers.append(forget)

    @property
    def live(self) -> bool:
        return self._live

    @property
    def generation(self) -> int:
        return self._generation

    def start(self) -> None:
        if self._task is None and not self._closing.is_set():
            self._task = asyncio.create_task(
                listen_forever(
                    self._dsn,
                    self._channel,
                    self._on_notify,
                    closing=self._closing,
                    connected=self._connected,
                    lost=self._on_lost,
                ),
                name=f"listen-{self._channel}",
            )

    def _invalidate(self, key: str | None) -> None:
        self._generation += 1
        for forget in self._subscribers:
            forget(key)

    def _on_notify(self, _connection: Any, _pid: int, _channel: str, payload: object) -> None:
        notice = str(payload) if payload else ""
        self._invalidate(_key_of(notice) if notice else None)
        self._seen[notice] = None
        if len(self._seen) > _REMEMBERED_NOTICES:
            self._seen.popitem(last=False)
        waiter = self._waiting.pop(notice, None)
        if waiter is not None:
            waiter.set()

    async def delivered(self, notice: str, within: float = DELIVERY_WAIT_SECONDS) -> bool:
        """Waits until this process's listener has `notice` (at most `within` seconds); False
        without a live listener, when there is nothing to wait for."""
        if notice in self._seen:
            return True
        if not self._live:
            return False
        waiter = self._waiting.setdefault(notice, asyncio.Event())
        try:
            await asyncio.wait_for(waiter.wait(), within)
        except TimeoutError:
            log.warning("invalidation not delivered in time", channel=self._channel)
            return False
        finally:
            self._waiting.pop(notice, None)
        return True

    def _on_lost(self) -> None:
        self._live = False

    async def _connected(self) -> None:
        self._invalidate(None)  # whatever changed while we were not listening
        self._live = True

    async def close(self) -> None:
        self._closing.set()
        self._live = False
        if self._task is not None:
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
