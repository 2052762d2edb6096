"""EnrichTracking: resolve a Meta ad to its ad set and campaign (names and ids) through the
Graph API, and fetch its daily spend, impressions, clicks and leads from insights into
`ad_spend_daily` (one row per ad and day: a cache the attribution report reads), then raise
`tracking.enriched`.

The activity is one attempt; Temporal retries it (workflows.py) with the retry policy's
backoff. Meta's throttling codes (4, 17, 32, 613, 80004...) and transient errors raise a
retryable error, with the wait Meta asks for (`estimated_time_to_regain_access`) when it
says one; an invalid token or an unknown ad is recorded as a failure and ends the workflow.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from typing import TYPE_CHECKING, Any

import httpx
import structlog
from sqlalchemy import DateTime, cast, select, update
from sqlalchemy.dialects.postgresql import insert
from temporalio import activity
from temporalio.exceptions import ApplicationError

from ventros.kernel.clock import utcnow
from ventros.kernel.events import Actor, DomainEvent
from ventros.platform.crypto import SecretBox
from ventros.platform.settings import Settings
from ventros.platform.tracing import TracedTransport
from ventros.platform.uow import UnitOfWork, UnitOfWorkFactory
from ventros.tracking import events
from ventros.tracking.ad_clients import AdPlatformError, MetaGraph
from ventros.tracking.domain import Source, Tracking
from ventros.tracking.integrations import Platform, load_integration
from ventros.tracking.repository import TrackingRepository, ad_spend_daily, trackings
from ventros.tracking.repository.ads_tables import tracking_enrichments

if TYPE_CHECKING:
    from ventros.runtime.container import Container

log = structlog.get_logger(__name__)

ENRICHED = "enriched"
FAILED = "failed"
SKIPPED = "skipped"  # nothing to enrich (no Meta ad id), or the tracking is gone

# Insights action types counted as leads, first found wins (CTWA first).
LEAD_ACTIONS = ("onsite_conversion.messaging_conversation_started_7d", "lead")
# Names resolved for another tracking of the same ad this recently are reused.
NAMES_FRESH_FOR = timedelta(hours=24)
THROTTLED = "AdPlatformThrottled"
TRANSIENT = "AdPlatformUnavailable"


@dataclass
class EnrichInput:
    tenant_id: str
    tracking_id: str


@dataclass
class EnrichResult:
    outcome: str  # ENRICHED, FAILED or SKIPPED
    error: str | None = None
    spend_cents: int = 0
    days: int = 0


@dataclass
class EnrichFailureInput:
    tenant_id: str
    tracking_id: str
    error: str


@dataclass(frozen=True)
class AdNames:
    ad_name: str | None
    adset_id: str | None
    adset_name: str | None
    campaign_id: str | None
    campaign_name: str | None


@dataclass(frozen=True)
class DaySpend:
    day: date
    spend_cents: int
    currency: str | None
    impressions: int | None
    clicks: int | None
    leads: int | None
    campaign_id: str | None
    adset_id: str | None
    raw: dict[str, Any]


def cents(amount: Any) -> int:
    """Graph money strings ("25.40") to cents."""
    try:
        return int((Decimal(str(amount)) * 100).quantize(Decimal(1), ROUND_HALF_UP))
    except (InvalidOperation, ValueError):
        return 0


def _int(value: Any) -> int | None:
    try:
        return int(Decimal(str(value)))
    except (InvalidOperation, ValueError):
        return None


def day_spend(row: dict[str, Any]) -> DaySpend:
    """One insights row (every metric is a string) as a spend day."""
    actions = {a.get("action_type"): a.get("value") for a in row.get("actions") or []}
    leads = next((_int(actions[t]) for t in LEAD_ACTIONS if t in actions), None)
    return DaySpend(
        day=date.fromisoformat(str(row["date_start"])),
        spend_cents=cents(row.get("spend", "0")),
        currency=row.get("account_currency"),
        impressions=_int(row.get("impressions")),
        clicks=_int(row.get("clicks")),
        leads=leads,
        campaign_id=row.get("campaign_id"),
        adset_id=row.get("adset_id"),
        raw=row,
    )


async def _record(tx: UnitOfWork, tracking_id: uuid.UUID, status: str, error: str | None) -> None:
    values = {"status": status, "error": error, "updated_at": utcnow()}
    await tx.connection.execute(
        insert(tracking_enrichments)
        .values(tenant_id=tx.tenant_id, tracking_id=tracking_id, **values)
        .on_conflict_do_update(index_elements=["tracking_id"], set_=values)
    )


async def _fresh_names(tx: UnitOfWork, tracking: Tracking) -> AdNames | None:
    """Names another tracking of the same ad got recently (the per-ad cache of names)."""
    row = (
        await tx.connection.execute(
            select(trackings)
            .where(
                trackings.c.ad_id == tracking.ad_id,
                trackings.c.enriched_at >= utcnow() - NAMES_FRESH_FOR,
                trackings.c.ad_name.is_not(None),
            )
            .order_by(trackings.c.enriched_at.desc())
            .limit(1)
        )
    ).first()
    if row is None:
        return None
    return AdNames(row.ad_name, row.adset_id, row.adset_name, row.campaign_id, row.campaign_name)


async def _final_days(tx: UnitOfWork, ad_id: str, since: date, until: date) -> set[date]:
    """Days cached after they ended (+1 day for late attribution): not fetched again."""
    rows = await tx.connection.execute(
        select(ad_spend_daily.c.day).where(
            ad_spend_daily.c.platform == Platform.META.value,
            ad_spend_daily.c.ad_id == ad_id,
            ad_spend_daily.c.day.between(since, until),
            ad_spend_daily.c.fetched_at
            >= cast(ad_spend_daily.c.day, DateTime(timezone=True)) + timedelta(days=2),
        )
    )
    return {row.day for row in rows}


async def resolve_names(graph: MetaGraph, ad_id: str, token: str) -> AdNames:
    ad = await graph.get_object(ad_id, ["name", "adset_id", "campaign_id"], token)
    adset_id, campaign_id = ad.get("adset_id"), ad.get("campaign_id")
    adset = await graph.get_object(str(adset_id), ["name"], token) if adset_id else {}
    campaign = await graph.get_object(str(campaign_id), ["name"], token) if campaign_id else {}
    return AdNames(
        ad_name=ad.get("name"),
        adset_id=str(adset_id) if adset_id else None,
        adset_name=adset.get("name"),
        campaign_id=str(campaign_id) if campaign_id else None,
        campaign_name=campaign.get("name"),
    )


async def store(
    tx: UnitOfWork, tracking: Tracking, names: AdNames, days: list[DaySpend], now: datetime
) -> None:
    """Names on the tracking, spend days upserted, `tracking.enriched` raised."""
    assert tracking.ad_id is not None
    await tx.connection.execute(
        update(trackings)
        .where(trackings.c.id == tracking.id)
        .values(
            ad_name=names.ad_name,
            adset_id=names.adset_id or tracking.adset_id,
            adset_name=names.adset_name,
            campaign_id=names.campaign_id or tracking.campaign_id,
            campaign_name=names.campaign_name,
            enriched_at=now,
        )
    )
    for spend in days:
        values = {
            "campaign_id": spend.campaign_id or names.campaign_id,
            "adset_id": spend.adset_id or names.adset_id,
            "spend_cents": spend.spend_cents,
            "currency": spend.currency,
            "impressions": spend.impressions,
            "clicks": spend.clicks,
            "leads": spend.leads,
            "raw": spend.raw,
            "fetched_at": now,
        }
        await tx.connection.execute(
            insert(ad_spend_daily)
            .values(
                tenant_id=tx.tenant_id,
                platform=Platform.META.value,
                ad_id=tracking.ad_id,
                day=spend.day,
                **values,
            )
            .on_conflict_do_update(
                index_elements=["tenant_id", "platform", "ad_id", "day"], set_=values
            )
        )
    await _record(tx, tracking.id, ENRICHED, None)
    tx.add_event(
        DomainEvent(
            name=events.TRACKING_ENRICHED,
            tenant_id=tx.tenant_id,
            aggregate_type=Tracking.aggregate_type,
            aggregate_id=tracking.id,
            payload={
                "tracking_id": str(tracking.id),
                "contact_id": str(tracking.contact_id),
                "ad_id": tracking.ad_id,
                "ad_name": names.ad_name,
                "adset_id": names.adset_id,
                "adset_name": names.adset_name,
                "campaign_id": names.campaign_id,
                "campaign_name": names.campaign_name,
                "days_fetched": len(days),
                "spend_cents": sum(d.spend_cents for d in days),
            },
        )
    )


class EnrichmentActivities:
    def __init__(
        self,
        uow: UnitOfWorkFactory,
        box: SecretBox,
        settings: Settings,
        *,
        http: httpx.AsyncClient | None = None,
    ) -> None:
        self._uow = uow
        self._box = box
        self._settings = settings
        self._http = http or httpx.AsyncClient(
            timeout=httpx.Timeout(settings.ads_timeout_seconds),
            trust_env=False,
            transport=TracedTransport("ads"),
        )
        self._graph = MetaGraph(self._http, settings)

    @classmethod
    def build(cls, container: Container) -> EnrichmentActivities:
        box = container.secret_box
        return cls(container.uow, box, container.settings)

    async def close(self) -> None:
        await self._http.aclose()

    @activity.defn(name="tracking_enrich")
    async def enrich(self, params: EnrichInput) -> EnrichResult:
        """One attempt. Retryable failures raise; final ones are recorded and returned."""
        tenant_id, tracking_id = uuid.UUID(params.tenant_id), uuid.UUID(params.tracking_id)
        async with self._uow(tenant_id, Actor.system()) as tx:
            tracking = await TrackingRepository(tx).get(tracking_id)
            if tracking is None:
                return EnrichResult(SKIPPED, "tracking not found")
            if not tracking.ad_id or tracking.source not in (
                Source.FACEBOOK_ADS,
                Source.INSTAGRAM_ADS,
            ):
                return EnrichResult(SKIPPED, "no Meta ad to enrich")
            integration = await load_integration(tx, self._box, Platform.META)
            if integration is None:
                await _record(tx, tracking_id, FAILED, "no Meta integration for this tenant")
                await tx.commit()
                return EnrichResult(FAILED, "no Meta integration for this tenant")
            names = await _fresh_names(tx, tracking)
            today = utcnow().date()
            since = tracking.created_at.date() - timedelta(
                days=self._settings.ads_insights_lookback_days
            )
            cached = await _final_days(tx, tracking.ad_id, since, today)
        wanted = [since + timedelta(days=n) for n in range((today - since).days + 1)]
        missing = [d for d in wanted if d not in cached]
        try:
            if names is None:
                names = await resolve_names(self._graph, tracking.ad_id, integration.token)
            rows = (
                await self._graph.daily_insights(
                    tracking.ad_id, missing[0], missing[-1], integration.token
                )
                if missing
                else []
            )
        except AdPlatformError as error:
            return await self._failed(tenant_id, tracking_id, error)
        days = [day_spend(row) for row in rows if row.get("date_start")]
        async with self._uow(tenant_id, Actor.system()) as tx:
            await store(tx, tracking, names, days, utcnow())
            await tx.commit()
        log.info("tracking enriched", tracking_id=params.tracking_id, days=len(days))
        return EnrichResult(ENRICHED, spend_cents=sum(d.spend_cents for d in days), days=len(days))

    async def _failed(
        self, tenant_id: uuid.UUID, tracking_id: uuid.UUID, error: AdPlatformError
    ) -> EnrichResult:
        if error.transient:
            log.warning("ad platform busy; retrying", error=str(error), throttled=error.throttled)
            delay = error.retry_after_seconds
            raise ApplicationError(
                str(error),
                type=THROTTLED if error.throttled else TRANSIENT,
                next_retry_delay=timedelta(seconds=delay) if delay else None,
            )
        async with self._uow(tenant_id, Actor.system()) as tx:
            await _record(tx, tracking_id, FAILED, str(error))
            await tx.commit()
        log.warning("tracking enrichment failed", tracking_id=str(tracking_id), error=str(error))
        return EnrichResult(FAILED, str(error))

    @activity.defn(name="tracking_enrich_failed")
    async def record_failure(self, params: EnrichFailureInput) -> None:
        """After the last retry (still throttled or unreachable): a recorded failure."""
        async with self._uow(uuid.UUID(params.tenant_id), Actor.system()) as tx:
            await _record(tx, uuid.UUID(params.tracking_id), FAILED, params.error[:1000])
            await tx.commit()
