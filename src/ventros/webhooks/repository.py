"""Persistence of webhook subscriptions (secret sealed) and of their delivery attempts."""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy import (
    Column,
    DateTime,
    Index,
    Integer,
    Row,
    Select,
    Table,
    Text,
    select,
    text,
)
from sqlalchemy.dialects.postgresql import ARRAY, JSONB, UUID, insert

from ventros.kernel.events import Actor, DomainEvent
from ventros.platform.crypto import SecretBox
from ventros.platform.db import metadata
from ventros.platform.outbox import domain_events, processed_events
from ventros.platform.uow import UnitOfWork
from ventros.webhooks.domain import (
    DeliveryAttempt,
    DeliveryPolicy,
    Subscription,
    SubscriptionStatus,
)

webhook_subscriptions = Table(
    "webhook_subscriptions",
    metadata,
    Column("id", UUID(as_uuid=True), primary_key=True),
    Column("tenant_id", UUID(as_uuid=True), nullable=False),
    Column("url", Text, nullable=False),
    Column("events", ARRAY(Text), nullable=False),
    # AES-GCM sealed (platform.crypto), bound to the row id.
    Column("secret_sealed", Text, nullable=False),
    Column("retry_policy", JSONB, nullable=False),
    Column("status", Text, nullable=False),
    Column("disabled_reason", Text),
    Column("disabled_at", DateTime(timezone=True)),
    Column("failing_since", DateTime(timezone=True)),
    Column("last_success_at", DateTime(timezone=True)),
    Column("last_failure_at", DateTime(timezone=True)),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("updated_at", DateTime(timezone=True), nullable=False),
    Column("deleted_at", DateTime(timezone=True)),
    Index(
        "ix_webhook_subscriptions_tenant_id_id_live",
        "tenant_id",
        text("id DESC"),
        postgresql_where=text("deleted_at IS NULL"),
    ),
)

# One row per POST: listed by GET /webhooks/{id}/deliveries, newest first.
webhook_deliveries = Table(
    "webhook_deliveries",
    metadata,
    Column("id", UUID(as_uuid=True), primary_key=True),
    Column("tenant_id", UUID(as_uuid=True), nullable=False),
    Column("subscription_id", UUID(as_uuid=True), nullable=False),
    Column("event_id", UUID(as_uuid=True), nullable=False),
    Column("event_name", Text, nullable=False),
    Column("attempt", Integer, nullable=False),
    Column("status_code", Integer),
    Column("error", Text),
    Column("duration_ms", Integer, nullable=False),
    Column("at", DateTime(timezone=True), nullable=False),
    Index("ix_webhook_deliveries_subscription_id_id", "subscription_id", "id"),
)

# `processed_events` consumer name under which a final failure is claimed, so a retried
# activity raises `webhook.delivery_failed` once per subscription and event.
FAILURE_CLAIM = "webhooks.delivery_failed:{subscription_id}"


def _secret_context(subscription_id: uuid.UUID) -> str:
    return f"webhook:{subscription_id}:secret"


def _values(subscription: Subscription) -> dict[str, Any]:
    return {
        "id": subscription.id,
        "tenant_id": subscription.tenant_id,
        "url": subscription.url,
        "events": list(subscription.events),
        "retry_policy": subscription.policy.to_json(),
        "status": subscription.status.value,
        "disabled_reason": subscription.disabled_reason,
        "disabled_at": subscription.disabled_at,
        "failing_since": subscription.failing_since,
        "last_success_at": subscription.last_success_at,
        "last_failure_at": subscription.last_failure_at,
        "created_at": subscription.created_at,
        "updated_at": subscription.updated_at,
        "deleted_at": subscription.deleted_at,
    }


def _from_row(row: Row[Any]) -> Subscription:
    return Subscription(
        id=row.id,
        tenant_id=row.tenant_id,
        url=row.url,
        events=list(row.events),
        policy=DeliveryPolicy.from_json(row.retry_policy),
        status=SubscriptionStatus(row.status),
        disabled_reason=row.disabled_reason,
        disabled_at=row.disabled_at,
        failing_since=row.failing_since,
        last_success_at=row.last_success_at,
        last_failure_at=row.last_failure_at,
        created_at=row.created_at,
        updated_at=row.updated_at,
        deleted_at=row.deleted_at,
    )


def _attempt_from_row(row: Row[Any]) -> DeliveryAttempt:
    return DeliveryAttempt(
        id=row.id,
        subscription_id=row.subscription_id,
        event_id=row.event_id,
        event_name=row.event_name,
        attempt=row.attempt,
        status_code=row.status_code,
        error=row.error,
        duration_ms=row.duration_ms,
        at=row.at,
    )


_COLUMNS = [c for c in webhook_subscriptions.c if c.name != "secret_sealed"]


def _live() -> Any:
    return webhook_subscriptions.c.deleted_at.is_(None)


