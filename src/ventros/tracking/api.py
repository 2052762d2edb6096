"""HTTP routes of trackings and the attribution report."""

from __future__ import annotations

import uuid
from datetime import UTC, date, datetime, time, timedelta
from typing import Annotated

from fastapi import APIRouter, Depends, Query, status

from ventros.api.deps import Uow, authorized
from ventros.api.pagination import Cursor, Limit, Page, decode_cursor, encode_cursor
from ventros.identity.domain import Principal
from ventros.identity.permissions import Permission
from ventros.kernel.clock import utcnow
from ventros.kernel.errors import RuleViolation
from ventros.tracking import service
from ventros.tracking.domain import GroupBy, Utm
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

_BOUND = "RFC 3339 time, or a date (YYYY-MM-DD; as `to`, the whole day is included)"
Since = Annotated[str | None, Query(alias="from", max_length=40, description=_BOUND)]
Until = Annotated[str | None, Query(alias="to", max_length=40, description=_BOUND)]


def _bound(value: str | None, *, name: str, end: bool) -> datetime | None:
    if value is None:
        return None
    try:
        if len(value) == 10:
            day = date.fromisoformat(value) + timedelta(days=1 if end else 0)
            moment = datetime.combine(day, time(), UTC)
        else:
            moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError as error:
        raise RuleViolation(f"'{name}' is not a date or time: {value!r}", field=name) from error
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def _range(since: str | None, until: str | None) -> tuple[datetime, datetime]:
    start = _bound(since, name="from", end=False) or datetime(1970, 1, 1, tzinfo=UTC)
    stop = _bound(until, name="to", end=True) or utcnow()
    if start > stop:
        raise RuleViolation("'from' must not be after 'to'", field="from")
    return start, stop


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
) -> AttributionReport:
    """Leads, conversions, spend, CPL, revenue and ROI by source or campaign."""
    start, stop = _range(since, until)
    rows = await service.attribution_report(uow, principal, group_by, since=start, until=stop)
    return AttributionReport(
        group_by=group_by.value,
        since=start,
        until=stop,
        items=[AttributionItem.of(row) for row in rows],
    )
