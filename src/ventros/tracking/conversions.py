"""AttributeConversion: record a conversion against the tracking that brought the lead (once
per dedup key), raise `tracking.conversion`, and build and record its delivery to the
platform that brought the lead: Meta Conversions API (business messaging for click-to-
WhatsApp), Google Ads `uploadClickConversions`, TikTok Events API.

The send itself runs in a Temporal workflow (workflows.py) started by the consumer of
`tracking.conversion`; this module holds the rules and the records.
"""

from __future__ import annotations

import hashlib
import re
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.dialects.postgresql import insert

from ventros.contacts.service import contact_in
from ventros.kernel.clock import utcnow
from ventros.kernel.errors import NotFound, RuleViolation
from ventros.kernel.events import DomainEvent
from ventros.kernel.ids import new_id
from ventros.platform.uow import UnitOfWork
from ventros.tracking import events
from ventros.tracking.domain import ClickIdType, Source, Tracking
from ventros.tracking.integrations import Integration, Platform, won_integrations
from ventros.tracking.repository import TrackingRepository, tracking_conversions, trackings
from ventros.tracking.repository.ads_tables import conversion_deliveries

PENDING = "pending"
SENT = "sent"
FAILED = "failed"
SKIPPED = "skipped"  # no platform to send to (organic lead, no click id, no integration)

# Meta refuses (the whole batch) events older than 7 days; keep a margin for the retries.
META_MAX_AGE = timedelta(days=7) - timedelta(minutes=5)
# Business-messaging event names Meta accepts (Lead is LeadSubmitted there).
META_MESSAGING_EVENTS = frozenset(
    {
        "Purchase",
        "LeadSubmitted",
        "InitiateCheckout",
        "AddToCart",
        "ViewContent",
        "OrderCreated",
        "OrderShipped",
        "OrderDelivered",
        "OrderCanceled",
        "OrderReturned",
        "CartAbandoned",
        "QualifiedLead",
        "RatingProvided",
        "ReviewProvided",
    }
)
META_MESSAGING_ALIASES = {"Lead": "LeadSubmitted"}
TIKTOK_EVENTS = {"Purchase": "CompletePayment", "Lead": "SubmitForm", "LeadSubmitted": "SubmitForm"}
EVENT_NAME = re.compile(r"^[A-Za-z][A-Za-z0-9_]{0,49}$")
_HEX64 = re.compile(r"^[0-9a-f]{64}$")


# --- normalisation and hashing (Meta customer-information parameters) -------------------


def sha256_hex(value: str) -> str:
    return hashlib.sha256(value.encode()).hexdigest()


def normalise_phone(raw: str) -> str:
    """Digits only, without leading zeros (an international `00` prefix), country code
    included: `+1 (650) 555-1212` → `16505551212`."""
    return re.sub(r"\D", "", raw).lstrip("0")


def normalise_email(raw: str) -> str:
    return raw.strip().lower()


def hashed(value: str, normalise: Any) -> str:
    """SHA-256 (lowercase hex) of the normalised value; a value already hashed passes."""
    lowered = value.strip().lower()
    return lowered if _HEX64.match(lowered) else sha256_hex(normalise(value))


# --- which platform ----------------------------------------------------------------------


def platform_of(tracking: Tracking) -> Platform | None:
    """The platform that brought the lead, by its click id (the only thing the platforms can
    attribute a conversion to); None when there is none."""
    kind = tracking.click_id_type
    if kind in (ClickIdType.CTWA_CLID, ClickIdType.FBCLID):
        return Platform.META
    if kind in (ClickIdType.GCLID, ClickIdType.GBRAID, ClickIdType.WBRAID):
        return Platform.GOOGLE
    if kind is ClickIdType.TTCLID:
        return Platform.TIKTOK
    return None


# --- payloads ----------------------------------------------------------------------------


@dataclass(frozen=True)
class Conversion:
    id: uuid.UUID
    event_id: str  # stable: Meta/TikTok event_id, Google orderId
    event_name: str
    value_cents: int | None
    currency: str | None
    occurred_at: datetime


@dataclass(frozen=True)
class Person:
    phone: str | None = None
    email: str | None = None


def _value(conversion: Conversion) -> float | None:
    return None if conversion.value_cents is None else conversion.value_cents / 100


