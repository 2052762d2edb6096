"""The reports screen: service, attribution and the pipeline funnel over a date range, each
as a server-drawn chart, a table and a CSV download.

Every figure comes from the use cases behind `/api/v1/reports/service`,
`/api/v1/reports/attribution` and `/api/v1/pipelines/{id}/metrics`, with the range read the
way the API reads `from`/`to` (a date as `to` includes that whole day, UTC), so the screen
and the API agree for the same range. Like the API, reports are for supervisors, admins and
viewers (who read everything); agents get the 403 page.
"""

from __future__ import annotations

import csv
import io
import uuid
from collections.abc import AsyncIterator, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import TYPE_CHECKING, Annotated, Any
from urllib.parse import urlencode

from babel.numbers import format_decimal, format_percent
from fastapi import APIRouter, Query, Request
from starlette.responses import Response, StreamingResponse

from ventros.api.time_range import parse_bound
from ventros.channels import service as channels
from ventros.conversations import reports as service_reports
from ventros.conversations.reports import GroupBy as ServiceGroupBy
from ventros.conversations.reports import ServiceFigures, ServiceReport
from ventros.identity import service as identity
from ventros.identity.permissions import Permission, allows, require
from ventros.kernel.errors import RuleViolation
from ventros.pipelines import service as pipelines
from ventros.pipelines.domain import Pipeline, PipelineMetrics
from ventros.tracking import service as tracking
from ventros.tracking.domain import AttributionRow
from ventros.tracking.domain import GroupBy as AttributionGroupBy
from ventros.web import charts, i18n
from ventros.web.auth import container_of
from ventros.web.routing import WebRoute
from ventros.web.templating import Formats
from ventros.web.views import Shell, ShellDep, _page

if TYPE_CHECKING:
    pass

router = APIRouter(include_in_schema=False, route_class=WebRoute)

DEFAULT_DAYS = 30
PIPELINE_CHOICES = 100
CHANNEL_NAMES = 200
DateParam = Annotated[str | None, Query(alias="from", max_length=40)]
ToParam = Annotated[str | None, Query(alias="to", max_length=40)]
ServiceBy = Annotated[ServiceGroupBy, Query()]
AttributionBy = Annotated[AttributionGroupBy, Query()]


# --------------------------------------------------------------------------- formats


class Figures(Formats):
    """Report figures as the reader's locale writes them; `—` where there is none yet."""

    NONE = "—"

    def number(self, value: float | None, digits: int = 0) -> str:
        if value is None:
            return self.NONE
        pattern = "#,##0" + ("." + "0" * digits if digits else "")
        return format_decimal(value, format=pattern, locale=self.locale)

    def percent(self, fraction: float | None) -> str:
        if fraction is None:
            return self.NONE
        return format_percent(fraction, format="#,##0.0%", locale=self.locale)

    def cents(self, cents: int | None) -> str:
        return self.NONE if cents is None else self.money(cents)

    def duration(self, seconds: float | None) -> str:
        """1 h 05 min, 3 min 20 s, 45 s: what a supervisor reads at a glance."""
        if seconds is None:
            return self.NONE
        whole = round(seconds)
        hours, rest = divmod(whole, 3600)
        minutes, secs = divmod(rest, 60)
        if hours:
            return f"{hours} h {minutes:02d} min"
        if minutes:
            return f"{minutes} min {secs:02d} s"
        return f"{secs} s"


# --------------------------------------------------------------------------- the range


@dataclass(frozen=True)
class Period:
    """The dates the form shows and the [since, until) the reports read."""

    first: str  # YYYY-MM-DD, as typed
    last: str
    since: datetime
    until: datetime


def default_period(today: date | None = None) -> tuple[str, str]:
    """The last 30 days, today included."""
    last = today or datetime.now(UTC).date()
    return (last - timedelta(days=DEFAULT_DAYS - 1)).isoformat(), last.isoformat()


