"""Analysis against a real PostgreSQL, through the webhook and ingest: verdicts on the
message API, the mood, `session.needs_attention` and its inbox filter, intent rules per
tenant, the mood report; and the optional LLM against its local stand-in (summary on
transfer, voice-note transcript, provider down, budget exhausted)."""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from tests.conftest import TenantLogin
from tests.integration.test_service_metrics import whatsapp_message
from tests.integration.test_sessions_assignment import add_agent
from tests.integration.waha_kit import create_channel, deliver, fixture, ingest, rows
from ventros.analysis.handlers import ANALYZE, CONSUMERS, WhenLlmWorkArrives
from ventros.analysis.llm import LlmClient
from ventros.conversations.repository import SessionRepository
from ventros.conversations.service import assignment
from ventros.kernel.events import Actor, DomainEvent
from ventros.platform.consumers import Consumer, Outcome, process_event
from ventros.platform.crypto import SecretBox
from ventros.runtime.container import Container
from ventros.stand_ins.llm import LlmStandIn
from ventros.webhooks.repository import load_event

pytestmark = pytest.mark.integration

[ANALYZER] = [c for c in CONSUMERS if c.name == ANALYZE]
UNHAPPY = "5511911110001@c.us"
HAPPY = "5511922220002@c.us"


@pytest.fixture
def llm(container: Container) -> Iterator[LlmStandIn]:
    """The stand-in, on 127.0.0.1: reachable while VENTROS_LLM_ALLOW_PRIVATE is on."""
    stand_in = LlmStandIn(api_key="sk-test-123")
    container.settings.llm_allow_private = True
    yield stand_in
    container.settings.llm_allow_private = False
    stand_in.close()


async def _no_wait(_: float) -> None:
    return None


def llm_consumer(container: Container) -> Consumer:
    client = LlmClient(metrics=container.metrics, retries=1, sleep=_no_wait)
    box = SecretBox.from_secret(container.settings.resolved_secret_key())
    return Consumer("analysis.llm", ("#",), WhenLlmWorkArrives(client=client, box=box))


async def events_named(container: Container, tenant: TenantLogin, name: str) -> list[DomainEvent]:
    found = await rows(
        container,
        tenant,
        "SELECT id FROM domain_events WHERE name = :n ORDER BY occurred_at, id",
        n=name,
    )
    loaded = []
    async with container.uow(tenant.tenant_id, Actor.system()) as tx:
        for row in found:
            event = await load_event(tx, row.id)
            assert event is not None
            loaded.append(event)
    return loaded


async def run(
    container: Container, tenant: TenantLogin, consumer: Consumer, name: str
) -> list[Outcome]:
    return [
        await process_event(container.uow, consumer, e)
        for e in await events_named(container, tenant, name)
    ]


async def customer_says(
    client: httpx.AsyncClient,
    container: Container,
    tenant: TenantLogin,
    channel: str,
    chat: str,
    *texts: str,
) -> None:
    at = int(time.time()) - 60
    for i, said in enumerate(texts):
        await deliver(client, channel, whatsapp_message(said, at + i, chat=chat))
    await ingest(container, tenant)
    await run(container, tenant, ANALYZER, "message.received")


async def sessions(
    client: httpx.AsyncClient, tenant: TenantLogin, **query: Any
) -> list[dict[str, Any]]:
    response = await client.get("/api/v1/sessions", params=query, headers=tenant.headers)
    assert response.status_code == 200, response.text
    items: list[dict[str, Any]] = response.json()["items"]
    return items


async def session_of(container: Container, tenant: TenantLogin, chat: str) -> str:
    contacts = await rows(
        container,
        tenant,
        "SELECT s.id FROM sessions s JOIN contacts c ON c.id = s.contact_id WHERE c.phone = :p",
        p="+" + chat.split("@")[0],
    )
    return str(contacts[0].id)


