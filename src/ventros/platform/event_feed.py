"""Wakes Server-Sent Event streams when events are committed, in any API process.

One LISTEN connection per process on the `outbox` channel (the unit of work notifies it
on every commit that carries events); streams then re-read the event log, so what they
send comes from PostgreSQL and is the same whichever process serves them. A slow poll
covers a lost connection while it is re-established."""

from __future__ import annotations

import asyncio
import contextlib
from typing import Any

from ventros.platform.listening import listen_forever

CHANNEL = "outbox"


class EventFeed:
    def __init__(self, dsn: str) -> None:
        self._dsn = dsn
        self._changed = asyncio.Condition()
        self._version = 0
        self._task: asyncio.Task[None] | None = None
        self._closing = asyncio.Event()

    def start(self) -> None:
        if self._task is None:
            self._task = asyncio.create_task(
                listen_forever(
                    self._dsn, CHANNEL, self._on_notify, closing=self._closing, connected=self._bump
                ),
                name="event-feed",
            )

    @property
    def version(self) -> int:
        return self._version

    async def wait_for_change(self, seen: int, at_most_seconds: float) -> int:
        """Returns as soon as a commit happened after `seen`, or after `at_most_seconds`."""
        async with self._changed:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(
                    self._changed.wait_for(lambda: self._version != seen), at_most_seconds
                )
            return self._version

    async def _bump(self) -> None:
        async with self._changed:
            self._version += 1
            self._changed.notify_all()

    def _on_notify(self, *_: Any) -> None:
        asyncio.get_running_loop().create_task(self._bump())

    async def close(self) -> None:
        self._closing.set()
        if self._task is not None:
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
