"""Channel health, as the watchdog (`workflows.py`) sees it: the rule that tells a sick
WhatsApp session (pure), and its record (`channel_health`, one row per channel).

"Connected but silent" is WAHA's most common failure: the session says WORKING while no
event arrives. Silence alone is normal (nobody writes at night); silence while the
channel's own outbound messages go unacknowledged is not.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Boolean, Column, DateTime, Table, Text, select, text
from sqlalchemy.dialects.postgresql import UUID, insert
from sqlalchemy.ext.asyncio import AsyncConnection

from ventros.channels import events
from ventros.kernel.clock import utcnow
from ventros.kernel.events import DomainEvent
from ventros.platform.db import metadata
from ventros.platform.uow import UnitOfWork

HEALTHY = "healthy"
UNHEALTHY = "unhealthy"
DOWN = "down"

channel_health = Table(
    "channel_health",
    metadata,
    Column("channel_id", UUID(as_uuid=True), primary_key=True),
    Column("tenant_id", UUID(as_uuid=True), nullable=False),
    Column("health", Text, nullable=False),
    Column("reason", Text),
    Column("waha_status", Text),
    Column("last_event_at", DateTime(timezone=True)),
    Column("restarted", Boolean, nullable=False),
    Column("checked_at", DateTime(timezone=True), nullable=False),
    Column("changed_at", DateTime(timezone=True), nullable=False),
)


@dataclass(frozen=True)
class Observation:
    """One look at a channel: WAHA's status, the age of its last event, unacknowledged sends."""

    waha_status: str
    last_event_age: float | None  # seconds; None when it never had one
    unacknowledged: int


def diagnose(seen: Observation, *, silence_seconds: float) -> str | None:
    """Why the channel is unhealthy, or None. Unknown statuses are not working, but only
    FAILED (re-pairing needed) and a silent WORKING session are failures to act on."""
    if seen.waha_status == "FAILED":
        return "WAHA reports the session FAILED"
    silent = seen.last_event_age is None or seen.last_event_age > silence_seconds
    if seen.waha_status == "WORKING" and silent and seen.unacknowledged > 0:
        age = "ever" if seen.last_event_age is None else f"{seen.last_event_age:.0f} s"
        return (
            f"connected but silent: WORKING, no event for {age}, "
            f"{seen.unacknowledged} outbound message(s) unacknowledged"
        )
    return None


async def observe_flow(
    tx: UnitOfWork, channel_id: uuid.UUID, *, ack_grace_seconds: float
) -> tuple[datetime | None, int]:
    """When the channel's last WhatsApp event arrived (session.status does not count: WAHA
    posts it while silent too), and how many of its outbound messages since then, older
    than the grace, WhatsApp has not acknowledged."""
    last = (
        await tx.connection.execute(
            text(
                "SELECT max(received_at) FROM inbound_events "
                "WHERE channel_id = :channel AND event <> 'session.status'"
            ),
            {"channel": channel_id},
        )
    ).scalar()
    unacked = (
        await tx.connection.execute(
            text(
                "SELECT count(*) FROM messages WHERE channel_id = :channel "
                "AND direction = 'outbound' AND status IN ('pending', 'sent') "
                "AND created_at < now() - make_interval(secs => :grace) "
                "AND (CAST(:last AS timestamptz) IS NULL OR created_at > :last)"
            ),
            {"channel": channel_id, "grace": ack_grace_seconds, "last": last},
        )
    ).scalar()
    return last, int(unacked or 0)


async def record_health(
    tx: UnitOfWork,
    channel_id: uuid.UUID,
    *,
    health: str,
    reason: str | None,
    waha_status: str,
    last_event_at: datetime | None,
    restarted: bool,
) -> str | None:
    """Stores the channel's health; the event to raise when it changed (raised here)."""
    now = utcnow()
    before = (
        await tx.connection.execute(
            select(channel_health.c.health).where(channel_health.c.channel_id == channel_id)
        )
    ).scalar()
    values: dict[str, Any] = {
        "tenant_id": tx.tenant_id,
        "health": health,
        "reason": reason,
        "waha_status": waha_status,
        "last_event_at": last_event_at,
        "restarted": restarted,
        "checked_at": now,
    }
    changed = (before or HEALTHY) != health
    statement = insert(channel_health).values(channel_id=channel_id, changed_at=now, **values)
    update = {**values, **({"changed_at": now} if changed else {})}
    await tx.connection.execute(
        statement.on_conflict_do_update(index_elements=["channel_id"], set_=update)
    )
    if not changed:
        return None
    name = {UNHEALTHY: events.CHANNEL_UNHEALTHY, DOWN: events.CHANNEL_DOWN}.get(
        health, events.CHANNEL_RECOVERED
    )
    tx.add_event(
        DomainEvent(
            name=name,
            tenant_id=tx.tenant_id,
            aggregate_type="channel",
            aggregate_id=channel_id,
            payload={
                "channel_id": str(channel_id),
                "health": health,
                "reason": reason,
                "waha_status": waha_status,
            },
        )
    )
    return name


async def channels_health(system: AsyncConnection) -> list[dict[str, Any]]:
    """Every channel's last known health, across tenants (for /health and /metrics)."""
    now = utcnow()
    found = await system.execute(
        select(
            channel_health.c.channel_id,
            channel_health.c.health,
            channel_health.c.reason,
            channel_health.c.waha_status,
            channel_health.c.last_event_at,
            channel_health.c.checked_at,
        ).order_by(channel_health.c.channel_id)
    )
    return [
        {
            "channel_id": str(row.channel_id),
            "health": row.health,
            "reason": row.reason,
            "waha_status": row.waha_status,
            "last_event_age_seconds": (
                round((now - row.last_event_at).total_seconds(), 1) if row.last_event_at else None
            ),
            "checked_at": row.checked_at.isoformat(),
        }
        for row in found
    ]


def channel_metrics(rows: list[dict[str, Any]]) -> bytes:
    """Per-channel gauges in Prometheus text format: `ventros_channel_up` (1 healthy, 0
    unhealthy or down) and `ventros_channel_last_event_age_seconds`."""
    from prometheus_client import CollectorRegistry, generate_latest
    from prometheus_client.core import GaugeMetricFamily
    from prometheus_client.registry import Collector

    up = GaugeMetricFamily(
        "ventros_channel_up",
        "1 while the channel's WhatsApp session is healthy (watchdog), else 0.",
        labels=["channel_id"],
    )
    age = GaugeMetricFamily(
        "ventros_channel_last_event_age_seconds",
        "Seconds since the channel's last WhatsApp event, as of its last watchdog check.",
        labels=["channel_id"],
    )
    for row in rows:
        up.add_metric([row["channel_id"]], 1.0 if row["health"] == HEALTHY else 0.0)
        if row["last_event_age_seconds"] is not None:
            age.add_metric([row["channel_id"]], float(row["last_event_age_seconds"]))

    class _Channels(Collector):
        def collect(self) -> Any:
            yield up
            yield age

    registry = CollectorRegistry()
    registry.register(_Channels())
    return generate_latest(registry)
