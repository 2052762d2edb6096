"""Pipelines use cases."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import datetime
from typing import Literal

from ventros.contacts import service as contacts
from ventros.identity.domain import Principal
from ventros.kernel.clock import utcnow
from ventros.kernel.errors import NotFound
from ventros.kernel.events import Actor
from ventros.pipelines.domain import (
    KEEP,
    Keep,
    Pipeline,
    PipelineMetrics,
    PipelinePosition,
    StageChange,
    check_range,
    metrics_of,
)
from ventros.pipelines.repository import (
    CardCursor,
    Lock,
    PipelineRepository,
    PositionRepository,
    rebuild_daily,
    relocate,
    stage_cards,
    stage_counts,
    stage_figures,
)
from ventros.platform.uow import UnitOfWork, UnitOfWorkFactory


@dataclass(frozen=True)
class CreatePipeline:
    name: str
    stages: list[tuple[str, str]]
    allowed_transitions: list[tuple[str, str]] | None = None


@dataclass(frozen=True)
class EditPipeline:
    """An admin's change: None / KEEP leave that part as it is (see `Pipeline.edit`)."""

    pipeline_id: uuid.UUID
    name: str | None = None
    stages: list[StageChange] | None = None
    allowed_transitions: list[tuple[str, str]] | Literal[Keep.KEEP] | None = KEEP
    move_contacts_to: dict[uuid.UUID, uuid.UUID] = field(default_factory=dict)


@dataclass(frozen=True)
class MoveContact:
    contact_id: uuid.UUID
    pipeline_id: uuid.UUID
    stage_id: uuid.UUID


@dataclass(frozen=True)
class Page:
    items: list[Pipeline]
    next_before: uuid.UUID | None


def _open(uow: UnitOfWorkFactory, principal: Principal) -> UnitOfWork:
    return uow(principal.tenant_id, Actor.user(principal.user_id))


async def _get(tx: UnitOfWork, pipeline_id: uuid.UUID, *, lock: Lock | None = None) -> Pipeline:
    pipeline = await PipelineRepository(tx).get(pipeline_id, lock=lock)
    if pipeline is None:
        raise NotFound("pipeline not found")
    return pipeline


async def create_pipeline(
    uow: UnitOfWorkFactory, principal: Principal, command: CreatePipeline
) -> Pipeline:
    async with _open(uow, principal) as tx:
        pipeline = Pipeline.create(
            tenant_id=principal.tenant_id,
            name=command.name,
            stages=command.stages,
            allowed_transitions=command.allowed_transitions,
        )
        await PipelineRepository(tx).add(pipeline)
        await tx.commit()
    return pipeline


async def edit_pipeline(
    uow: UnitOfWorkFactory, principal: Principal, command: EditPipeline
) -> Pipeline:
    """Edits the pipeline under its row lock: no move and no other edit runs between
    counting the contacts of each stage and moving those of the removed stages. Raises
    NotFound, RuleViolation (StageHoldsContacts: a removed stage's contacts need a place)."""
    async with _open(uow, principal) as tx:
        pipeline = await _get(tx, command.pipeline_id, lock="update")
        change = pipeline.edit(
            name=command.name,
            stages=command.stages,
            allowed_transitions=command.allowed_transitions,
            move_contacts_to=command.move_contacts_to,
            contacts=await stage_counts(tx, pipeline.id),
        )
        await PipelineRepository(tx).save(pipeline)
        at = utcnow()
        moved = await relocate(tx, pipeline.id, change.moves, at=at, by=principal.user_id)
        for contact_id, source, target, entry_id in moved:
            tx.track(
                PipelinePosition.relocated(
                    pipeline,
                    contact_id,
                    from_stage_id=source,
                    to_stage_id=target,
                    entry_id=entry_id,
                    at=at,
                )
            )
        if change.order_changed:
            # Which stage is "next" changed (or a stage went): the rollup's exits to the
            # next stage are recounted from the history under the new order.
            await rebuild_daily(tx, pipeline.id)
        await tx.commit()
    return pipeline


async def get_pipeline(
    uow: UnitOfWorkFactory, principal: Principal, pipeline_id: uuid.UUID
) -> Pipeline:
    async with _open(uow, principal) as tx:
        return await _get(tx, pipeline_id)


async def pipeline_with_counts(
    uow: UnitOfWorkFactory, principal: Principal, pipeline_id: uuid.UUID
) -> tuple[Pipeline, dict[uuid.UUID, int]]:
    """The pipeline and how many contacts each stage holds now (the edit screen's rows)."""
    async with _open(uow, principal) as tx:
        pipeline = await _get(tx, pipeline_id)
        return pipeline, await stage_counts(tx, pipeline.id)


