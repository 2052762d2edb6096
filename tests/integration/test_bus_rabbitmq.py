"""RabbitMQ specifics: the declared topology, and recovery when the connection drops."""

from __future__ import annotations

import asyncio
import contextlib
import socket
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from urllib.parse import urlparse

import aio_pika
import aiormq
import pytest

from tests.integration.processes import eventually
from tests.integration.test_bus_support import (
    Backbone,
    delete_rabbit_names,
    effect,
    fresh_backbone,
    rabbit_overrides,
)
from ventros.platform.bus import system_dsn
from ventros.platform.bus.topology import QUEUES, dlq_name
from ventros.platform.consumers import Consumer, ConsumerRegistry, Worker
from ventros.platform.metrics import Metrics
from ventros.platform.relay import OutboxRelay

pytestmark = pytest.mark.integration

DAY_MS = 86_400_000


@pytest.fixture
async def backbone(server_url: str, tmp_path: Path) -> AsyncIterator[Backbone]:
    async with fresh_backbone(server_url, tmp_path, **rabbit_overrides()) as built:
        yield built


async def _channel(
    url: str,
) -> tuple[aio_pika.abc.AbstractConnection, aio_pika.abc.AbstractChannel]:
    connection = await aio_pika.connect(url)
    return connection, await connection.channel()


async def test_the_topology_is_declared_as_listed(backbone: Backbone) -> None:
    settings = backbone.settings
    prefix = settings.rabbitmq_prefix
    bus = backbone.bus()
    await bus.start()
    try:
        connection, channel = await _channel(settings.rabbitmq_url)
        try:
            exchanges = {}
            for name in ("domain.events", "waha.events", "contact.events", "webhooks.outbound"):
                # Re-declaring with the same type succeeds only if it is a durable topic.
                exchanges[name] = await channel.declare_exchange(
                    prefix + name, aio_pika.ExchangeType.TOPIC, durable=True
                )
            dlx = prefix + "ventros.dlx"
            for spec in QUEUES:
                name = prefix + spec.name
                # Same arguments: accepted. Anything else would close the channel (406).
                await channel.declare_queue(
                    name,
                    durable=True,
                    arguments={
                        "x-dead-letter-exchange": dlx,
                        "x-dead-letter-routing-key": name,
                        "x-message-ttl": DAY_MS,
                    },
                )
                await channel.declare_queue(prefix + dlq_name(spec.name), durable=True)
            with pytest.raises(aiormq.exceptions.ChannelPreconditionFailed):
                await channel.declare_queue(
                    prefix + "waha.messages", durable=True, arguments={"x-message-ttl": 1000}
                )
        finally:
            await connection.close()

        connection, channel = await _channel(settings.rabbitmq_url)
        try:
            # Dead-lettering is wired: an expired message lands in its queue's DLQ. (The
            # broker expires messages at the head of a queue, so this goes first.)
            await channel.default_exchange.publish(
                aio_pika.Message(b"{}", expiration=0.001), routing_key=prefix + "waha.messages"
            )

            async def expired() -> bool:
                return (await bus.queue_depths())["waha.messages.dlq"] == 1

            await eventually(expired, within=5)
            [letter] = await bus.dead_letters("waha.messages")
            assert letter.error == "dead-lettered by the broker: expired"

            # Routing, checked by counting what lands where.
            publish = [
                ("domain.events", "contact.created"),
                ("domain.events", "message.received"),
                ("waha.events", "message"),
                ("webhooks.outbound", "contact.created"),
            ]
            for exchange, key in publish:
                target = await channel.get_exchange(prefix + exchange, ensure=False)
                await target.publish(aio_pika.Message(b"{}"), routing_key=key)
            expected = {
                "domain.events.all": 2,
                "contact.events.enrichment": 1,
                "contact.events.webhook": 1,
                "waha.messages": 1,
                "waha.messages.dlq": 1,
                "webhooks.delivery": 1,
            }

            async def routed() -> bool:
                return await bus.queue_depths() == {
                    **{n: 0 for s in QUEUES for n in (s.name, dlq_name(s.name))},
                    **expected,
                }

            await eventually(routed, within=5)
        finally:
            await connection.close()
    finally:
        await delete_rabbit_names(backbone)


