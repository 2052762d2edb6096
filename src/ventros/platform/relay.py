"""The outbox relay: moves committed events from `outbox_events` to the bus, in commit order.

One relay is active at a time: it holds a session-level advisory lock on its own
connection; the others stand by and try the lock every second. PostgreSQL releases the
lock the moment the active relay's connection ends (its process died), so a standby
takes over within about a second.

The active relay LISTENs on `outbox` (the unit of work notifies inside the committing
transaction) and polls slowly as a safety net. Each batch is one transaction: claim rows
with `FOR UPDATE SKIP LOCKED` in `position` order, publish them with confirms, mark them
published, commit. A crash anywhere before the commit leaves the rows unpublished, so
they are published again: at least once; consumers drop the duplicates.

Commit order: positions are taken at insert, but transactions commit in their own order.
A row is claimed only once every transaction of this database older than its own has
ended (`txid` below the horizon, see `HORIZON_SQL`), so a lower position that commits late
is never overtaken. A row that waits for a retry holds back its aggregate's later rows.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, TypeAlias

import asyncpg
import structlog
from asyncpg.pool import PoolConnectionProxy

from ventros.platform.bus import (
    AGGREGATE_HEADER,
    DOMAIN_EVENTS,
    EVENT_NAME_HEADER,
    TENANT_HEADER,
    TRACEPARENT_HEADER,
    Bus,
    BusUnavailable,
    Envelope,
    Outcome,
    QueueSpec,
    RetryPolicy,
    connect_bus,
    system_dsn,
)
from ventros.platform.metrics import Metrics, metrics_for
from ventros.platform.outbox import HORIZON_SQL
from ventros.platform.settings import Settings
from ventros.platform.tracing import publishing

if TYPE_CHECKING:
    from ventros.runtime.container import Container

log = structlog.get_logger(__name__)

Connection: TypeAlias = "asyncpg.Connection[asyncpg.Record] | PoolConnectionProxy[asyncpg.Record]"

# Session-level advisory lock of the active relay ("ventros" in ASCII, then 1).
RELAY_LOCK_KEY = 0x76656E74726F7301
NOTIFY_CHANNEL = "outbox"
PRUNE_CHUNK = 10_000

# An aggregate's rows behind one waiting for its retry wait too (its events keep their
# order). The waiting rows are gathered once per claim: as a NOT EXISTS per candidate row,
# a planner with a fresh table's statistics scanned every pending row for each candidate
# (150 ms a claim with a few thousand pending).
CLAIM_SQL = f"""
WITH waiting AS MATERIALIZED (
    SELECT w.aggregate_id, min(w.position) AS first
    FROM outbox_events w
    WHERE w.next_attempt_at > now() AND w.published_at IS NULL AND w.failed_at IS NULL
    GROUP BY w.aggregate_id
)
SELECT o.id, o.tenant_id, o.name, o.aggregate_id, o.event::text AS event, o.attempts,
       o.event->>'traceparent' AS traceparent
FROM outbox_events o
LEFT JOIN waiting ON waiting.aggregate_id = o.aggregate_id
WHERE o.published_at IS NULL AND o.failed_at IS NULL
  AND (o.next_attempt_at IS NULL OR o.next_attempt_at <= now())
  AND o.txid::xid8 < ({HORIZON_SQL})
  AND (waiting.first IS NULL OR o.position < waiting.first)
ORDER BY o.position
LIMIT $1
FOR UPDATE OF o SKIP LOCKED
"""  # noqa: S608 - constant SQL

MARK_PUBLISHED_SQL = """
UPDATE outbox_events
SET published_at = now(), next_attempt_at = NULL
WHERE id = ANY($1::uuid[])
"""

# attempts + 1; then either a next attempt after the delay, or failed for good.
MARK_REJECTED_SQL = """
UPDATE outbox_events o
SET attempts = o.attempts + 1,
    last_error = f.error,
    next_attempt_at = CASE WHEN o.attempts + 1 >= $4 THEN NULL
                           ELSE now() + make_interval(secs => f.delay) END,
    failed_at = CASE WHEN o.attempts + 1 >= $4 THEN now() END