def read_period(first: str | None, last: str | None) -> Period:
    """The range, read as the API reads `from` and `to`; RuleViolation(field) otherwise."""
    default_first, default_last = default_period()
    first = (first or "").strip() or default_first
    last = (last or "").strip() or default_last
    since = parse_bound(first, name="from", end=False)
    until = parse_bound(last, name="to", end=True)
    if since is None or until is None:  # both were given above: never
        raise RuleViolation("a date is missing", field="from")
    if since >= until:
        raise RuleViolation("'from' must be before 'to'", field="to")
    if until - since > service_reports.MAX_SPAN:
        raise RuleViolation("at most 366 days per report", field="from")
    return Period(first, last, since, until)


# --------------------------------------------------------------------------- the figures


@dataclass(frozen=True)
class ServiceRow:
    key: str | None
    label: str
    figures: ServiceFigures


@dataclass
class Labels:
    """Names for the ids a report groups by."""

    agents: dict[str, str] = field(default_factory=dict)
    channels: dict[str, str] = field(default_factory=dict)


async def _labels(request: Request, shell: Shell, group_by: ServiceGroupBy) -> Labels:
    container = container_of(request)
    labels = Labels()
    if group_by is ServiceGroupBy.AGENT:
        users = await identity.list_users(container.uow, shell.principal)
        labels.agents = {str(u.id): u.name for u in users}
    elif group_by is ServiceGroupBy.CHANNEL:
        page = await channels.list_channels(
            container.uow, container.secret_box, shell.principal, limit=CHANNEL_NAMES
        )
        labels.channels = {str(c.id): c.name for c in page.items}
    return labels


def service_label(key: str | None, group_by: ServiceGroupBy, labels: Labels, _: Any) -> str:
    if key is None:
        return str(_("Unassigned") if group_by is ServiceGroupBy.AGENT else _("None"))
    if group_by is ServiceGroupBy.AGENT:
        return labels.agents.get(key, key)
    if group_by is ServiceGroupBy.CHANNEL:
        return labels.channels.get(key, str(_("Deleted channel")))
    return key


async def service_rows(
    request: Request, shell: Shell, period: Period, group_by: ServiceGroupBy, locale: str
) -> tuple[ServiceReport, list[ServiceRow]]:
    require(shell.principal, Permission.REPORTS_READ)
    report = await service_reports.get_service_report(
        container_of(request).uow,
        shell.principal,
        since=period.since,
        until=period.until,
        group_by=group_by,
    )
    labels = await _labels(request, shell, group_by)
    gettext = i18n.translations(locale).gettext
    rows = [
        ServiceRow(g.key, service_label(g.key, group_by, labels, gettext), g) for g in report.groups
    ]
    return report, rows


async def attribution_rows(
    request: Request, shell: Shell, period: Period, group_by: AttributionGroupBy
) -> list[AttributionRow]:
    require(shell.principal, Permission.REPORTS_READ)
    return await tracking.attribution_report(
        container_of(request).uow,
        shell.principal,
        group_by,
        since=period.since,
        until=period.until,
    )


async def funnel_of(
    request: Request, shell: Shell, period: Period, pipeline_id: uuid.UUID | None
) -> tuple[list[Pipeline], Pipeline | None, PipelineMetrics | None]:
    require(shell.principal, Permission.PIPELINES_READ)
    uow = container_of(request).uow
    choices = (await pipelines.list_pipelines(uow, shell.principal, limit=PIPELINE_CHOICES)).items
    if pipeline_id is None and not choices:
        return choices, None, None
    chosen_id = pipeline_id or choices[0].id
    chosen = next((p for p in choices if p.id == chosen_id), None)
    if chosen is None:  # beyond the first hundred, or another tenant's: NotFound then
        chosen = await pipelines.get_pipeline(uow, shell.principal, chosen_id)
    metrics = await pipelines.pipeline_metrics(
        uow, shell.principal, chosen.id, since=period.since, until=period.until
    )
    return choices, chosen, metrics


# --------------------------------------------------------------------------- charts


def service_chart(
    rows: list[ServiceRow], group_by: ServiceGroupBy, fmt: Figures, _: Any
) -> charts.Chart:
    if group_by is ServiceGroupBy.DAY:
        return charts.columns(
            str(_("Sessions per day")),
            [(r.label, r.figures.sessions, fmt.number(r.figures.sessions)) for r in rows],
        )
    return charts.bars(
        str(_("Sessions")),
        [(r.label, [r.figures.sessions], [fmt.number(r.figures.sessions)]) for r in rows],
    )


