"""Webhook delivery end to end: a domain event, the fan-out consumer, the Temporal workflow
(a real dev server), signed POSTs to a local receiver built from docs/webhooks.md alone,
and the attempts recorded in PostgreSQL."""

from __future__ import annotations

import asyncio
import functools
import itertools
import json
import threading
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from dataclasses import dataclass
from http.server import ThreadingHTTPServer
from typing import Any

import httpx
import pytest
from sqlalchemy import select, update
from temporalio.api.enums.v1 import EventType
from temporalio.client import Client

from tests.conftest import TenantLogin, make_settings, new_tenant
from tests.integration.temporal_kit import local_temporal
from tests.unit.test_webhooks_docs import receiver_example
from ventros.kernel.clock import utcnow
from ventros.kernel.events import Actor, DomainEvent
from ventros.platform.consumers import Consumer, Outcome, process_event
from ventros.platform.outbox import domain_events
from ventros.platform.temporal import run_temporal_worker
from ventros.runtime.container import Container, bootstrap
from ventros.runtime.http import create_app
from ventros.webhooks.domain import signature
from ventros.webhooks.handlers import DeliveryStarter, consumers
from ventros.webhooks.repository import load_event, webhook_subscriptions
from ventros.webhooks.workflows import (
    DeliveryInput,
    DeliveryResult,
    WebhookDeliveryWorkflow,
    start_delivery,
    workflow_id_of,
)

pytestmark = pytest.mark.integration

WEBHOOK_MODULES = ("ventros.webhooks.workflows",)


@pytest.fixture(scope="module")
async def temporal() -> AsyncIterator[Client]:
    async with await local_temporal() as env:
        yield env.client


@dataclass
class Hooks:
    """An app whose webhooks may target 127.0.0.1 (VENTROS_WEBHOOKS_ALLOW_PRIVATE)."""

    container: Container
    http: httpx.AsyncClient


@pytest.fixture(scope="module")
async def hooks(owner_url: str) -> AsyncIterator[Hooks]:
    container = bootstrap(make_settings(webhooks_allow_private=True), database_url=owner_url)
    transport = httpx.ASGITransport(app=create_app(container))
    try:
        async with httpx.AsyncClient(transport=transport, base_url="http://ventros.test") as http:
            yield Hooks(container, http)
    finally:
        await container.aclose()


@pytest.fixture
async def admin(hooks: Hooks) -> TenantLogin:
    """A fresh tenant per test: the fan-out reaches every subscription of the tenant."""
    return await new_tenant(hooks.container, hooks.http)


class Receiver:
    """The docs' example receiver on 127.0.0.1, told to fail its first `fail_first` events."""

    def __init__(self, secret: str, *, fail_first: int = 0) -> None:
        example = receiver_example()
        outer = self
        self.fail_first = fail_first
        self.arrivals: list[tuple[float, dict[str, str]]] = []
        self.answers: list[int] = []
        self.handled: list[dict[str, Any]] = []

        class TestReceiver(example["Receiver"]):  # type: ignore[misc, valid-type]
            seen: set[str] = set()  # noqa: RUF012 - the example's own shape
            lock = threading.Lock()

            def do_POST(self) -> None:
                outer.arrivals.append((time.monotonic(), dict(self.headers)))
                super().do_POST()

            def handle_event(self, event: dict[str, Any]) -> None:
                if outer.fail_first > 0:
                    outer.fail_first -= 1
                    raise RuntimeError("failing on purpose")
                outer.handled.append(event)

            def answer(self, status: int) -> None:
                outer.answers.append(status)
                super().answer(status)

            def log_message(self, *args: object) -> None:
                pass

        TestReceiver.secret = secret
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), TestReceiver)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}/ventros"

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def receivers() -> Iterator[Callable[..., Receiver]]:
    opened: list[Receiver] = []

    def open_receiver(secret: str, *, fail_first: int = 0) -> Receiver:
        opened.append(Receiver(secret, fail_first=fail_first))
        return opened[-1]

    yield open_receiver
    for receiver in opened:
        receiver.close()


@dataclass
class Worker:
    """A Temporal worker (platform.temporal's runner) on a task queue of the test's own."""

    task_queue: str
    start: Callable[[], Awaitable[None]]
    stop: Callable[[], Awaitable[None]]


