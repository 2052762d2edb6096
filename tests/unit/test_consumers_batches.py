"""The consumer framework without a broker or a database: a fake unit of work that keeps
`processed_events` in memory and forgets what a rolled-back transaction wrote."""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import Sequence
from types import SimpleNamespace, TracebackType
from typing import Any

import pytest

from ventros.kernel.events import Actor, DomainEvent
from ventros.platform.bus import Delivery, DeliveryHandler, Envelope, QueueSpec
from ventros.platform.consumers import (
    Consumer,
    ConsumerRegistry,
    Outcome,
    Worker,
    dispatch,
    process_event,
)
from ventros.platform.metrics import Metrics

TENANT = uuid.uuid4()


class FakeDatabase:
    def __init__(self) -> None:
        self.processed: set[tuple[str, uuid.UUID]] = set()
        self.effects: list[tuple[str, int]] = []
        self.transactions = 0


class FakeConnection:
    def __init__(self, tx: FakeUow) -> None:
        self.tx = tx

    async def execute(self, _statement: Any, params: dict[str, Any]) -> list[SimpleNamespace]:
        fresh = []
        for consumer, event_id in zip(params["consumers"], params["event_ids"], strict=True):
            key = (consumer, event_id)
            if key not in self.tx.db.processed and key not in self.tx.processed:
                self.tx.processed.add(key)
                fresh.append(SimpleNamespace(consumer=consumer, event_id=event_id))
        return fresh


class FakeUow:
    def __init__(self, db: FakeDatabase, tenant_id: uuid.UUID, actor: Actor) -> None:
        self.db = db
        self.tenant_id = tenant_id
        self.actor = actor
        self.processed: set[tuple[str, uuid.UUID]] = set()
        self.effects: list[tuple[str, int]] = []
        self.connection = FakeConnection(self)

    async def __aenter__(self) -> FakeUow:
        return self

    async def __aexit__(
        self, _t: type[BaseException] | None, _e: BaseException | None, _tb: TracebackType | None
    ) -> None:
        return None  # anything not committed is forgotten

    async def commit(self) -> None:
        self.db.processed |= self.processed
        self.db.effects += self.effects
        self.db.transactions += 1


def effect(name: str, fail_on: set[int] | None = None) -> Consumer:
    async def handler(event: DomainEvent, tx: Any) -> None:
        if fail_on and event.payload["n"] in fail_on:
            raise RuntimeError(f"cannot handle {event.payload['n']}")
        tx.effects.append((name, event.payload["n"]))

    return Consumer(name, ("test.*",), handler)


def event(n: int, name: str = "test.happened") -> DomainEvent:
    return DomainEvent(name, TENANT, "test", uuid.uuid4(), {"n": n})


@pytest.fixture
def db() -> FakeDatabase:
    return FakeDatabase()


def uow_of(db: FakeDatabase) -> Any:
    return lambda tenant_id, actor: FakeUow(db, tenant_id, actor)


async def test_a_handler_runs_once_however_often_its_event_arrives(db: FakeDatabase) -> None:
    consumer = effect("counter")
    happened = event(1)
    outcomes = [await process_event(uow_of(db), consumer, happened) for _ in range(3)]
    assert outcomes == [Outcome.PROCESSED, Outcome.DUPLICATE, Outcome.DUPLICATE]
    assert db.effects == [("counter", 1)]


async def test_a_failing_handler_leaves_no_trace_so_the_retry_runs_it_again(
    db: FakeDatabase,
) -> None:
    flaky = {1}
    consumer = effect("flaky", fail_on=flaky)
    happened = event(1)
    with pytest.raises(RuntimeError):
        await process_event(uow_of(db), consumer, happened)
    assert db.processed == set()
    flaky.clear()
    assert await process_event(uow_of(db), consumer, happened) is Outcome.PROCESSED
    assert db.effects == [("flaky", 1)]


async def test_events_a_consumer_does_not_react_to_are_ignored(db: FakeDatabase) -> None:
    consumer = Consumer("only_sessions", ("session.*",), effect("x").handler)
    assert await process_event(uow_of(db), consumer, event(1)) is Outcome.IGNORED
    assert db.transactions == 0


async def test_dispatch_runs_every_matching_consumer(db: FakeDatabase) -> None:
    registry = ConsumerRegistry([effect("a"), effect("b")])
    assert await dispatch(registry, uow_of(db), event(7)) == {
        "a": Outcome.PROCESSED,
        "b": Outcome.PROCESSED,
    }
    assert sorted(db.effects) == [("a", 7), ("b", 7)]


class FakeBus:
    kind = "fake"

    def __init__(self) -> None:
        self.handlers: dict[str, DeliveryHandler] = {}

    async def consume(self, queue: QueueSpec, handler: DeliveryHandler) -> None:
        self.handlers[queue.name] = handler

    async def deliver(
        self, queue: str, events: Sequence[DomainEvent]
    ) -> list[BaseException | None]:
        handler = self.handlers[queue]
        results = await asyncio.gather(
            *(
                handler(
                    Delivery(Envelope(str(e.id), e.name, json.dumps(e.to_json()).encode()), queue)
                )
                for e in events
            ),
            return_exceptions=True,
        )
        return [r if isinstance(r, BaseException) else None for r in results]