PLATFORM_SOURCES = {
    "facebook_ads": "Facebook Ads",
    "instagram_ads": "Instagram Ads",
    "google_ads": "Google Ads",
    "tiktok_ads": "TikTok Ads",
}


def attribution_label(key: str, group_by: AttributionGroupBy, _: Any) -> str:
    """A source as people name it; a campaign as the ad platform named it."""
    if key == "(none)":
        return str(_("(no campaign)"))
    if group_by is AttributionGroupBy.CAMPAIGN:
        return key
    words = {"organic": _("Organic"), "direct": _("Direct")}
    return str(PLATFORM_SOURCES.get(key) or words.get(key) or key)


def attribution_chart(
    rows: list[AttributionRow], group_by: AttributionGroupBy, fmt: Figures, _: Any
) -> charts.Chart:
    return charts.bars(
        str(_("Leads and conversions")),
        [
            (
                attribution_label(r.key, group_by, _),
                [r.leads, r.conversions],
                [fmt.number(r.leads), fmt.number(r.conversions)],
            )
            for r in rows
        ],
        legend=[str(_("Leads")), str(_("Conversions"))],
    )


def funnel_chart(metrics: PipelineMetrics | None, fmt: Figures, _: Any) -> charts.Chart:
    stages = metrics.stages if metrics else []
    return charts.bars(
        str(_("Entered per stage")),
        [(m.stage.name, [m.figures.entered], [fmt.number(m.figures.entered)]) for m in stages],
    )


# --------------------------------------------------------------------------- the page


@dataclass(frozen=True)
class Query_:
    """The page's query, to link to itself with one choice changed."""

    values: dict[str, str]

    def link(self, path: str = "/app/reports", **changes: str) -> str:
        merged = {k: v for k, v in {**self.values, **changes}.items() if v}
        return f"{path}?{urlencode(merged)}"


@router.get("/app/reports")
async def reports_page(
    request: Request,
    shell: ShellDep,
    since: DateParam = None,
    until: ToParam = None,
    group_by: ServiceBy = ServiceGroupBy.AGENT,
    attribution_by: AttributionBy = AttributionGroupBy.SOURCE,
    pipeline_id: uuid.UUID | None = None,
) -> Response:
    if not allows(shell.principal.role, Permission.REPORTS_READ):
        # As the API: agents may not read reports. The header stays.
        return _page(request, shell, "error.html", {"code": 403}, status_code=403)
    fmt = Figures(shell.locale)
    _ = i18n.translations(shell.locale).gettext
    query = Query_(
        {
            "from": since or "",
            "to": until or "",
            "group_by": group_by.value,
            "attribution_by": attribution_by.value,
            "pipeline_id": str(pipeline_id) if pipeline_id else "",
        }
    )
    first, last = default_period()
    context: dict[str, Any] = {
        "active": "reports",
        "rfmt": fmt,
        "query": query,
        "group_by": group_by.value,
        "attribution_by": attribution_by.value,
        "first": since or first,
        "last": until or last,
        "errors": {},
    }
    try:
        period = read_period(since, until)
    except RuleViolation as error:
        context["errors"] = {
            error.field or "from": _(
                "Check the dates: 'from' must be a date before 'to', at most 366 days apart."
            )
        }
        return _page(request, shell, "reports.html", context, status_code=422)
    report, rows = await service_rows(request, shell, period, group_by, shell.locale)
    attribution = await attribution_rows(request, shell, period, attribution_by)
    choices, pipeline, metrics = await funnel_of(request, shell, period, pipeline_id)
    context.update(
        period=period,
        service=report,
        service_rows=rows,
        service_chart=service_chart(rows, group_by, fmt, _),
        attribution=attribution,
        attribution_chart=attribution_chart(attribution, attribution_by, fmt, _),
        attribution_label=lambda key: attribution_label(key, attribution_by, _),
        pipelines=choices,
        pipeline=pipeline,
        funnel=metrics,
        funnel_chart=funnel_chart(metrics, fmt, _),
    )
    return _page(request, shell, "reports.html", context)


# --------------------------------------------------------------------------- CSV