FROM unnest($1::uuid[], $2::text[], $3::float8[]) AS f(id, error, delay)
WHERE o.id = f.id
RETURNING o.failed_at IS NOT NULL AS failed
"""

# After a short batch: is anything committed but not yet claimable (an older transaction
# still runs), and when is the next retry due?
WAITING_SQL = f"""
SELECT
  EXISTS (
    SELECT 1 FROM outbox_events o
    WHERE o.published_at IS NULL AND o.failed_at IS NULL AND o.next_attempt_at IS NULL
      AND o.txid::xid8 >= ({HORIZON_SQL})
  ) AS held_back,
  (SELECT min(o.next_attempt_at) - now() FROM outbox_events o
   WHERE o.next_attempt_at IS NOT NULL
     AND o.published_at IS NULL AND o.failed_at IS NULL) AS next_retry_in
"""  # noqa: S608 - constant SQL

STATS_SQL = """
SELECT
  coalesce(extract(epoch FROM now() - (
    SELECT o.created_at FROM outbox_events o
    WHERE o.published_at IS NULL AND o.failed_at IS NULL
    ORDER BY o.position LIMIT 1
  )), 0)::float8 AS lag,
  (SELECT count(*) FROM outbox_events o
   WHERE o.published_at IS NULL AND o.failed_at IS NULL) AS pending,
  (SELECT count(*) FROM outbox_events o WHERE o.failed_at IS NOT NULL) AS failed
"""

# Conversations across tenants, for the operators' dashboard: read by the active relay
# (one process, system role) on the same beat as the outbox figures.
CONVERSATION_STATS_SQL = """
SELECT
  count(*) AS open,
  count(*) FILTER (WHERE agent_id IS NULL) AS waiting,
  (SELECT coalesce(avg(first_response_seconds), 0) FROM sessions
   WHERE started_at > now() - interval '1 hour' AND first_response_seconds IS NOT NULL
  )::float8 AS first_response
