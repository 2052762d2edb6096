"""Contacts use cases."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from typing import Any

from ventros.contacts.domain import Contact, Email, Phone
from ventros.contacts.repository import ContactFilter, ContactRepository
from ventros.identity.domain import Principal
from ventros.identity.service import settings_in
from ventros.kernel.errors import NotFound
from ventros.kernel.events import Actor
from ventros.platform.uow import UnitOfWork, UnitOfWorkFactory


@dataclass(frozen=True)
class CreateContact:
    name: str
    phone: str | None = None
    email: str | None = None
    tags: list[str] = field(default_factory=list)
    custom_fields: dict[str, Any] = field(default_factory=dict)
    source: str | None = None


@dataclass(frozen=True)
class UpdateContact:
    """Only the fields present in `fields` change; a None value clears an optional field."""

    fields: dict[str, Any]


@dataclass(frozen=True)
class Page:
    items: list[Contact]
    next_before: uuid.UUID | None


async def _region(tx: UnitOfWork) -> str:
    return str((await settings_in(tx)).get("default_region", "BR"))


def _open(uow: UnitOfWorkFactory, principal: Principal) -> UnitOfWork:
    return uow(principal.tenant_id, Actor.user(principal.user_id))


async def create_contact(
    uow: UnitOfWorkFactory, principal: Principal, command: CreateContact
) -> Contact:
    async with _open(uow, principal) as tx:
        region = await _region(tx)
        contact = Contact.create(
            tenant_id=principal.tenant_id,
            name=command.name,
            phone=Phone.parse(command.phone, region) if command.phone else None,
            email=Email.parse(command.email) if command.email else None,
            tags=command.tags,
            custom_fields=command.custom_fields,
            source=command.source,
        )
        await ContactRepository(tx).add(contact)
        await tx.commit()
    return contact


async def _get_live(tx: UnitOfWork, contact_id: uuid.UUID) -> Contact:
    contact = await ContactRepository(tx).get(contact_id)
    if contact is None:
        raise NotFound("contact not found")
    return contact


async def get_contact(
    uow: UnitOfWorkFactory, principal: Principal, contact_id: uuid.UUID
) -> Contact:
    async with _open(uow, principal) as tx:
        return await _get_live(tx, contact_id)


async def list_contacts(
    uow: UnitOfWorkFactory,
    principal: Principal,
    filters: ContactFilter,
    *,
    limit: int,
    before: uuid.UUID | None = None,
) -> Page:
    async with _open(uow, principal) as tx:
        rows = await ContactRepository(tx).list(filters, limit=limit + 1, before=before)
    items = rows[:limit]
    return Page(items, items[-1].id if len(rows) > limit else None)


async def update_contact(
    uow: UnitOfWorkFactory, principal: Principal, contact_id: uuid.UUID, command: UpdateContact
) -> Contact:
    fields = command.fields
    async with _open(uow, principal) as tx:
        contact = await _get_live(tx, contact_id)
        region = await _region(tx)
        phone = fields.get("phone")
        email = fields.get("email")
        contact.update(
            name=fields.get("name"),
            phone=Phone.parse(phone, region) if phone else None,
            email=Email.parse(email) if email else None,
            tags=fields.get("tags"),
            custom_fields=fields.get("custom_fields"),
            source=fields.get("source"),
            clear=frozenset(key for key, value in fields.items() if value is None),
        )
        await ContactRepository(tx).save(contact)
        await tx.commit()
    return contact


async def delete_contact(
    uow: UnitOfWorkFactory, principal: Principal, contact_id: uuid.UUID
) -> None:
    async with _open(uow, principal) as tx:
        contact = await _get_live(tx, contact_id)
        contact.delete()
        await ContactRepository(tx).save(contact)
        await tx.commit()
