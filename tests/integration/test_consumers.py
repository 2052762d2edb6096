"""Idempotent consumers on the real database: effect and record commit together, under RLS."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from sqlalchemy import text

from tests.integration.processes import eventually
from tests.integration.test_bus_support import Backbone, effect, fresh_backbone
from ventros.kernel.events import DomainEvent
from ventros.platform.consumers import (
    Consumer,
    ConsumerRegistry,
    Outcome,
    dispatch,
    process_event,
    run_worker,
)
from ventros.platform.metrics import metrics_for
from ventros.platform.relay import run_relay
from ventros.platform.uow import UnitOfWork

pytestmark = pytest.mark.integration


@pytest.fixture
async def backbone(server_url: str, tmp_path: Path) -> AsyncIterator[Backbone]:
    async with fresh_backbone(
        server_url, tmp_path, bus_poll_interval_seconds=0.2, metrics_interval_seconds=0.2
    ) as built:
        yield built


async def test_a_redelivered_event_has_one_effect_and_one_record(backbone: Backbone) -> None:
    consumer = Consumer("effects", ("test.*",), effect("effects"))
    event = backbone.event(uuid.uuid4())
    outcomes = [await process_event(backbone.container.uow, consumer, event) for _ in range(3)]
    assert outcomes == [Outcome.PROCESSED, Outcome.DUPLICATE, Outcome.DUPLICATE]
    assert await backbone.fetchval("SELECT count(*) FROM test_effects") == 1
    row = (await backbone.fetch("SELECT * FROM processed_events"))[0]
    assert (row["consumer"], row["event_id"], row["tenant_id"]) == (
        "effects",
        event.id,
        backbone.tenant_id,
    )


async def test_concurrent_duplicates_still_have_one_effect(backbone: Backbone) -> None:
    consumer = Consumer("effects", ("test.*",), effect("effects"))
    event = backbone.event(uuid.uuid4())
    outcomes = await asyncio.gather(
        *(process_event(backbone.container.uow, consumer, event) for _ in range(5))
    )
    assert sorted(o.value for o in outcomes) == ["duplicate"] * 4 + ["processed"]
    assert await backbone.fetchval("SELECT count(*) FROM test_effects") == 1


async def test_a_failing_handler_leaves_no_effect_no_record_and_no_event(
    backbone: Backbone,
) -> None:
    async def when_happened_fail_halfway(event: DomainEvent, tx: UnitOfWork) -> None:
        await effect("halfway")(event, tx)
        tx.add_event(backbone.event(uuid.uuid4(), name="test.reacted"))
        await tx.flush_events()
        raise RuntimeError("downstream refused")

    consumer = Consumer("halfway", ("test.happened",), when_happened_fail_halfway)
    with pytest.raises(RuntimeError):
        await process_event(backbone.container.uow, consumer, backbone.event(uuid.uuid4()))
    for table in ("test_effects", "processed_events", "outbox_events", "domain_events"):
        assert await backbone.fetchval(f"SELECT count(*) FROM {table}") == 0, table


async def test_a_handler_works_under_the_events_tenant_and_its_events_reach_the_outbox(
    backbone: Backbone,
) -> None:
    seen: list[str] = []

    async def when_happened_react(event: DomainEvent, tx: UnitOfWork) -> None:
        tenant = await tx.connection.scalar(text("SELECT current_setting('app.tenant_id')"))
        seen.append(str(tenant))
        # RLS: the processed_events rows of other tenants are invisible here.
        visible = await tx.connection.scalar(text("SELECT count(*) FROM processed_events"))
        seen.append(str(visible))
        tx.add_event(
            DomainEvent("test.reacted", event.tenant_id, "test", event.aggregate_id, {"n": 0})
        )

    other = Consumer("other", ("test.*",), effect("other"))
    await process_event(
        backbone.container.uow,
        other,
        DomainEvent("test.happened", uuid.uuid4(), "test", uuid.uuid4(), {"n": 1}),
    )
    registry = ConsumerRegistry([Consumer("reactor", ("test.happened",), when_happened_react)])
    outcomes = await dispatch(registry, backbone.container.uow, backbone.event(uuid.uuid4()))
    assert outcomes == {"reactor": Outcome.PROCESSED}
    assert seen == [str(backbone.tenant_id), "1"]  # its own record only
    assert (
        await backbone.fetchval("SELECT count(*) FROM outbox_events WHERE name = 'test.reacted'")
        == 1
    )


async def test_the_relay_and_worker_services_carry_events_to_handlers_in_order(
    backbone: Backbone,
) -> None:
    """`run_relay` and `run_worker` as `ventros run` starts them, on the in-process bus."""
    consumer = Consumer("effects", ("test.*",), effect("effects"))
    stop = asyncio.Event()
    services = [
        asyncio.create_task(
            run_worker(backbone.container, stop, registry=ConsumerRegistry([consumer]))
        ),
        asyncio.create_task(run_relay(backbone.container, stop)),
    ]
    try:
        await asyncio.sleep(0.5)
        aggregates = [uuid.uuid4() for _ in range(5)]
        tenants = [backbone.tenant_id, uuid.uuid4()]
        for tenant in tenants:
            backbone.tenant_id = tenant
            await backbone.produce(100, aggregates=aggregates, per_transaction=10)

        async def handled() -> bool:
            return bool(await backbone.fetchval("SELECT count(*) FROM test_effects") == 200)

        await eventually(handled, within=20)
        rows = await backbone.fetch("SELECT aggregate_id, n FROM test_effects ORDER BY seq")
        last: dict[uuid.UUID, int] = {}
        for row in rows:
            assert row["n"] == last.get(row["aggregate_id"], 0) + 1
            last[row["aggregate_id"]] = row["n"]
        metrics = metrics_for(backbone.container)

        async def depth_reported() -> bool:
            return (
                metrics.registry.get_sample_value(
                    "message_queue_depth", {"queue": "consumers.effects"}
                )
                == 0.0
            )

        await eventually(depth_reported, within=5)
        assert (
            metrics.registry.get_sample_value(
                "message_processing_total", {"consumer": "effects", "outcome": "processed"}
            )
            == 200.0
        )
        assert metrics.registry.get_sample_value("outbox_published_total") == 200.0
        assert metrics.registry.get_sample_value("outbox_relay_active") == 1.0
    finally:
        stop.set()
        await asyncio.wait_for(asyncio.gather(*services), 20)
