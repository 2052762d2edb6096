"""The outbox relay: commit order, nothing for rolled-back work, retries, failover, crashes."""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import asynccontextmanager, suppress
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy.engine import make_url

from tests.integration.processes import VentrosProcess, eventually
from tests.integration.test_bus_support import (
    Backbone,
    delete_rabbit_names,
    effect,
    fresh_backbone,
    rabbit_overrides,
)
from ventros.kernel.events import Actor
from ventros.platform.bus import (
    CONFIRMED,
    Envelope,
    Outcome,
    PublishResult,
    QueueSpec,
    system_dsn,
)
from ventros.platform.consumers import Consumer, ConsumerRegistry, Worker
from ventros.platform.metrics import Metrics
from ventros.platform.relay import OutboxRelay, prune, update_stats

pytestmark = pytest.mark.integration


class RecordingBus:
    """A bus that keeps what it confirms, and rejects what `reject` says."""

    kind = "recording"

    def __init__(self, reject: Callable[[Envelope], bool] = lambda _e: False) -> None:
        self.reject = reject
        self.published: list[Envelope] = []
        self.rejected: list[Envelope] = []

    async def start(self, queues: Sequence[QueueSpec] = ()) -> None:
        return None

    async def publish(self, envelopes: Sequence[Envelope]) -> list[PublishResult]:
        results = []
        for envelope in envelopes:
            if self.reject(envelope):
                self.rejected.append(envelope)
                results.append(PublishResult(Outcome.REJECTED, "refused by the test"))
            else:
                self.published.append(envelope)
                results.append(CONFIRMED)
        return results

    async def close(self) -> None:
        return None

    def ns(self) -> list[int]:
        return [json.loads(e.body)["data"]["n"] for e in self.published]


@asynccontextmanager
async def running_relay(
    backbone: Backbone, bus: Any, metrics: Metrics | None = None
) -> AsyncIterator[OutboxRelay]:
    stop = asyncio.Event()
    relay = OutboxRelay(
        system_dsn(backbone.container.database),
        bus,
        settings=backbone.settings,
        metrics=metrics or Metrics(),
    )
    task = asyncio.create_task(relay.run(stop))
    try:
        await asyncio.wait_for(relay.active.wait(), 10)
        yield relay
    finally:
        stop.set()
        await asyncio.wait_for(task, 10)


@pytest.fixture
async def backbone(server_url: str, tmp_path: Path) -> AsyncIterator[Backbone]:
    async with fresh_backbone(
        server_url,
        tmp_path,
        relay_poll_interval_seconds=0.2,
        relay_retry_base_seconds=0.05,
        relay_max_attempts=3,
    ) as built:
        yield built


async def test_committed_events_are_published_and_marked(backbone: Backbone) -> None:
    bus = RecordingBus()
    async with running_relay(backbone, bus):
        events = await backbone.produce(25, per_transaction=5)
        await eventually(lambda: _published_count(bus, 25))
    assert [e.message_id for e in bus.published] == [str(e.id) for e in events]
    first = bus.published[0]
    assert first.routing_key == "test.happened"
    assert first.exchange == "domain.events"
    assert first.headers["tenant_id"] == str(backbone.tenant_id)
    assert first.headers["traceparent"].startswith("00-" + events[0].id.hex)
    assert json.loads(first.body)["id"] == str(events[0].id)
    assert (
        await backbone.fetchval("SELECT count(*) FROM outbox_events WHERE published_at IS NULL")
        == 0
    )


async def _published_count(bus: RecordingBus, count: int) -> bool:
    return len(bus.published) >= count


async def test_a_rolled_back_transaction_publishes_nothing(backbone: Backbone) -> None:
    bus = RecordingBus()
    async with running_relay(backbone, bus):
        async with backbone.container.uow(backbone.tenant_id, Actor.system()) as tx:
            backbone.event(uuid.uuid4(), tx=tx)
            await tx.flush_events()  # written, then the use case gives up

        async def failing_use_case() -> None:
            async with backbone.container.uow(backbone.tenant_id, Actor.system()) as tx:
                backbone.event(uuid.uuid4(), tx=tx)
                await tx.flush_events()
                raise RuntimeError("use case failed")

        with pytest.raises(RuntimeError):
            await failing_use_case()
        committed = await backbone.produce(1)
        await eventually(lambda: _published_count(bus, 1))
        await asyncio.sleep(0.5)  # and nothing else turns up
    assert [e.message_id for e in bus.published] == [str(committed[0].id)]
    assert await backbone.fetchval("SELECT count(*) FROM outbox_events") == 1


