"""The message bus port: what the outbox relay publishes to and consumers read from.

Two adapters satisfy it with one contract, so the application cannot tell which it runs on:

* `rabbitmq.RabbitMQBus` (aio-pika) when `VENTROS_RABBITMQ_URL` is set;
* `inprocess.InProcessBus`, the embedded default: dispatch inside the process, deliveries
  and dead letters kept in PostgreSQL so that nothing is lost when the process dies.

The contract: a published message reaches every queue bound to it at least once; a
handler that raises is retried with exponential backoff, and after `max_attempts`
deliveries the message becomes a dead letter carrying the last error; dead letters can be
listed, replayed into their queue, and purged.
"""

from __future__ import annotations

import asyncio
import contextlib
import enum
import re
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from functools import lru_cache
from typing import TYPE_CHECKING, Protocol, runtime_checkable

import structlog

if TYPE_CHECKING:
    from ventros.platform.db import Database
    from ventros.platform.settings import Settings

log = structlog.get_logger(__name__)

DOMAIN_EVENTS = "domain.events"
WAHA_EVENTS = "waha.events"
CONTACT_EVENTS = "contact.events"
WEBHOOKS_OUTBOUND = "webhooks.outbound"

# Headers every domain event carries (besides the message id, which is the event id).
TENANT_HEADER = "tenant_id"
TRACEPARENT_HEADER = "traceparent"
EVENT_NAME_HEADER = "event_name"
AGGREGATE_HEADER = "aggregate_id"


class BusUnavailable(Exception):
    """The broker cannot be reached; what was not confirmed must be published again."""


@dataclass(frozen=True, slots=True)
class Envelope:
    """One message: an opaque body with its routing key and string headers."""

    message_id: str
    routing_key: str
    body: bytes
    headers: Mapping[str, str] = field(default_factory=dict)
    exchange: str = DOMAIN_EVENTS


@dataclass(frozen=True, slots=True)
class Delivery:
    """An envelope handed to a handler, on its `attempt`-th delivery from `queue`."""

    envelope: Envelope
    queue: str
    attempt: int = 1


DeliveryHandler = Callable[[Delivery], Awaitable[None]]


@runtime_checkable
class BatchDeliveryHandler(Protocol):
    """A handler that can also take a bus's whole lease at once (the in-process bus leases
    dozens of rows per query): one call instead of a task per delivery."""

    async def __call__(self, delivery: Delivery) -> None: ...

    async def deliver_many(self, deliveries: Sequence[Delivery]) -> list[Exception | None]:
        """Handles them all; one outcome per delivery, in order: None (done, ack it) or
        what it raised (retry it)."""


@dataclass(frozen=True, slots=True)
class Binding:
    exchange: str
    pattern: str  # AMQP topic pattern: `*` is one word, `#` zero or more


@dataclass(frozen=True, slots=True)
class QueueSpec:
    name: str
    bindings: tuple[Binding, ...] = ()

    def merged(self, other: QueueSpec) -> QueueSpec:
        extra = tuple(b for b in other.bindings if b not in self.bindings)
        return QueueSpec(self.name, self.bindings + extra)


class Outcome(enum.Enum):
    CONFIRMED = "confirmed"  # the bus has the message durably
    REJECTED = "rejected"  # the bus refused this message: retry the message later
    UNCONFIRMED = "unconfirmed"  # the connection went away: unknown, publish again


@dataclass(frozen=True, slots=True)
class PublishResult:
    outcome: Outcome
    reason: str = ""


CONFIRMED = PublishResult(Outcome.CONFIRMED)


@dataclass(frozen=True, slots=True)
class DeadLetter:
    """A message that exhausted its deliveries (or expired), with the last error."""

    queue: str
    message_id: str
    exchange: str
    routing_key: str
    headers: Mapping[str, str]
    body: bytes
    error: str
    attempts: int
    failed_at: datetime | None


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """Deliveries of one message: the first plus retries after growing delays."""

    max_attempts: int = 5
    base_seconds: float = 1.0
    max_seconds: float = 300.0

    def delay(self, failed_attempt: int) -> float:
        """Seconds to wait after delivery number `failed_attempt` (1-based) failed."""
        return float(min(self.base_seconds * 2 ** (failed_attempt - 1), self.max_seconds))

    def delays(self) -> list[float]:
        return [self.delay(n) for n in range(1, self.max_attempts)]


