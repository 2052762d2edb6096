"""Ingest beyond one message: duplicates, acks in any order, reactions, revokes, groups,
session status, timeouts, tenant isolation, failures, and the worker loop."""

import asyncio
import uuid
from typing import Any

import httpx
import pytest
from sqlalchemy import text

from tests.conftest import TenantLogin
from tests.integration.waha_kit import create_channel, deliver, fixture, ingest, rows, scalar
from ventros.conversations import worker as ingest_worker
from ventros.conversations.repository import SessionFilter, SessionRepository
from ventros.conversations.repository.messages import _EXISTING_EXTERNAL_IDS, MessageRepository
from ventros.kernel.events import Actor, DomainEvent
from ventros.platform.consumers import Outcome, dispatch, load_consumers
from ventros.platform.uow import UnitOfWork
from ventros.runtime.container import Container

pytestmark = pytest.mark.integration

FROM_ME_ID = "true_5511976543210@c.us_3EB0A1C47D92E5F38B6A04"


async def _message_by_external_id(
    client: httpx.AsyncClient, container: Container, login: TenantLogin, external_id: str
) -> dict[str, Any]:
    message_id = await scalar(
        container, login, "SELECT id FROM messages WHERE external_id = :e", e=external_id
    )
    assert message_id is not None, external_id
    response = await client.get(f"/api/v1/messages/{message_id}", headers=login.headers)
    assert response.status_code == 200
    body: dict[str, Any] = response.json()
    return body


async def _event_count(container: Container, login: TenantLogin, name: str) -> int:
    return int(
        await scalar(container, login, "SELECT count(*) FROM domain_events WHERE name = :n", n=name)
    )


async def test_five_deliveries_and_a_message_any_copy_are_one_message_and_one_event(
    client: httpx.AsyncClient, container: Container, tenant: TenantLogin
) -> None:
    channel = await create_channel(client, tenant)
    original = fixture("message.text.json")
    copies: list[dict[str, Any]] = [original] * 5  # WAHA retrying the same event
    any_copy = fixture("message.text.json")
    any_copy["event"] = "message.any"
    any_copy["id"] = "evt_01ky2d1fe4brsshx0dw8bfr6qk"
    await deliver(client, channel["id"], *copies, any_copy)
    assert await ingest(container, tenant) == 2  # two envelopes stored, one message
    assert await scalar(container, tenant, "SELECT count(*) FROM messages") == 1
    assert await _event_count(container, tenant, "message.received") == 1
    outcomes = await rows(container, tenant, "SELECT outcome FROM inbound_events ORDER BY id")
    assert [o for (o,) in outcomes] == ["ingested", "duplicate"]
    # Redelivered after ingest: still one.
    await deliver(client, channel["id"], original)
    await ingest(container, tenant)
    assert await scalar(container, tenant, "SELECT count(*) FROM messages") == 1


async def test_acks_move_status_forward_only_whatever_order_they_arrive_in(
    client: httpx.AsyncClient, container: Container, tenant: TenantLogin
) -> None:
    channel = await create_channel(client, tenant)
    # Read arrives before the message itself, delivered after read.
    await deliver(client, channel["id"], "message.ack.read.json")
    await ingest(container, tenant)
    assert await scalar(container, tenant, "SELECT count(*) FROM pending_message_updates") == 1
    await deliver(client, channel["id"], "message.from_me.json", "message.ack.delivered.json")
    await ingest(container, tenant)
    message = await _message_by_external_id(client, container, tenant, FROM_ME_ID)
    assert message["direction"] == "outbound"
    assert message["status"] == "read"
    assert message["read_at"] is not None
    assert message["delivered_at"] is not None
    assert message["sent_at"] is not None
    assert await scalar(container, tenant, "SELECT count(*) FROM pending_message_updates") == 0
    assert await _event_count(container, tenant, "message.read") == 1
    assert await _event_count(container, tenant, "message.delivered") == 0


