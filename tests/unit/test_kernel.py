import uuid

from ventros.kernel.events import Actor, DomainEvent
from ventros.kernel.ids import new_id


def test_ids_are_uuid_version_7_and_increase() -> None:
    ids = [new_id() for _ in range(10_000)]
    assert all(i.version == 7 for i in ids)
    assert ids == sorted(ids)
    assert len(set(ids)) == len(ids)


def test_an_event_survives_its_json_form() -> None:
    event = DomainEvent(
        name="contact.created",
        tenant_id=uuid.uuid4(),
        aggregate_type="contact",
        aggregate_id=uuid.uuid4(),
        payload={"name": "Ana"},
        actor=Actor.user(uuid.uuid4()),
    )
    data = event.to_json()
    assert data["occurred_at"].endswith("Z")
    assert DomainEvent.from_json(data) == event
