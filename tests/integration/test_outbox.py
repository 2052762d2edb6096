"""The unit of work writes aggregates and their events in one transaction."""

import uuid

import pytest
from sqlalchemy import func, select

from tests.conftest import TenantLogin
from ventros.contacts.domain import Contact, Phone
from ventros.contacts.repository import ContactRepository, contacts
from ventros.kernel.events import Actor
from ventros.platform.outbox import domain_events, outbox_events
from ventros.runtime.container import Container

pytestmark = pytest.mark.integration


class Boom(Exception):
    pass


async def _counts(
    container: Container, tenant_id: uuid.UUID, contact_id: uuid.UUID
) -> tuple[int, int, int]:
    async with container.system_uow(tenant_id) as tx:
        conn = tx.connection
        stored = (
            await conn.execute(select(func.count()).where(contacts.c.id == contact_id))
        ).scalar()
        outbox = (
            await conn.execute(
                select(func.count()).where(outbox_events.c.aggregate_id == contact_id)
            )
        ).scalar()
        log = (
            await conn.execute(
                select(func.count()).where(domain_events.c.aggregate_id == contact_id)
            )
        ).scalar()
    return int(stored or 0), int(outbox or 0), int(log or 0)


async def test_a_use_case_that_fails_after_saving_leaves_neither_contact_nor_event(
    container: Container, tenant: TenantLogin
) -> None:
    contact = Contact.create(
        tenant_id=tenant.tenant_id, name="Ghost", phone=Phone.parse("+5511912345678")
    )

    async def use_case_that_fails_after_saving() -> None:
        async with container.uow(tenant.tenant_id, Actor.user(tenant.admin_id)) as tx:
            await ContactRepository(tx).add(contact)
            await tx.flush_events()  # the events are written, then the use case fails
            raise Boom

    with pytest.raises(Boom):
        await use_case_that_fails_after_saving()
    assert await _counts(container, tenant.tenant_id, contact.id) == (0, 0, 0)


async def test_a_use_case_that_is_not_committed_leaves_nothing(
    container: Container, tenant: TenantLogin
) -> None:
    contact = Contact.create(tenant_id=tenant.tenant_id, name="Forgotten")
    async with container.uow(tenant.tenant_id, Actor.system()) as tx:
        await ContactRepository(tx).add(contact)
    assert await _counts(container, tenant.tenant_id, contact.id) == (0, 0, 0)


async def test_a_successful_use_case_leaves_the_contact_and_its_event_with_the_actor(
    container: Container, tenant: TenantLogin
) -> None:
    contact = Contact.create(tenant_id=tenant.tenant_id, name="Real")
    async with container.uow(tenant.tenant_id, Actor.user(tenant.admin_id)) as tx:
        await ContactRepository(tx).add(contact)
        await tx.commit()
    assert await _counts(container, tenant.tenant_id, contact.id) == (1, 1, 1)

    async with container.system_uow(tenant.tenant_id) as tx:
        row = (
            await tx.connection.execute(
                select(outbox_events).where(outbox_events.c.aggregate_id == contact.id)
            )
        ).one()
        logged = (
            await tx.connection.execute(
                select(domain_events).where(domain_events.c.aggregate_id == contact.id)
            )
        ).one()
    assert row.name == "contact.created"
    assert row.published_at is None
    assert row.event["actor"] == {"type": "user", "id": str(tenant.admin_id)}
    assert logged.contact_id == contact.id
    assert logged.actor_id == tenant.admin_id


async def test_commit_wakes_listeners_only_after_commit(
    container: Container, tenant: TenantLogin
) -> None:
    import asyncio

    import asyncpg

    listener = await asyncpg.connect(container.database.system_dsn())
    woke = asyncio.Event()
    await listener.add_listener("outbox", lambda *_: woke.set())
    try:
        async with container.uow(tenant.tenant_id, Actor.system()) as tx:
            await ContactRepository(tx).add(
                Contact.create(tenant_id=tenant.tenant_id, name="Rolled back")
            )
            await tx.flush_events()
        await asyncio.sleep(0.3)
        assert not woke.is_set()

        async with container.uow(tenant.tenant_id, Actor.system()) as tx:
            await ContactRepository(tx).add(
                Contact.create(tenant_id=tenant.tenant_id, name="Committed")
            )
            await tx.commit()
        await asyncio.wait_for(woke.wait(), 5)
    finally:
        await listener.close()
