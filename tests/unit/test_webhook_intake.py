"""The webhook's group commit and lean lane without a database: the insert is replaced by a
fake that records its batches (and can refuse a delivery), the app behind the lane by one
that answers 418."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Sequence
from typing import Any

import httpx
import pytest

from ventros.api.middleware import BodyLimitMiddleware, RequestContextMiddleware
from ventros.api.security import SecurityHeadersMiddleware
from ventros.channels import intake as intake_module
from ventros.channels import service
from ventros.channels.api import WahaWebhookLane
from ventros.channels.intake import InboundIntake
from ventros.channels.repository import NewInboundEvent
from ventros.kernel.errors import NotFound

TENANT_A, TENANT_B = uuid.uuid4(), uuid.uuid4()
CHANNEL = uuid.uuid4()


def _event(key: str, tenant: uuid.UUID = TENANT_A) -> NewInboundEvent:
    return NewInboundEvent(uuid.uuid4(), tenant, CHANNEL, key, "message", "{}")


class FakeStore:
    """Stands in for `store_inbound_events`: keeps (channel, key) pairs like the unique
    constraint, and refuses keys in `refuse` (the whole statement fails, like PostgreSQL)."""

    def __init__(self, refuse: set[str] | None = None) -> None:
        self.refuse = refuse or set()
        self.keys: set[tuple[uuid.UUID, str]] = set()
        self.statements: list[tuple[uuid.UUID, list[str]]] = []

    async def __call__(
        self, engine: object, tenant_id: uuid.UUID, events: Sequence[NewInboundEvent]
    ) -> set[uuid.UUID]:
        await asyncio.sleep(0)  # a round trip: others queue meanwhile
        self.statements.append((tenant_id, [e.event_key for e in events]))
        if any(e.event_key in self.refuse for e in events):
            raise ValueError("refused")
        stored = set()
        for event in events:
            if (event.channel_id, event.event_key) not in self.keys:
                self.keys.add((event.channel_id, event.event_key))
                stored.add(event.id)
        return stored


@pytest.fixture
def store(monkeypatch: pytest.MonkeyPatch) -> FakeStore:
    fake = FakeStore()
    monkeypatch.setattr(intake_module, "store_inbound_events", fake)
    return fake


async def test_deliveries_queued_together_go_in_one_statement_per_tenant(store: FakeStore) -> None:
    intake = InboundIntake(engine=None)  # type: ignore[arg-type]
    events = [_event(f"k{n}", TENANT_A if n % 3 else TENANT_B) for n in range(9)]

    assert await asyncio.gather(*(intake.store(e) for e in events)) == [True] * 9

    assert intake.batches == 1
    assert sorted(store.statements) == sorted(
        [(TENANT_A, ["k1", "k2", "k4", "k5", "k7", "k8"]), (TENANT_B, ["k0", "k3", "k6"])]
    )


async def test_a_batch_of_many_tenants_holds_few_connections_at_once(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    running = peak = 0

    async def store(
        engine: object, tenant_id: uuid.UUID, events: Sequence[NewInboundEvent]
    ) -> set[uuid.UUID]:
        nonlocal running, peak
        running += 1
        peak = max(peak, running)
        await asyncio.sleep(0.001)
        running -= 1
        return {e.id for e in events}

    monkeypatch.setattr(intake_module, "store_inbound_events", store)
    intake = InboundIntake(engine=None)  # type: ignore[arg-type]
    events = [_event("k", uuid.uuid4()) for _ in range(20)]

    assert await asyncio.gather(*(intake.store(e) for e in events)) == [True] * 20
    assert intake.batches == 1
    assert peak == intake_module.TENANT_STATEMENTS


async def test_a_deep_queue_is_split_into_batches_of_at_most_max_batch(store: FakeStore) -> None:
    intake = InboundIntake(engine=None, max_batch=4, max_flushes=1)  # type: ignore[arg-type]

    results = await asyncio.gather(*(intake.store(_event(f"k{n}")) for n in range(10)))

    assert results == [True] * 10
    assert [len(keys) for _, keys in store.statements] == [4, 4, 2]
    assert [k for _, keys in store.statements for k in keys] == [f"k{n}" for n in range(10)]


async def test_a_repeat_in_the_same_batch_is_answered_false(store: FakeStore) -> None:
    intake = InboundIntake(engine=None)  # type: ignore[arg-type]

    results = await asyncio.gather(*(intake.store(_event(k)) for k in ("a", "b", "a")))

    assert results == [True, True, False]


async def test_a_refused_delivery_fails_alone_and_the_others_are_stored(store: FakeStore) -> None:
    store.refuse = {"bad"}
    intake = InboundIntake(engine=None)  # type: ignore[arg-type]
    keys = ["a", "bad", "b", "c"]

    results = await asyncio.gather(*(intake.store(_event(k)) for k in keys), return_exceptions=True)

    assert results[0] is True
    assert isinstance(results[1], ValueError)
    assert results[2:] == [True, True]
    assert store.keys == {(CHANNEL, "a"), (CHANNEL, "b"), (CHANNEL, "c")}
    # The batch, then each of its deliveries alone.
    assert [keys for _, keys in store.statements] == [keys, ["a"], ["bad"], ["b"], ["c"]]


async def test_a_caller_that_goes_away_does_not_take_down_its_batch(store: FakeStore) -> None:
    intake = InboundIntake(engine=None)  # type: ignore[arg-type]
    leaving = asyncio.create_task(intake.store(_event("gone")))
    staying = asyncio.create_task(intake.store(_event("here")))
    await asyncio.sleep(0)
    leaving.cancel()

    assert await staying is True
    await intake.wait_idle()
    assert store.keys == {(CHANNEL, "gone"), (CHANNEL, "here")}  # stored anyway: WAHA retries


async def test_no_delivery_is_left_waiting_when_drainers_finish_as_others_arrive(
    store: FakeStore,
) -> None:
    intake = InboundIntake(engine=None, max_batch=3, max_flushes=2)  # type: ignore[arg-type]

    async def trickle(n: int) -> bool:
        await asyncio.sleep(0.001 * (n % 7))
        return await intake.store(_event(f"k{n}"))

    results = await asyncio.wait_for(asyncio.gather(*(trickle(n) for n in range(60))), 5)

    assert results == [True] * 60


# --------------------------------------------------------------------------- the lane


class FakeWebhook:
    def __init__(self, outcome: service.AcceptedWebhook | Exception) -> None:
        self.outcome = outcome
        self.calls: list[tuple[str, bytes, str | None, str | None]] = []

    async def accept(
        self, channel_id: str, body: bytes, signature: str | None, algorithm: str | None
    ) -> service.AcceptedWebhook:
        self.calls.append((channel_id, body, signature, algorithm))
        if isinstance(self.outcome, Exception):
            raise self.outcome
        return self.outcome


async def _behind(scope: Any, receive: Any, send: Any) -> None:
    await send({"type": "http.response.start", "status": 418, "headers": []})
    await send({"type": "http.response.body", "body": b"router"})


def _client(webhook: FakeWebhook, finished: list[tuple[str, str, int, float]]) -> httpx.AsyncClient:
    """The lane inside the middleware `create_app` wraps it in."""
    lane = WahaWebhookLane(_behind, webhook=webhook)  # type: ignore[arg-type]
    limited = BodyLimitMiddleware(
        lane, default_limit=64, large_limit=64, large_prefixes=("/webhooks/",)
    )
    app = RequestContextMiddleware(
        SecurityHeadersMiddleware(limited), on_finish=lambda *args: finished.append(args)
    )
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t")


async def test_the_lane_serves_only_posts_to_a_channel_and_passes_the_rest_on() -> None:
    webhook = FakeWebhook(service.AcceptedWebhook(uuid.uuid4(), "message", duplicate=False))
    async with _client(webhook, []) as client:
        for method, path in [
            ("GET", "/webhooks/waha/abc"),
            ("POST", "/webhooks/waha/abc/extra"),
            ("POST", "/webhooks/waha/"),
            ("POST", "/api/v1/channels"),
        ]:
            response = await client.request(method, path, content=b"{}")
            assert response.status_code == 418, (method, path)
    assert webhook.calls == []


async def test_the_lane_answers_with_request_id_security_headers_and_metrics() -> None:
    webhook = FakeWebhook(service.AcceptedWebhook(uuid.uuid4(), "message", duplicate=True))
    finished: list[tuple[str, str, int, float]] = []
    async with _client(webhook, finished) as client:
        response = await client.post(
            "/webhooks/waha/abc",
            content=b'{"event":"message"}',
            headers={"X-Webhook-Hmac": "f00", "X-Request-ID": "req-1"},
        )
    assert response.status_code == 200
    assert response.json() == {"status": "duplicate", "event": "message"}
    assert response.headers["x-request-id"] == "req-1"
    assert response.headers["x-frame-options"] == "DENY"
    assert webhook.calls == [("abc", b'{"event":"message"}', "f00", None)]
    assert [f[:3] for f in finished] == [("POST", "/webhooks/waha/{channel_id}", 200)]


@pytest.mark.parametrize(
    ("outcome", "status"),
    [
        (NotFound("channel not found"), 404),
        (service.WebhookBodyNotJson("the body is not valid JSON"), 400),
        (RuntimeError("boom"), 500),
    ],
)
async def test_the_lane_maps_failures_to_problems(outcome: Exception, status: int) -> None:
    finished: list[tuple[str, str, int, float]] = []
    async with _client(FakeWebhook(outcome), finished) as client:
        response = await client.post("/webhooks/waha/abc", content=b"{}")
    assert response.status_code == status
    assert response.headers["content-type"].startswith("application/problem+json")
    assert response.headers["x-request-id"]
    assert "boom" not in response.text
    assert [f[2] for f in finished] == [status]


async def test_the_lane_refuses_bodies_over_the_limit_unread() -> None:
    webhook = FakeWebhook(service.AcceptedWebhook(uuid.uuid4(), "message", duplicate=False))

    async def streamed() -> Any:
        for _ in range(10):
            yield b"x" * 10

    async with _client(webhook, []) as client:
        declared = await client.post("/webhooks/waha/abc", content=b"x" * 65)
        chunked = await client.post("/webhooks/waha/abc", content=streamed())
    assert declared.status_code == 413
    assert chunked.status_code == 413
    assert webhook.calls == []


async def test_deliveries_that_miss_the_channel_cache_together_share_one_lookup() -> None:
    cache = service.WebhookChannelCache()
    channel = service.WebhookChannel(CHANNEL, TENANT_A, "secret")
    lookups: list[uuid.UUID] = []
    release = asyncio.Event()

    async def look_up(channel_id: uuid.UUID) -> service.WebhookChannel | None:
        lookups.append(channel_id)
        await release.wait()
        return channel

    waiting = [asyncio.create_task(cache.get_or_look_up(CHANNEL, look_up)) for _ in range(50)]
    await asyncio.sleep(0)
    release.set()
    assert await asyncio.gather(*waiting) == [channel] * 50
    assert lookups == [CHANNEL]
    assert await cache.get_or_look_up(CHANNEL, look_up) == channel
    assert lookups == [CHANNEL]  # cached now


async def test_a_channel_forgotten_during_its_lookup_is_not_cached_from_it() -> None:
    cache = service.WebhookChannelCache()
    lookups = 0
    release = asyncio.Event()

    async def look_up(channel_id: uuid.UUID) -> service.WebhookChannel | None:
        nonlocal lookups
        lookups += 1
        await release.wait()
        return service.WebhookChannel(channel_id, TENANT_A, f"secret {lookups}")

    first = asyncio.create_task(cache.get_or_look_up(CHANNEL, look_up))
    await asyncio.sleep(0)
    cache.forget(CHANNEL)  # the channel's secret changed while it was read
    release.set()
    assert (await first) is not None
    again = await cache.get_or_look_up(CHANNEL, look_up)
    assert again is not None
    assert again.webhook_secret == "secret 2"
    assert lookups == 2