async def test_deliveries_arriving_together_share_one_transaction(db: FakeDatabase) -> None:
    bus = FakeBus()
    metrics = Metrics()
    worker = Worker(bus, ConsumerRegistry([effect("fx")]), uow_of(db), metrics)
    await worker.start()
    events = [event(n) for n in range(1, 11)]
    assert await bus.deliver("consumers.fx", events) == [None] * 10
    assert db.effects == [("fx", n) for n in range(1, 11)]  # in delivery order
    assert db.transactions <= 2  # the first delivery may start a batch of its own
    assert (
        metrics.registry.get_sample_value(
            "message_processing_total", {"consumer": "fx", "outcome": "processed"}
        )
        == 10.0
    )
    assert await bus.deliver("consumers.fx", events[:3]) == [None] * 3
    assert db.effects == [("fx", n) for n in range(1, 11)]
    assert (
        metrics.registry.get_sample_value(
            "message_processing_total", {"consumer": "fx", "outcome": "duplicate"}
        )
        == 3.0
    )
    await worker.close()


async def test_only_the_failing_delivery_of_a_batch_goes_back_to_the_bus(
    db: FakeDatabase,
) -> None:
    bus = FakeBus()
    metrics = Metrics()
    worker = Worker(bus, ConsumerRegistry([effect("fx", fail_on={3})]), uow_of(db), metrics)
    await worker.start()
    results = await bus.deliver("consumers.fx", [event(n) for n in range(1, 6)])
    assert [r is None for r in results] == [True, True, False, True, True]
    assert isinstance(results[2], RuntimeError)
    assert sorted(n for _, n in db.effects) == [1, 2, 4, 5]
    assert (
        metrics.registry.get_sample_value(
            "message_processing_total", {"consumer": "fx", "outcome": "failed"}
        )
        == 1.0
    )
    await worker.close()


async def test_a_delivery_fails_when_one_of_the_consumers_sharing_its_queue_fails(
    db: FakeDatabase,
) -> None:
    bus = FakeBus()
    good = Consumer("good", ("test.*",), effect("good").handler, queue="shared")
    bad = Consumer("bad", ("test.*",), effect("bad", fail_on={1}).handler, queue="shared")
    worker = Worker(bus, ConsumerRegistry([good, bad]), uow_of(db), Metrics())
    await worker.start()
    happened = event(1)
    [result] = await bus.deliver("shared", [happened])
    assert isinstance(result, RuntimeError)
    assert db.effects == [("good", 1)]
    # The redelivery: `good` skips it, `bad` (fixed by now) handles it.
    bad_fixed = Consumer("bad", ("test.*",), effect("bad").handler, queue="shared")
    worker2 = Worker(bus, ConsumerRegistry([good, bad_fixed]), uow_of(db), Metrics())
    await worker2.start()
    assert await bus.deliver("shared", [happened]) == [None]
    assert sorted(db.effects) == [("bad", 1), ("good", 1)]
    await worker.close()
    await worker2.close()


def batched_effect(name: str, calls: list[list[int]], fail_on: set[int] | None = None) -> Consumer:
    async def handle_many(events: Sequence[DomainEvent], tx: Any) -> None:
        numbers = [e.payload["n"] for e in events]
        calls.append(numbers)
        if fail_on and fail_on.intersection(numbers):
            raise RuntimeError(f"cannot handle {sorted(fail_on.intersection(numbers))}")
        tx.effects.extend((name, n) for n in numbers)

    return Consumer.batched(name, ("test.*",), handle_many)


async def test_a_batched_consumer_takes_the_fresh_events_of_a_batch_in_one_call(
    db: FakeDatabase,
) -> None:
    bus = FakeBus()
    calls: list[list[int]] = []
    worker = Worker(bus, ConsumerRegistry([batched_effect("many", calls)]), uow_of(db), Metrics())
    await worker.start()
    events = [event(n) for n in range(1, 11)]
    assert await bus.deliver("consumers.many", events) == [None] * 10
    assert db.effects == [("many", n) for n in range(1, 11)]
    assert len(calls) <= 2  # the first delivery may start a batch of its own
    assert [n for call in calls for n in call] == list(range(1, 11))
    calls.clear()
    # A redelivery mixed with new events: only the new ones reach the handler.
    assert await bus.deliver("consumers.many", [events[0], event(11)]) == [None, None]
    assert [n for call in calls for n in call] == [11]
    await worker.close()


async def test_a_failing_batch_is_retried_one_event_each_and_only_the_culprit_fails(
    db: FakeDatabase,
) -> None:
    bus = FakeBus()
    calls: list[list[int]] = []
    consumer = batched_effect("many", calls, fail_on={3})
    worker = Worker(bus, ConsumerRegistry([consumer]), uow_of(db), Metrics())
    await worker.start()
    results = await bus.deliver("consumers.many", [event(n) for n in range(1, 6)])
    assert [r is None for r in results] == [True, True, False, True, True]
    assert sorted(n for _, n in db.effects) == [1, 2, 4, 5]
    assert [3] in calls  # the culprit, alone
    await worker.close()


async def test_a_lease_handed_over_at_once_has_one_outcome_per_delivery(
    db: FakeDatabase,
) -> None:
    bus = FakeBus()
    worker = Worker(bus, ConsumerRegistry([effect("fx", fail_on={2})]), uow_of(db), Metrics())
    await worker.start()
    batcher = bus.handlers["consumers.fx"]
    assert hasattr(batcher, "deliver_many")
    lease = [
        Delivery(Envelope(str(e.id), e.name, json.dumps(e.to_json()).encode()), "consumers.fx")
        for e in (event(1), event(2), event(3))
    ]
    lease.insert(1, Delivery(Envelope("x", "test.happened", b"not json"), "consumers.fx"))
    outcomes = await batcher.deliver_many(lease)
    assert [type(o).__name__ for o in outcomes] == [
        "NoneType",
        "JSONDecodeError",
        "RuntimeError",
        "NoneType",
    ]
    assert sorted(n for _, n in db.effects) == [1, 3]
    await worker.close()
