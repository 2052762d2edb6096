import uuid

import pytest

from ventros.contacts.domain import Contact, Email, Phone
from ventros.kernel.errors import RuleViolation

TENANT = uuid.uuid4()


def make_contact() -> Contact:
    return Contact.create(
        tenant_id=TENANT,
        name="  Ana   Souza ",
        phone=Phone.parse("+5511987654321"),
        tags=["vip", "vip", " lead "],
        custom_fields={"plan": "gold"},
    )


def test_creating_a_contact_records_contact_created_with_its_data() -> None:
    contact = make_contact()
    [event] = contact.pull_events()
    assert event.name == "contact.created"
    assert event.tenant_id == TENANT
    assert event.aggregate_id == contact.id
    assert event.payload["phone"] == "+5511987654321"
    assert event.payload["name"] == "Ana Souza"
    assert contact.tags == ["vip", "lead"]


def test_an_update_records_only_what_changed() -> None:
    contact = make_contact()
    contact.pull_events()
    contact.update(name="Ana Souza", email=Email.parse("ana@example.com"))
    [event] = contact.pull_events()
    assert event.name == "contact.updated"
    assert event.payload["changes"] == {"email": "ana@example.com"}


def test_an_update_that_changes_nothing_records_nothing() -> None:
    contact = make_contact()
    contact.pull_events()
    contact.update(name="Ana Souza", tags=["vip", "lead"])
    assert contact.pull_events() == []


def test_clearing_an_optional_field() -> None:
    contact = make_contact()
    contact.update(clear=frozenset({"phone"}))
    assert contact.phone is None


def test_deleting_is_recorded_once() -> None:
    contact = make_contact()
    contact.pull_events()
    contact.delete()
    contact.delete()
    assert [e.name for e in contact.pull_events()] == ["contact.deleted"]
    assert contact.is_deleted


@pytest.mark.parametrize("name", ["", "   ", "x" * 201])
def test_a_contact_needs_a_sensible_name(name: str) -> None:
    with pytest.raises(RuleViolation):
        Contact.create(tenant_id=TENANT, name=name)


def test_too_many_custom_fields_are_refused() -> None:
    with pytest.raises(RuleViolation):
        Contact.create(tenant_id=TENANT, name="A", custom_fields={str(i): i for i in range(101)})