async def test_a_lower_position_committed_later_is_published_first(backbone: Backbone) -> None:
    """Positions follow inserts, not commits: the relay waits for the older transaction."""
    bus = RecordingBus()
    aggregate = uuid.uuid4()
    async with running_relay(backbone, bus):
        early = backbone.container.uow(backbone.tenant_id, Actor.system())
        async with early as slow_tx:
            first = backbone.event(aggregate, tx=slow_tx)
            await slow_tx.flush_events()  # takes the lower position, does not commit yet
            second = await backbone.produce(1, aggregates=[aggregate])  # commits first
            await asyncio.sleep(0.6)  # a few polls and its NOTIFY: still held back
            assert bus.published == []
            await slow_tx.commit()
        await eventually(lambda: _published_count(bus, 2))
    assert [e.message_id for e in bus.published] == [str(first.id), str(second[0].id)]
    positions = await backbone.fetch("SELECT id, position FROM outbox_events ORDER BY position")
    assert [r["id"] for r in positions] == [first.id, second[0].id]


async def test_a_long_transaction_in_another_database_does_not_hold_the_relay_back(
    backbone: Backbone, server_url: str
) -> None:
    import asyncpg

    other = await asyncpg.connect(
        make_url(server_url).set(drivername="postgresql").render_as_string(hide_password=False)
    )
    try:
        transaction = other.transaction()
        await transaction.start()
        await other.fetchval("SELECT pg_current_xact_id()")  # holds an xid, like a writer
        bus = RecordingBus()
        async with running_relay(backbone, bus):
            await backbone.produce(3)
            await eventually(lambda: _published_count(bus, 3), within=3)
        await transaction.rollback()
    finally:
        await other.close()


async def test_a_rejected_event_is_retried_with_backoff_then_marked_failed_and_counted(
    server_url: str, tmp_path: Path
) -> None:
    poisoned = uuid.uuid4()
    healthy = uuid.uuid4()

    def reject(envelope: Envelope) -> bool:
        first_of_poisoned = json.loads(envelope.body)["data"]["n"] == 1
        return first_of_poisoned and envelope.headers["aggregate_id"] == str(poisoned)

    bus = RecordingBus(reject=reject)
    metrics = Metrics()
    async with (
        fresh_backbone(
            server_url,
            tmp_path,
            relay_poll_interval_seconds=0.2,
            relay_retry_base_seconds=0.4,  # attempts at 0 s, 0.4 s, 1.2 s, then failed
            relay_max_attempts=3,
        ) as backbone,
        running_relay(backbone, bus, metrics),
    ):
        await backbone.produce(2, aggregates=[poisoned, healthy])
        await eventually(lambda: _rejections(bus, 1))
        # While the first waits for its retry, its aggregate's next event waits too;
        # the other aggregate's events flow.
        await backbone.produce(2, aggregates=[poisoned, healthy])
        await eventually(lambda: _failed_rows(backbone, 1), within=10)
        await eventually(lambda: _published_count(bus, 3))
        await update_stats_now(backbone, metrics)
        row = (await backbone.fetch("SELECT * FROM outbox_events WHERE failed_at IS NOT NULL"))[0]
    assert row["attempts"] == 3
    assert row["last_error"] == "refused by the test"
    assert row["aggregate_id"] == poisoned
    assert len(bus.rejected) == 3
    order = [(e.headers["aggregate_id"], json.loads(e.body)["data"]["n"]) for e in bus.published]
    assert order == [(str(healthy), 1), (str(healthy), 2), (str(poisoned), 2)]
    assert metrics.registry.get_sample_value("outbox_failed_total") == 1.0
    assert metrics.registry.get_sample_value("outbox_failed_events") == 1.0
    assert (
        metrics.registry.get_sample_value("outbox_publish_errors_total", {"kind": "rejected"})
        == 3.0
    )