async def test_an_unhappy_conversation_needs_attention_and_a_happy_one_does_not(
    client: httpx.AsyncClient, container: Container, tenant: TenantLogin
) -> None:
    channel = (await create_channel(client, tenant))["id"]
    await customer_says(
        client,
        container,
        tenant,
        channel,
        HAPPY,
        "Oi, bom dia!",
        "Quanto custa o frete pra SP?",
        "Perfeito, obrigada! 😍",
    )
    await customer_says(
        client,
        container,
        tenant,
        channel,
        UNHAPPY,
        "boa tarde",
        "meu pedido ainda n chegou 😡😡",
        "to mto chateada, q demora 😭",
    )
    flagged = await sessions(client, tenant, needs_attention="true")
    calm = await sessions(client, tenant, needs_attention="false")
    unhappy_id = await session_of(container, tenant, UNHAPPY)
    happy_id = await session_of(container, tenant, HAPPY)
    assert [s["id"] for s in flagged] == [unhappy_id]
    assert [s["id"] for s in calm] == [happy_id]

    [alert] = await events_named(container, tenant, "session.needs_attention")
    assert alert.aggregate_id == uuid.UUID(unhappy_id)
    assert alert.payload["reason"] == "negative_streak"
    assert len(await events_named(container, tenant, "message.analyzed")) == 6

    mood = (await client.get(f"/api/v1/sessions/{unhappy_id}/mood", headers=tenant.headers)).json()
    assert mood["needs_attention"] is True
    assert mood["attention_reason"] == "negative_streak"
    assert [p["sentiment"] for p in mood["timeline"]] == ["neutral", "negative", "negative"]
    assert mood["average"] < 0
    happy = (await client.get(f"/api/v1/sessions/{happy_id}/mood", headers=tenant.headers)).json()
    assert happy["needs_attention"] is False
    assert happy["average"] > 0

    # Redelivery: nothing analysed twice, no second alert.
    outcomes = await run(container, tenant, ANALYZER, "message.received")
    assert set(outcomes) == {Outcome.DUPLICATE}
    assert len(await events_named(container, tenant, "session.needs_attention")) == 1


async def test_one_batch_of_two_conversations_gives_what_one_event_at_a_time_gives(
    client: httpx.AsyncClient, container: Container, tenant: TenantLogin
) -> None:
    """The consumer takes a batch at once: each mood still counts its messages in order, a
    streak inside the batch still flags, and a batch redelivered adds nothing."""
    channel = (await create_channel(client, tenant))["id"]
    at = int(time.time()) - 60
    said = [
        (HAPPY, "Oi, bom dia!"),
        (UNHAPPY, "boa tarde"),
        (HAPPY, "Perfeito, obrigada! 😍"),
        (UNHAPPY, "meu pedido ainda n chegou 😡😡"),
        (UNHAPPY, "to mto chateada, q demora 😭"),
    ]
    for i, (chat, text) in enumerate(said):
        await deliver(client, channel, whatsapp_message(text, at + i, chat=chat))
    await ingest(container, tenant)
    received = await events_named(container, tenant, "message.received")
    assert ANALYZER.batch_handler is not None
    for _ in range(2):  # the second time: a redelivery of the whole batch
        async with container.uow(tenant.tenant_id, Actor.system()) as tx:
            await ANALYZER.batch_handler(received, tx)
            await tx.commit()

    unhappy_id = await session_of(container, tenant, UNHAPPY)
    happy_id = await session_of(container, tenant, HAPPY)
    flagged = await sessions(client, tenant, needs_attention="true")
    assert [s["id"] for s in flagged] == [unhappy_id]
    [alert] = await events_named(container, tenant, "session.needs_attention")
    assert alert.payload["reason"] == "negative_streak"
    analyzed = await events_named(container, tenant, "message.analyzed")
    assert len(analyzed) == 5
    assert {e.traceparent for e in analyzed} == {e.traceparent for e in received}
    mood = (await client.get(f"/api/v1/sessions/{unhappy_id}/mood", headers=tenant.headers)).json()
    assert [p["sentiment"] for p in mood["timeline"]] == ["neutral", "negative", "negative"]
    happy = (await client.get(f"/api/v1/sessions/{happy_id}/mood", headers=tenant.headers)).json()
    assert happy["needs_attention"] is False
    assert len(happy["timeline"]) == 2
    assert happy["average"] > 0


