"""HTTP routes of trackings and the attribution report."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Depends, Query, status

from ventros.api.deps import Uow, authorized
from ventros.api.pagination import Cursor, Limit, Page, decode_cursor, encode_cursor
from ventros.api.time_range import Since, Until, date_range
from ventros.identity.domain import Principal
from ventros.identity.permissions import Permission
from ventros.tracking import service
from ventros.tracking.domain import GroupBy, Model, Utm
from ventros.tracking.schemas import (
    AttributionItem,
    AttributionReport,
    TrackingCreate,
    TrackingRead,
)

router = APIRouter(tags=["tracking"])

Reader = Annotated[Principal, Depends(authorized(Permission.TRACKINGS_READ))]
Writer = Annotated[Principal, Depends(authorized(Permission.TRACKINGS_WRITE))]
ReportReader = Annotated[Principal, Depends(authorized(Permission.REPORTS_READ))]


@router.post("/trackings", status_code=status.HTTP_201_CREATED, response_model=TrackingRead)
async def create_tracking(body: TrackingCreate, principal: Writer, uow: Uow) -> TrackingRead:
    """Record where a contact came from (an ad, a click id, UTM parameters...)."""
    command = service.CreateTracking(
        contact_id=body.contact_id,
        source=body.source,
        campaign_id=body.campaign_id,
        adset_id=body.adset_id,
        ad_id=body.ad_id,
        utm=Utm(
            body.utm_source, body.utm_medium, body.utm_campaign, body.utm_term, body.utm_content
        ),
        click_id=body.click_id,
        click_id_type=body.click_id_type,
        landing_url=body.landing_url,
        source_url=body.source_url,
        referrer=body.referrer,
    )
    return TrackingRead.of(await service.create_tracking(uow, principal, command))


@router.get("/trackings", response_model=Page[TrackingRead])
async def list_trackings(
    principal: Reader,
    uow: Uow,
    contact_id: uuid.UUID | None = None,
    limit: Limit = 50,
    cursor: Cursor = None,
) -> Page[TrackingRead]:
    """List trackings, newest first, optionally of one contact."""
    page = await service.list_trackings(
        uow, principal, contact_id=contact_id, limit=limit, before=decode_cursor(cursor)
    )
    return Page(
        items=[TrackingRead.of(t) for t in page.items], next_cursor=encode_cursor(page.next_before)
    )


@router.get(
    "/reports/attribution",
    response_model=AttributionReport,
    tags=["reports"],
    response_model_by_alias=True,
)
async def attribution_report(
    principal: ReportReader,
    uow: Uow,
    since: Since = None,
    until: Until = None,
    group_by: GroupBy = GroupBy.SOURCE,
    model: Annotated[
        Model, Query(description="the touch a lead is credited to (docs/attribution.md)")
    ] = Model.FIRST_TOUCH,
) -> AttributionReport:
    """Leads, conversions, spend, CPL, revenue and ROI by source or campaign. A lead (a
    contact first tracked in the range) counts once, under its first touch, or with
    `model=last_touch` its latest touch before `to`; conversions follow the same touch."""
    start, stop = date_range(since, until)
    rows = await service.attribution_report(
        uow, principal, group_by, since=start, until=stop, model=model
    )
    return AttributionReport(
        group_by=group_by.value,
        model=model.value,
        since=start,
        until=stop,
        items=[AttributionItem.of(row) for row in rows],
    )
