"""One contract, two adapters: every test here runs on RabbitMQ and on the in-process bus."""

from __future__ import annotations

import asyncio
import itertools
import json
import time
import uuid
from collections.abc import AsyncIterator, Sequence
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from tests.integration.processes import eventually
from tests.integration.test_bus_support import (
    Backbone,
    delete_rabbit_names,
    fresh_backbone,
    rabbit_overrides,
)
from ventros.cli import app
from ventros.platform.bus import Binding, Bus, Delivery, Envelope, QueueSpec

pytestmark = pytest.mark.integration

RETRY_BASE = 0.2
MAX_ATTEMPTS = 4

CONTACTS = QueueSpec("t.contacts", (Binding("domain.events", "contact.*"),))
CONTACT_EXCHANGE = QueueSpec("t.contact-exchange", (Binding("contact.events", "#"),))
MESSAGES = QueueSpec("t.messages", (Binding("domain.events", "message.*"),))
FLAKY = QueueSpec("t.flaky", (Binding("domain.events", "flaky.*"),))
LATER = QueueSpec("t.later", (Binding("domain.events", "later.*"),))
ALL_QUEUES = (CONTACTS, CONTACT_EXCHANGE, MESSAGES, FLAKY, LATER)


@pytest.fixture(params=["inprocess", "rabbitmq"])
async def backbone(
    request: pytest.FixtureRequest, server_url: str, tmp_path: Path
) -> AsyncIterator[Backbone]:
    overrides = rabbit_overrides() if request.param == "rabbitmq" else {}
    async with fresh_backbone(
        server_url,
        tmp_path,
        bus_retry_base_seconds=RETRY_BASE,
        bus_max_attempts=MAX_ATTEMPTS,
        bus_poll_interval_seconds=0.2,
        **overrides,
    ) as built:
        try:
            yield built
        finally:
            await delete_rabbit_names(built, ALL_QUEUES)


def envelope(routing_key: str, **data: Any) -> Envelope:
    message_id = str(uuid.uuid4())
    body = json.dumps({"id": message_id, "name": routing_key, "data": data}).encode()
    return Envelope(message_id, routing_key, body, {"tenant_id": str(uuid.uuid4())})


class Recorder:
    def __init__(self) -> None:
        self.deliveries: list[tuple[float, Delivery]] = []
        self.broken = False

    async def __call__(self, delivery: Delivery) -> None:
        self.deliveries.append((time.monotonic(), delivery))
        if self.broken:
            raise RuntimeError(f"broken for {delivery.envelope.routing_key}")

    def ids(self) -> list[str]:
        return [d.envelope.message_id for _, d in self.deliveries]


async def started(backbone: Backbone, name: str, queues: tuple[QueueSpec, ...] = ()) -> Bus:
    bus = backbone.bus(name)
    await bus.start(queues)
    return bus


async def test_a_message_reaches_every_bound_queue_once(backbone: Backbone) -> None:
    bus = await started(backbone, "consumer")
    contacts, via_exchange, messages = Recorder(), Recorder(), Recorder()
    await bus.consume(CONTACTS, contacts)
    await bus.consume(CONTACT_EXCHANGE, via_exchange)
    await bus.consume(MESSAGES, messages)
    publisher = await started(backbone, "publisher")
    created, received, other = (
        envelope("contact.created"),
        envelope("message.received"),
        envelope("session.started"),
    )
    assert [r.outcome.value for r in await publisher.publish([created, received, other])] == [
        "confirmed"
    ] * 3

    async def arrived() -> bool:
        return bool(contacts.deliveries and via_exchange.deliveries and messages.deliveries)

    await eventually(arrived)
    await asyncio.sleep(0.3)
    assert contacts.ids() == [created.message_id]
    assert via_exchange.ids() == [created.message_id]  # domain.events -> contact.events
    assert messages.ids() == [received.message_id]
    delivered = contacts.deliveries[0][1]
    assert delivered.attempt == 1
    assert delivered.queue == CONTACTS.name
    assert delivered.envelope.routing_key == "contact.created"
    assert delivered.envelope.body == created.body
    assert delivered.envelope.headers["tenant_id"] == created.headers["tenant_id"]


async def test_a_message_published_before_anyone_consumes_waits_in_its_queue(
    backbone: Backbone,
) -> None:
    publisher = await started(backbone, "publisher", (LATER,))
    message = envelope("later.thing")
    await publisher.publish([message])
    await asyncio.sleep(0.2)
    depths = await publisher.queue_depths()
    assert depths[LATER.name] == 1
    consumer = await started(backbone, "consumer")
    recorder = Recorder()
    await consumer.consume(LATER, recorder)
    await eventually(lambda: _has(recorder, 1))
    assert recorder.ids() == [message.message_id]


async def _has(recorder: Recorder, count: int) -> bool:
    return len(recorder.deliveries) >= count


