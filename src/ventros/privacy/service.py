"""LGPD use cases: export a contact, anonymise a contact, purge expired deleted contacts."""

from __future__ import annotations

import asyncio
import uuid
from dataclasses import dataclass
from datetime import timedelta
from typing import TYPE_CHECKING, Any

import structlog

from ventros.identity.domain import Principal
from ventros.identity.permissions import Permission, require
from ventros.identity.service import tenant_settings
from ventros.kernel.clock import utcnow
from ventros.kernel.errors import NotFound
from ventros.kernel.events import Actor, DomainEvent
from ventros.platform.uow import UnitOfWork, UnitOfWorkFactory
from ventros.privacy.repository import PersonalData

if TYPE_CHECKING:
    from ventros.runtime.container import Container

log = structlog.get_logger(__name__)

CONTACT_ANONYMIZED = "contact.anonymized"
PURGE_BATCH = 100
PURGE_INTERVAL_SECONDS = 3600.0


@dataclass(frozen=True)
class ContactExport:
    contact: dict[str, Any]
    sections: dict[str, list[dict[str, Any]]]


@dataclass(frozen=True)
class Anonymized:
    contact_id: uuid.UUID
    messages: int
    trackings: int
    cells_erased: int


def _open(uow: UnitOfWorkFactory, principal: Principal) -> UnitOfWork:
    return uow(principal.tenant_id, Actor.user(principal.user_id))


async def _live_contact(data: PersonalData, contact_id: uuid.UUID) -> dict[str, Any]:
    contact = await data.contact_row(contact_id)
    if contact is None or contact.get("deleted_at") is not None:
        raise NotFound("contact not found")
    return contact


async def export_contact(
    uow: UnitOfWorkFactory, principal: Principal, contact_id: uuid.UUID
) -> ContactExport:
    async with _open(uow, principal) as tx:
        data = PersonalData(tx)
        contact = await _live_contact(data, contact_id)
        return ContactExport(contact, await data.export(contact_id))


async def anonymize_in(tx: UnitOfWork, contact: dict[str, Any]) -> Anonymized:
    """Erase one contact's personal data inside the caller's unit of work."""
    contact_id = uuid.UUID(contact["id"])
    data = PersonalData(tx)
    ids = await data.identifiers(contact)
    messages = await data.erase_messages(contact_id)
    trackings = await data.erase_trackings(contact_id)
    await data.erase_sessions(contact_id)
    await data.erase_contact(contact_id)
    await data.erase_event_payloads(contact_id, ids)
    await data.erase_envelopes(ids)
    cells = await data.sweep(ids)
    result = Anonymized(contact_id, messages, trackings, cells)
    # Audited without personal data: ids and counts only.
    tx.add_event(
        DomainEvent(
            name=CONTACT_ANONYMIZED,
            tenant_id=tx.tenant_id,
            aggregate_type="contact",
            aggregate_id=contact_id,
            payload={
                "contact_id": str(contact_id),
                "messages_erased": messages,
                "trackings_erased": trackings,
                "was_deleted": contact.get("deleted_at") is not None,
            },
            actor=tx.actor,
        )
    )
    return result


async def anonymize_contact(
    uow: UnitOfWorkFactory, principal: Principal, contact_id: uuid.UUID
) -> Anonymized:
    async with _open(uow, principal) as tx:
        data = PersonalData(tx)
        contact = await _live_contact(data, contact_id)  # 404 before 403
        require(principal, Permission.CONTACTS_ANONYMIZE)
        result = await anonymize_in(tx, contact)
        await tx.commit()
    return result


async def purge_deleted_contacts(
    uow: UnitOfWorkFactory, tenant_id: uuid.UUID, *, limit: int = PURGE_BATCH
) -> list[uuid.UUID]:
    """Anonymise the tenant's contacts soft-deleted longer than the retention period."""
    async with uow(tenant_id, Actor.system()) as tx:
        days = (await tenant_settings(tx)).deleted_contact_retention_days
        data = PersonalData(tx)
        purged = await data.expired_deleted_contacts(utcnow() - timedelta(days=days), limit)
        for contact_id in purged:
            contact = await data.contact_row(contact_id)
            if contact is not None:
                await anonymize_in(tx, contact)
        await tx.commit()
    return purged


async def purge_all_tenants(container: Container) -> int:
    async with container.system_uow(uuid.UUID(int=0)) as tx:
        tenants = await PersonalData(tx).tenant_ids()
    total = 0
    for tenant_id in tenants:
        total += len(await purge_deleted_contacts(container.uow, tenant_id))
    return total


async def run_privacy_retention(container: Container, stop: asyncio.Event) -> None:
    """Background service: purges expired soft-deleted contacts once an hour."""
    while not stop.is_set():
        purged = await purge_all_tenants(container)
        if purged:
            log.info("privacy.purged_deleted_contacts", count=purged)
        try:
            await asyncio.wait_for(stop.wait(), timeout=PURGE_INTERVAL_SECONDS)
        except TimeoutError:
            continue
