"""HTTP routes of conversation labels (the tenant's catalogue, and a session's labels)
and of private notes."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Depends, status

from ventros.api.deps import Uow, authorized
from ventros.conversations.schemas import (
    LabelCreate,
    LabelRead,
    LabelUpdate,
    MessageRead,
    NoteCreate,
    SessionLabelAdd,
)
from ventros.conversations.service import labels, notes
from ventros.identity.domain import Principal
from ventros.identity.permissions import Permission

router = APIRouter(tags=["conversations"])

Reader = Annotated[Principal, Depends(authorized(Permission.SESSIONS_READ))]
Manager = Annotated[Principal, Depends(authorized(Permission.LABELS_MANAGE))]
Writer = Annotated[Principal, Depends(authorized(Permission.MESSAGES_SEND))]


@router.post("/labels", status_code=status.HTTP_201_CREATED, response_model=LabelRead)
async def create_label(body: LabelCreate, principal: Manager, uow: Uow) -> LabelRead:
    """Add a label to the catalogue (admins, supervisors); a name taken → 409."""
    return LabelRead.of(await labels.create_label(uow, principal, name=body.name, color=body.color))


@router.get("/labels", response_model=list[LabelRead])
async def list_labels(principal: Reader, uow: Uow) -> list[LabelRead]:
    """The tenant's labels, by name."""
    return [LabelRead.of(label) for label in await labels.list_labels(uow, principal)]


@router.get("/labels/{label_id}", response_model=LabelRead)
async def get_label(label_id: uuid.UUID, principal: Reader, uow: Uow) -> LabelRead:
    """One label."""
    return LabelRead.of(await labels.get_label(uow, principal, label_id))


@router.patch("/labels/{label_id}", response_model=LabelRead)
async def update_label(
    label_id: uuid.UUID, body: LabelUpdate, principal: Manager, uow: Uow
) -> LabelRead:
    """Rename or recolour a label."""
    label = await labels.update_label(uow, principal, label_id, name=body.name, color=body.color)
    return LabelRead.of(label)


@router.delete("/labels/{label_id}", status_code=status.HTTP_204_NO_CONTENT)
async def delete_label(label_id: uuid.UUID, principal: Manager, uow: Uow) -> None:
    """Delete a label; the sessions that had it lose it."""
    await labels.delete_label(uow, principal, label_id)


@router.get("/sessions/{session_id}/labels", response_model=list[LabelRead])
async def session_labels(session_id: uuid.UUID, principal: Reader, uow: Uow) -> list[LabelRead]:
    """The session's labels."""
    return [LabelRead.of(x) for x in await labels.session_labels(uow, principal, session_id)]


@router.post("/sessions/{session_id}/labels", response_model=list[LabelRead])
async def add_session_label(
    session_id: uuid.UUID, body: SessionLabelAdd, principal: Writer, uow: Uow
) -> list[LabelRead]:
    """Put a label on the session (`session.labeled`); answers the session's labels."""
    current = await labels.add_session_label(uow, principal, session_id, body.label_id)
    return [LabelRead.of(x) for x in current]


@router.delete("/sessions/{session_id}/labels/{label_id}", response_model=list[LabelRead])
async def remove_session_label(
    session_id: uuid.UUID, label_id: uuid.UUID, principal: Writer, uow: Uow
) -> list[LabelRead]:
    """Take a label off the session (`session.unlabeled`); answers the session's labels."""
    current = await labels.remove_session_label(uow, principal, session_id, label_id)
    return [LabelRead.of(x) for x in current]


@router.post(
    "/sessions/{session_id}/notes", status_code=status.HTTP_201_CREATED, response_model=MessageRead
)
async def add_note(
    session_id: uuid.UUID, body: NoteCreate, principal: Writer, uow: Uow
) -> MessageRead:
    """A private note in the session: never sent to WhatsApp; `@handle` mentions a
    colleague (`agent.mentioned`)."""
    return MessageRead.of(await notes.add_note(uow, principal, session_id, body.text))