class Proxy:
    """A TCP proxy in front of RabbitMQ whose connections the test can cut."""

    def __init__(self, upstream: tuple[str, int]) -> None:
        self.upstream = upstream
        self.writers: set[asyncio.StreamWriter] = set()
        self.server: asyncio.Server | None = None
        self.port = 0

    async def start(self) -> None:
        self.server = await asyncio.start_server(self._accept, "127.0.0.1", 0)
        self.port = self.server.sockets[0].getsockname()[1]

    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            up_reader, up_writer = await asyncio.open_connection(*self.upstream)
        except OSError:
            writer.close()
            return
        self.writers |= {writer, up_writer}
        await asyncio.gather(
            self._pipe(reader, up_writer), self._pipe(up_reader, writer), return_exceptions=True
        )

    async def _pipe(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while data := await reader.read(65536):
                writer.write(data)
                await writer.drain()
        finally:
            writer.close()
            self.writers.discard(writer)

    def cut(self) -> int:
        """Drop every connection at once, as a broker restart would."""
        cut = len(self.writers)
        for writer in list(self.writers):
            transport = writer.transport
            transport.abort()
        self.writers.clear()
        return cut

    async def close(self) -> None:
        self.cut()
        if self.server is not None:
            self.server.close()
            await self.server.wait_closed()


async def test_relay_and_consumers_reconnect_after_the_connection_drops_under_load(
    server_url: str, tmp_path: Path
) -> None:
    overrides = rabbit_overrides()
    broker = urlparse(overrides["rabbitmq_url"])
    proxy = Proxy((broker.hostname or "127.0.0.1", broker.port or 5672))
    await proxy.start()
    proxied = overrides["rabbitmq_url"].replace(
        f"{broker.hostname}:{broker.port or 5672}", f"127.0.0.1:{proxy.port}"
    )
    if f":{proxy.port}" not in proxied:  # URL without an explicit port
        proxied = overrides["rabbitmq_url"].replace(
            f"@{broker.hostname}", f"@127.0.0.1:{proxy.port}"
        )
    total = 3000
    consumer = Consumer("effects", ("test.*",), effect("effects"))
    async with fresh_backbone(
        server_url,
        tmp_path,
        rabbitmq_url=proxied,
        rabbitmq_prefix=overrides["rabbitmq_prefix"],
        relay_batch_size=200,
    ) as backbone:
        stop = asyncio.Event()
        relay_task: asyncio.Task[None] | None = None
        worker_bus = backbone.bus("worker")
        worker = Worker(worker_bus, ConsumerRegistry([consumer]), backbone.container.uow, Metrics())
        try:
            await worker_bus.start()
            await worker.start()
            relay_bus = backbone.bus("relay")
            await relay_bus.start()
            relay = OutboxRelay(
                system_dsn(backbone.container.database),
                relay_bus,
                settings=backbone.settings,
                metrics=Metrics(),
            )
            relay_task = asyncio.create_task(relay.run(stop))

            async def produce() -> None:
                aggregates = [uuid.uuid4() for _ in range(20)]
                for _ in range(total // 100):
                    await backbone.produce(100, aggregates=aggregates, per_transaction=100)
                    await asyncio.sleep(0.04)

            async def connected() -> bool:
                return bool(proxy.writers)

            producing = asyncio.create_task(produce())
            for _ in range(3):
                # Cut while traffic flows, once the clients are back from the last cut
                # (their reconnect backoff grows on a loaded machine).
                await eventually(connected, within=30, interval=0.05)
                await asyncio.sleep(0.4)
                assert proxy.cut() > 0
            await producing

            async def all_effects() -> bool:
                count = await backbone.fetchval("SELECT count(*) FROM test_effects")
                return bool(count >= total)

            await eventually(all_effects, within=60, interval=0.2)
            await asyncio.sleep(0.5)
            assert await backbone.fetchval("SELECT count(*) FROM test_effects") == total
            assert (
                await backbone.fetchval("SELECT count(DISTINCT event_id) FROM test_effects")
                == total
            )
            assert (
                await backbone.fetchval(
                    "SELECT count(*) FROM outbox_events WHERE published_at IS NULL"
                )
                == 0
            )
            assert await relay_bus.health() == (True, "connected")
            assert await worker_bus.health() == (True, "connected")
        finally:
            stop.set()
            if relay_task is not None:
                with contextlib.suppress(Exception):
                    await asyncio.wait_for(relay_task, 10)
            for bus in backbone.buses:
                await bus.close()
            await worker.close()
            await proxy.close()
            await delete_rabbit_names(backbone, [consumer], url=overrides["rabbitmq_url"])


async def test_health_reports_whether_rabbitmq_answers() -> None:
    from ventros.platform.bus import bus_health
    from ventros.platform.settings import Settings

    url = rabbit_overrides()["rabbitmq_url"]
    healthy, message = await bus_health(Settings(rabbitmq_url=url))
    assert healthy, message
    assert message.startswith("reachable")
    with socket.socket() as probe:  # a port nobody listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    healthy, message = await bus_health(
        Settings(rabbitmq_url=f"amqp://guest:guest@127.0.0.1:{port}/")
    )
    assert not healthy
    assert message.startswith("unreachable")
    assert await bus_health(Settings(rabbitmq_url=None)) == (
        True,
        "in-process bus (no VENTROS_RABBITMQ_URL)",
    )
