"""Contacts use cases."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field, replace
from typing import Any

from ventros.contacts.domain import MAX_NAME_LENGTH, Contact, Email, Phone
from ventros.contacts.repository import WHATSAPP_ID_FIELD, ContactFilter, ContactRepository
from ventros.identity.domain import Principal
from ventros.identity.service import tenant_settings
from ventros.kernel.errors import Conflict, NotFound, RuleViolation
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


async def contact_in(tx: UnitOfWork, contact_id: uuid.UUID) -> Contact | None:
    """The live contact inside an open unit of work (for other contexts' use cases)."""
    return await ContactRepository(tx).get(contact_id)


async def identities_of(tx: UnitOfWork, contact_id: uuid.UUID) -> list[uuid.UUID]:
    """The contact and every contact merged into it: the ids its history was recorded under."""
    return [contact_id, *await ContactRepository(tx).merged_into(contact_id)]


async def _region(tx: UnitOfWork) -> str:
    return (await tenant_settings(tx)).default_region


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
        if filters.q and filters.phone is None:
            filters = replace(filters, phone=_as_phone(filters.q, await _region(tx)))
        rows = await ContactRepository(tx).list(filters, limit=limit + 1, before=before)
    items = rows[:limit]
    return Page(items, items[-1].id if len(rows) > limit else None)


def _as_phone(q: str, region: str) -> str | None:
    """The search text as a stored phone (ninth digit added), when it reads as one."""
    if sum(ch.isdigit() for ch in q) < 8:
        return None
    try:
        return str(Phone.parse(q, region))
    except RuleViolation:
        return None


async def contacts_by_ids(
    uow: UnitOfWorkFactory, principal: Principal, contact_ids: list[uuid.UUID]
) -> dict[uuid.UUID, Contact]:
    """Live contacts by id (missing, deleted or another tenant's: absent)."""
    async with _open(uow, principal) as tx:
        return {c.id: c for c in await ContactRepository(tx).many(contact_ids)}


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


# --------------------------------------------------------------------------- for other contexts
# These run inside a unit of work the caller opened (e.g. the WhatsApp ingest), so the
# contact and the caller's own changes commit together.

WHATSAPP_SOURCE = "whatsapp"


async def find_by_phones(tx: UnitOfWork, phones: list[Phone]) -> dict[str, Contact]:
    """Live contacts with these phones, by E.164 phone: one query for a whole batch (a
    phone of a merged contact gives the contact that took it)."""
    return await ContactRepository(tx).find_by_phones(phones)


async def create_by_phones(
    tx: UnitOfWork, named: dict[Phone, str | None], source: str | None = WHATSAPP_SOURCE
) -> dict[str, Contact]:
    """New contacts (`contact.created`) for phones the caller found no contact for, each
    named by its WhatsApp push name, in one statement; by E.164 phone. A phone another
    transaction took meanwhile is left out: the caller's `find_or_create_by_phone` finds it."""
    new = [
        Contact.create(
            tenant_id=tx.tenant_id, name=_usable_name(name, str(phone)), phone=phone, source=source
        )
        for phone, name in named.items()
    ]
    stored = await ContactRepository(tx).add_many(new)
    return {str(c.phone): c for c in new if c.id in stored}


async def find_or_create_by_phone(
    tx: UnitOfWork,
    *,
    phone: Phone,
    name: str | None,
    source: str | None = WHATSAPP_SOURCE,
    known: Contact | None = None,
) -> tuple[Contact, bool]:
    """The live contact with this phone, else a new one (`contact.created`); True if new.

    `name` (WhatsApp's push name) names a new contact, or one still named by its phone
    number because it was first seen without a name. `known`: the contact with this phone
    the caller already loaded in this unit of work (saves the lookup).
    """
    repository = ContactRepository(tx)
    existing = known or await repository.find_by_phone(phone)
    if existing is not None:
        if name and existing.name == str(phone):
            existing.update(name=_usable_name(name, str(phone)))
            await repository.save(existing)
        return existing, False
    contact = Contact.create(
        tenant_id=tx.tenant_id,
        name=_usable_name(name, str(phone)),
        phone=phone,
        source=source,
    )
    try:
        await repository.add(contact)
    except Conflict as conflict:
        # Another transaction created it since the lookup: use theirs.
        theirs = await repository.get(conflict.existing_id) if conflict.existing_id else None
        if theirs is None:
            raise
        return theirs, False
    return contact, True


async def find_or_create_by_whatsapp_id(
    tx: UnitOfWork,
    *,
    whatsapp_id: str,
    name: str | None,
    kind: str = "person",
    source: str | None = WHATSAPP_SOURCE,
) -> tuple[Contact, bool]:
    """For WhatsApp ids that are no phone number: a group (`...@g.us`, kind `group`) or a
    hidden `...@lid` id. The id is kept in the custom field `whatsapp_id`."""
    repository = ContactRepository(tx)
    existing = await repository.find_by_whatsapp_id(whatsapp_id)
    if existing is not None:
        return existing, False
    contact = Contact.create(
        tenant_id=tx.tenant_id,
        name=_usable_name(name, whatsapp_id),
        custom_fields={WHATSAPP_ID_FIELD: whatsapp_id},
        source=source,
    )
    await repository.add(contact)
    if kind != "person":
        await repository.set_kind(contact.id, kind)
    return contact, True


def _usable_name(name: str | None, fallback: str) -> str:
    cleaned = " ".join((name or "").split())[:MAX_NAME_LENGTH]
    return cleaned or fallback


async def remember_whatsapp_id(tx: UnitOfWork, contact_id: uuid.UUID, chat_id: str) -> None:
    """Keeps the chat id WhatsApp answered for the contact's number (custom field
    `whatsapp_id`): messages go there from then on (Brazil's 12-digit legacy ids)."""
    repository = ContactRepository(tx)
    contact = await repository.get(contact_id)
    if contact is None or contact.custom_fields.get(WHATSAPP_ID_FIELD) == chat_id:
        return
    contact.update(custom_fields={**contact.custom_fields, WHATSAPP_ID_FIELD: chat_id})
    await repository.save(contact)
