"""HTTP routes of contacts."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Depends, Query, Response, status

from ventros.api.deps import Uow, authorized
from ventros.api.pagination import Cursor, Limit, Page, decode_cursor, encode_cursor
from ventros.contacts import service
from ventros.contacts.repository import ContactFilter
from ventros.contacts.schemas import ContactCreate, ContactRead, ContactUpdate
from ventros.identity.domain import Principal
from ventros.identity.permissions import Permission

router = APIRouter(prefix="/contacts", tags=["contacts"])

Reader = Annotated[Principal, Depends(authorized(Permission.CONTACTS_READ))]
Writer = Annotated[Principal, Depends(authorized(Permission.CONTACTS_WRITE))]
Deleter = Annotated[Principal, Depends(authorized(Permission.CONTACTS_DELETE))]


@router.post("", status_code=status.HTTP_201_CREATED, response_model=ContactRead)
async def create_contact(body: ContactCreate, principal: Writer, uow: Uow) -> ContactRead:
    """Create a contact; 409 with existing_id when the phone or email is taken."""
    command = service.CreateContact(**body.model_dump())
    return ContactRead.of(await service.create_contact(uow, principal, command))


@router.get("", response_model=Page[ContactRead])
async def list_contacts(
    principal: Reader,
    uow: Uow,
    q: Annotated[str | None, Query(max_length=200)] = None,
    tag: Annotated[str | None, Query(max_length=64)] = None,
    source: Annotated[str | None, Query(max_length=64)] = None,
    pipeline_id: uuid.UUID | None = None,
    stage_id: uuid.UUID | None = None,
    limit: Limit = 50,
    cursor: Cursor = None,
) -> Page[ContactRead]:
    """List contacts, newest first; q matches name, email, or digits of the phone;
    pipeline_id / stage_id keep those there now."""
    page = await service.list_contacts(
        uow,
        principal,
        ContactFilter(q=q, tag=tag, source=source, pipeline_id=pipeline_id, stage_id=stage_id),
        limit=limit,
        before=decode_cursor(cursor),
    )
    return Page(
        items=[ContactRead.of(c) for c in page.items], next_cursor=encode_cursor(page.next_before)
    )


@router.get("/{contact_id}", response_model=ContactRead)
async def get_contact(contact_id: uuid.UUID, principal: Reader, uow: Uow) -> ContactRead:
    """One contact."""
    return ContactRead.of(await service.get_contact(uow, principal, contact_id))


@router.patch("/{contact_id}", response_model=ContactRead)
async def update_contact(
    contact_id: uuid.UUID, body: ContactUpdate, principal: Writer, uow: Uow
) -> ContactRead:
    """Change a contact's fields."""
    command = service.UpdateContact(fields=body.model_dump(exclude_unset=True))
    return ContactRead.of(await service.update_contact(uow, principal, contact_id, command))


@router.delete("/{contact_id}", status_code=status.HTTP_204_NO_CONTENT)
async def delete_contact(contact_id: uuid.UUID, principal: Deleter, uow: Uow) -> Response:
    """Soft-delete a contact (kept for audit, gone from the API)."""
    await service.delete_contact(uow, principal, contact_id)
    return Response(status_code=status.HTTP_204_NO_CONTENT)