class Bus(Protocol):
    kind: str

    async def start(self, queues: Sequence[QueueSpec] = ()) -> None:
        """Connect and declare the topology (idempotent), plus `queues`."""

    async def publish(self, envelopes: Sequence[Envelope]) -> list[PublishResult]:
        """Publish in order; one result per envelope. Raises BusUnavailable when nothing
        could be attempted."""

    async def consume(self, queue: QueueSpec, handler: DeliveryHandler) -> None:
        """Declare `queue` and deliver its messages to `handler` in the background until
        `close`. A handler that raises gets the message again later, then dead-letters it."""

    async def close(self) -> None: ...

    async def queue_depths(self) -> dict[str, int]:
        """Messages waiting per known queue, dead-letter queues included."""

    async def health(self) -> tuple[bool, str]: ...

    async def dead_letters(self, queue: str | None = None, limit: int = 100) -> list[DeadLetter]:
        """Dead letters, oldest first, without removing them."""

    async def replay_dead_letters(
        self, queue: str | None = None, message_ids: Sequence[str] = ()
    ) -> int:
        """Put dead letters (all, or those ids) back into their queue; returns how many."""

    async def purge_dead_letters(self, queue: str | None = None) -> int:
        """Delete dead letters; returns how many."""


@lru_cache(maxsize=1024)
def topic_regex(pattern: str) -> str:
    """A regex for an AMQP topic pattern, to match against `"." + routing_key`.

    The leading dot gives every word the same shape (`.word`), so `#` (zero or more words)
    needs no special case at either end. PostgreSQL and Python agree on this subset.
    """
    parts = []
    for word in pattern.split("."):
        if word == "#":
            parts.append(r"(\.[^.]+)*")
        elif word == "*":
            parts.append(r"\.[^.]+")
        else:
            parts.append(r"\." + re.escape(word))
    return "^" + "".join(parts) + "$"


@lru_cache(maxsize=4096)
def topic_matches(pattern: str, routing_key: str) -> bool:
    return re.match(topic_regex(pattern), "." + routing_key) is not None


def system_dsn(database: Database) -> str:
    """A libpq DSN for the system role (BYPASSRLS), for asyncpg connections of our own."""
    return database.system_dsn()


async def connect_bus(
    settings: Settings,
    database: Database,
    stop: asyncio.Event,
    *,
    name: str,
    queues: Sequence[QueueSpec] = (),
) -> Bus | None:
    """A started bus, trying again with backoff while the broker is unreachable; None when
    `stop` is set first."""
    delay = 0.5
    while not stop.is_set():
        bus = build_bus(settings, database, name=name)
        try:
            await bus.start(queues)
            return bus
        except BusUnavailable as error:
            log.warning("bus unavailable; retrying", bus=bus.kind, error=str(error), retry_in=delay)
            await bus.close()
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), delay)
        delay = min(delay * 2, 10.0)
    return None


async def bus_health(settings: Settings) -> tuple[bool, str]:
    """For /health: RabbitMQ reachable (when configured), else the in-process bus."""
    if not settings.rabbitmq_url:
        return True, "in-process bus (no VENTROS_RABBITMQ_URL)"
    from ventros.platform.bus.rabbitmq import check_rabbitmq

    return await check_rabbitmq(settings.rabbitmq_url)


def build_bus(settings: Settings, database: Database, *, name: str = "ventros") -> Bus:
    """RabbitMQ when `rabbitmq_url` is set, else the in-process bus on the database."""
    policy = RetryPolicy(
        max_attempts=settings.bus_max_attempts,
        base_seconds=settings.bus_retry_base_seconds,
        max_seconds=settings.bus_retry_max_seconds,
    )
    if settings.rabbitmq_url:
        from ventros.platform.bus.rabbitmq import RabbitMQBus

        return RabbitMQBus(
            settings.rabbitmq_url,
            prefix=settings.rabbitmq_prefix,
            prefetch=settings.bus_prefetch,
            retry=policy,
            message_ttl_seconds=settings.bus_message_ttl_seconds,
            connection_name=name,
        )
    from ventros.platform.bus.inprocess import InProcessBus

    return InProcessBus(
        system_dsn(database),
        # Leased rows, like RabbitMQ's unacknowledged messages; consumers handle what is
        # leased in one transaction, so this bounds their batches (and their throughput).
        prefetch=settings.bus_inprocess_prefetch,
        retry=policy,
        message_ttl_seconds=settings.bus_message_ttl_seconds,
        poll_interval_seconds=settings.bus_poll_interval_seconds,
        lease_seconds=settings.bus_lease_seconds,
    )