async def test_acks_in_order_each_raise_their_event(
    client: httpx.AsyncClient, container: Container, tenant: TenantLogin
) -> None:
    channel = await create_channel(client, tenant)
    await deliver(client, channel["id"], "message.from_me.json")
    await ingest(container, tenant)
    await deliver(client, channel["id"], "message.ack.delivered.json")
    await ingest(container, tenant)
    message = await _message_by_external_id(client, container, tenant, FROM_ME_ID)
    assert message["status"] == "delivered"
    await deliver(client, channel["id"], "message.ack.read.json")
    await ingest(container, tenant)
    message = await _message_by_external_id(client, container, tenant, FROM_ME_ID)
    assert message["status"] == "read"
    for name in ("message.sent", "message.delivered", "message.read"):
        assert await _event_count(container, tenant, name) == 1, name


async def test_an_error_ack_fails_the_message(
    client: httpx.AsyncClient, container: Container, tenant: TenantLogin
) -> None:
    channel = await create_channel(client, tenant)
    ours = fixture("message.from_me.json")
    ours["id"] = "evt_01ky2fm5kfn8cea9zbpbty49sa"
    ours["payload"]["id"] = "true_5511991827364@c.us_3EB0C58E21F4A97D60B3E1"
    ours["payload"]["from"] = "5511991827364@c.us"
    await deliver(client, channel["id"], ours, "message.ack.error.json")
    await ingest(container, tenant)
    message = await _message_by_external_id(
        client, container, tenant, "true_5511991827364@c.us_3EB0C58E21F4A97D60B3E1"
    )
    assert message["status"] == "failed"
    assert message["error"]
    assert await _event_count(container, tenant, "message.failed") == 1


async def test_a_reaction_and_a_revoke_are_recorded_on_their_messages(
    client: httpx.AsyncClient, container: Container, tenant: TenantLogin
) -> None:
    channel = await create_channel(client, tenant)
    # The reaction comes before the message it reacts to; the revoke after its image.
    await deliver(client, channel["id"], "message.reaction.json", "message.image.json")
    await ingest(container, tenant)
    await deliver(client, channel["id"], "message.from_me.json", "message.revoked.json")
    await ingest(container, tenant)
    reacted = await _message_by_external_id(client, container, tenant, FROM_ME_ID)
    assert reacted["reactions"] == [{"emoji": "❤️", "from": "5511976543210@c.us"}]
    revoked = await _message_by_external_id(
        client, container, tenant, "false_5511983217654@c.us_3A7F2C9B1E4D6A8C0B35"
    )
    assert revoked["revoked"] is True
    assert revoked["caption"] == "Segue a foto da receita do oftalmologista 👓"  # kept for audit
    assert await _event_count(container, tenant, "message.reacted") == 1
    assert await _event_count(container, tenant, "message.revoked") == 1
    # A revoke is not a message of its own.
    assert await scalar(container, tenant, "SELECT count(*) FROM messages") == 2


async def test_group_messages_are_ignored_unless_the_channel_ingests_groups(
    client: httpx.AsyncClient, container: Container, tenant: TenantLogin
) -> None:
    plain = await create_channel(client, tenant)
    await deliver(client, plain["id"], "message.group.json")
    await ingest(container, tenant)
    assert await scalar(container, tenant, "SELECT count(*) FROM messages") == 0
    outcome = await scalar(container, tenant, "SELECT outcome FROM inbound_events")
    assert outcome.startswith("ignored: group")

    groups = await create_channel(client, tenant, name="Grupos", ingest_groups=True)
    await deliver(client, groups["id"], "message.group.json")
    await ingest(container, tenant)
    message_id = await scalar(container, tenant, "SELECT id FROM messages")
    message = (await client.get(f"/api/v1/messages/{message_id}", headers=tenant.headers)).json()
    assert message["participant"] == "203845716290431@lid"
    assert message["text"].startswith("Pessoal")
    kind, custom = (
        await rows(
            container,
            tenant,
            "SELECT kind, custom_fields FROM contacts WHERE id = :id",
            id=message["contact_id"],
        )
    )[0]
    assert kind == "group"
    assert custom == {"whatsapp_id": "120363418234567890@g.us"}
    # The next message of the group finds the same contact.
    second = fixture("message.group.json")
    second["id"] = "evt_01ky2e9rg4fhe57yfwfr408vnn"
    second["payload"]["id"] = second["payload"]["id"].replace("3AB5D7F9", "3AB5D7FA")
    await deliver(client, groups["id"], second)
    await ingest(container, tenant)
    assert await scalar(container, tenant, "SELECT count(DISTINCT contact_id) FROM messages") == 1


