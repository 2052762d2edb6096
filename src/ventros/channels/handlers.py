"""Channels' reactions: every new channel gets its watchdog (workflows.py)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

import structlog

from ventros.channels.events import CHANNEL_CREATED
from ventros.channels.workflows import WatchdogInput
from ventros.kernel.events import DomainEvent
from ventros.platform.consumers import Consumer
from ventros.platform.temporal import TemporalNotConfigured
from ventros.platform.uow import UnitOfWork

log = structlog.get_logger(__name__)

WatchdogStarter = Callable[[WatchdogInput], Awaitable[bool]]


def consumers(
    start: WatchdogStarter, *, silence_seconds: float, poll_seconds: float
) -> list[Consumer]:
    async def when_channel_created_start_watchdog(event: DomainEvent, tx: UnitOfWork) -> None:
        params = WatchdogInput(
            tenant_id=str(tx.tenant_id),
            channel_id=str(event.payload["channel_id"]),
            silence_seconds=silence_seconds,
            poll_seconds=poll_seconds,
        )
        try:
            await start(params)
        except TemporalNotConfigured:
            log.warning("no Temporal: the channel has no watchdog", channel_id=params.channel_id)

    return [
        Consumer("channels.start_watchdog", (CHANNEL_CREATED,), when_channel_created_start_watchdog)
    ]
