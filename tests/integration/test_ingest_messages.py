"""Every WAHA fixture, posted signed, lands as the right contact, session and message."""

import time
from typing import Any

import httpx
import pytest

from tests.conftest import TenantLogin
from tests.integration.test_service_metrics import whatsapp_message
from tests.integration.waha_kit import (
    MESSAGE_FIXTURES,
    create_channel,
    deliver,
    fixture,
    ingest,
    rows,
    scalar,
)
from ventros.contacts import service as contacts
from ventros.contacts.domain import Phone
from ventros.kernel.events import Actor
from ventros.runtime.container import Container

pytestmark = pytest.mark.integration

EXPECTED: dict[str, dict[str, Any]] = {
    "message.text.json": {
        "type": "text",
        "direction": "inbound",
        "phone": "+5511976543210",
        "name": "Mariana Costa",
        "text": "Olá! Vocês têm armação da Ray-Ban em estoque? Queria passar aí amanhã de manhã.",
    },
    "message.image.json": {
        "type": "image",
        "phone": "+5511983217654",
        "name": "Rafael Lima",
        "caption": "Segue a foto da receita do oftalmologista 👓",
        "media": {
            "url": "http://localhost:3000/api/files/default/3A7F2C9B1E4D6A8C0B35.jpeg",
            "mimetype": "image/jpeg",
            "filename": None,
        },
    },
    "message.audio.json": {
        "type": "audio",
        "phone": "+5511987651234",  # from the pre-2012 id 551187651234@c.us
        "name": "Sônia Almeida",
        "media": {"mimetype": "audio/ogg; codecs=opus", "voice": True, "seconds": 9},
    },
    "message.video.json": {
        "type": "video",
        "phone": "+5511976543210",
        "caption": "Olha como ficou o óculos novo! Adorei 😍",
        "media": {"mimetype": "video/mp4"},
    },
    "message.document.json": {
        "type": "document",
        "phone": "+5511983217654",
        "media": {"mimetype": "application/pdf", "filename": "orcamento-lentes-multifocais.pdf"},
    },
    "message.location.json": {
        "type": "location",
        "phone": "+5511991827364",
        "name": "Pedro Henrique",
        "location": {"latitude": -23.561684, "longitude": -46.655981, "title": "Conjunto Nacional"},
    },
    "message.vcard.json": {"type": "contact", "phone": "+5511976543210"},
    "message.sticker.json": {
        "type": "sticker",
        "phone": "+5511983217654",
        "media": {"mimetype": "image/webp"},
    },
    "message.from_me.json": {
        "type": "text",
        "direction": "outbound",
        "status": "sent",
        "phone": "+5511976543210",
        "name": "+5511976543210",  # first seen in our own message: no push name of theirs
    },
    "message.ctwa_ad_referral.json": {
        "type": "text",
        "phone": "+5511962345871",
        "name": "Juliana Ribeiro",
    },
}


async def _only_message(
    client: httpx.AsyncClient, container: Container, login: TenantLogin
) -> dict[str, Any]:
    sessions = (await client.get("/api/v1/sessions", headers=login.headers)).json()["items"]
    assert len(sessions) == 1
    session = sessions[0]
    listed = await client.get(f"/api/v1/sessions/{session['id']}/messages", headers=login.headers)
    assert listed.status_code == 200
    items = listed.json()["items"]
    assert len(items) == 1
    message = items[0]
    fetched = await client.get(f"/api/v1/messages/{message['id']}", headers=login.headers)
    assert fetched.json() == message
    assert message["session_id"] == session["id"]
    assert message["contact_id"] == session["contact_id"]
    assert message["channel_id"] == session["channel_id"]
    return message


@pytest.mark.parametrize("name", MESSAGE_FIXTURES)
async def test_each_message_type_lands_on_its_contact_and_session(
    client: httpx.AsyncClient, container: Container, tenant: TenantLogin, name: str
) -> None:
    channel = await create_channel(client, tenant)
    await deliver(client, channel["id"], name)
    assert await ingest(container, tenant) == 1
    expected = EXPECTED[name]
    payload = fixture(name)["payload"]

    message = await _only_message(client, container, tenant)
    assert message["type"] == expected["type"]
    assert message["direction"] == expected.get("direction", "inbound")
    assert message["status"] == expected.get("status", "received")
    assert message["external_id"] == payload["id"]
    assert message["revoked"] is False
    for field in ("text", "caption"):
        if field in expected:
            assert message[field] == expected[field]
    for key, value in expected.get("media", {}).items():
        assert message["media"][key] == value, key
    if "media" not in expected:
        assert message["media"] is None
    for key, value in expected.get("location", {}).items():
        assert message["location"][key] == value, key
    if expected["type"] == "contact":
        assert "FN:Dra. Fernanda Alves" in message["vcard"]

    contact = (
        await client.get(f"/api/v1/contacts/{message['contact_id']}", headers=tenant.headers)
    ).json()
    assert contact["phone"] == expected["phone"]
    if "name" in expected:
        assert contact["name"] == expected["name"]

    session = (
        await client.get(f"/api/v1/sessions/{message['session_id']}", headers=tenant.headers)
    ).json()
    assert session["status"] == "open"
    assert session["channel_id"] == channel["id"]
    assert session["closed_at"] is None

    names = [
        name
        for (name,) in await rows(
            container, tenant, "SELECT name FROM domain_events ORDER BY id", id=None
        )
    ]
    message_event = (
        "message.sent" if expected.get("direction") == "outbound" else "message.received"
    )
    assert names.count(message_event) == 1
    assert names.count("contact.created") == 1
    assert names.count("session.started") == 1