async def test_session_status_events_update_the_channel_status(
    client: httpx.AsyncClient, container: Container, tenant: TenantLogin
) -> None:
    channel = await create_channel(client, tenant)
    await deliver(client, channel["id"], "session.status.json")
    await ingest(container, tenant)
    fetched = (await client.get(f"/api/v1/channels/{channel['id']}", headers=tenant.headers)).json()
    assert fetched["status"] == "working"
    assert fetched["status_changed_at"].startswith("2026-07-21")
    # An older report arriving late does not go back.
    stale = fixture("session.status.json")
    stale["id"] = "evt_01ky29kkmcf3whm8rtqy92cgda"
    stale["timestamp"] -= 60_000
    stale["payload"]["status"] = "STARTING"
    stale["payload"]["statuses"] = []
    await deliver(client, channel["id"], stale)
    await ingest(container, tenant)
    fetched = (await client.get(f"/api/v1/channels/{channel['id']}", headers=tenant.headers)).json()
    assert fetched["status"] == "working"
    assert await _event_count(container, tenant, "channel.status_changed") == 1


async def test_events_of_another_waha_session_are_not_filed_under_this_channel(
    client: httpx.AsyncClient, container: Container, tenant: TenantLogin
) -> None:
    channel = await create_channel(client, tenant, waha_session="loja-centro")
    await deliver(client, channel["id"], "message.text.json")
    await ingest(container, tenant)
    assert await scalar(container, tenant, "SELECT count(*) FROM messages") == 0
    outcome = await scalar(container, tenant, "SELECT outcome FROM inbound_events")
    assert "session" in outcome


async def test_another_tenant_sees_none_of_the_sessions_or_messages(
    client: httpx.AsyncClient,
    container: Container,
    tenant: TenantLogin,
    other_tenant: TenantLogin,
) -> None:
    channel = await create_channel(client, tenant)
    await deliver(client, channel["id"], "message.text.json")
    await ingest(container, tenant)
    session_id = await scalar(container, tenant, "SELECT id FROM sessions")
    message_id = await scalar(container, tenant, "SELECT id FROM messages")
    for path in (
        f"/api/v1/sessions/{session_id}",
        f"/api/v1/sessions/{session_id}/messages",
        f"/api/v1/messages/{message_id}",
        f"/api/v1/channels/{channel['id']}",
    ):
        response = await client.get(path, headers=other_tenant.headers)
        assert response.status_code == 404, path
    listed = await client.get("/api/v1/sessions", headers=other_tenant.headers)
    assert listed.json()["items"] == []
    # The other tenant's own ingest does not touch the first tenant's events either.
    assert await ingest(container, other_tenant) == 0


