"""A stopping worker lets handlers that finish work after their transaction finish it."""

import asyncio
from typing import Any

from ventros.kernel.events import DomainEvent
from ventros.platform.consumers import Consumer, ConsumerRegistry, Worker
from ventros.platform.metrics import Metrics
from ventros.platform.uow import UnitOfWork


class Handler:
    def __init__(self, takes_seconds: float) -> None:
        self.takes_seconds = takes_seconds
        self.drained = False

    async def __call__(self, event: DomainEvent, tx: UnitOfWork) -> None:
        pass

    async def drain(self) -> None:
        await asyncio.sleep(self.takes_seconds)
        self.drained = True


def _worker(*handlers: Any) -> Worker:
    registry = ConsumerRegistry(
        Consumer(f"c{i}", ("test.*",), handler) for i, handler in enumerate(handlers)
    )
    return Worker(bus=None, registry=registry, uow=None, metrics=Metrics())  # type: ignore[arg-type]


async def test_close_waits_for_every_handler_that_drains() -> None:
    quick, slower = Handler(0.01), Handler(0.05)
    await _worker(quick, slower).close()
    assert quick.drained
    assert slower.drained


async def test_a_handler_that_does_not_drain_in_time_does_not_hold_the_stop() -> None:
    stuck, quick = Handler(60), Handler(0.01)
    await asyncio.wait_for(_worker(stuck, quick).close(drain_seconds=0.1), 5)
    assert not stuck.drained
    assert quick.drained