async def test_an_ad_referral_is_kept_on_the_message(
    client: httpx.AsyncClient, container: Container, tenant: TenantLogin
) -> None:
    channel = await create_channel(client, tenant)
    await deliver(client, channel["id"], "message.ctwa_ad_referral.json")
    await ingest(container, tenant)
    message = await _only_message(client, container, tenant)
    assert message["referral"]["source_id"] == "120226305854810726"
    assert message["referral"]["ctwa_clid"].startswith("Aff-n8ZTODiE79d22KtAwQKj9e")
    data = await scalar(
        container,
        tenant,
        "SELECT data FROM domain_events WHERE name = 'message.received'",
    )
    assert data["referral"]["source_url"] == "https://fb.me/3cr4Wqqkv"


async def test_a_conversation_stays_in_one_session_with_one_contact(
    client: httpx.AsyncClient, container: Container, tenant: TenantLogin
) -> None:
    channel = await create_channel(client, tenant)
    await deliver(
        client,
        channel["id"],
        "message.text.json",
        "message.from_me.json",
        "message.video.json",
        "message.vcard.json",
    )
    assert await ingest(container, tenant) == 4
    sessions = (await client.get("/api/v1/sessions", headers=tenant.headers)).json()["items"]
    assert len(sessions) == 1
    session = sessions[0]
    messages = (
        await client.get(f"/api/v1/sessions/{session['id']}/messages", headers=tenant.headers)
    ).json()["items"]
    # Oldest first, by the time WhatsApp gives.
    assert [m["type"] for m in messages] == ["text", "text", "video", "contact"]
    assert [m["direction"] for m in messages] == ["inbound", "outbound", "inbound", "inbound"]
    # The reply from the API is not counted as a person's first response.
    assert session["first_response_seconds"] is None
    contacts = (await client.get("/api/v1/contacts", headers=tenant.headers)).json()["items"]
    assert [c["name"] for c in contacts] == ["Mariana Costa"]


async def test_a_reply_typed_on_the_phone_is_the_first_response(
    client: httpx.AsyncClient, container: Container, tenant: TenantLogin
) -> None:
    channel = await create_channel(client, tenant)
    reply = fixture("message.from_me.json")
    reply["payload"]["source"] = "app"
    await deliver(client, channel["id"], "message.text.json", reply)
    await ingest(container, tenant)
    session = (await client.get("/api/v1/sessions", headers=tenant.headers)).json()["items"][0]
    assert session["first_response_seconds"] == 180.0  # 1784639880 - 1784639700


async def test_a_contact_seen_by_a_twelve_digit_id_is_the_contact_of_its_nine_digit_phone(
    client: httpx.AsyncClient, container: Container, tenant: TenantLogin
) -> None:
    channel = await create_channel(client, tenant)
    await deliver(client, channel["id"], "message.audio.json")
    await ingest(container, tenant)
    message = await _only_message(client, container, tenant)
    duplicate = await client.post(
        "/api/v1/contacts",
        json={"name": "Sônia", "phone": "+55 11 98765-1234"},
        headers=tenant.headers,
    )
    assert duplicate.status_code == 409
    assert duplicate.json()["existing_id"] == message["contact_id"]


async def test_a_known_contact_is_reused_and_keeps_the_name_an_agent_gave(
    client: httpx.AsyncClient, container: Container, tenant: TenantLogin
) -> None:
    known = await client.post(
        "/api/v1/contacts",
        json={"name": "Mariana (cliente VIP)", "phone": "+55 11 97654-3210"},
        headers=tenant.headers,
    )
    channel = await create_channel(client, tenant)
    await deliver(client, channel["id"], "message.text.json")
    await ingest(container, tenant)
    message = await _only_message(client, container, tenant)
    assert message["contact_id"] == known.json()["id"]
    contact = (
        await client.get(f"/api/v1/contacts/{message['contact_id']}", headers=tenant.headers)
    ).json()
    assert contact["name"] == "Mariana (cliente VIP)"


