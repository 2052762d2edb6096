"""HTTP routes of contact merge and duplicate suggestions."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Depends
from pydantic import BaseModel, ConfigDict

from ventros.api.deps import ContainerDep, Uow, authorized
from ventros.api.pagination import Limit
from ventros.contacts import merge
from ventros.contacts.schemas import ContactRead
from ventros.identity.domain import Principal
from ventros.identity.permissions import Permission

router = APIRouter(tags=["contacts"])

Reader = Annotated[Principal, Depends(authorized(Permission.CONTACTS_READ))]
Writer = Annotated[Principal, Depends(authorized(Permission.CONTACTS_WRITE))]


class MergeRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    duplicate_id: uuid.UUID


class DuplicateRead(BaseModel):
    contact_id: uuid.UUID
    duplicate_id: uuid.UUID
    reason: str


class DuplicateList(BaseModel):
    items: list[DuplicateRead]
    next_cursor: str | None = None


@router.get("/contacts/duplicates", response_model=DuplicateList)
async def list_duplicates(principal: Reader, uow: Uow, limit: Limit = 50) -> DuplicateList:
    """Pairs of live contacts that look like one person, with the reason."""
    pairs = await merge.suggest_duplicates(uow, principal, limit=limit)
    return DuplicateList(
        items=[
            DuplicateRead(contact_id=p.contact_id, duplicate_id=p.duplicate_id, reason=p.reason)
            for p in pairs
        ]
    )


@router.post("/contacts/{contact_id}/merge", response_model=ContactRead)
async def merge_contacts(
    contact_id: uuid.UUID,
    body: MergeRequest,
    principal: Writer,
    uow: Uow,
    container: ContainerDep,
) -> ContactRead:
    """Merge the duplicate into this contact; answers the survivor."""
    movers = merge.RowMovers.of(container.ports)
    outcome = await merge.merge_contacts(
        uow, principal, contact_id, body.duplicate_id, movers=movers
    )
    return ContactRead.of(outcome.survivor)
