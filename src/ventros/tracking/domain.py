"""Tracking: the Tracking aggregate (one record of where a lead came from) and the pure
classification of a lead's source from an ad referral, click ids, UTM or a referrer.
Pure: no I/O."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field, fields
from datetime import datetime
from enum import StrEnum
from typing import Any
from urllib.parse import parse_qs, urlsplit

from ventros.kernel.aggregate import AggregateRoot
from ventros.kernel.clock import utcnow
from ventros.kernel.errors import RuleViolation
from ventros.kernel.ids import new_id
from ventros.tracking import events

MAX_FIELD_LENGTH = 500
MAX_URL_LENGTH = 2048


class Source(StrEnum):
    FACEBOOK_ADS = "facebook_ads"
    INSTAGRAM_ADS = "instagram_ads"
    GOOGLE_ADS = "google_ads"
    TIKTOK_ADS = "tiktok_ads"
    ORGANIC = "organic"
    DIRECT = "direct"


class ClickIdType(StrEnum):
    CTWA_CLID = "ctwa_clid"
    GCLID = "gclid"
    GBRAID = "gbraid"
    WBRAID = "wbraid"
    FBCLID = "fbclid"
    TTCLID = "ttclid"


GOOGLE_CLICK_IDS = (ClickIdType.GCLID, ClickIdType.GBRAID, ClickIdType.WBRAID)
# utm_medium values that mean a paid click (GA4's Paid Search / Paid Social rules, widened).
PAID_MEDIUMS = frozenset(
    {"cpc", "ppc", "paid", "paidsearch", "paid_search", "paidsocial", "paid_social", "cpm", "ads"}
)
# utm_source spellings of each ad platform.
PLATFORM_SOURCES: dict[str, Source] = {
    "facebook": Source.FACEBOOK_ADS,
    "fb": Source.FACEBOOK_ADS,
    "meta": Source.FACEBOOK_ADS,
    "instagram": Source.INSTAGRAM_ADS,
    "ig": Source.INSTAGRAM_ADS,
    "google": Source.GOOGLE_ADS,
    "adwords": Source.GOOGLE_ADS,
    "youtube": Source.GOOGLE_ADS,
    "tiktok": Source.TIKTOK_ADS,
}


@dataclass(frozen=True, slots=True)
class AdReferral:
    """The ad a WhatsApp chat started from (WAHA `externalAdReply`, Cloud API `referral`)."""

    source_type: str | None = None  # "ad" | "post"
    source_id: str | None = None  # the Meta ad (or post) id
    source_url: str | None = None
    ctwa_clid: str | None = None
    headline: str | None = None
    body: str | None = None


@dataclass(frozen=True, slots=True)
class Utm:
    source: str | None = None
    medium: str | None = None
    campaign: str | None = None
    term: str | None = None
    content: str | None = None

    @property
    def present(self) -> bool:
        return any(getattr(self, f.name) for f in fields(self))


@dataclass(frozen=True, slots=True)
class Signals:
    """Everything known about how a lead arrived, before classification."""

    referral: AdReferral | None = None
    click_ids: dict[ClickIdType, str] = field(default_factory=dict)
    utm: Utm = field(default_factory=Utm)
    referrer: str | None = None
    landing_url: str | None = None

    @classmethod
    def from_url(cls, url: str, *, referrer: str | None = None) -> Signals:
        """UTM and click ids from a landing URL's query string (first value of each)."""
        query = parse_qs(urlsplit(url).query)

        def first(name: str) -> str | None:
            values = [v.strip() for v in query.get(name, []) if v.strip()]
            return values[0] if values else None

        click_ids = {kind: value for kind in ClickIdType if (value := first(kind.value))}
        utm = Utm(
            *(first(f"utm_{name}") for name in ("source", "medium", "campaign", "term", "content"))
        )
        return cls(click_ids=click_ids, utm=utm, referrer=referrer, landing_url=url)


@dataclass(frozen=True, slots=True)
class Classification:
    source: Source
    click_id: str | None = None
    click_id_type: ClickIdType | None = None
    ad_id: str | None = None


def _host(url: str | None) -> str:
    if not url:
        return ""
    try:
        return (urlsplit(url if "//" in url else "//" + url).hostname or "").lower()
    except ValueError:
        return ""


def _on(host: str, domain: str) -> bool:
    return host == domain or host.endswith("." + domain)


def _lower(value: str | None) -> str:
    return (value or "").strip().lower()