@pytest.fixture
async def worker(temporal: Client, hooks: Hooks) -> AsyncIterator[Worker]:
    queue = f"webhooks-test-{uuid.uuid4().hex[:8]}"
    running: list[tuple[asyncio.Event, asyncio.Task[None]]] = []

    async def start() -> None:
        stop = asyncio.Event()
        task = asyncio.create_task(
            run_temporal_worker(
                hooks.container, stop, client=temporal, modules=WEBHOOK_MODULES, task_queue=queue
            )
        )
        running.append((stop, task))

    async def stop() -> None:
        while running:
            event, task = running.pop()
            event.set()
            await asyncio.wait_for(task, 15)

    await start()
    try:
        yield Worker(queue, start, stop)
    finally:
        await stop()


async def _subscribe(hooks: Hooks, admin: TenantLogin, **body: Any) -> dict[str, Any]:
    body = {"events": ["contact.*"], **body}
    response = await hooks.http.post("/api/v1/webhooks", json=body, headers=admin.headers)
    assert response.status_code == 201, response.text
    return dict(response.json())


async def _contact_created(hooks: Hooks, admin: TenantLogin) -> DomainEvent:
    """Creates a contact through the API; its `contact.created` as committed."""
    response = await hooks.http.post(
        "/api/v1/contacts", json={"name": "Ana Webhook"}, headers=admin.headers
    )
    assert response.status_code == 201, response.text
    async with hooks.container.uow(admin.tenant_id, Actor.system()) as tx:
        event_id = (
            await tx.connection.execute(
                select(domain_events.c.id).where(
                    domain_events.c.aggregate_id == uuid.UUID(response.json()["id"]),
                    domain_events.c.name == "contact.created",
                )
            )
        ).scalar_one()
        event = await load_event(tx, event_id)
    assert event is not None
    return event


async def _fan_out(hooks: Hooks, temporal: Client, worker: Worker, event: DomainEvent) -> Outcome:
    starter = functools.partial(start_delivery, client=temporal, task_queue=worker.task_queue)
    return await process_event(hooks.container.uow, _fan_out_of(event, starter), event)


def _fan_out_of(event: DomainEvent, start: DeliveryStarter) -> Consumer:
    """The webhook fan-out consumer that takes this event (contact events have their own)."""
    [taking] = [c for c in consumers(start) if c.matches(event.name)]
    return taking


async def _result(temporal: Client, webhook_id: str, event: DomainEvent) -> DeliveryResult:
    handle = temporal.get_workflow_handle_for(
        WebhookDeliveryWorkflow.run, workflow_id_of(webhook_id, event.id)
    )
    return await asyncio.wait_for(handle.result(), 30)


async def _attempts(hooks: Hooks, admin: TenantLogin, webhook_id: str) -> list[dict[str, Any]]:
    response = await hooks.http.get(
        f"/api/v1/webhooks/{webhook_id}/deliveries", headers=admin.headers
    )
    assert response.status_code == 200, response.text
    return list(response.json()["items"])


async def _events_named(hooks: Hooks, tenant_id: uuid.UUID, name: str) -> list[dict[str, Any]]:
    async with hooks.container.uow(tenant_id, Actor.system()) as tx:
        rows = await tx.connection.execute(
            select(domain_events.c.data).where(domain_events.c.name == name)
        )
        return [dict(row.data) for row in rows]


async def test_a_delivery_arrives_signed_and_the_documented_receiver_accepts_it(
    hooks: Hooks, admin: TenantLogin, temporal: Client, worker: Worker, receivers: Any
) -> None:
    secret = "whsec_integration-test-secret-1"
    receiver = receivers(secret)
    webhook = await _subscribe(hooks, admin, url=receiver.url, secret=secret)
    event = await _contact_created(hooks, admin)

    assert await _fan_out(hooks, temporal, worker, event) is Outcome.PROCESSED
    result = await _result(temporal, webhook["id"], event)

    assert (result.outcome, result.attempts) == ("delivered", 1)
    assert receiver.answers == [200]
    assert receiver.handled == [json.loads(json.dumps(event.to_json()))]
    headers = receiver.arrivals[0][1]
    assert headers["X-Ventros-Event"] == "contact.created"
    assert headers["X-Ventros-Delivery"] == str(event.id)
    assert headers["Content-Type"] == "application/json"
    [attempt] = await _attempts(hooks, admin, webhook["id"])
    assert attempt["event_id"] == str(event.id)
    assert attempt["event_name"] == "contact.created"
    assert (attempt["attempt"], attempt["status_code"], attempt["error"]) == (1, 200, None)
    assert attempt["duration_ms"] >= 0

    # The same event again: the consumer skips it, and a direct start is refused too.
    assert await _fan_out(hooks, temporal, worker, event) is Outcome.DUPLICATE
    again = DeliveryInput(str(admin.tenant_id), webhook["id"], str(event.id), event.name)
    assert not await start_delivery(again, client=temporal, task_queue=worker.task_queue)
    assert len(receiver.handled) == 1
    shown = await hooks.http.get(f"/api/v1/webhooks/{webhook['id']}", headers=admin.headers)
    assert shown.json()["last_success_at"] is not None


