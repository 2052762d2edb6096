"""Persistence of channels (secrets sealed) and of the inbound WAHA events waiting for ingest."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import (
    Boolean,
    Column,
    DateTime,
    Index,
    Integer,
    Row,
    Select,
    Table,
    Text,
    UniqueConstraint,
    func,
    select,
    text,
)
from sqlalchemy.dialects.postgresql import JSONB, UUID
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from ventros.channels.domain import Channel, ChannelType, InboundEvent
from ventros.platform.crypto import SecretBox
from ventros.platform.db import metadata
from ventros.platform.uow import UnitOfWork

channels = Table(
    "channels",
    metadata,
    Column("id", UUID(as_uuid=True), primary_key=True),
    Column("tenant_id", UUID(as_uuid=True), nullable=False),
    Column("name", Text, nullable=False),
    Column("type", Text, nullable=False),
    Column("base_url", Text, nullable=False),
    Column("waha_session", Text, nullable=False),
    # AES-GCM sealed (platform.crypto), bound to the row id and the column.
    Column("api_key_sealed", Text),
    Column("webhook_secret_sealed", Text, nullable=False),
    Column("enforce_24h_window", Boolean, nullable=False),
    Column("rate_limit_per_minute", Integer, nullable=False),
    Column("ingest_groups", Boolean, nullable=False),
    Column("status", Text, nullable=False),
    Column("status_changed_at", DateTime(timezone=True)),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("updated_at", DateTime(timezone=True), nullable=False),
    Column("deleted_at", DateTime(timezone=True)),
    Index(
        "ix_channels_tenant_id_id_live",
        "tenant_id",
        text("id DESC"),
        postgresql_where=text("deleted_at IS NULL"),
    ),
)

# Durable before the webhook answers 200; drained oldest first by the ingest worker.
inbound_events = Table(
    "inbound_events",
    metadata,
    Column("id", UUID(as_uuid=True), primary_key=True),
    Column("tenant_id", UUID(as_uuid=True), nullable=False),
    Column("channel_id", UUID(as_uuid=True), nullable=False),
    # WAHA's event id (evt_...), or a digest of the body when WAHA sends none.
    Column("event_key", Text, nullable=False),
    Column("event", Text, nullable=False),
    Column("body", JSONB, nullable=False),
    Column("received_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    Column("attempts", Integer, nullable=False, server_default=text("0")),
    # A failed event waits until then before it is tried again (exponential backoff).
    Column("available_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    Column("processed_at", DateTime(timezone=True)),
    Column("outcome", Text),
    Column("last_error", Text),
    # The webhook request's trace (W3C traceparent): the ingest continues it, so one
    # customer's message is one trace from the webhook to every consumer.
    Column("traceparent", Text),
    UniqueConstraint("channel_id", "event_key"),
    Index(
        "ix_inbound_events_pending",
        "tenant_id",
        "id",
        postgresql_where=text("processed_at IS NULL"),
    ),
    Index("ix_inbound_events_processed_at", "processed_at"),
)

# Many deliveries of one tenant in one statement — the webhook's group commit — and in one
# round trip: run outside an explicit transaction, it is its own transaction (one commit,
# no BEGIN), and it sets the tenant itself, transaction-locally, before the rows it
# inserts are checked by row-level security (each row's tenant is the one just set).
# Arrays, one per column, keep the statement the same whatever the batch size (prepared
# once). A repeat, stored before or earlier in the same batch, inserts nothing and is not
# returned; the NOTIFY, delivered on commit only, wakes the ingest worker without polling.
_STORE_INBOUND_EVENTS = text(
    """
    WITH tenant AS MATERIALIZED (
        SELECT CAST(set_config('app.tenant_id', CAST(:tenant_id AS text), true) AS uuid) AS id
    ), stored AS (
        INSERT INTO inbound_events
            (id, tenant_id, channel_id, event_key, event, body, traceparent)
        SELECT r.id, tenant.id, r.channel_id, r.event_key, r.event, CAST(r.body AS jsonb),
            r.traceparent
        FROM tenant, unnest(
            CAST(:ids AS uuid[]), CAST(:channel_ids AS uuid[]), CAST(:event_keys AS text[]),
            CAST(:events AS text[]), CAST(:bodies AS text[]), CAST(:traceparents AS text[])
        ) WITH ORDINALITY AS r(id, channel_id, event_key, event, body, traceparent, position)
        ORDER BY r.position
        ON CONFLICT (channel_id, event_key) DO NOTHING
        RETURNING id
    )
    SELECT id, pg_notify('inbound_events', '') FROM stored
    """
)


async def store_inbound_events(
    engine: AsyncEngine, tenant_id: uuid.UUID, events: Sequence[NewInboundEvent]
) -> set[uuid.UUID]:
    """Stores deliveries of one tenant durably, in one statement and one transaction (the
    first of repeats within `events` wins); returns the ids of those stored now. `engine`
    is the application's (row-level security applies)."""
    params = {
        "tenant_id": str(tenant_id),
        "ids": [e.id for e in events],
        "channel_ids": [e.channel_id for e in events],
        "event_keys": [e.event_key for e in events],
        "events": [e.event for e in events],
        "bodies": [e.raw_json for e in events],
        "traceparents": [e.traceparent for e in events],
    }
    async with engine.connect() as connection:
        autocommit = await connection.execution_options(isolation_level="AUTOCOMMIT")
        result = await autocommit.execute(_STORE_INBOUND_EVENTS, params)
        return {row.id for row in result}