def classify(signals: Signals) -> Classification:
    """The lead's source, in this order (first match wins):

    1. an ad referral (click-to-WhatsApp): `instagram_ads` when its source URL is on
       instagram.com, else `facebook_ads`; its ctwa_clid is the click id. A referral from an
       organic post (source_type "post", no ctwa_clid) is `organic`;
    2. a Google click id (gclid, then gbraid, then wbraid): `google_ads`;
    3. ttclid: `tiktok_ads`; fbclid: `facebook_ads` (`instagram_ads` when utm_source says
       Instagram) if utm_medium is paid or absent, else `organic` (Meta documents fbclid as
       an ad click id, but its links are also shared organically);
    4. UTM: a paid utm_medium with a known platform utm_source gives that platform's ads;
       any other UTM is `organic`;
    5. a referrer only: `organic`;
    6. nothing: `direct`.
    """
    referral = signals.referral
    if referral is not None:
        if referral.ctwa_clid or _lower(referral.source_type) != "post":
            instagram = _on(_host(referral.source_url), "instagram.com")
            return Classification(
                Source.INSTAGRAM_ADS if instagram else Source.FACEBOOK_ADS,
                click_id=referral.ctwa_clid,
                click_id_type=ClickIdType.CTWA_CLID if referral.ctwa_clid else None,
                ad_id=referral.source_id,
            )
        return Classification(Source.ORGANIC)
    for kind in GOOGLE_CLICK_IDS:
        if value := signals.click_ids.get(kind):
            return Classification(Source.GOOGLE_ADS, click_id=value, click_id_type=kind)
    medium = _lower(signals.utm.medium)
    utm_platform = PLATFORM_SOURCES.get(_lower(signals.utm.source))
    if value := signals.click_ids.get(ClickIdType.TTCLID):
        return Classification(Source.TIKTOK_ADS, click_id=value, click_id_type=ClickIdType.TTCLID)
    if value := signals.click_ids.get(ClickIdType.FBCLID):
        paid = not medium or medium in PAID_MEDIUMS
        meta = Source.INSTAGRAM_ADS if utm_platform is Source.INSTAGRAM_ADS else Source.FACEBOOK_ADS
        return Classification(
            meta if paid else Source.ORGANIC, click_id=value, click_id_type=ClickIdType.FBCLID
        )
    if signals.utm.present:
        if medium in PAID_MEDIUMS and utm_platform is not None:
            return Classification(utm_platform)
        return Classification(Source.ORGANIC)
    if _host(signals.referrer):
        return Classification(Source.ORGANIC)
    return Classification(Source.DIRECT)


_SIGNAL_FIELDS = frozenset(
    {
        "source",
        "campaign_id",
        "adset_id",
        "ad_id",
        "utm",
        "click_id",
        "landing_url",
        "source_url",
        "referrer",
    }
)


def _said(value: object) -> bool:
    """Whether a manual tracking field carries a signal (blank text does not)."""
    if isinstance(value, Utm):
        return any(_said(getattr(value, f.name)) for f in fields(Utm))
    if isinstance(value, str):
        return bool(value.strip())
    return value is not None


def _clean(value: str | None, name: str, limit: int = MAX_FIELD_LENGTH) -> str | None:
    if value is None:
        return None
    cleaned = value.strip()
    if len(cleaned) > limit:
        raise RuleViolation(f"{name} must be at most {limit} characters", field=name)
    return cleaned or None


