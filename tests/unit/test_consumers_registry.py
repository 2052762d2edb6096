"""Consumer registration, topic patterns, retry delays: no I/O."""

import uuid

import pytest

from ventros.kernel.events import DomainEvent
from ventros.platform.bus import Binding, QueueSpec, RetryPolicy, topic_matches
from ventros.platform.bus.topology import reached_exchanges, retry_queue_name
from ventros.platform.consumers import Consumer, ConsumerRegistry, load_consumers
from ventros.platform.uow import UnitOfWork


async def nothing(event: DomainEvent, tx: UnitOfWork) -> None:
    return None


@pytest.mark.parametrize(
    ("pattern", "key", "expected"),
    [
        ("message.*", "message.received", True),
        ("message.*", "message.received.late", False),
        ("message.*", "message", False),
        ("message.#", "message", True),
        ("message.#", "message.received.late", True),
        ("#", "contact.created", True),
        ("#.created", "contact.created", True),
        ("#.created", "created", True),
        ("*.created", "contact.created", True),
        ("*.created", "a.contact.created", False),
        ("contact.#", "contactx.created", False),
        ("a.#.z", "a.z", True),
        ("a.#.z", "a.b.c.z", True),
        ("session.started", "session.started", True),
        ("session.started", "session.startedx", False),
        ("tracking.*", "tracking.conversion.sent", False),
    ],
)
def test_topic_patterns_match_like_amqp(pattern: str, key: str, expected: bool) -> None:
    assert topic_matches(pattern, key) is expected


def test_a_consumer_gets_a_queue_of_its_own_bound_to_its_patterns() -> None:
    consumer = Consumer("auto_assign", ("session.started", "message.*"), nothing)
    assert consumer.queue_name == "consumers.auto_assign"
    assert consumer.queue_spec() == QueueSpec(
        "consumers.auto_assign",
        (Binding("domain.events", "session.started"), Binding("domain.events", "message.*")),
    )
    assert consumer.matches("message.received")
    assert not consumer.matches("contact.created")


def test_a_consumer_needs_a_name_and_a_pattern() -> None:
    with pytest.raises(ValueError, match="pattern"):
        Consumer("nameless", (), nothing)


def test_a_consumer_name_is_registered_once() -> None:
    registry = ConsumerRegistry([Consumer("a", ("#",), nothing)])
    with pytest.raises(ValueError, match="twice"):
        registry.add(Consumer("a", ("x.*",), nothing))


def test_consumers_sharing_a_named_queue_share_its_bindings() -> None:
    registry = ConsumerRegistry()

    @registry.handler("webhooks", "contact.*", queue="contact.events.webhook")
    async def when_contact_changed_notify(event: DomainEvent, tx: UnitOfWork) -> None:
        return None

    registry.add(Consumer("audit", ("contact.merged",), nothing, queue="contact.events.webhook"))
    registry.add(Consumer("enrich", ("contact.created",), nothing))
    assert list(registry.by_queue()) == ["contact.events.webhook", "consumers.enrich"]
    shared = registry.queue_specs()[0]
    assert shared.bindings == (
        Binding("domain.events", "contact.*"),
        Binding("domain.events", "contact.merged"),
    )
    assert [c.name for c in registry.matching("contact.merged")] == ["webhooks", "audit"]


def test_no_handler_modules_means_no_consumers() -> None:
    assert len(load_consumers(())) == 0


def test_retries_wait_longer_each_time_up_to_a_ceiling() -> None:
    policy = RetryPolicy(max_attempts=6, base_seconds=1.0, max_seconds=10.0)
    assert policy.delays() == [1.0, 2.0, 4.0, 8.0, 10.0]
    assert retry_queue_name("waha.messages", 0.25) == "waha.messages.retry.250ms"


def test_contact_events_also_reach_the_contact_exchange() -> None:
    assert reached_exchanges("domain.events", "contact.created") == [
        "domain.events",
        "contact.events",
    ]
    assert reached_exchanges("domain.events", "message.received") == ["domain.events"]
    assert reached_exchanges("waha.events", "contact.created") == ["waha.events"]


def test_events_carry_their_tenant() -> None:
    tenant = uuid.uuid4()
    event = DomainEvent("x.y", tenant, "t", uuid.uuid4(), {})
    assert DomainEvent.from_json(event.to_json()).tenant_id == tenant