async def test_a_contact_first_named_by_its_number_takes_the_push_name_later(
    client: httpx.AsyncClient, container: Container, tenant: TenantLogin
) -> None:
    channel = await create_channel(client, tenant)
    await deliver(client, channel["id"], "message.from_me.json", "message.text.json")
    await ingest(container, tenant)
    contacts = (await client.get("/api/v1/contacts", headers=tenant.headers)).json()["items"]
    assert [c["name"] for c in contacts] == ["Mariana Costa"]


async def test_sessions_filter_by_status_contact_and_channel(
    client: httpx.AsyncClient, container: Container, tenant: TenantLogin
) -> None:
    channel = await create_channel(client, tenant)
    await deliver(client, channel["id"], "message.text.json", "message.image.json")
    await ingest(container, tenant)
    everything = (await client.get("/api/v1/sessions", headers=tenant.headers)).json()["items"]
    assert len(everything) == 2
    contact_id = everything[0]["contact_id"]
    by_contact = await client.get(
        f"/api/v1/sessions?contact_id={contact_id}&status=open&channel_id={channel['id']}",
        headers=tenant.headers,
    )
    assert [s["contact_id"] for s in by_contact.json()["items"]] == [contact_id]
    closed = await client.get("/api/v1/sessions?status=closed", headers=tenant.headers)
    assert closed.json()["items"] == []
    assert (
        await client.get("/api/v1/sessions?status=weird", headers=tenant.headers)
    ).status_code == 422


def _from(chat: str, text: str, at: int, name: str | None) -> dict[str, Any]:
    envelope = whatsapp_message(text, at, chat=chat)
    envelope["payload"]["_data"]["pushName"] = name
    return envelope


async def test_a_batch_of_new_customers_gets_one_contact_and_one_session_each(
    client: httpx.AsyncClient, container: Container, tenant: TenantLogin
) -> None:
    """A campaign's first messages arrive together: the batch creates their contacts in one
    statement, each once, named by the first message that carries a name."""
    known = await client.post(
        "/api/v1/contacts",
        json={"name": "Já cliente", "phone": "+5511955550000"},
        headers=tenant.headers,
    )
    channel = (await create_channel(client, tenant))["id"]
    at = int(time.time()) - 60
    senders = [f"55119555500{n:02d}@c.us" for n in range(1, 6)]
    batch = [_from(chat, "Oi, vi o anúncio", at, f"Cliente {i}") for i, chat in enumerate(senders)]
    batch += [_from(chat, "Quanto custa?", at + 1, None) for chat in senders]
    batch.append(_from("5511955550000@c.us", "Sou eu de novo", at, "Outro nome"))
    await deliver(client, channel, *batch)
    assert await ingest(container, tenant) == len(batch)

    found = await rows(
        container,
        tenant,
        "SELECT c.phone, c.name, count(DISTINCT s.id) AS sessions, count(m.id) AS messages"
        " FROM contacts c JOIN sessions s ON s.contact_id = c.id"
        " JOIN messages m ON m.session_id = s.id GROUP BY c.phone, c.name ORDER BY c.phone",
    )
    assert [(r.phone, r.name, r.sessions, r.messages) for r in found] == [
        ("+5511955550000", "Já cliente", 1, 1),
        *[(f"+55119555500{n:02d}", f"Cliente {n - 1}", 1, 2) for n in range(1, 6)],
    ]
    created = await rows(
        container,
        tenant,
        "SELECT aggregate_id FROM domain_events WHERE name = 'contact.created'"
        " AND aggregate_id <> :known",
        known=known.json()["id"],
    )
    assert len(created) == 5


async def test_a_phone_taken_meanwhile_is_left_to_the_lookup(
    container: Container, tenant: TenantLogin
) -> None:
    async with container.uow(tenant.tenant_id, Actor.system()) as tx:
        [first] = (await contacts.create_by_phones(tx, {Phone("+5511955551111"): "A"})).values()
        again = await contacts.create_by_phones(
            tx,
            {Phone("+5511955551111"): "B", Phone("+5511955552222"): None},
        )
        await tx.commit()
    assert list(again) == ["+5511955552222"]
    assert again["+5511955552222"].name == "+5511955552222"
    assert (
        await scalar(container, tenant, "SELECT name FROM contacts WHERE phone = '+5511955551111'")
        == first.name
        == "A"
    )
