"""Channels' part of the process: the channel routes and WAHA's webhook at the root."""

from __future__ import annotations

from typing import TYPE_CHECKING

from ventros.platform.wiring import Wiring

if TYPE_CHECKING:
    from ventros.runtime.container import Container


def wire(container: Container) -> Wiring:
    from functools import partial

    from ventros.channels import handlers, workflows
    from ventros.channels.api import router, webhook_router

    settings = container.settings
    return Wiring(
        routers=[router],
        root_routers=[webhook_router],
        consumers=handlers.consumers(
            workflows.start_watchdog.on(container.temporal),
            silence_seconds=settings.channel_silence_seconds,
            poll_seconds=settings.channel_watchdog_poll_seconds,
        ),
        worker_parts=[partial(workflows.worker_parts, container)],
    )