async def test_a_receiver_failing_three_times_gets_one_success_after_growing_delays(
    hooks: Hooks, admin: TenantLogin, temporal: Client, worker: Worker, receivers: Any
) -> None:
    secret = "whsec_integration-test-secret-2"
    receiver = receivers(secret, fail_first=3)
    policy = {"initial_interval_seconds": 0.3, "max_attempts": 5}
    webhook = await _subscribe(hooks, admin, url=receiver.url, secret=secret, retry_policy=policy)
    event = await _contact_created(hooks, admin)

    await _fan_out(hooks, temporal, worker, event)
    result = await _result(temporal, webhook["id"], event)

    assert (result.outcome, result.attempts) == ("delivered", 4)
    assert receiver.answers == [500, 500, 500, 200]
    assert len(receiver.handled) == 1
    assert {headers["X-Ventros-Delivery"] for _, headers in receiver.arrivals} == {str(event.id)}
    times = [at for at, _ in receiver.arrivals]
    gaps = [later - earlier for earlier, later in itertools.pairwise(times)]
    assert gaps[0] >= 0.3 * 0.8
    assert gaps[0] < gaps[1] < gaps[2]
    attempts = await _attempts(hooks, admin, webhook["id"])  # newest first
    assert [(a["attempt"], a["status_code"], a["error"]) for a in attempts] == [
        (4, 200, None),
        (3, 500, "HTTP 500"),
        (2, 500, "HTTP 500"),
        (1, 500, "HTTP 500"),
    ]


async def test_a_receiver_that_always_fails_ends_in_webhook_delivery_failed(
    hooks: Hooks, admin: TenantLogin, temporal: Client, worker: Worker, receivers: Any
) -> None:
    secret = "whsec_integration-test-secret-3"
    receiver = receivers(secret, fail_first=1_000)
    policy = {"initial_interval_seconds": 0.1, "max_interval_seconds": 0.2, "max_attempts": 3}
    webhook = await _subscribe(hooks, admin, url=receiver.url, secret=secret, retry_policy=policy)
    event = await _contact_created(hooks, admin)

    await _fan_out(hooks, temporal, worker, event)
    result = await _result(temporal, webhook["id"], event)

    assert (result.outcome, result.attempts) == ("failed", 3)
    assert receiver.answers == [500, 500, 500]
    [failed] = await _events_named(hooks, admin.tenant_id, "webhook.delivery_failed")
    assert failed == {
        "webhook_id": webhook["id"],
        "event_id": str(event.id),
        "event_name": "contact.created",
        "attempts": 3,
        "last_status_code": 500,
        "last_error": "HTTP 500",
    }
    shown = (
        await hooks.http.get(f"/api/v1/webhooks/{webhook['id']}", headers=admin.headers)
    ).json()
    assert shown["status"] == "active"  # failing for seconds is not failing for days
    assert shown["failing_since"] is not None


async def test_killing_the_worker_between_attempts_changes_nothing(
    hooks: Hooks, admin: TenantLogin, temporal: Client, worker: Worker, receivers: Any
) -> None:
    secret = "whsec_integration-test-secret-4"
    receiver = receivers(secret, fail_first=3)
    policy = {"initial_interval_seconds": 1.0, "max_interval_seconds": 1.5, "max_attempts": 5}
    webhook = await _subscribe(hooks, admin, url=receiver.url, secret=secret, retry_policy=policy)
    event = await _contact_created(hooks, admin)
    await _fan_out(hooks, temporal, worker, event)

    # Wait until the first attempt failed and the workflow sleeps on its timer, then stop
    # the worker: nothing runs the workflow while it waits.
    handle = temporal.get_workflow_handle(workflow_id_of(webhook["id"], event.id))
    deadline = time.monotonic() + 20
    while not await _timer_started(handle):
        assert time.monotonic() < deadline, "the first attempt never finished"
        await asyncio.sleep(0.05)
    await worker.stop()
    assert receiver.answers == [500]

    await worker.start()  # a new worker picks the workflow up from its history
    result = await _result(temporal, webhook["id"], event)

    assert (result.outcome, result.attempts) == ("delivered", 4)
    assert receiver.answers == [500, 500, 500, 200]
    assert len(receiver.handled) == 1
    assert receiver.arrivals[1][0] - receiver.arrivals[0][0] >= 1.0 * 0.8
    attempts = await _attempts(hooks, admin, webhook["id"])
    assert [(a["attempt"], a["status_code"]) for a in attempts] == [
        (4, 200),
        (3, 500),
        (2, 500),
        (1, 500),
    ]


