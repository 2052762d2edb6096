"""HTTP routes of LGPD: a contact's data export and anonymisation."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Depends

from ventros.api.deps import CurrentPrincipal, Uow, authorized
from ventros.identity.domain import Principal
from ventros.identity.permissions import Permission
from ventros.privacy import service
from ventros.privacy.schemas import AnonymizedRead, ContactExportRead

router = APIRouter(prefix="/contacts", tags=["privacy"])

Reader = Annotated[Principal, Depends(authorized(Permission.CONTACTS_READ))]


@router.get("/{contact_id}/export", response_model=ContactExportRead)
async def export_contact(contact_id: uuid.UUID, principal: Reader, uow: Uow) -> ContactExportRead:
    """Every stored datum of the contact, as JSON (LGPD access right)."""
    exported = await service.export_contact(uow, principal, contact_id)
    return ContactExportRead(contact=exported.contact, **exported.sections)


@router.post("/{contact_id}/anonymize", response_model=AnonymizedRead)
async def anonymize_contact(
    contact_id: uuid.UUID, principal: CurrentPrincipal, uow: Uow
) -> AnonymizedRead:
    """Erase the contact's personal data everywhere; counts and metrics are kept (admin)."""
    done = await service.anonymize_contact(uow, principal, contact_id)
    return AnonymizedRead(
        contact_id=done.contact_id,
        messages_erased=done.messages,
        trackings_erased=done.trackings,
    )