async def test_a_failing_handler_is_retried_with_growing_delays_then_dead_lettered(
    backbone: Backbone,
) -> None:
    bus = await started(backbone, "consumer")
    recorder = Recorder()
    recorder.broken = True
    await bus.consume(FLAKY, recorder)
    first, second = envelope("flaky.one"), envelope("flaky.two")
    await bus.publish([first, second])

    async def both_dead() -> bool:
        return len(await bus.dead_letters(FLAKY.name)) == 2

    await eventually(both_dead, within=15)
    tries = [
        (at, d.attempt)
        for at, d in recorder.deliveries
        if d.envelope.message_id == first.message_id
    ]
    assert [attempt for _, attempt in tries] == [1, 2, 3, 4]
    gaps = [later[0] - earlier[0] for earlier, later in itertools.pairwise(tries)]
    for gap, expected in zip(gaps, [RETRY_BASE, 2 * RETRY_BASE, 4 * RETRY_BASE], strict=True):
        assert gap >= expected * 0.9, (gaps, "retried too early")
    assert gaps[0] < gaps[1] < gaps[2], gaps

    letters = {letter.message_id: letter for letter in await bus.dead_letters(FLAKY.name)}
    letter = letters[first.message_id]
    assert letter.queue == FLAKY.name
    assert letter.routing_key == "flaky.one"
    assert letter.attempts == MAX_ATTEMPTS
    assert letter.error == "RuntimeError: broken for flaky.one"
    assert letter.body == first.body
    assert await bus.dead_letters(FLAKY.name) != []  # listing removes nothing

    # Fixed: the operator replays one of them through the CLI; it succeeds, once.
    recorder.broken = False
    env = _cli_env(backbone)
    listed = await _cli(["dlq", "list", "--queue", FLAKY.name, "--json"], env)
    assert sorted(json.loads(line)["message_id"] for line in listed.splitlines()) == sorted(
        [first.message_id, second.message_id]
    )
    replayed = await _cli(["dlq", "replay", "--queue", FLAKY.name, "--id", first.message_id], env)
    assert replayed.strip() == "replayed 1 dead letter(s)"
    await eventually(lambda: _delivered_ok(recorder, first.message_id))
    assert [d.attempt for _, d in recorder.deliveries[-1:]] == [1]
    remaining = await bus.dead_letters(FLAKY.name)
    assert [x.message_id for x in remaining] == [second.message_id]

    purged = await _cli(["dlq", "purge", "--queue", FLAKY.name, "--yes"], env)
    assert purged.strip() == "purged 1 dead letter(s)"
    assert await bus.dead_letters(FLAKY.name) == []
    assert (await bus.queue_depths())[FLAKY.name + ".dlq"] == 0


async def _delivered_ok(recorder: Recorder, message_id: str) -> bool:
    return any(
        d.envelope.message_id == message_id and not recorder.broken
        for _, d in recorder.deliveries[-1:]
    )


def _cli_env(backbone: Backbone) -> dict[str, str]:
    return {
        k: v
        for k, v in backbone.env().items()
        if k.startswith("VENTROS_") and k != "VENTROS_TEST_DATABASE_URL"
    }


async def _cli(args: list[str], env: dict[str, str]) -> str:
    runner = CliRunner()
    result = await asyncio.to_thread(runner.invoke, app, args, env=env)
    assert result.exit_code == 0, result.output
    return result.output


class LeaseRecorder(Recorder):
    """Also takes a whole lease at once, and fails one message's first delivery."""

    def __init__(self, failing_once: str) -> None:
        super().__init__()
        self.calls: list[int] = []
        self.failing_once = failing_once

    async def __call__(self, delivery: Delivery) -> None:
        (outcome,) = self._handle([delivery])
        if outcome is not None:
            raise outcome

    async def deliver_many(self, deliveries: Sequence[Delivery]) -> list[Exception | None]:
        self.calls.append(len(deliveries))
        return self._handle(deliveries)

    def _handle(self, deliveries: Sequence[Delivery]) -> list[Exception | None]:
        outcomes: list[Exception | None] = []
        for delivery in deliveries:
            self.deliveries.append((time.monotonic(), delivery))
            first_try = delivery.attempt == 1
            failing = first_try and delivery.envelope.message_id == self.failing_once
            outcomes.append(RuntimeError("not yet") if failing else None)
        return outcomes


async def test_a_handler_that_takes_leases_at_once_gets_each_message_and_retries_its_failure(
    backbone: Backbone,
) -> None:
    publisher = await started(backbone, "publisher", (MESSAGES,))
    sent = [envelope("message.received", n=n) for n in range(30)]
    await publisher.publish(sent)
    await asyncio.sleep(0.2)  # all waiting: a bus that leases in chunks hands over several
    recorder = LeaseRecorder(failing_once=sent[4].message_id)
    consumer = await started(backbone, "consumer")
    await consumer.consume(MESSAGES, recorder)

    async def settled() -> bool:
        return (
            len(recorder.deliveries) >= 31 and (await consumer.queue_depths())[MESSAGES.name] == 0
        )

    await eventually(settled, within=15)
    attempts = [(d.envelope.message_id, d.attempt) for _, d in recorder.deliveries]
    assert sorted(attempts) == sorted([(e.message_id, 1) for e in sent] + [(sent[4].message_id, 2)])
    if backbone.settings.rabbitmq_url is None:  # the in-process bus leases dozens at once
        assert recorder.calls
        assert max(recorder.calls) > 1