FROM sessions WHERE status = 'open'
"""

PRUNE_SQL = """
DELETE FROM outbox_events WHERE id IN (
    SELECT id FROM outbox_events
    WHERE published_at < now() - make_interval(secs => $1)
    LIMIT $2
)
"""


@dataclass(frozen=True, slots=True)
class BatchReport:
    claimed: int = 0
    published: int = 0
    rejected: int = 0
    failed: int = 0  # rejected for the last time: marked failed
    unavailable: bool = False  # the bus went away: back off before the next batch
    locked_out: bool = False  # another relay is active (Temporal driver only)


def _traceparent(recorded: str | None, event_id: str) -> str:
    """The trace the event was recorded in; an event recorded outside any trace (a timer,
    the ingest of a webhook) starts its own, whose id is the event id, so the logs of
    every consumer of it still line up."""
    if recorded:
        return recorded
    hexid = event_id.replace("-", "")
    return f"00-{hexid}-{hexid[16:]}-01"


def envelope_of(row: asyncpg.Record) -> Envelope:
    event_id = str(row["id"])
    return Envelope(
        message_id=event_id,
        routing_key=row["name"],
        body=row["event"].encode(),
        headers={
            TENANT_HEADER: str(row["tenant_id"]),
            EVENT_NAME_HEADER: row["name"],
            AGGREGATE_HEADER: str(row["aggregate_id"]),
            TRACEPARENT_HEADER: _traceparent(row["traceparent"], event_id),
        },
        exchange=DOMAIN_EVENTS,
    )


async def relay_batch(
    connection: Connection,
    bus: Bus,
    *,
    limit: int,
    retry: RetryPolicy,
    metrics: Metrics,
    exclusive: bool = False,
) -> BatchReport:
    """Claim, publish and mark one batch, in one transaction. `exclusive` takes the relay
    lock for the transaction only (for drivers that hold no session of their own)."""
    started = time.perf_counter()
    rows: Sequence[asyncpg.Record] = []
    try:
        async with connection.transaction():
            if exclusive and not await connection.fetchval(
                "SELECT pg_try_advisory_xact_lock($1)", RELAY_LOCK_KEY
            ):
                return BatchReport(locked_out=True)
            rows = await connection.fetch(CLAIM_SQL, limit)
            if not rows:
                return BatchReport()
            with publishing([envelope_of(row) for row in rows]) as envelopes:
                results = await bus.publish(envelopes)
            confirmed = [
                r["id"]
                for r, res in zip(rows, results, strict=True)
                if res.outcome is Outcome.CONFIRMED
            ]
            rejected = [
                (r, res.reason)
                for r, res in zip(rows, results, strict=True)
                if res.outcome is Outcome.REJECTED
            ]
            unconfirmed = sum(1 for res in results if res.outcome is Outcome.UNCONFIRMED)
            if confirmed:
                await connection.execute(MARK_PUBLISHED_SQL, confirmed)
            failed = 0
            if rejected:
                marks = await connection.fetch(
                    MARK_REJECTED_SQL,
                    [r["id"] for r, _ in rejected],
                    [reason[:2000] for _, reason in rejected],
                    [retry.delay(int(r["attempts"]) + 1) for r, _ in rejected],
                    retry.max_attempts,
                )
                failed = sum(1 for m in marks if m["failed"])
    except BusUnavailable as error:
        metrics.outbox_publish_errors_total.labels("unavailable").inc()
        log.warning("bus unavailable; batch left for later", claimed=len(rows), error=str(error))
        return BatchReport(claimed=len(rows), unavailable=True)
    metrics.outbox_batch_duration_seconds.observe(time.perf_counter() - started)
    metrics.outbox_published_total.inc(len(confirmed))
    if rejected:
        metrics.outbox_publish_errors_total.labels("rejected").inc(len(rejected))
        log.warning(
            "bus rejected outbox events; they will be retried",
            rejected=len(rejected),
            failed_for_good=failed,
            first_error=rejected[0][1],
        )
    if failed:
        metrics.outbox_failed_total.inc(failed)
        log.error("outbox events failed after their last attempt", count=failed)
    if unconfirmed:
        metrics.outbox_publish_errors_total.labels("unavailable").inc(unconfirmed)
        log.warning("publishes unconfirmed; they will be published again", count=unconfirmed)
    return BatchReport(
        claimed=len(rows),
        published=len(confirmed),
        rejected=len(rejected),
        failed=failed,
        unavailable=unconfirmed > 0,
    )


async def update_stats(connection: Connection, metrics: Metrics) -> None:
    row = await connection.fetchrow(STATS_SQL)
    if row is not None:
        metrics.outbox_lag_seconds.set(row["lag"])
        metrics.outbox_pending_events.set(row["pending"])
        metrics.outbox_failed_events.set(row["failed"])
    conversations = await connection.fetchrow(CONVERSATION_STATS_SQL)
    if conversations is not None:
        metrics.conversation_sessions_open.set(conversations["open"])
        metrics.conversation_sessions_waiting.set(conversations["waiting"])
        metrics.conversation_first_response_seconds.set(conversations["first_response"])


async def prune(connection: Connection, retention_seconds: float) -> int:
    """Delete published rows older than the retention, in chunks (short locks)."""
    total = 0
    while True:
        status = await connection.execute(PRUNE_SQL, float(retention_seconds), PRUNE_CHUNK)
        deleted = int(status.split()[-1])
        total += deleted
        if deleted < PRUNE_CHUNK:
            return total


def relay_retry_policy(settings: Settings) -> RetryPolicy:
    return RetryPolicy(
        max_attempts=settings.relay_max_attempts,
        base_seconds=settings.relay_retry_base_seconds,
        max_seconds=settings.relay_retry_max_seconds,
    )


class _ConnectionLost(Exception):
    pass


class OutboxRelay:
    def __init__(
        self,
        dsn: str,
        bus: Bus,
        *,
        settings: Settings,
        metrics: Metrics,
    ) -> None:
        self.dsn = dsn
        self.bus = bus
        self.settings = settings
        self.metrics = metrics
        self.retry = relay_retry_policy(settings)
        self.active = asyncio.Event()  # set while this relay holds the lock

    async def run(self, stop: asyncio.Event) -> None:
        """Stand by, lead, and reconnect after database failures, until `stop` is set."""
        delay = 0.5
        while not stop.is_set():
            try:
                await self._session(stop)
                delay = 0.5
            except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError, _ConnectionLost) as e:
                log.warning("relay lost the database; reconnecting", error=repr(e), retry_in=delay)
            except Exception:
                # Whatever it was, the rows are still in the outbox: start over, later.
                log.exception("relay failed; starting over", retry_in=delay)
            finally:
                self.active.clear()
                self.metrics.outbox_relay_active.set(0)
            if await _wait(stop, delay):
                return
            delay = min(delay * 2, 10.0)

    async def _session(self, stop: asyncio.Event) -> None:
        connection = await asyncpg.connect(self.dsn)
        try:
            lost = asyncio.Event()
            connection.add_termination_listener(lambda _c: lost.set())
            announced = False
            while not await connection.fetchval("SELECT pg_try_advisory_lock($1)", RELAY_LOCK_KEY):
                if not announced:
                    log.info("another relay is active; standing by")
                    announced = True
                if await _wait(stop, self.settings.relay_standby_retry_seconds):
                    return
            log.info("relay active")
            self.active.set()
            self.metrics.outbox_relay_active.set(1)
            wake = asyncio.Event()
            await connection.add_listener(NOTIFY_CHANNEL, lambda *_: wake.set())
            await self._lead(connection, stop, wake, lost)
        finally:
            # Closing the session releases the advisory lock: a standby takes over.
            with contextlib.suppress(Exception):
                await asyncio.wait_for(connection.close(), 5)

    async def _lead(
        self,
        connection: asyncpg.Connection,
        stop: asyncio.Event,
        wake: asyncio.Event,
        lost: asyncio.Event,
    ) -> None:
        settings = self.settings
        limit = settings.relay_batch_size
        next_stats = 0.0
        next_prune = time.monotonic() + 5.0
        unavailable_delay = 0.25
        held_back_delay = 0.005
        while not stop.is_set():
            if lost.is_set():
                raise _ConnectionLost("relay connection closed")
            wake.clear()
            report = await relay_batch(
                connection, self.bus, limit=limit, retry=self.retry, metrics=self.metrics
            )
            now = time.monotonic()
            if now >= next_stats:
                await update_stats(connection, self.metrics)
                next_stats = now + settings.metrics_interval_seconds
            if now >= next_prune:
                pruned = await prune(connection, settings.outbox_retention_hours * 3600)
                if pruned:
                    log.info("pruned published outbox events", count=pruned)
                next_prune = now + settings.outbox_prune_interval_seconds
            if report.unavailable:
                if await _wait(stop, unavailable_delay):
                    return
                unavailable_delay = min(unavailable_delay * 2, 5.0)
                continue
            unavailable_delay = 0.25
            if report.claimed >= limit:
                continue  # more is waiting
            timeout = settings.relay_poll_interval_seconds
            waiting = await connection.fetchrow(WAITING_SQL)
            if waiting is not None and waiting["held_back"]:
                # Committed rows wait for an older transaction that may never notify.
                timeout = held_back_delay
                held_back_delay = min(held_back_delay * 2, 0.5)
            else:
                held_back_delay = 0.005
            if waiting is not None and waiting["next_retry_in"] is not None:
                timeout = min(timeout, max(waiting["next_retry_in"].total_seconds(), 0.01))
            await _first_of(stop, wake, lost, seconds=timeout)


async def _wait(stop: asyncio.Event, seconds: float) -> bool:
    """Sleep unless stopped; True when stop is set."""
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(stop.wait(), seconds)
    return stop.is_set()


async def _first_of(*events: asyncio.Event, seconds: float) -> None:
    if any(e.is_set() for e in events):
        return
    waiters = [asyncio.ensure_future(e.wait()) for e in events]
    try:
        await asyncio.wait(waiters, timeout=seconds, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for waiter in waiters:
            waiter.cancel()
        await asyncio.gather(*waiters, return_exceptions=True)


async def run_relay(
    container: Container, stop: asyncio.Event, *, queues: Sequence[QueueSpec] = ()
) -> None:
    """The relay as a background service (`ventros relay`, and inside `ventros run`), with
    the LISTEN/NOTIFY driver. It declares `queues` (the consumers') before publishing, so
    nothing is published into a queue no worker declared yet."""
    settings = container.settings
    bus = await connect_bus(settings, container.database, stop, name="ventros-relay", queues=queues)
    if bus is None:
        return
    try:
        relay = OutboxRelay(
            system_dsn(container.database), bus, settings=settings, metrics=metrics_for(container)
        )
        await relay.run(stop)
    finally:
        await bus.close()