async def _rejections(bus: RecordingBus, count: int) -> bool:
    return len(bus.rejected) >= count


async def _failed_rows(backbone: Backbone, count: int) -> bool:
    return (
        await backbone.fetchval("SELECT count(*) FROM outbox_events WHERE failed_at IS NOT NULL")
        >= count
    )


async def update_stats_now(backbone: Backbone, metrics: Metrics) -> None:
    import asyncpg

    connection = await asyncpg.connect(system_dsn(backbone.container.database))
    try:
        await update_stats(connection, metrics)
    finally:
        await connection.close()


async def test_waiting_events_show_as_outbox_lag(backbone: Backbone) -> None:
    await backbone.produce(3)
    await asyncio.sleep(0.3)
    metrics = Metrics()
    await update_stats_now(backbone, metrics)
    assert metrics.registry.get_sample_value("outbox_pending_events") == 3.0
    assert (metrics.registry.get_sample_value("outbox_lag_seconds") or 0) >= 0.3


async def test_published_rows_are_pruned_after_the_retention(backbone: Backbone) -> None:
    import asyncpg

    await backbone.produce(5)
    connection = await asyncpg.connect(system_dsn(backbone.container.database))
    try:
        await connection.execute(
            "UPDATE outbox_events SET published_at = now() - interval '2 hours'"
            " WHERE position IN (SELECT position FROM outbox_events ORDER BY position LIMIT 3)"
        )
        assert await prune(connection, retention_seconds=3600) == 3
        assert await prune(connection, retention_seconds=3600) == 0
    finally:
        await connection.close()
    assert await backbone.fetchval("SELECT count(*) FROM outbox_events") == 2
    assert await backbone.fetchval("SELECT count(*) FROM domain_events") == 5  # the log stays


async def test_a_standby_relay_takes_over_when_the_active_one_is_killed(
    backbone: Backbone, tmp_path: Path
) -> None:
    env = backbone.env(relay_standby_retry_seconds=0.2, relay_poll_interval_seconds=0.5)
    relays = [VentrosProcess("relay", env, tmp_path / f"relay-{i}.log") for i in (1, 2)]
    try:

        async def one_leads_one_waits() -> bool:
            logs = [r.log() for r in relays]
            return all("relay active" in x or "standing by" in x for x in logs)

        await eventually(one_leads_one_waits, within=30)
        active, standby = sorted(relays, key=lambda r: "relay active" not in r.log())
        assert "relay active" not in standby.log()
        active.kill()
        killed_at = time.monotonic()
        await standby.wait_for_log("relay active", within=10)
        assert time.monotonic() - killed_at < 5
        # The in-process bus delivers into bus_deliveries; the new leader publishes.
        await backbone.produce(10)
        await eventually(lambda: _all_published(backbone), within=10)
    finally:
        for relay in relays:
            relay.stop()


async def _all_published(backbone: Backbone) -> bool:
    return (
        await backbone.fetchval("SELECT count(*) FROM outbox_events WHERE published_at IS NULL")
        == 0
    )


# ------------------------------------------------------------------ crash in the middle