async def test_a_message_after_the_inactivity_timeout_opens_a_new_session(
    client: httpx.AsyncClient, container: Container, tenant: TenantLogin
) -> None:
    channel = await create_channel(client, tenant)
    later = fixture("message.text.json")
    later["id"] = "evt_01ky2d1fe4brsshx0dw8bfr6qz"
    later["payload"]["id"] = later["payload"]["id"].replace("AC3F", "AC40")
    later["payload"]["timestamp"] += 3600  # an hour later; the default timeout is 30 min
    await deliver(client, channel["id"], "message.text.json")
    await ingest(container, tenant)
    await deliver(client, channel["id"], later)
    await ingest(container, tenant)
    sessions = (await client.get("/api/v1/sessions", headers=tenant.headers)).json()["items"]
    assert [s["status"] for s in sessions] == ["open", "closed"]
    assert sessions[1]["close_reason"] == "inactivity"
    assert sessions[1]["closed_at"].startswith("2026-07-21T13:45")  # last activity + 30 min
    assert await _event_count(container, tenant, "session.started") == 2
    assert await _event_count(container, tenant, "session.closed") == 1


async def test_events_of_a_deleted_channel_are_set_aside_and_its_sessions_close(
    client: httpx.AsyncClient, container: Container, tenant: TenantLogin
) -> None:
    channel = await create_channel(client, tenant)
    await deliver(client, channel["id"], "message.text.json")
    await ingest(container, tenant)
    await deliver(client, channel["id"], "message.image.json")  # accepted, not ingested yet
    await client.delete(f"/api/v1/channels/{channel['id']}", headers=tenant.headers)
    await ingest(container, tenant)
    assert await scalar(container, tenant, "SELECT count(*) FROM messages") == 1

    # What the event consumers do with the `channel.deleted` the delete wrote to the outbox.
    event_json = await scalar(
        container,
        tenant,
        "SELECT event FROM outbox_events WHERE name = 'channel.deleted' AND aggregate_id = :id",
        id=channel["id"],
    )
    deleted = DomainEvent.from_json(event_json)
    registry = load_consumers(["ventros.conversations.handlers.channels"])
    outcomes = await dispatch(registry, container.uow, deleted)
    assert list(outcomes.values()) == [Outcome.PROCESSED]
    assert list((await dispatch(registry, container.uow, deleted)).values()) == [Outcome.DUPLICATE]
    session = (await client.get("/api/v1/sessions", headers=tenant.headers)).json()["items"][0]
    assert session["status"] == "closed"
    assert session["close_reason"] == "channel_deleted"
    message_id = await scalar(container, tenant, "SELECT id FROM messages")
    assert (
        await client.get(f"/api/v1/messages/{message_id}", headers=tenant.headers)
    ).status_code == 200, "a deleted channel's messages stay"