async def list_pipelines(
    uow: UnitOfWorkFactory, principal: Principal, *, limit: int, before: uuid.UUID | None = None
) -> Page:
    async with _open(uow, principal) as tx:
        rows = await PipelineRepository(tx).list(limit=limit + 1, before=before)
    items = rows[:limit]
    return Page(items, items[-1].id if len(rows) > limit else None)


async def move_contact(
    uow: UnitOfWorkFactory, principal: Principal, command: MoveContact
) -> PipelinePosition:
    """Places or moves a contact; raises NotFound, RuleViolation (forbidden move)."""
    # The contact belongs to the Contacts context: ask its service, not its tables.
    await contacts.get_contact(uow, principal, command.contact_id)
    async with _open(uow, principal) as tx:
        # Shared with other moves, waits for an edit: a stage it removes takes no one in.
        pipeline = await _get(tx, command.pipeline_id, lock="share")
        positions = PositionRepository(tx)
        position = await positions.get(pipeline.id, command.contact_id)
        if position.move_to(pipeline, command.stage_id, by=principal.user_id):
            await positions.save(position)
            await tx.commit()
    return position


async def pipeline_metrics(
    uow: UnitOfWorkFactory,
    principal: Principal,
    pipeline_id: uuid.UUID,
    *,
    since: datetime,
    until: datetime,
) -> PipelineMetrics:
    check_range(since, until)
    async with _open(uow, principal) as tx:
        pipeline = await _get(tx, pipeline_id)
        figures = await stage_figures(tx, pipeline.id, since=since, until=until)
    return metrics_of(pipeline, figures)


async def move_contact_positions(
    tx: UnitOfWork, *, from_contact_id: uuid.UUID, to_contact_id: uuid.UUID
) -> int:
    """Contact merge: the duplicate's pipeline history becomes the survivor's. Where both
    are in the same pipeline the survivor's current stage wins; the duplicate's stay ends."""
    from ventros.pipelines.repository import reassign_contact

    return await reassign_contact(tx, from_contact_id, to_contact_id)


async def contact_stages(
    uow: UnitOfWorkFactory,
    principal: Principal,
    contact_id: uuid.UUID,
    pipeline_ids: list[uuid.UUID],
) -> dict[uuid.UUID, uuid.UUID | None]:
    """The stage the contact stands on in each of these pipelines (None: not placed)."""
    async with _open(uow, principal) as tx:
        positions = PositionRepository(tx)
        return {
            pipeline_id: (await positions.get(pipeline_id, contact_id)).stage_id
            for pipeline_id in pipeline_ids
        }


@dataclass(frozen=True)
class Card:
    contact_id: uuid.UUID
    entered_at: datetime


@dataclass(frozen=True)
class Column:
    stage_id: uuid.UUID
    count: int
    cards: list[Card]
    next_after: CardCursor | None


@dataclass(frozen=True)
class Board:
    pipeline: Pipeline
    columns: list[Column]


async def _column(
    tx: UnitOfWork,
    pipeline_id: uuid.UUID,
    stage_id: uuid.UUID,
    count: int,
    *,
    limit: int,
    after: CardCursor | None,
) -> Column:
    rows = await stage_cards(tx, pipeline_id, stage_id, limit=limit + 1, after=after)
    cards = [Card(contact_id, entered_at) for contact_id, entered_at in rows[:limit]]
    last = cards[-1] if len(rows) > limit else None
    return Column(stage_id, count, cards, (last.entered_at, last.contact_id) if last else None)


async def board(
    uow: UnitOfWorkFactory, principal: Principal, pipeline_id: uuid.UUID, *, per_stage: int
) -> Board:
    """The pipeline as a kanban: each stage's count and its latest `per_stage` arrivals."""
    async with _open(uow, principal) as tx:
        pipeline = await _get(tx, pipeline_id)
        counts = await stage_counts(tx, pipeline.id)
        columns = [
            await _column(tx, pipeline.id, s.id, counts.get(s.id, 0), limit=per_stage, after=None)
            for s in pipeline.stages
        ]
    return Board(pipeline, columns)


async def stage_page(
    uow: UnitOfWorkFactory,
    principal: Principal,
    pipeline_id: uuid.UUID,
    stage_id: uuid.UUID,
    *,
    limit: int,
    after: CardCursor | None,
) -> Column:
    """More of one stage's cards, after the last one shown (a long column's "load more")."""
    async with _open(uow, principal) as tx:
        pipeline = await _get(tx, pipeline_id)
        stage = pipeline.stage(stage_id)
        return await _column(tx, pipeline.id, stage.id, 0, limit=limit, after=after)