def meta_event(
    conversion: Conversion, tracking: Tracking, person: Person, integration: Integration
) -> dict[str, Any]:
    """One server event. Click-to-WhatsApp (ctwa_clid): `business_messaging` on the
    `whatsapp` channel with the WABA id; an fbclid lead: `system_generated` with `fbc`."""
    user_data: dict[str, Any] = {}
    event: dict[str, Any] = {
        "event_name": conversion.event_name,
        "event_time": int(conversion.occurred_at.timestamp()),
        "event_id": conversion.event_id,
    }
    if tracking.click_id_type is ClickIdType.CTWA_CLID:
        name = META_MESSAGING_ALIASES.get(conversion.event_name, conversion.event_name)
        if name not in META_MESSAGING_EVENTS:
            raise RuleViolation(
                f"Meta does not accept {conversion.event_name!r} for WhatsApp leads",
                field="event_name",
            )
        event["event_name"] = name
        event["action_source"] = "business_messaging"
        event["messaging_channel"] = "whatsapp"
        waba = integration.config.get("waba_id")
        if waba:
            user_data["whatsapp_business_account_id"] = str(waba)
        user_data["ctwa_clid"] = tracking.click_id
    else:
        event["action_source"] = "system_generated"
        created_ms = int(tracking.created_at.timestamp() * 1000)
        user_data["fbc"] = f"fb.1.{created_ms}.{tracking.click_id}"
    if person.phone:
        user_data["ph"] = [hashed(person.phone, normalise_phone)]
    if person.email:
        user_data["em"] = [hashed(person.email, normalise_email)]
    user_data["external_id"] = [sha256_hex(str(tracking.contact_id))]
    event["user_data"] = user_data
    if conversion.value_cents is not None:
        event["custom_data"] = {"currency": conversion.currency, "value": _value(conversion)}
    return event


def meta_body(event: dict[str, Any], integration: Integration) -> dict[str, Any]:
    body: dict[str, Any] = {"data": [event]}
    for key in ("partner_agent", "test_event_code"):
        if integration.config.get(key):
            body[key] = integration.config[key]
    return body


def google_conversion(
    conversion: Conversion, tracking: Tracking, integration: Integration
) -> dict[str, Any]:
    customer = str(integration.config["customer_id"])
    action = str(integration.config["conversion_action_id"])
    row: dict[str, Any] = {
        str(tracking.click_id_type): tracking.click_id,
        "conversionAction": f"customers/{customer}/conversionActions/{action}",
        # "yyyy-mm-dd hh:mm:ss+hh:mm", time zone required.
        "conversionDateTime": conversion.occurred_at.isoformat(sep=" ", timespec="seconds"),
        "orderId": conversion.event_id,
    }
    if conversion.value_cents is not None:
        row["conversionValue"] = _value(conversion)
        row["currencyCode"] = conversion.currency
    return row


def tiktok_body(
    conversion: Conversion, tracking: Tracking, person: Person, integration: Integration
) -> dict[str, Any]:
    user: dict[str, Any] = {"ttclid": tracking.click_id}
    if person.phone:
        user["phone"] = sha256_hex("+" + normalise_phone(person.phone))
    if person.email:
        user["email"] = sha256_hex(normalise_email(person.email))
    user["external_id"] = sha256_hex(str(tracking.contact_id))
    data: dict[str, Any] = {
        "event": TIKTOK_EVENTS.get(conversion.event_name, conversion.event_name),
        "event_time": int(conversion.occurred_at.timestamp()),
        "event_id": conversion.event_id,
        "user": user,
    }
    if conversion.value_cents is not None:
        data["properties"] = {"value": _value(conversion), "currency": conversion.currency}
    body: dict[str, Any] = {
        "event_source": str(integration.config.get("event_source") or "crm"),
        "event_source_id": str(integration.config["event_source_id"]),
        "data": [data],
    }
    if integration.config.get("test_event_code"):
        body["test_event_code"] = integration.config["test_event_code"]
    return body


def google_row_error(response: dict[str, Any], index: int = 0) -> tuple[str, str] | None:
    """(error code, message) of row `index` in a partial-failure answer, else None."""
    failure = response.get("partialFailureError")
    if not isinstance(failure, dict):
        return None
    for detail in failure.get("details") or []:
        for error in detail.get("errors") or []:
            path = (error.get("location") or {}).get("fieldPathElements") or []
            if any(p.get("fieldName") == "conversions" and p.get("index") == index for p in path):
                code = next(iter((error.get("errorCode") or {}).values()), "UNKNOWN")
                return str(code), str(error.get("message") or "")
    results = response.get("results") or []
    if index < len(results) and results[index]:
        return None
    return "UNKNOWN", str(failure.get("message") or "row failed")


