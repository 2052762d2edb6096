"""Channels' reactions: every new channel gets its watchdog (workflows.py)."""

from __future__ import annotations

import structlog

from ventros.channels.events import CHANNEL_CREATED
from ventros.channels.workflows import WatchdogInput, start_watchdog
from ventros.kernel.events import DomainEvent
from ventros.platform.consumers import Consumer
from ventros.platform.settings import Settings
from ventros.platform.temporal import TemporalNotConfigured
from ventros.platform.uow import UnitOfWork

log = structlog.get_logger(__name__)


async def when_channel_created_start_watchdog(event: DomainEvent, tx: UnitOfWork) -> None:
    settings = Settings()
    params = WatchdogInput(
        tenant_id=str(tx.tenant_id),
        channel_id=str(event.payload["channel_id"]),
        silence_seconds=settings.channel_silence_seconds,
        poll_seconds=settings.channel_watchdog_poll_seconds,
    )
    try:
        await start_watchdog(params)
    except TemporalNotConfigured:
        log.warning("no Temporal: the channel has no watchdog", channel_id=params.channel_id)


CONSUMERS = [
    Consumer("channels.start_watchdog", (CHANNEL_CREATED,), when_channel_created_start_watchdog),
]
