"""The background roles of a process, each `async (container, stop) -> None` running until
`stop` is set: what `ventros relay|worker|ingest|temporal-worker` run alone and what
`ventros run` runs together beside the API. Each gets what it serves from the registry
(the consumers' queues, the consumers, the Temporal workflows and activities)."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING

import structlog

if TYPE_CHECKING:
    from ventros.runtime.container import Container
    from ventros.runtime.registry import Registry

log = structlog.get_logger(__name__)

BackgroundService = Callable[["Container", asyncio.Event], Awaitable[None]]


def relay(registry: Registry) -> BackgroundService:
    """Outbox -> bus, by LISTEN/NOTIFY or (VENTROS_OUTBOX_DRIVER=temporal) a workflow."""

    async def run(container: Container, stop: asyncio.Event) -> None:
        queues = registry.queue_specs()
        if container.settings.outbox_driver == "temporal":
            from ventros.platform.workflows_outbox import run_outbox_processor

            await run_outbox_processor(container, stop, queues=queues)
            return
        from ventros.platform.relay import run_relay

        await run_relay(container, stop, queues=queues)

    return run


def worker(registry: Registry) -> BackgroundService:
    """Bus -> every context's consumers."""

    async def run(container: Container, stop: asyncio.Event) -> None:
        from ventros.platform.consumers import run_worker

        await run_worker(container, stop, registry=registry.consumers)

    return run


def temporal_worker(registry: Registry) -> BackgroundService:
    """Every context's workflows and activities on the container's task queue."""

    async def run(container: Container, stop: asyncio.Event) -> None:
        from ventros.platform.temporal import run_temporal_worker

        if not container.temporal.configured:
            log.warning("VENTROS_TEMPORAL_ADDRESS is not set: the Temporal worker idles")
            await stop.wait()
            return
        await run_temporal_worker(container, stop, parts=registry.build_worker_parts())

    return run


async def ingest(container: Container, stop: asyncio.Event) -> None:
    """Stored WAHA webhooks -> contacts, sessions, messages."""
    from ventros.conversations.worker import run_ingest

    await run_ingest(container, stop)


async def privacy_retention(container: Container, stop: asyncio.Event) -> None:
    """LGPD: purge expired soft-deleted contacts."""
    from ventros.privacy.service import run_privacy_retention

    await run_privacy_retention(container, stop)


def roles(registry: Registry) -> dict[str, BackgroundService]:
    """The roles a production layout runs as separate processes, by command name."""
    return {
        "relay": relay(registry),
        "worker": worker(registry),
        "ingest": ingest,
        "temporal-worker": temporal_worker(registry),
    }


def all_background(registry: Registry) -> dict[str, BackgroundService]:
    """What `ventros run` runs beside the API, in start order."""
    every = roles(registry)
    return {
        "temporal-worker": every["temporal-worker"],  # idles without a Temporal address
        "ingest": every["ingest"],  # WAHA webhooks stored by the API -> contacts, messages
        "relay": every["relay"],  # outbox -> bus
        "worker": every["worker"],  # bus -> registered consumers
        "privacy-retention": privacy_retention,  # LGPD: purge expired deleted contacts
    }