async def test_the_message_api_shows_each_inbound_messages_analysis(
    client: httpx.AsyncClient, container: Container, tenant: TenantLogin
) -> None:
    channel = (await create_channel(client, tenant))["id"]
    await customer_says(
        client,
        container,
        tenant,
        channel,
        UNHAPPY,
        "quero cancelar, péssimo atendimento",
        "Where is my order? I need it today please",
    )
    session_id = await session_of(container, tenant, UNHAPPY)
    response = await client.get(f"/api/v1/sessions/{session_id}/messages", headers=tenant.headers)
    first, second = response.json()["items"]
    assert first["analysis"]["sentiment"] == "negative"
    assert -1 <= first["analysis"]["score"] < 0
    assert first["analysis"]["language"] == "pt"
    assert set(first["analysis"]["intents"]) >= {"cancellation", "complaint"}
    assert second["analysis"] == {
        "sentiment": "neutral",
        "score": 0.0,
        "language": "en",
        "intents": ["order_status"],
    }
    one = await client.get(f"/api/v1/messages/{first['id']}", headers=tenant.headers)
    assert one.json()["analysis"] == first["analysis"]
    [alert] = await events_named(container, tenant, "session.needs_attention")
    assert alert.payload["reason"] == "intent:cancellation"


async def test_tenant_intent_rules_override_the_defaults(
    client: httpx.AsyncClient, container: Container, tenant: TenantLogin
) -> None:
    bad = await client.put(
        "/api/v1/analysis/intent-rules",
        json={"rules": {"No Spaces": ["x"]}},
        headers=tenant.headers,
    )
    assert bad.status_code == 422, bad.text
    assert bad.headers["content-type"].startswith("application/problem+json")
    put = await client.put(
        "/api/v1/analysis/intent-rules",
        json={"rules": {"warranty": ["garantia*", "assistência técnica"]}},
        headers=tenant.headers,
    )
    assert put.status_code == 200, put.text
    assert put.json()["effective"]["warranty"] == ["garantia*", "assistência técnica"]
    assert "price" in put.json()["effective"]
    channel = (await create_channel(client, tenant))["id"]
    await customer_says(client, container, tenant, channel, HAPPY, "a GARANTIA cobre isso?")
    [analysed] = await events_named(container, tenant, "message.analyzed")
    assert analysed.payload["analysis"]["intents"] == ["warranty"]


async def test_the_mood_report_puts_mood_beside_csat_per_channel(
    client: httpx.AsyncClient, container: Container, tenant: TenantLogin
) -> None:
    channel = (await create_channel(client, tenant))["id"]
    await customer_says(client, container, tenant, channel, HAPPY, "amei, tudo perfeito 😍")
    await customer_says(client, container, tenant, channel, UNHAPPY, "péssimo 😡", "horrível")
    response = await client.get(
        "/api/v1/reports/mood", params={"group_by": "channel"}, headers=tenant.headers
    )
    assert response.status_code == 200, response.text
    report = response.json()
    [group] = report["groups"]
    assert group["key"] == channel
    assert (group["sessions"], group["analysed_messages"], group["needs_attention"]) == (2, 3, 1)
    assert group["negative_share"] == pytest.approx(2 / 3)
    assert report["overall"]["sessions"] == 2
    assert report["mood_csat_correlation"] is None  # no CSAT yet


# --------------------------------------------------------------------------- LLM


async def enable_llm(
    client: httpx.AsyncClient, tenant: TenantLogin, base_url: str, **extra: Any
) -> dict[str, Any]:
    response = await client.put(
        "/api/v1/analysis/llm",
        json={"enabled": True, "base_url": base_url, "model": "gpt-test", "api_key": "sk-test-123"}
        | extra,
        headers=tenant.headers,
    )
    assert response.status_code == 200, response.text
    settings: dict[str, Any] = response.json()
    return settings


async def test_a_provider_on_a_private_address_is_refused_unless_allowed(
    client: httpx.AsyncClient, tenant: TenantLogin
) -> None:
    for url in ("http://127.0.0.1:8766/v1", "http://169.254.169.254/latest", "ftp://x/v1"):
        refused = await client.put(
            "/api/v1/analysis/llm",
            json={"enabled": True, "base_url": url, "model": "m"},
            headers=tenant.headers,
        )
        assert refused.status_code == 422, refused.text
    settings = (await client.get("/api/v1/analysis/llm", headers=tenant.headers)).json()
    assert settings["enabled"] is False


