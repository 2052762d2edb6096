"""One PostgreSQL LISTEN connection kept up for the life of a process.

Shared by the event feed (SSE wake-ups) and cache invalidations: connect, listen, tell the
owner it is `connected` (so it can make up for what it missed while away), and on any loss
tell it `lost` and reconnect every RECONNECT_SECONDS until `closing` is set."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable
from typing import Any

import asyncpg
import structlog

log = structlog.get_logger(__name__)

RECONNECT_SECONDS = 2.0

Notified = Callable[[Any, int, str, object], None]  # asyncpg's (connection, pid, channel, payload)


def _nothing() -> None:
    return None


async def listen_forever(
    dsn: str,
    channel: str,
    notified: Notified,
    *,
    closing: asyncio.Event,
    connected: Callable[[], Awaitable[None]],
    lost: Callable[[], None] = _nothing,
) -> None:
    while not closing.is_set():
        try:
            connection = await asyncpg.connect(dsn)
        except (OSError, asyncpg.PostgresError) as error:
            log.warning("listener cannot connect", channel=channel, error=type(error).__name__)
            await pause(closing)
            continue
        try:
            connection.add_termination_listener(lambda *_: lost())
            await connection.add_listener(channel, notified)
            await connected()
            while not closing.is_set() and not connection.is_closed():
                await pause(closing)
        except (OSError, asyncpg.PostgresError) as error:
            log.warning("listener lost", channel=channel, error=type(error).__name__)
        finally:
            lost()
            with contextlib.suppress(Exception):
                await connection.close()


async def pause(closing: asyncio.Event) -> None:
    """RECONNECT_SECONDS, or less when `closing` is set meanwhile."""
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(closing.wait(), RECONNECT_SECONDS)