@dataclass(eq=False)
class Tracking(AggregateRoot):
    """Where one lead (a contact) came from. Several per contact are allowed: one per touch."""

    aggregate_type = "tracking"

    id: uuid.UUID
    tenant_id: uuid.UUID
    contact_id: uuid.UUID
    source: Source
    campaign_id: str | None = None
    adset_id: str | None = None
    ad_id: str | None = None
    utm: Utm = field(default_factory=Utm)
    click_id: str | None = None
    click_id_type: ClickIdType | None = None
    landing_url: str | None = None
    source_url: str | None = None
    referrer: str | None = None
    # Filled by enrichment (names resolved through the ad platform's API).
    campaign_name: str | None = None
    adset_name: str | None = None
    ad_name: str | None = None
    enriched_at: datetime | None = None
    created_at: datetime = field(default_factory=utcnow)

    @classmethod
    def create(
        cls,
        *,
        tenant_id: uuid.UUID,
        contact_id: uuid.UUID,
        source: Source | None = None,
        campaign_id: str | None = None,
        adset_id: str | None = None,
        ad_id: str | None = None,
        utm: Utm | None = None,
        click_id: str | None = None,
        click_id_type: ClickIdType | None = None,
        landing_url: str | None = None,
        source_url: str | None = None,
        referrer: str | None = None,
    ) -> Tracking:
        """Without `source`, it is classified from the click id, UTM and referrer."""
        click_id = _clean(click_id, "click_id")
        if (click_id is None) != (click_id_type is None):
            raise RuleViolation("click_id and click_id_type go together", field="click_id_type")
        utm = Utm(*(_clean(getattr(utm or Utm(), f.name), f"utm_{f.name}") for f in fields(Utm)))
        if source is None:
            signals = Signals(
                referral=AdReferral(source_id=ad_id, source_url=source_url, ctwa_clid=click_id)
                if click_id_type is ClickIdType.CTWA_CLID
                else None,
                click_ids={click_id_type: click_id} if click_id and click_id_type else {},
                utm=utm,
                referrer=referrer,
                landing_url=landing_url,
            )
            source = classify(signals).source
        tracking = cls(
            id=new_id(),
            tenant_id=tenant_id,
            contact_id=contact_id,
            source=source,
            campaign_id=_clean(campaign_id, "campaign_id"),
            adset_id=_clean(adset_id, "adset_id"),
            ad_id=_clean(ad_id, "ad_id"),
            utm=utm,
            click_id=click_id,
            click_id_type=click_id_type,
            landing_url=_clean(landing_url, "landing_url", MAX_URL_LENGTH),
            source_url=_clean(source_url, "source_url", MAX_URL_LENGTH),
            referrer=_clean(referrer, "referrer", MAX_URL_LENGTH),
        )
        tracking.record(events.TRACKING_CREATED, tracking.snapshot())
        return tracking

    @classmethod
    def record_manually(cls, **given: Any) -> Tracking:
        """A tracking a user records (POST /trackings): it must say something about where
        the lead came from, else it would only inflate `direct` (issue 19)."""
        told = [name for name, value in given.items() if name in _SIGNAL_FIELDS and _said(value)]
        if not told:
            raise RuleViolation(
                "a tracking needs at least one source signal: source, a UTM parameter, "
                "click_id, campaign_id, adset_id, ad_id, landing_url, source_url or referrer",
                field="source",
            )
        return cls.create(**given)

    @classmethod
    def from_signals(
        cls, *, tenant_id: uuid.UUID, contact_id: uuid.UUID, signals: Signals
    ) -> Tracking:
        """A tracking for an inbound lead (ingest): source classified from the signals."""
        found = classify(signals)
        referral = signals.referral
        return cls.create(
            tenant_id=tenant_id,
            contact_id=contact_id,
            source=found.source,
            ad_id=found.ad_id,
            utm=signals.utm,
            click_id=found.click_id,
            click_id_type=found.click_id_type,
            landing_url=signals.landing_url,
            source_url=referral.source_url if referral else None,
            referrer=signals.referrer,
        )

    def snapshot(self) -> dict[str, Any]:
        return {
            "tracking_id": str(self.id),
            "contact_id": str(self.contact_id),
            "source": self.source.value,
            "campaign_id": self.campaign_id,
            "adset_id": self.adset_id,
            "ad_id": self.ad_id,
            "utm_source": self.utm.source,
            "utm_medium": self.utm.medium,
            "utm_campaign": self.utm.campaign,
            "utm_term": self.utm.term,
            "utm_content": self.utm.content,
            "click_id": self.click_id,
            "click_id_type": self.click_id_type.value if self.click_id_type else None,
            "landing_url": self.landing_url,
            "source_url": self.source_url,
        }


class GroupBy(StrEnum):
    SOURCE = "source"
    CAMPAIGN = "campaign"


class Model(StrEnum):
    """Which of a lead's touches the attribution report credits (docs/attribution.md)."""

    FIRST_TOUCH = "first_touch"
    LAST_TOUCH = "last_touch"


NO_CAMPAIGN = "(none)"


@dataclass(frozen=True, slots=True)
class AttributionRow:
    """Figures of one source or campaign over a date range. Spend is None while no
    enrichment has fetched it; CPL and ROI follow from it."""

    key: str
    leads: int
    conversions: int
    revenue_cents: int
    spend_cents: int | None

    @property
    def cpl_cents(self) -> int | None:
        if self.spend_cents is None or self.leads == 0:
            return None
        return round(self.spend_cents / self.leads)

    @property
    def roi(self) -> float | None:
        """(revenue - spend) / spend."""
        if not self.spend_cents:
            return None
        return (self.revenue_cents - self.spend_cents) / self.spend_cents