async def test_llm_settings_are_off_by_default_and_never_return_the_key(
    client: httpx.AsyncClient, container: Container, tenant: TenantLogin, llm: LlmStandIn
) -> None:
    off = (await client.get("/api/v1/analysis/llm", headers=tenant.headers)).json()
    assert off["enabled"] is False
    assert off["has_api_key"] is False
    half = await client.put("/api/v1/analysis/llm", json={"enabled": True}, headers=tenant.headers)
    assert half.status_code == 422, half.text
    settings = await enable_llm(client, tenant, llm.base_url)
    assert settings["has_api_key"] is True
    assert "sk-test-123" not in str(settings)
    [stored] = await rows(container, tenant, "SELECT api_key FROM llm_settings")
    assert stored.api_key.startswith("v1.")
    assert "sk-test-123" not in stored.api_key


async def _assigned_session(
    client: httpx.AsyncClient, container: Container, tenant: TenantLogin, chat: str
) -> tuple[str, uuid.UUID]:
    session_id = await session_of(container, tenant, chat)
    agent = await add_agent(container, tenant, capacity=5)
    async with container.uow(tenant.tenant_id, Actor.system()) as tx:
        stored = await SessionRepository(tx).get(uuid.UUID(session_id))
        assert stored is not None
        await assignment.give_to(tx, stored, agent.id, automatic=False)
        await tx.commit()
    return session_id, agent.id


async def test_a_transfer_stores_a_summary_the_receiving_agent_reads_as_text(
    client: httpx.AsyncClient, container: Container, tenant: TenantLogin, llm: LlmStandIn
) -> None:
    await enable_llm(client, tenant, llm.base_url)
    llm.answer = '<script>alert("x")</script> Cliente aguarda o pedido 123 há 10 dias.'
    channel = (await create_channel(client, tenant))["id"]
    await customer_says(
        client, container, tenant, channel, UNHAPPY, "oi", "meu pedido 123 não chegou ainda"
    )
    session_id, _ = await _assigned_session(client, container, tenant, UNHAPPY)
    other = await add_agent(container, tenant, capacity=5)
    moved = await client.post(
        f"/api/v1/sessions/{session_id}/transfer",
        json={"to_agent_id": str(other.id), "force": True},
        headers=tenant.headers,
    )
    assert moved.status_code == 200, moved.text
    consumer = llm_consumer(container)
    assert await run(container, tenant, consumer, "session.transferred") == [Outcome.PROCESSED]

    chat = [r for r in llm.requests if r.path.endswith("/chat/completions")][-1]
    assert chat.headers["authorization"] == "Bearer sk-test-123"
    assert "meu pedido 123 não chegou ainda" in chat.body["messages"][1]["content"]
    response = await client.get(f"/api/v1/sessions/{session_id}/summaries", headers=tenant.headers)
    assert response.headers["content-type"].startswith("application/json")
    [summary] = response.json()
    assert summary["trigger"] == "transferred"
    assert summary["text"] == llm.answer  # stored as text, verbatim: escaped where shown
    assert len(await events_named(container, tenant, "session.summarized")) == 1


async def test_a_voice_note_gets_a_transcript_on_the_message(
    client: httpx.AsyncClient, container: Container, tenant: TenantLogin, llm: LlmStandIn
) -> None:
    await enable_llm(client, tenant, llm.base_url)
    channel = (await create_channel(client, tenant))["id"]
    voice = fixture("message.audio.json")
    voice["payload"]["media"]["url"] = voice["payload"]["mediaUrl"] = llm.media_url
    await deliver(client, channel, voice)
    await ingest(container, tenant)
    assert await run(container, tenant, llm_consumer(container), "message.received") == [
        Outcome.PROCESSED
    ]
    [transcription] = [r for r in llm.requests if r.path.endswith("/audio/transcriptions")]
    assert transcription.body["model"] == "whisper-1"
    assert transcription.body["bytes"].startswith(b"OggS")
    [received] = await events_named(container, tenant, "message.received")
    message = await client.get(
        f"/api/v1/messages/{received.payload['message_id']}", headers=tenant.headers
    )
    assert message.json()["transcript"] == llm.transcript
    # The words are analysed like a text message (the local consumer saw none).
    assert message.json()["analysis"]["language"] == "pt"
    assert message.json()["analysis"]["sentiment"] == "negative"
    assert "order_status" in message.json()["analysis"]["intents"]
    await run(container, tenant, ANALYZER, "message.received")
    again = await client.get(
        f"/api/v1/messages/{received.payload['message_id']}", headers=tenant.headers
    )
    assert again.json()["analysis"] == message.json()["analysis"]


