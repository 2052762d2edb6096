"""HTTP routes of pipelines, and of a contact's place in them."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Depends, status

from ventros.api.deps import Uow, authorized
from ventros.api.pagination import Cursor, Limit, Page, decode_cursor, encode_cursor
from ventros.api.time_range import Since, Until, date_range
from ventros.identity.domain import Principal
from ventros.identity.permissions import Permission
from ventros.pipelines import service
from ventros.pipelines.domain import KEEP, StageChange
from ventros.pipelines.schemas import (
    ContactPipelineRead,
    ContactPipelineUpdate,
    PipelineCreate,
    PipelineMetricsRead,
    PipelineRead,
    PipelineUpdate,
)

router = APIRouter(tags=["pipelines"])

Reader = Annotated[Principal, Depends(authorized(Permission.PIPELINES_READ))]
Manager = Annotated[Principal, Depends(authorized(Permission.PIPELINES_MANAGE))]
Mover = Annotated[Principal, Depends(authorized(Permission.PIPELINES_MOVE))]


@router.post("/pipelines", status_code=status.HTTP_201_CREATED, response_model=PipelineRead)
async def create_pipeline(body: PipelineCreate, principal: Manager, uow: Uow) -> PipelineRead:
    """Create a pipeline with ordered stages and, optionally, the moves it allows."""
    command = service.CreatePipeline(
        name=body.name,
        stages=[(s.name, s.kind) for s in body.stages],
        allowed_transitions=None
        if body.allowed_transitions is None
        else [tuple(pair) for pair in body.allowed_transitions],  # type: ignore[misc]
    )
    return PipelineRead.of(await service.create_pipeline(uow, principal, command))


@router.get("/pipelines", response_model=Page[PipelineRead])
async def list_pipelines(
    principal: Reader, uow: Uow, limit: Limit = 50, cursor: Cursor = None
) -> Page[PipelineRead]:
    """List pipelines, newest first."""
    page = await service.list_pipelines(uow, principal, limit=limit, before=decode_cursor(cursor))
    return Page(
        items=[PipelineRead.of(p) for p in page.items], next_cursor=encode_cursor(page.next_before)
    )


@router.get("/pipelines/{pipeline_id}", response_model=PipelineRead)
async def get_pipeline(pipeline_id: uuid.UUID, principal: Reader, uow: Uow) -> PipelineRead:
    """One pipeline with its stages."""
    return PipelineRead.of(await service.get_pipeline(uow, principal, pipeline_id))


@router.patch("/pipelines/{pipeline_id}", response_model=PipelineRead)
async def edit_pipeline(
    pipeline_id: uuid.UUID, body: PipelineUpdate, principal: Manager, uow: Uow
) -> PipelineRead:
    """Rename the pipeline; rename, re-kind, reorder, add or remove stages; change the
    moves it allows. A removed stage that holds contacts needs `move_contacts_to` (422
    otherwise, naming the stage and how many it holds)."""
    command = service.EditPipeline(
        pipeline_id=pipeline_id,
        name=body.name,
        stages=None
        if body.stages is None
        else [StageChange(s.id, s.name, s.kind) for s in body.stages],
        allowed_transitions=KEEP
        if "allowed_transitions" not in body.model_fields_set
        else None
        if body.allowed_transitions is None
        else list(body.allowed_transitions),
        move_contacts_to=body.move_contacts_to,
    )
    return PipelineRead.of(await service.edit_pipeline(uow, principal, command))


@router.get("/pipelines/{pipeline_id}/metrics", response_model=PipelineMetricsRead)
async def pipeline_metrics(
    pipeline_id: uuid.UUID,
    principal: Reader,
    uow: Uow,
    since: Since = None,
    until: Until = None,
) -> PipelineMetricsRead:
    """Per-stage figures for entries within [from, to), contacts there now, and win rate."""
    start, stop = date_range(since, until)
    metrics = await service.pipeline_metrics(uow, principal, pipeline_id, since=start, until=stop)
    return PipelineMetricsRead.of(metrics, start, stop)


@router.put("/contacts/{contact_id}/pipeline", response_model=ContactPipelineRead)
async def move_contact(
    contact_id: uuid.UUID, body: ContactPipelineUpdate, principal: Mover, uow: Uow
) -> ContactPipelineRead:
    """Place or move a contact in a pipeline; 422 when the pipeline forbids the move."""
    command = service.MoveContact(contact_id, body.pipeline_id, body.stage_id)
    return ContactPipelineRead.of(await service.move_contact(uow, principal, command))