async def test_one_failing_event_does_not_hold_back_its_batch(
    client: httpx.AsyncClient,
    container: Container,
    tenant: TenantLogin,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    channel = await create_channel(client, tenant)
    await deliver(client, channel["id"], "message.text.json", "message.image.json")
    real = ingest_worker.ingest_events

    async def failing_on_images(
        tx: UnitOfWork, events: list[Any], box: Any
    ) -> dict[uuid.UUID, str]:
        if any("image" in str(event.body["payload"].get("media")) for event in events):
            raise RuntimeError("boom")
        return await real(tx, events, box)

    monkeypatch.setattr(ingest_worker, "ingest_events", failing_on_images)
    await ingest(container, tenant)
    assert await scalar(container, tenant, "SELECT count(*) FROM messages") == 1
    failed = await rows(
        container,
        tenant,
        "SELECT attempts, last_error, processed_at, available_at > now()"
        " FROM inbound_events WHERE outcome IS NULL",
    )
    assert len(failed) == 1
    attempts, error, processed_at, backing_off = failed[0]
    assert attempts == 1
    assert "boom" in error
    assert processed_at is None
    assert backing_off


async def test_the_worker_ingests_as_soon_as_a_webhook_is_stored(
    client: httpx.AsyncClient, container: Container, tenant: TenantLogin
) -> None:
    channel = await create_channel(client, tenant)
    stop = asyncio.Event()
    worker = asyncio.create_task(ingest_worker.run_ingest(container, stop))
    try:
        await asyncio.sleep(0.3)  # listening
        await deliver(client, channel["id"], "message.text.json")
        for _ in range(100):
            if await scalar(container, tenant, "SELECT count(*) FROM messages"):
                break
            await asyncio.sleep(0.02)
        else:
            pytest.fail("the worker did not ingest the message")
    finally:
        stop.set()
        await asyncio.wait_for(worker, timeout=10)


async def test_the_stored_message_lookup_probes_the_unique_index_however_many_messages(
    client: httpx.AsyncClient, container: Container, tenant: TenantLogin
) -> None:
    # A batch asks which of its external ids are stored; that must cost per id asked, not
    # per message the channel holds (it scanned them all once, 135 ms at 30,000 messages).
    channel = await create_channel(client, tenant)
    await deliver(client, channel["id"], "message.text.json")
    await ingest(container, tenant)
    stored = await scalar(container, tenant, "SELECT external_id FROM messages")
    channel_id = uuid.UUID(channel["id"])
    async with container.uow(tenant.tenant_id, Actor.system()) as tx:
        await tx.connection.execute(
            text(
                "INSERT INTO messages (id, tenant_id, channel_id, session_id, contact_id,"
                " direction, type, status, external_id, created_at, received_at)"
                " SELECT gen_random_uuid(), :tenant, :channel, gen_random_uuid(),"
                " gen_random_uuid(), 'inbound', 'text', 'received', 'bulk_' || n, now(), now()"
                " FROM generate_series(1, 5000) AS n"
            ),
            {"tenant": tenant.tenant_id, "channel": channel_id},
        )
        await tx.commit()
    asked = [stored, "bulk_7", "bulk_4999", "never_stored", "never_stored"]
    async with container.uow(tenant.tenant_id, Actor.system()) as tx:
        repository = MessageRepository(tx)
        found = await repository.existing_external_ids(channel_id=channel_id, external_ids=asked)
        assert found == {stored, "bulk_7", "bulk_4999"}
        # The prepared statement's generic plan too (the one that went wrong).
        await tx.connection.execute(text("SET LOCAL plan_cache_mode = force_generic_plan"))
        plan = "\n".join(
            row[0]
            for row in await tx.connection.execute(
                text(f"EXPLAIN {_EXISTING_EXTERNAL_IDS.text}"),
                {"channel_id": channel_id, "external_ids": asked},
            )
        )
    assert "Index Scan using uq_messages_channel_id_external_id" in plan, plan
    assert "Seq Scan on messages" not in plan, plan
    assert "Bitmap" not in plan, plan


async def test_sessions_saved_together_keep_every_field_each_their_own(
    client: httpx.AsyncClient, container: Container, tenant: TenantLogin
) -> None:
    """The ingest writes the sessions a batch changed in one statement: each row gets its own
    values, arrays and empty values included."""
    channel = (await create_channel(client, tenant))["id"]
    await deliver(client, channel, "message.text.json", "message.image.json")
    await ingest(container, tenant)
    async with container.uow(tenant.tenant_id, Actor.system()) as tx:
        repository = SessionRepository(tx)
        first, second = [
            s
            for s in await repository.list(SessionFilter(), limit=10, before=None)
            if s.status.value == "open"
        ]
        first.sla_raised = ["first_response.warning", "first_response.breached"]
        first.csat_comment, first.reply_count = "ótimo", 3
        second.sla_raised, second.transfer_note = [], None
        second.reply_count = 7
        await repository.save_many([first, second])
        await tx.commit()
    async with container.uow(tenant.tenant_id, Actor.system()) as tx:
        again = SessionRepository(tx)
        one, two = await again.get(first.id), await again.get(second.id)
    assert one is not None
    assert two is not None
    assert one.sla_raised == ["first_response.warning", "first_response.breached"]
    assert (one.csat_comment, one.reply_count) == ("ótimo", 3)
    assert (two.sla_raised, two.transfer_note, two.reply_count) == ([], None, 7)
    assert one.started_at == first.started_at
    assert two.contact_id == second.contact_id
