"""Helpers of the event backbone's tests (imported by test_relay, test_bus_*, test_consumers).

Each backbone test gets a database of its own (`fresh_backbone`): the relay publishes
whatever is in the outbox, so sharing the session database with other tests would mix
their events into the counts. RabbitMQ tests use a unique name prefix and delete what
they declared.
"""

from __future__ import annotations

import asyncio
import os
import socket
import uuid
from collections.abc import AsyncIterator, Callable, Iterable
from contextlib import asynccontextmanager, suppress
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import asyncpg
import psycopg
import pytest
from psycopg import sql
from sqlalchemy import text
from sqlalchemy.engine import make_url

from tests.conftest import TEST_SECRET, make_settings
from ventros.kernel.events import Actor, DomainEvent
from ventros.platform.bus import Bus, QueueSpec, RetryPolicy, build_bus
from ventros.platform.bus.rabbitmq import RabbitMQBus
from ventros.platform.consumers import Consumer, EventHandler
from ventros.platform.migrate import upgrade
from ventros.platform.uow import UnitOfWork
from ventros.runtime.container import Container, bootstrap
from ventros.runtime.registry import wire

pytestmark = pytest.mark.integration

RABBITMQ_URL = os.environ.get("VENTROS_TEST_RABBITMQ_URL", "amqp://guest:guest@127.0.0.1:5672/")
EVENT = "test.happened"

EFFECTS_TABLE = """
CREATE TABLE test_effects (
    seq bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    consumer text NOT NULL,
    event_id uuid NOT NULL,
    tenant_id uuid NOT NULL,
    aggregate_id uuid NOT NULL,
    n integer NOT NULL
)
"""


def _libpq(url: str) -> str:
    return make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)


def rabbitmq_url() -> str:
    """The test broker's URL; skips (or fails under VENTROS_REQUIRE_SERVICES=1) if none."""
    parsed = urlparse(RABBITMQ_URL)
    host, port = parsed.hostname or "127.0.0.1", parsed.port or 5672
    try:
        with socket.create_connection((host, port), timeout=2):
            return RABBITMQ_URL
    except OSError as error:
        reason = (
            f"RabbitMQ is not reachable at {host}:{port} ({error}); set VENTROS_TEST_RABBITMQ_URL"
        )
        if os.environ.get("VENTROS_REQUIRE_SERVICES") == "1":
            pytest.fail(reason + " — required by VENTROS_REQUIRE_SERVICES=1")
        pytest.skip(reason)


def rabbit_overrides() -> dict[str, Any]:
    return {"rabbitmq_url": rabbitmq_url(), "rabbitmq_prefix": f"t{uuid.uuid4().hex[:10]}."}


@dataclass
class Backbone:
    owner_url: str
    container: Container
    home: Path
    tenant_id: uuid.UUID = field(default_factory=uuid.uuid4)
    counters: dict[uuid.UUID, int] = field(default_factory=dict)
    buses: list[Bus] = field(default_factory=list)

    @property
    def settings(self) -> Any:
        return self.container.settings

    def bus(self, name: str = "test") -> Bus:
        bus = build_bus(self.settings, self.container.database, name=name)
        self.buses.append(bus)
        return bus

    async def produce(
        self,
        count: int,
        *,
        aggregates: list[uuid.UUID] | None = None,
        per_transaction: int = 1,
        name: str = EVENT,
    ) -> list[DomainEvent]:
        """Commit `count` events through the unit of work, round robin over aggregates;
        each carries `n`, its place in its aggregate's sequence."""
        aggregates = aggregates or [uuid.uuid4()]
        events: list[DomainEvent] = []
        for start in range(0, count, per_transaction):
            async with self.container.uow(self.tenant_id, Actor.system()) as tx:
                for i in range(start, min(start + per_transaction, count)):
                    events.append(self.event(aggregates[i % len(aggregates)], name=name, tx=tx))
                await tx.commit()
        return events

    def event(
        self, aggregate: uuid.UUID, *, name: str = EVENT, tx: UnitOfWork | None = None
    ) -> DomainEvent:
        n = self.counters.get(aggregate, 0) + 1
        self.counters[aggregate] = n
        event = DomainEvent(
            name=name,
            tenant_id=self.tenant_id,
            aggregate_type="test",
            aggregate_id=aggregate,
            payload={"n": n},
        )
        if tx is not None:
            tx.add_event(event)
        return event

    async def fetchval(self, query: str, *args: Any) -> Any:
        connection = await asyncpg.connect(_libpq(self.owner_url))
        try:
            return await connection.fetchval(query, *args)
        finally:
            await connection.close()

    async def fetch(self, query: str, *args: Any) -> list[asyncpg.Record]:
        connection = await asyncpg.connect(_libpq(self.owner_url))
        try:
            return list(await connection.fetch(query, *args))
        finally:
            await connection.close()

    def env(self, **settings: Any) -> dict[str, str]:
        """Environment of a `ventros` subprocess working on this backbone."""
        env = dict(os.environ)
        env.update(
            {
                "VENTROS_DATABASE_URL": self.owner_url,
                "VENTROS_SECRET_KEY": TEST_SECRET,
                "VENTROS_HOME": str(self.home),
                "VENTROS_LOG_JSON": "0",
                "VENTROS_RABBITMQ_URL": self.settings.rabbitmq_url or "",
                "VENTROS_RABBITMQ_PREFIX": self.settings.rabbitmq_prefix,
            }
        )
        if not self.settings.rabbitmq_url:
            env.pop("VENTROS_RABBITMQ_URL")
        env.update({f"VENTROS_{k.upper()}": str(v) for k, v in settings.items()})
        return env