# A spreadsheet runs a cell that starts with one of these as a formula; campaign names and
# UTM values come from outside, so such a cell is written as text.
_FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def _cell(value: object) -> object:
    if isinstance(value, str) and value.startswith(_FORMULA_STARTS):
        return "'" + value
    return "" if value is None else value


async def csv_lines(header: Sequence[str], rows: Iterable[Sequence[object]]) -> AsyncIterator[str]:
    """The CSV one line at a time: the download starts at once and the text of the whole
    report is never held. A byte order mark first, so spreadsheets read the accents."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")

    def line(values: Sequence[object]) -> str:
        writer.writerow([_cell(v) for v in values])
        text = buffer.getvalue()
        buffer.seek(0)
        buffer.truncate()
        return text

    yield "\ufeff" + line(header)
    for row in rows:
        yield line(row)


def _download(name: str, period: Period, lines: AsyncIterator[str]) -> StreamingResponse:
    filename = f"ventros-{name}-{period.first}_{period.last}.csv"
    return StreamingResponse(
        lines,
        media_type="text/csv; charset=utf-8",
        headers={
            "Content-Disposition": f'attachment; filename="{filename}"',
            "Cache-Control": "no-store",
        },
    )


SERVICE_COLUMNS = (
    "key",
    "label",
    "sessions",
    "closed_sessions",
    "median_first_response_seconds",
    "p90_first_response_seconds",
    "median_resolution_seconds",
    "csat_average",
    "csat_count",
)
ATTRIBUTION_COLUMNS = (
    "key",
    "leads",
    "conversions",
    "spend_cents",
    "cpl_cents",
    "revenue_cents",
    "roi",
)
FUNNEL_COLUMNS = (
    "stage_id",
    "name",
    "kind",
    "contacts",
    "entered",
    "exited_to_next",
    "conversion_rate",
    "avg_seconds_in_stage",
)


@router.get("/app/reports/service.csv")
async def service_csv(
    request: Request,
    shell: ShellDep,
    since: DateParam = None,
    until: ToParam = None,
    group_by: ServiceBy = ServiceGroupBy.AGENT,
) -> Response:
    try:
        period = read_period(since, until)
    except RuleViolation:
        return Response("invalid range", status_code=422, media_type="text/plain")
    _report, rows = await service_rows(request, shell, period, group_by, shell.locale)
    data = (
        [
            r.key,
            r.label,
            *(getattr(r.figures, name) for name in SERVICE_COLUMNS[2:]),
        ]
        for r in rows
    )
    return _download(f"service-{group_by.value}", period, csv_lines(SERVICE_COLUMNS, data))


@router.get("/app/reports/attribution.csv")
async def attribution_csv(
    request: Request,
    shell: ShellDep,
    since: DateParam = None,
    until: ToParam = None,
    attribution_by: AttributionBy = AttributionGroupBy.SOURCE,
) -> Response:
    try:
        period = read_period(since, until)
    except RuleViolation:
        return Response("invalid range", status_code=422, media_type="text/plain")
    rows = await attribution_rows(request, shell, period, attribution_by)
    data = ([getattr(r, name) for name in ATTRIBUTION_COLUMNS] for r in rows)
    return _download(
        f"attribution-{attribution_by.value}", period, csv_lines(ATTRIBUTION_COLUMNS, data)
    )


@router.get("/app/reports/funnel.csv")
async def funnel_csv(
    request: Request,
    shell: ShellDep,
    since: DateParam = None,
    until: ToParam = None,
    pipeline_id: uuid.UUID | None = None,
) -> Response:
    require(shell.principal, Permission.REPORTS_READ)
    try:
        period = read_period(since, until)
    except RuleViolation:
        return Response("invalid range", status_code=422, media_type="text/plain")
    _choices, _pipeline, metrics = await funnel_of(request, shell, period, pipeline_id)
    stages = metrics.stages if metrics else []
    data = (
        [
            m.stage.id,
            m.stage.name,
            m.stage.kind.value,
            m.figures.contacts,
            m.figures.entered,
            m.figures.exited_to_next,
            m.conversion_rate,
            m.figures.avg_seconds_in_stage,
        ]
        for m in stages
    )
    return _download("funnel", period, csv_lines(FUNNEL_COLUMNS, data))