@pytest.mark.parametrize("adapter", ["rabbitmq", "inprocess"])
async def test_killing_the_relay_mid_batch_loses_and_duplicates_no_effect(
    server_url: str, tmp_path: Path, adapter: str
) -> None:
    """10,000 events; SIGKILL the relay while a batch is published but not yet marked;
    restart it. Every event has exactly one effect, in commit order per aggregate."""
    total = 10_000
    overrides = rabbit_overrides() if adapter == "rabbitmq" else {}
    consumer = Consumer("effects", ("test.*",), effect("effects"))
    tap = QueueSpec("tap", consumer.queue_spec().bindings)  # counts what reached the bus
    async with fresh_backbone(
        server_url, tmp_path, bus_prefetch=50, relay_batch_size=1000, **overrides
    ) as backbone:
        bus = backbone.bus("worker")
        await bus.start([tap])
        worker = Worker(bus, ConsumerRegistry([consumer]), backbone.container.uow, Metrics())
        # Marking a batch published takes 0.3 s here (a trigger of this test's database):
        # every batch then sits published-but-unmarked long enough to be caught, however
        # loaded the machine is.
        await backbone.fetchval(
            "CREATE FUNCTION test_slow_mark() RETURNS trigger LANGUAGE plpgsql"
            " AS $$ BEGIN PERFORM pg_sleep(0.3); RETURN NULL; END $$"
        )
        await backbone.fetchval(
            "CREATE TRIGGER test_slow_mark AFTER UPDATE OF published_at ON outbox_events"
            " FOR EACH STATEMENT EXECUTE FUNCTION test_slow_mark()"
        )
        try:
            await worker.start()
            aggregates = [uuid.uuid4() for _ in range(50)]
            await backbone.produce(total, aggregates=aggregates, per_transaction=200)
            env = backbone.env(relay_batch_size=1000)

            async def routed() -> int:
                depths = await bus.queue_depths()
                return depths["tap"]

            kills = 0
            relay = VentrosProcess("relay", env, tmp_path / "relay-0.log")
            for attempt in range(1, 6):
                # Kill when the bus holds more than the outbox shows published: a batch
                # is out, its marks are not committed.
                async def mid_batch() -> bool:
                    published = await backbone.fetchval(
                        "SELECT count(*) FROM outbox_events WHERE published_at IS NOT NULL"
                    )
                    return await routed() > published

                with suppress(AssertionError):
                    await eventually(mid_batch, within=20, interval=0.01)
                relay.kill()
                kills += 1
                published = await backbone.fetchval(
                    "SELECT count(*) FROM outbox_events WHERE published_at IS NOT NULL"
                )
                in_flight = await routed() - published
                relay = VentrosProcess("relay", env, tmp_path / f"relay-{attempt}.log")
                if in_flight > 0 and published < total:
                    break
            try:
                await eventually(lambda: _effects(backbone, total), within=90, interval=0.2)
                await asyncio.sleep(1.0)  # let any late duplicate arrive
            finally:
                relay.stop()
            assert in_flight > 0, "the relay was never caught in the middle of a batch"
            rows = await backbone.fetch(
                "SELECT event_id, aggregate_id, n FROM test_effects ORDER BY seq"
            )
            assert len(rows) == total
            assert len({r["event_id"] for r in rows}) == total
            seen: dict[uuid.UUID, int] = {}
            for row in rows:
                assert row["n"] == seen.get(row["aggregate_id"], 0) + 1, "out of order"
                seen[row["aggregate_id"]] = row["n"]
            # What was republished after the kill reached the bus twice.
            assert await routed() >= total + in_flight
        finally:
            await bus.close()
            await worker.close()
            await delete_rabbit_names(backbone, [consumer, tap])


async def _effects(backbone: Backbone, count: int) -> bool:
    return await backbone.fetchval("SELECT count(*) FROM test_effects") >= count


# ------------------------------------------------------------------ Temporal driver


async def test_the_outbox_processor_workflow_publishes_through_temporal(
    backbone: Backbone,
) -> None:
    from temporalio.worker import Worker as TemporalWorker

    from tests.integration.temporal_kit import local_temporal
    from ventros.platform.workflows_outbox import (
        OUTBOX_TASK_QUEUE,
        OutboxActivities,
        OutboxProcessorInput,
        OutboxProcessorWorkflow,
    )

    bus = RecordingBus()
    activities = OutboxActivities(
        system_dsn(backbone.container.database), bus, backbone.settings, Metrics()
    )
    events = await backbone.produce(150, per_transaction=50)
    async with await local_temporal(None) as env:
        async with TemporalWorker(
            env.client,
            task_queue=OUTBOX_TASK_QUEUE,
            workflows=[OutboxProcessorWorkflow],
            activities=[activities.relay_outbox_batch],
        ):
            handle = await env.client.start_workflow(
                OutboxProcessorWorkflow.run,
                OutboxProcessorInput(batch_size=100, poll_seconds=0.2),
                id=f"outbox-{uuid.uuid4()}",
                task_queue=OUTBOX_TASK_QUEUE,
            )
            await eventually(lambda: _published_count(bus, 150), within=30)
            more = await backbone.produce(5)
            await eventually(lambda: _published_count(bus, 155), within=10)
            await handle.terminate("test over")
    await activities.close()
    assert [e.message_id for e in bus.published] == [str(e.id) for e in events + more]