async def _timer_started(handle: Any) -> bool:
    async for history_event in handle.fetch_history_events():
        if history_event.event_type == EventType.EVENT_TYPE_TIMER_STARTED:
            return True
    return False


async def test_a_subscription_failing_for_days_is_disabled_and_says_why(
    hooks: Hooks, admin: TenantLogin, temporal: Client, worker: Worker, receivers: Any
) -> None:
    secret = "whsec_integration-test-secret-5"
    receiver = receivers(secret, fail_first=1_000)
    policy = {"initial_interval_seconds": 0.1, "max_attempts": 5}
    webhook = await _subscribe(hooks, admin, url=receiver.url, secret=secret, retry_policy=policy)
    async with hooks.container.uow(admin.tenant_id, Actor.system()) as tx:
        await tx.connection.execute(
            update(webhook_subscriptions)
            .where(webhook_subscriptions.c.id == uuid.UUID(webhook["id"]))
            .values(failing_since=utcnow().replace(microsecond=0) - _days(4))
        )
        await tx.commit()
    event = await _contact_created(hooks, admin)

    await _fan_out(hooks, temporal, worker, event)
    result = await _result(temporal, webhook["id"], event)

    assert (result.outcome, result.attempts) == ("failed", 1)  # no retry once disabled
    shown = (
        await hooks.http.get(f"/api/v1/webhooks/{webhook['id']}", headers=admin.headers)
    ).json()
    assert shown["status"] == "disabled"
    assert shown["disabled_at"] is not None
    assert "every delivery attempt failed since" in shown["disabled_reason"]
    assert "HTTP 500" in shown["disabled_reason"]
    [disabled] = await _events_named(hooks, admin.tenant_id, "webhook.disabled")
    assert disabled["webhook_id"] == webhook["id"]
    assert len(await _events_named(hooks, admin.tenant_id, "webhook.delivery_failed")) == 1

    # Disabled: the next event starts no delivery.
    started: list[DeliveryInput] = []
    later = await _contact_created(hooks, admin)
    await process_event(hooks.container.uow, _fan_out_of(later, _recorder(started)), later)
    assert started == []


def _days(count: int) -> Any:
    from datetime import timedelta

    return timedelta(days=count)


def _recorder(started: list[DeliveryInput]) -> Callable[[DeliveryInput], Awaitable[bool]]:
    async def record(params: DeliveryInput) -> bool:
        started.append(params)
        return True

    return record


async def test_a_tenant_receives_only_its_own_events_and_only_those_it_subscribed_to(
    hooks: Hooks, admin: TenantLogin
) -> None:
    other = await new_tenant(hooks.container, hooks.http)
    url = "http://127.0.0.1:9/never-called"
    mine = await _subscribe(hooks, admin, url=url, events=["*"])
    await _subscribe(hooks, admin, url=url, events=["message.*"])
    await _subscribe(hooks, other, url=url, events=["*"])
    event = await _contact_created(hooks, admin)

    started: list[DeliveryInput] = []
    await process_event(hooks.container.uow, _fan_out_of(event, _recorder(started)), event)

    assert [(s.tenant_id, s.subscription_id, s.event_id) for s in started] == [
        (str(admin.tenant_id), mine["id"], str(event.id))
    ]
    assert started[0].workflow_id == f"webhook-{mine['id']}-{event.id}"


async def test_the_documented_receiver_refuses_replays_and_dedupes_deliveries(
    receivers: Any,
) -> None:
    secret = "whsec_integration-test-secret-6"
    receiver = receivers(secret)
    body = json.dumps({"id": "d-1", "name": "contact.created", "data": {}}).encode()

    async def post(timestamp: int, delivery: str, key: str = secret) -> int:
        headers = {
            "Content-Type": "application/json",
            "X-Ventros-Event": "contact.created",
            "X-Ventros-Delivery": delivery,
            "X-Ventros-Signature": signature(key, body, timestamp),
        }
        async with httpx.AsyncClient() as http:
            response = await http.post(receiver.url, content=body, headers=headers)
        return response.status_code

    now = int(time.time())
    assert await post(now - 301, "d-1") == 400  # a replay of an old request
    assert await post(now, "d-1", key="whsec_not-the-right-secret") == 400
    assert await post(now, "d-1") == 200
    assert await post(now + 1, "d-1") == 200  # a retry: accepted, not handled again
    assert len(receiver.handled) == 1