# --- attribution (records) ---------------------------------------------------------------


@dataclass(frozen=True)
class Attributed:
    id: uuid.UUID
    tracking_id: uuid.UUID
    event_name: str
    value_cents: int | None
    currency: str | None
    platform: Platform | None
    status: str
    created: bool  # False: the same conversion was attributed before (nothing new sent)


def check_request(event_name: str, value_cents: int | None, currency: str | None) -> str | None:
    if not EVENT_NAME.match(event_name):
        raise RuleViolation(
            "event_name must be a word of letters, digits and _", field="event_name"
        )
    if value_cents is not None and value_cents < 0:
        raise RuleViolation("value_cents must not be negative", field="value_cents")
    if currency is not None:
        currency = currency.strip().upper()
        if not re.fullmatch(r"[A-Z]{3}", currency):
            raise RuleViolation("currency must be an ISO 4217 code", field="currency")
    if value_cents is not None and currency is None:
        raise RuleViolation("a value needs its currency", field="currency")
    return currency


async def attribute(
    tx: UnitOfWork,
    tracking: Tracking,
    *,
    event_name: str,
    value_cents: int | None,
    currency: str | None,
    dedup_key: str,
    occurred_at: datetime | None = None,
    platforms_enabled: set[Platform] | None = None,
) -> Attributed:
    """Records the conversion once per `dedup_key` (later calls return the first one) and
    raises `tracking.conversion`; the delivery starts `pending`, or `skipped` when the lead
    came from no platform that can take it."""
    currency = check_request(event_name, value_cents, currency)
    now = utcnow()
    occurred_at = occurred_at or now
    platform = platform_of(tracking)
    if platforms_enabled is not None and platform not in platforms_enabled:
        platform = None
    status = PENDING if platform is not None else SKIPPED
    conversion_id = new_id()
    inserted = await tx.connection.execute(
        insert(conversion_deliveries)
        .values(
            id=conversion_id,
            tenant_id=tx.tenant_id,
            tracking_id=tracking.id,
            dedup_key=dedup_key,
            platform=platform.value if platform else None,
            status=status,
            attempts=0,
            event_id=f"{tracking.id}.{event_name}.{conversion_id.hex[:12]}",
            error=None if platform else "no ad platform click id to attribute it to",
            created_at=now,
            updated_at=now,
        )
        .on_conflict_do_nothing(constraint="uq_conversion_deliveries_tenant_id_dedup_key")
        .returning(conversion_deliveries.c.id)
    )
    if inserted.first() is None:
        existing = await _existing(tx, dedup_key)
        return existing
    await tx.connection.execute(
        tracking_conversions.insert().values(
            id=conversion_id,
            tenant_id=tx.tenant_id,
            tracking_id=tracking.id,
            contact_id=tracking.contact_id,
            event_name=event_name,
            value_cents=value_cents,
            currency=currency,
            occurred_at=occurred_at,
            created_at=now,
        )
    )
    tx.add_event(
        DomainEvent(
            name=events.TRACKING_CONVERSION,
            tenant_id=tx.tenant_id,
            aggregate_type=Tracking.aggregate_type,
            aggregate_id=tracking.id,
            payload={
                "conversion_id": str(conversion_id),
                "tracking_id": str(tracking.id),
                "contact_id": str(tracking.contact_id),
                "event_name": event_name,
                "value_cents": value_cents,
                "currency": currency,
                "platform": platform.value if platform else None,
                "occurred_at": occurred_at.isoformat(),
            },
        )
    )
    return Attributed(
        conversion_id, tracking.id, event_name, value_cents, currency, platform, status, True
    )


_VIEW = (
    select(
        conversion_deliveries.c.id,
        conversion_deliveries.c.tracking_id,
        conversion_deliveries.c.platform,
        conversion_deliveries.c.status,
        conversion_deliveries.c.attempts,
        conversion_deliveries.c.error,
        conversion_deliveries.c.sent_at,
        conversion_deliveries.c.event_id,
        conversion_deliveries.c.request,
        conversion_deliveries.c.response,
        tracking_conversions.c.event_name,
        tracking_conversions.c.value_cents,
        tracking_conversions.c.currency,
        tracking_conversions.c.occurred_at,
    )
    .select_from(conversion_deliveries)
    .join(tracking_conversions, tracking_conversions.c.id == conversion_deliveries.c.id)
)