async def test_with_the_provider_down_conversations_flow_and_failures_are_counted(
    client: httpx.AsyncClient, container: Container, tenant: TenantLogin, llm: LlmStandIn
) -> None:
    await enable_llm(client, tenant, llm.base_url)
    llm.close()  # the provider is gone
    channel = (await create_channel(client, tenant))["id"]
    await customer_says(client, container, tenant, channel, HAPPY, "hmm, e aquele negócio lá?")
    consumer = llm_consumer(container)
    assert await run(container, tenant, consumer, "message.received") == [Outcome.PROCESSED]
    session_id, _ = await _assigned_session(client, container, tenant, HAPPY)
    closed = await client.post(
        f"/api/v1/sessions/{session_id}/close", json={}, headers=tenant.headers
    )
    assert closed.status_code == 200, closed.text
    assert await run(container, tenant, consumer, "session.closed") == [Outcome.PROCESSED]
    summaries = await client.get(f"/api/v1/sessions/{session_id}/summaries", headers=tenant.headers)
    assert summaries.json() == []
    [analysed] = await events_named(container, tenant, "message.analyzed")  # local still ran
    assert analysed.payload["analysis"]["language"] == "pt"
    metrics = (await client.get("/metrics")).text
    assert 'llm_requests_total{operation="chat",outcome="unavailable"} 2.0' in metrics


async def test_an_exhausted_budget_falls_back_to_a_local_reply_and_says_so(
    client: httpx.AsyncClient, container: Container, tenant: TenantLogin, llm: LlmStandIn
) -> None:
    await enable_llm(client, tenant, llm.base_url, daily_budget=1)
    llm.answer = "Olá! Já verifico o seu pedido."
    channel = (await create_channel(client, tenant))["id"]
    await customer_says(client, container, tenant, channel, HAPPY, "cadê meu pedido?")
    session_id = await session_of(container, tenant, HAPPY)
    url = f"/api/v1/sessions/{session_id}/suggested-reply"
    first = (await client.post(url, headers=tenant.headers)).json()
    assert first == {"text": llm.answer, "source": "llm", "note": None}
    second = (await client.post(url, headers=tenant.headers)).json()
    assert second["source"] == "local"
    assert "budget_exhausted" in second["note"]
    assert "pedido" in second["text"]  # the local reply to an order-status question
    metrics = (await client.get("/metrics")).text
    assert 'llm_requests_total{operation="chat",outcome="budget_exhausted"} 1.0' in metrics


async def test_the_model_classifies_what_the_rules_miss_and_summarises_on_close(
    client: httpx.AsyncClient, container: Container, tenant: TenantLogin, llm: LlmStandIn
) -> None:
    await enable_llm(client, tenant, llm.base_url)
    llm.intents = ["complaint", "made_up_intent"]
    channel = (await create_channel(client, tenant))["id"]
    await customer_says(
        client, container, tenant, channel, HAPPY, "quero falar com o gerente agora", "Bom dia"
    )
    consumer = llm_consumer(container)
    assert await run(container, tenant, consumer, "message.received") == [Outcome.PROCESSED] * 2
    asked = [r for r in llm.requests if "Classifique" in r.body["messages"][0]["content"]]
    assert len(asked) == 1  # "Bom dia" matched the greeting rule: the model was not asked
    session_id = await session_of(container, tenant, HAPPY)
    listed = await client.get(f"/api/v1/sessions/{session_id}/messages", headers=tenant.headers)
    first = listed.json()["items"][0]["analysis"]
    assert first["intents"] == ["complaint"]  # only intents the rules know are kept
    [alert] = await events_named(container, tenant, "session.needs_attention")
    assert alert.payload["reason"] == "intent:complaint"

    llm.answer = "Cliente pediu o gerente; foi atendido."
    await _assigned_session(client, container, tenant, HAPPY)
    closed = await client.post(
        f"/api/v1/sessions/{session_id}/close", json={}, headers=tenant.headers
    )
    assert closed.status_code == 200, closed.text
    assert await run(container, tenant, consumer, "session.closed") == [Outcome.PROCESSED]
    [summary] = (
        await client.get(f"/api/v1/sessions/{session_id}/summaries", headers=tenant.headers)
    ).json()
    assert (summary["trigger"], summary["text"]) == ("closed", llm.answer)