class SubscriptionRepository:
    def __init__(self, uow: UnitOfWork, box: SecretBox | None = None) -> None:
        self._uow = uow
        self._box = box

    def _require_box(self) -> SecretBox:
        if self._box is None:
            raise RuntimeError("this repository was built without a secret box")
        return self._box

    async def add(self, subscription: Subscription, *, secret: str) -> None:
        sealed = self._require_box().seal(secret, context=_secret_context(subscription.id))
        await self._uow.connection.execute(
            webhook_subscriptions.insert().values(**_values(subscription), secret_sealed=sealed)
        )
        self._uow.track(subscription)

    async def save(self, subscription: Subscription) -> None:
        await self._uow.connection.execute(
            webhook_subscriptions.update()
            .where(webhook_subscriptions.c.id == subscription.id)
            .values(**_values(subscription))
        )
        self._uow.track(subscription)

    async def get(
        self, subscription_id: uuid.UUID, *, for_update: bool = False
    ) -> Subscription | None:
        """A live (not deleted) subscription of the unit of work's tenant."""
        query = select(*_COLUMNS).where(webhook_subscriptions.c.id == subscription_id, _live())
        if for_update:
            query = query.with_for_update()
        row = (await self._uow.connection.execute(query)).first()
        return self._uow.track(_from_row(row)) if row else None

    async def secret_of(self, subscription_id: uuid.UUID) -> str | None:
        query = select(webhook_subscriptions.c.secret_sealed).where(
            webhook_subscriptions.c.id == subscription_id
        )
        sealed = (await self._uow.connection.execute(query)).scalar()
        if sealed is None:
            return None
        return self._require_box().open(sealed, context=_secret_context(subscription_id))

    async def list_live(self, *, limit: int, before: uuid.UUID | None) -> list[Subscription]:
        query: Select[Any] = select(*_COLUMNS).where(_live())
        if before is not None:
            query = query.where(webhook_subscriptions.c.id < before)
        query = query.order_by(webhook_subscriptions.c.id.desc()).limit(limit)
        return [_from_row(row) for row in await self._uow.connection.execute(query)]

    async def active(self) -> list[Subscription]:
        """Every subscription of the tenant that receives events (not tracked: read only)."""
        query = (
            select(*_COLUMNS)
            .where(_live(), webhook_subscriptions.c.status == SubscriptionStatus.ACTIVE.value)
            .order_by(webhook_subscriptions.c.id)
        )
        return [_from_row(row) for row in await self._uow.connection.execute(query)]

    # ---------------------------------------------------------------- attempts

    async def add_attempt(self, attempt: DeliveryAttempt) -> None:
        await self._uow.connection.execute(
            webhook_deliveries.insert().values(
                id=attempt.id,
                tenant_id=self._uow.tenant_id,
                subscription_id=attempt.subscription_id,
                event_id=attempt.event_id,
                event_name=attempt.event_name,
                attempt=attempt.attempt,
                status_code=attempt.status_code,
                error=attempt.error,
                duration_ms=attempt.duration_ms,
                at=attempt.at,
            )
        )

    async def attempts(
        self, subscription_id: uuid.UUID, *, limit: int, before: uuid.UUID | None
    ) -> list[DeliveryAttempt]:
        query = select(webhook_deliveries).where(
            webhook_deliveries.c.subscription_id == subscription_id
        )
        if before is not None:
            query = query.where(webhook_deliveries.c.id < before)
        query = query.order_by(webhook_deliveries.c.id.desc()).limit(limit)
        return [_attempt_from_row(row) for row in await self._uow.connection.execute(query)]

    async def claim_final_failure(self, subscription_id: uuid.UUID, event_id: uuid.UUID) -> bool:
        """True the first time only: the failure of this delivery is reported once."""
        statement = (
            insert(processed_events)
            .values(
                consumer=FAILURE_CLAIM.format(subscription_id=subscription_id),
                event_id=event_id,
                tenant_id=self._uow.tenant_id,
            )
            .on_conflict_do_nothing()
            .returning(processed_events.c.event_id)
        )
        return (await self._uow.connection.execute(statement)).first() is not None


async def load_event(tx: UnitOfWork, event_id: uuid.UUID) -> DomainEvent | None:
    """An event of the tenant's event log, as it was committed."""
    row = (
        await tx.connection.execute(select(domain_events).where(domain_events.c.id == event_id))
    ).first()
    if row is None:
        return None
    actor = (
        Actor("user", row.actor_id) if row.actor_type == "user" else Actor("system", row.actor_id)
    )
    return DomainEvent(
        id=row.id,
        name=row.name,
        tenant_id=row.tenant_id,
        aggregate_type=row.aggregate_type,
        aggregate_id=row.aggregate_id,
        payload=dict(row.data),
        actor=actor,
        occurred_at=row.occurred_at,
        schema_version=row.schema_version,
        traceparent=None,  # read back from the log: not in a trace of ours
    )