# A whole batch's outcomes in one statement (one execution, not one per row).
_MARK_PROCESSED = text(
    """
    UPDATE inbound_events AS e
    SET processed_at = :at, outcome = o.outcome, attempts = e.attempts + 1
    FROM unnest(CAST(:ids AS uuid[]), CAST(:outcomes AS text[])) AS o(id, outcome)
    WHERE e.id = o.id
    """
)

# A SECURITY DEFINER function (migration 0003): before the signature is checked no tenant
# is known, and the app role sees no channel without one.
FIND_WEBHOOK_CHANNEL = "SELECT * FROM ventros_find_webhook_channel(:channel_id)"


def _context(channel_id: uuid.UUID, column: str) -> str:
    return f"channel:{channel_id}:{column}"


@dataclass(frozen=True)
class WebhookChannel:
    """What the webhook needs to know about a channel before it knows the tenant."""

    id: uuid.UUID
    tenant_id: uuid.UUID
    webhook_secret: str


async def find_webhook_channel(
    uow: UnitOfWork, box: SecretBox, channel_id: uuid.UUID
) -> WebhookChannel | None:
    row = (
        await uow.connection.execute(text(FIND_WEBHOOK_CHANNEL), {"channel_id": channel_id})
    ).first()
    if row is None:
        return None
    secret = box.open(row.webhook_secret_sealed, context=_context(channel_id, "webhook_secret"))
    return WebhookChannel(channel_id, row.tenant_id, secret)


class ChannelRepository:
    def __init__(self, uow: UnitOfWork, box: SecretBox) -> None:
        self._uow = uow
        self._box = box

    def _values(self, channel: Channel) -> dict[str, Any]:
        return {
            "id": channel.id,
            "tenant_id": channel.tenant_id,
            "name": channel.name,
            "type": channel.type.value,
            "base_url": channel.base_url,
            "waha_session": channel.waha_session,
            "api_key_sealed": (
                self._box.seal(channel.api_key, context=_context(channel.id, "api_key"))
                if channel.api_key is not None
                else None
            ),
            "webhook_secret_sealed": self._box.seal(
                channel.webhook_secret, context=_context(channel.id, "webhook_secret")
            ),
            "enforce_24h_window": channel.enforce_24h_window,
            "rate_limit_per_minute": channel.rate_limit_per_minute,
            "ingest_groups": channel.ingest_groups,
            "status": channel.status,
            "status_changed_at": channel.status_changed_at,
            "created_at": channel.created_at,
            "updated_at": channel.updated_at,
            "deleted_at": channel.deleted_at,
        }

    def _from_row(self, row: Row[Any]) -> Channel:
        return Channel(
            id=row.id,
            tenant_id=row.tenant_id,
            name=row.name,
            type=ChannelType(row.type),
            base_url=row.base_url,
            waha_session=row.waha_session,
            api_key=(
                self._box.open(row.api_key_sealed, context=_context(row.id, "api_key"))
                if row.api_key_sealed is not None
                else None
            ),
            webhook_secret=self._box.open(
                row.webhook_secret_sealed, context=_context(row.id, "webhook_secret")
            ),
            enforce_24h_window=row.enforce_24h_window,
            rate_limit_per_minute=row.rate_limit_per_minute,
            ingest_groups=row.ingest_groups,
            status=row.status,
            status_changed_at=row.status_changed_at,
            created_at=row.created_at,
            updated_at=row.updated_at,
            deleted_at=row.deleted_at,
        )

    async def add(self, channel: Channel) -> None:
        await self._uow.connection.execute(channels.insert().values(**self._values(channel)))
        self._uow.track(channel)

    async def save(self, channel: Channel) -> None:
        values = self._values(channel)
        statement = channels.update().where(channels.c.id == channel.id).values(**values)
        await self._uow.connection.execute(statement)
        self._uow.track(channel)

    async def save_status(self, channel: Channel) -> None:
        """Only what a `session.status` event changes: no secret is re-sealed."""
        statement = (
            channels.update()
            .where(channels.c.id == channel.id)
            .values(
                status=channel.status,
                status_changed_at=channel.status_changed_at,
                updated_at=channel.updated_at,
            )
        )
        await self._uow.connection.execute(statement)
        self._uow.track(channel)

    async def get(self, channel_id: uuid.UUID, *, for_update: bool = False) -> Channel | None:
        query = select(channels).where(channels.c.id == channel_id, channels.c.deleted_at.is_(None))
        if for_update:
            query = query.with_for_update()
        row = (await self._uow.connection.execute(query)).first()
        return self._uow.track(self._from_row(row)) if row else None

    async def list(self, *, limit: int, before: uuid.UUID | None) -> list[Channel]:
        query: Select[Any] = select(channels).where(channels.c.deleted_at.is_(None))
        if before is not None:
            query = query.where(channels.c.id < before)
        query = query.order_by(channels.c.id.desc()).limit(limit)
        rows = await self._uow.connection.execute(query)
        return [self._from_row(row) for row in rows]