async def _existing(tx: UnitOfWork, dedup_key: str) -> Attributed:
    row = (
        await tx.connection.execute(_VIEW.where(conversion_deliveries.c.dedup_key == dedup_key))
    ).one()
    return Attributed(
        row.id,
        row.tracking_id,
        row.event_name,
        row.value_cents,
        row.currency,
        Platform(row.platform) if row.platform else None,
        row.status,
        False,
    )


async def list_deliveries(tx: UnitOfWork, tracking_id: uuid.UUID) -> list[Any]:
    query = _VIEW.where(conversion_deliveries.c.tracking_id == tracking_id).order_by(
        conversion_deliveries.c.created_at
    )
    return list(await tx.connection.execute(query))


async def get_tracking(tx: UnitOfWork, tracking_id: uuid.UUID) -> Tracking:
    tracking = await TrackingRepository(tx).get(tracking_id)
    if tracking is None:
        raise NotFound("tracking not found")
    return tracking


async def on_won(tx: UnitOfWork, payload: dict[str, Any]) -> Attributed | None:
    """A contact entered a `won` stage: one conversion for its latest tracking that a
    platform with `conversion_on_won` can take, once per (tracking, pipeline)."""
    if payload.get("to_stage_kind") != "won":
        return None
    enabled = await won_integrations(tx)
    if not enabled:
        return None
    contact_id = uuid.UUID(str(payload["contact_id"]))
    rows = await tx.connection.execute(
        select(trackings.c.id)
        .where(trackings.c.contact_id == contact_id)
        .order_by(trackings.c.created_at.desc())
    )
    repository = TrackingRepository(tx)
    for row in rows.fetchall():
        tracking = await repository.get(row.id)
        platform = platform_of(tracking) if tracking else None
        if tracking is None or platform not in enabled:
            continue
        assert platform is not None
        return await attribute(
            tx,
            tracking,
            event_name=enabled[platform],
            value_cents=None,
            currency=None,
            dedup_key=f"{tracking.id}:won:{payload.get('pipeline_id')}",
            platforms_enabled=set(enabled),
        )
    return None


# --- delivery (used by the activity) -----------------------------------------------------


@dataclass(frozen=True)
class PreparedSend:
    conversion: Conversion
    tracking: Tracking
    person: Person
    platform: Platform
    attempts: int


async def prepare_send(tx: UnitOfWork, conversion_id: uuid.UUID) -> PreparedSend | None:
    """What to send, or None when it is no longer pending (sent, failed or skipped)."""
    row = (
        await tx.connection.execute(
            _VIEW.where(conversion_deliveries.c.id == conversion_id).with_for_update(
                of=conversion_deliveries
            )
        )
    ).first()
    if row is None or row.status != PENDING or row.platform is None:
        return None
    tracking = await TrackingRepository(tx).get(row.tracking_id)
    if tracking is None:
        return None
    # The contact's phone and email (Contacts context), read-only, for hashed matching.
    contact = await contact_in(tx, tracking.contact_id)
    person = Person(
        contact.phone.e164 if contact and contact.phone else None,
        contact.email.address if contact and contact.email else None,
    )
    conversion = Conversion(
        row.id, row.event_id, row.event_name, row.value_cents, row.currency, row.occurred_at
    )
    return PreparedSend(conversion, tracking, person, Platform(row.platform), row.attempts)


async def record_attempt(
    tx: UnitOfWork,
    conversion_id: uuid.UUID,
    *,
    status: str,
    request: Any = None,
    response: Any = None,
    error: str | None = None,
) -> None:
    now = utcnow()
    await tx.connection.execute(
        update(conversion_deliveries)
        .where(conversion_deliveries.c.id == conversion_id)
        .values(
            status=status,
            attempts=conversion_deliveries.c.attempts + 1,
            request=request,
            response=response,
            error=error,
            sent_at=now if status == SENT else None,
            updated_at=now,
        )
    )


async def record_final_failure(tx: UnitOfWork, conversion_id: uuid.UUID, error: str) -> None:
    """After the last retry: failed, unless an attempt did finish it meanwhile."""
    await tx.connection.execute(
        update(conversion_deliveries)
        .where(
            conversion_deliveries.c.id == conversion_id,
            conversion_deliveries.c.status == PENDING,
        )
        .values(status=FAILED, error=error[:1000], updated_at=utcnow())
    )


def too_old(conversion: Conversion, now: datetime) -> bool:
    return now - conversion.occurred_at > META_MAX_AGE


def is_source_meta(tracking: Tracking) -> bool:
    return tracking.source in (Source.FACEBOOK_ADS, Source.INSTAGRAM_ADS)
