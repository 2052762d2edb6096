"""Conversation labels: the tenant's catalogue (admins and supervisors), and putting
labels on sessions or taking them off (anyone who may write in the tenant's sessions).
`session.labeled` / `session.unlabeled` say so."""

from __future__ import annotations

import uuid

from ventros.conversations.domain import Label, label_session, unlabel_session
from ventros.conversations.repository import SessionRepository
from ventros.conversations.repository.labels import LabelRepository
from ventros.identity.domain import Principal
from ventros.kernel.clock import utcnow
from ventros.kernel.errors import Conflict, NotFound
from ventros.kernel.events import Actor
from ventros.platform.uow import UnitOfWork, UnitOfWorkFactory


def _open(uow: UnitOfWorkFactory, principal: Principal) -> UnitOfWork:
    return uow(principal.tenant_id, Actor.user(principal.user_id))


async def _get(tx: UnitOfWork, label_id: uuid.UUID) -> Label:
    label = await LabelRepository(tx).get(label_id)
    if label is None:
        raise NotFound("label not found")
    return label


async def _ensure_free(tx: UnitOfWork, label: Label) -> None:
    existing = await LabelRepository(tx).id_named(label.name)
    if existing is not None and existing != label.id:
        raise Conflict(f"a label named {label.name!r} exists already", existing_id=existing)


async def create_label(
    uow: UnitOfWorkFactory, principal: Principal, *, name: str, color: str | None = None
) -> Label:
    async with _open(uow, principal) as tx:
        label = Label.create(tenant_id=principal.tenant_id, name=name, color=color)
        await _ensure_free(tx, label)
        await LabelRepository(tx).add(label)
        await tx.commit()
    return label


async def update_label(
    uow: UnitOfWorkFactory,
    principal: Principal,
    label_id: uuid.UUID,
    *,
    name: str | None = None,
    color: str | None = None,
) -> Label:
    async with _open(uow, principal) as tx:
        label = await _get(tx, label_id)
        label.change(name=name, color=color)
        await _ensure_free(tx, label)
        await LabelRepository(tx).save(label)
        await tx.commit()
    return label


async def delete_label(uow: UnitOfWorkFactory, principal: Principal, label_id: uuid.UUID) -> None:
    """Removes the label from the catalogue and from every session that had it."""
    async with _open(uow, principal) as tx:
        label = await _get(tx, label_id)
        label.delete()
        await LabelRepository(tx).delete(label)
        await tx.commit()


async def get_label(uow: UnitOfWorkFactory, principal: Principal, label_id: uuid.UUID) -> Label:
    async with _open(uow, principal) as tx:
        return await _get(tx, label_id)


async def list_labels(uow: UnitOfWorkFactory, principal: Principal) -> list[Label]:
    async with _open(uow, principal) as tx:
        return await LabelRepository(tx).catalogue()


async def session_labels(
    uow: UnitOfWorkFactory, principal: Principal, session_id: uuid.UUID
) -> list[Label]:
    async with _open(uow, principal) as tx:
        if await SessionRepository(tx).get(session_id) is None:
            raise NotFound("session not found")
        return await LabelRepository(tx).of_session(session_id)


async def add_session_label(
    uow: UnitOfWorkFactory, principal: Principal, session_id: uuid.UUID, label_id: uuid.UUID
) -> list[Label]:
    """Puts the label on the session (again: nothing happens); the session's labels."""
    async with _open(uow, principal) as tx:
        session = await SessionRepository(tx).get(session_id)
        if session is None:
            raise NotFound("session not found")
        label = await _get(tx, label_id)
        repository = LabelRepository(tx)
        if await repository.attach(session.id, label.id, by=principal.user_id, at=utcnow()):
            label_session(session, label)
        current = await repository.of_session(session.id)
        await tx.commit()
    return current


async def remove_session_label(
    uow: UnitOfWorkFactory, principal: Principal, session_id: uuid.UUID, label_id: uuid.UUID
) -> list[Label]:
    """Takes the label off the session; a label it does not have → NotFound."""
    async with _open(uow, principal) as tx:
        session = await SessionRepository(tx).get(session_id)
        if session is None:
            raise NotFound("session not found")
        label = await _get(tx, label_id)
        repository = LabelRepository(tx)
        if not await repository.detach(session.id, label.id):
            raise NotFound("the session does not have this label")
        unlabel_session(session, label)
        current = await repository.of_session(session.id)
        await tx.commit()
    return current
