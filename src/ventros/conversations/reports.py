"""Service report: `GET /api/v1/reports/service?from=&to=&group_by=agent|channel|day`.

Sessions started in [from, to), per agent (default), team, channel or day, and overall, computed
in SQL from the metrics each session stores (conversations.domain.Session): count, median,
p90 and average first response, average reply time (all replies' waits over all replies),
median and average resolution, CSAT average and count; the SLA breach rate: sessions that
breached a target (first response or resolution, as the service clock raised them) over
sessions that had an SLA; `label=` keeps the sessions with that conversation label.
Supervisors, admins and viewers (`reports:read`); RLS keeps it to the caller's tenant.
"""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Annotated, Any

from fastapi import APIRouter, Depends
from pydantic import BaseModel
from sqlalchemy import text

from ventros.api.deps import Uow, authorized
from ventros.api.time_range import DateRangeRead, Since, Until, parse_bound
from ventros.conversations.service import labels as label_catalogue
from ventros.identity.domain import Principal
from ventros.identity.permissions import Permission
from ventros.kernel.clock import utcnow
from ventros.kernel.errors import RuleViolation
from ventros.kernel.events import Actor
from ventros.platform.uow import UnitOfWork, UnitOfWorkFactory

router = APIRouter(tags=["reports"])

ReportReader = Annotated[Principal, Depends(authorized(Permission.REPORTS_READ))]
DEFAULT_SPAN = timedelta(days=30)
MAX_SPAN = timedelta(days=366)


class GroupBy(StrEnum):
    AGENT = "agent"
    TEAM = "team"
    CHANNEL = "channel"
    DAY = "day"


_KEYS = {
    GroupBy.AGENT: "agent_id::text",
    GroupBy.TEAM: "team_id::text",
    GroupBy.CHANNEL: "channel_id::text",
    GroupBy.DAY: "to_char(date_trunc('day', started_at AT TIME ZONE 'UTC'), 'YYYY-MM-DD')",
}

_FIGURES = """
    count(*) AS sessions,
    count(*) FILTER (WHERE status = 'closed') AS closed_sessions,
    percentile_cont(0.5) WITHIN GROUP (ORDER BY first_response_seconds)
        AS median_first_response_seconds,
    percentile_cont(0.9) WITHIN GROUP (ORDER BY first_response_seconds)
        AS p90_first_response_seconds,
    avg(first_response_seconds) AS average_first_response_seconds,
    sum(reply_seconds_total) / NULLIF(sum(reply_count), 0) AS average_reply_seconds,
    sum(reply_count) AS replies,
    percentile_cont(0.5) WITHIN GROUP (ORDER BY resolution_seconds)
        AS median_resolution_seconds,
    avg(resolution_seconds) AS average_resolution_seconds,
    avg(csat_score)::float8 AS csat_average,
    count(csat_score) AS csat_count,
    count(*) FILTER (
        WHERE first_response_due_at IS NOT NULL OR resolution_due_at IS NOT NULL
    ) AS sla_sessions,
    count(*) FILTER (
        WHERE sla_raised && ARRAY['first_response.breached', 'resolution.breached']
    ) AS sla_breached
"""
_COUNTS = ("sessions", "closed_sessions", "csat_count", "replies", "sla_sessions", "sla_breached")
_WHERE = "FROM sessions WHERE started_at >= :since AND started_at < :until"
_LABELLED = " AND id IN (SELECT session_id FROM session_labels WHERE label_id = :label_id)"


class ServiceFigures(BaseModel):
    sessions: int
    closed_sessions: int
    median_first_response_seconds: float | None
    p90_first_response_seconds: float | None
    average_first_response_seconds: float | None
    average_reply_seconds: float | None
    replies: int
    median_resolution_seconds: float | None
    average_resolution_seconds: float | None
    csat_average: float | None
    csat_count: int
    sla_sessions: int = 0
    sla_breached: int = 0
    sla_breach_rate: float | None = None  # sla_breached / sla_sessions


class ServiceGroup(ServiceFigures):
    key: str | None  # agent, team or channel id, or YYYY-MM-DD; None: no agent / no team
    agent_id: uuid.UUID | None = None
    team_id: uuid.UUID | None = None


class ServiceReport(DateRangeRead):
    group_by: GroupBy
    overall: ServiceFigures
    groups: list[ServiceGroup]


def _figures(row: Any) -> dict[str, Any]:
    data = dict(row._mapping)
    for name in _COUNTS:
        data[name] = int(data[name] or 0)
    for name, value in data.items():
        if name not in ("key", *_COUNTS):
            data[name] = float(value) if value is not None else None
    sla = data["sla_sessions"]
    data["sla_breach_rate"] = data["sla_breached"] / sla if sla else None
    return data


async def service_report(
    tx: UnitOfWork,
    *,
    since: datetime,
    until: datetime,
    group_by: GroupBy,
    label_id: uuid.UUID | None = None,
) -> ServiceReport:
    params: dict[str, Any] = {"since": since, "until": until, "label_id": label_id}
    where = _WHERE + (_LABELLED if label_id is not None else "")
    overall = (await tx.connection.execute(text(f"SELECT {_FIGURES} {where}"), params)).one()
    key = _KEYS[group_by]
    grouped = await tx.connection.execute(
        text(f"SELECT {key} AS key, {_FIGURES} {where} GROUP BY 1 ORDER BY 1 NULLS LAST"),
        params,
    )
    groups = []
    for row in grouped:
        group = ServiceGroup(**_figures(row))
        if group_by is GroupBy.AGENT and group.key is not None:
            group.agent_id = uuid.UUID(group.key)
        if group_by is GroupBy.TEAM and group.key is not None:
            group.team_id = uuid.UUID(group.key)
        groups.append(group)
    return ServiceReport(
        since=since,
        until=until,
        group_by=group_by,
        overall=ServiceFigures(**_figures(overall)),
        groups=groups,
    )


async def get_service_report(
    uow: UnitOfWorkFactory,
    principal: Principal,
    *,
    since: datetime | None,
    until: datetime | None,
    group_by: GroupBy = GroupBy.AGENT,
    label_id: uuid.UUID | None = None,
) -> ServiceReport:
    until = until or utcnow()
    since = since or until - DEFAULT_SPAN
    if since >= until:
        raise RuleViolation("'from' must be before 'to'", field="from")
    if until - since > MAX_SPAN:
        raise RuleViolation("at most 366 days per report: narrow 'from' and 'to'", field="from")
    async with uow(principal.tenant_id, Actor.user(principal.user_id)) as tx:
        return await service_report(
            tx, since=since, until=until, group_by=group_by, label_id=label_id
        )


@router.get("/reports/service", response_model=ServiceReport)
async def service(
    principal: ReportReader,
    uow: Uow,
    since: Since = None,
    until: Until = None,
    group_by: GroupBy = GroupBy.AGENT,
    label: uuid.UUID | None = None,
) -> ServiceReport:
    """Service figures of the sessions started in [from, to) (default: the last 30 days),
    per agent, team, channel or day, and overall (with SLA breach rates); `label`: only
    the sessions with that label (a label id; an unknown one → 404)."""
    if label is not None:
        await label_catalogue.get_label(uow, principal, label)
    return await get_service_report(
        uow,
        principal,
        since=parse_bound(since, name="from", end=False),
        until=parse_bound(until, name="to", end=True),
        group_by=group_by,
        label_id=label,
    )