@asynccontextmanager
async def fresh_backbone(
    server_url: str, tmp_path: Path, **settings: Any
) -> AsyncIterator[Backbone]:
    """A new database, migrated, with a `test_effects` table; dropped afterwards."""
    name = f"ventros_t_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(_libpq(server_url), autocommit=True) as conn:
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    url = make_url(server_url).set(database=name).render_as_string(hide_password=False)
    backbone: Backbone | None = None
    try:
        config = make_settings(**settings)
        await asyncio.to_thread(upgrade, url, config.role_passwords())
        with psycopg.connect(_libpq(url), autocommit=True) as conn:
            conn.execute(EFFECTS_TABLE)
        backbone = Backbone(url, bootstrap(config, database_url=url), tmp_path)
        yield backbone
    finally:
        if backbone is not None:
            for bus in backbone.buses:
                with suppress(Exception):
                    await bus.close()
            await backbone.container.aclose()
        with psycopg.connect(_libpq(server_url), autocommit=True) as conn:
            conn.execute(
                sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
            )


async def delete_rabbit_names(
    backbone: Backbone, queues: Iterable[Consumer | QueueSpec] = (), *, url: str | None = None
) -> None:
    """Delete every exchange and queue the test may have declared under its prefix: its
    own queues, the registered consumers' (a relay declares those too), and their retry
    queues for the test's delays and for the defaults (a `ventros relay` subprocess)."""
    settings = backbone.settings
    url = url or settings.rabbitmq_url
    if not url:
        return
    specs = [q.queue_spec() if isinstance(q, Consumer) else q for q in queues]
    specs += wire(backbone.container).queue_specs()
    policies = {
        RetryPolicy(
            settings.bus_max_attempts,
            settings.bus_retry_base_seconds,
            settings.bus_retry_max_seconds,
        ),
        RetryPolicy(),
    }
    for policy in policies:
        bus = RabbitMQBus(url, prefix=settings.rabbitmq_prefix, retry=policy)
        with suppress(Exception):
            await bus.start(specs)
            await bus.delete_all()
        await bus.close()


def effect(
    consumer: str, *, fail_while: Callable[[DomainEvent], bool] | None = None
) -> EventHandler:
    """A handler whose effect is a `test_effects` row, written in the consumer's transaction."""

    async def handler(event: DomainEvent, tx: UnitOfWork) -> None:
        if fail_while is not None and fail_while(event):
            raise RuntimeError(f"boom on {event.payload['n']}")
        await tx.connection.execute(
            text(
                "INSERT INTO test_effects (consumer, event_id, tenant_id, aggregate_id, n)"
                " VALUES (:consumer, :event_id, :tenant_id, :aggregate_id, :n)"
            ),
            {
                "consumer": consumer,
                "event_id": event.id,
                "tenant_id": event.tenant_id,
                "aggregate_id": event.aggregate_id,
                "n": event.payload["n"],
            },
        )

    return handler


async def test_a_fresh_backbone_database_has_the_bus_tables(
    server_url: str, tmp_path: Path
) -> None:
    async with fresh_backbone(server_url, tmp_path) as backbone:
        tables = {
            r["tablename"]
            for r in await backbone.fetch(
                "SELECT tablename FROM pg_tables WHERE schemaname = 'public'"
            )
        }
        assert {"bus_bindings", "bus_deliveries", "dead_letters", "test_effects"} <= tables
        events = await backbone.produce(3)
        assert await backbone.fetchval("SELECT count(*) FROM outbox_events") == len(events)