@dataclass(frozen=True)
class NewInboundEvent:
    """A verified delivery, about to be stored (`raw_json`: the body exactly as received)."""

    id: uuid.UUID
    tenant_id: uuid.UUID
    channel_id: uuid.UUID
    event_key: str
    event: str
    raw_json: str
    traceparent: str | None = None


class InboundEventRepository:
    def __init__(self, uow: UnitOfWork) -> None:
        self._uow = uow

    async def claim(self, *, limit: int) -> list[InboundEvent]:
        """The oldest unprocessed events of this tenant, locked until the transaction ends;
        rows another worker holds are skipped."""
        query = (
            select(inbound_events)
            .where(
                inbound_events.c.processed_at.is_(None),
                inbound_events.c.available_at <= func.now(),
            )
            .order_by(inbound_events.c.id)
            .limit(limit)
            .with_for_update(skip_locked=True)
        )
        return [_event_from_row(row) for row in await self._uow.connection.execute(query)]

    async def claim_one(self, event_id: uuid.UUID) -> InboundEvent | None:
        query = (
            select(inbound_events)
            .where(inbound_events.c.id == event_id, inbound_events.c.processed_at.is_(None))
            .with_for_update(skip_locked=True)
        )
        row = (await self._uow.connection.execute(query)).first()
        return _event_from_row(row) if row else None

    async def mark_processed(self, outcomes: dict[uuid.UUID, str], *, at: datetime) -> None:
        if not outcomes:
            return
        params = {"at": at, "ids": list(outcomes), "outcomes": list(outcomes.values())}
        await self._uow.connection.execute(_MARK_PROCESSED, params)

    async def record_failure(
        self, event_id: uuid.UUID, *, error: str, retry_at: datetime, give_up: bool
    ) -> None:
        """One more failed attempt: tried again from `retry_at`, or set aside as failed."""
        statement = (
            inbound_events.update()
            .where(inbound_events.c.id == event_id)
            .values(
                attempts=inbound_events.c.attempts + 1,
                last_error=error[:2000],
                available_at=retry_at,
                processed_at=retry_at if give_up else None,
                outcome="failed" if give_up else None,
            )
        )
        await self._uow.connection.execute(statement)


def _event_from_row(row: Row[Any]) -> InboundEvent:
    return InboundEvent(
        id=row.id,
        tenant_id=row.tenant_id,
        channel_id=row.channel_id,
        event=row.event,
        body=dict(row.body),
        received_at=row.received_at,
        attempts=row.attempts,
        traceparent=row.traceparent,
    )


# A loose index scan over the pending index: one probe per tenant, however deep the backlog.
_PENDING_TENANTS = text(
    """
    WITH RECURSIVE pending AS (
        (SELECT tenant_id FROM inbound_events
         WHERE processed_at IS NULL AND tenant_id > :after
         ORDER BY tenant_id LIMIT 1)
        UNION ALL
        SELECT (SELECT e.tenant_id FROM inbound_events e
                WHERE e.processed_at IS NULL AND e.tenant_id > pending.tenant_id
                ORDER BY e.tenant_id LIMIT 1)
        FROM pending WHERE pending.tenant_id IS NOT NULL
    )
    SELECT tenant_id FROM pending WHERE tenant_id IS NOT NULL LIMIT :limit
    """
)


async def tenants_with_pending_events(
    connection: AsyncConnection, *, limit: int, after: uuid.UUID | None = None
) -> list[uuid.UUID]:
    """Tenants with unprocessed events, in id order after `after` (callers go round, so no
    tenant waits behind busier ones). Runs on a connection RLS does not restrict (the
    ingest worker's system role)."""
    params = {"limit": limit, "after": after or uuid.UUID(int=0)}
    return list((await connection.execute(_PENDING_TENANTS, params)).scalars())


async def prune_processed_events(connection: AsyncConnection, *, older_than: datetime) -> int:
    statement = inbound_events.delete().where(inbound_events.c.processed_at < older_than)
    result = await connection.execute(statement)
    return int(result.rowcount or 0)
