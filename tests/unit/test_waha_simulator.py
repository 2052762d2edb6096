"""The WAHA simulator (`ventros waha-sim`) against WAHA's wire format (the fixtures): send
answers, validation, failures on demand, and the webhooks it signs (acks, a customer)."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from ventros.channels.waha.envelope import parse_envelope
from ventros.channels.waha.signature import signature_matches
from ventros.channels.waha.updates import parse_event
from ventros.channels.waha.values import AckUpdate, WahaMessage
from ventros.channels.waha_client import message_id_of
from ventros.stand_ins.waha import REQUIRED, WahaSimulator, chat_id_of, ulid

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "waha"
KEY = "sim-key"
SECRET = "whsec-Ótica"  # non-ASCII: the HMAC key is UTF-8
CHAT = "5511976543210@c.us"
VALID: dict[str, dict[str, Any]] = {
    "/api/sendText": {"text": "Olá 😊"},
    "/api/sendImage": {"file": {"mimetype": "image/jpeg", "url": "https://x/a.jpg"}},
    "/api/sendFile": {"file": {"mimetype": "application/pdf", "url": "https://x/a.pdf"}},
    "/api/sendVoice": {"file": {"mimetype": "audio/ogg", "url": "https://x/a.ogg"}, "convert": 0},
    "/api/sendVideo": {"file": {"mimetype": "video/mp4", "data": "AAAA"}, "convert": False},
    "/api/sendLocation": {"latitude": -23.5, "longitude": -46.6, "title": "Loja"},
    "/api/sendContactVcard": {"contacts": [{"vcard": "BEGIN:VCARD\nEND:VCARD"}]},
}


def fixture(name: str) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((FIXTURES / name).read_text())
    return data


class Receiver:
    """Stands in for Ventros's webhook endpoint: keeps what the simulator posts."""

    def __init__(self, status: int = 200) -> None:
        self.status = status
        self.requests: list[httpx.Request] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        return httpx.Response(self.status, json={"ok": True})

    def envelopes(self) -> list[dict[str, Any]]:
        return [json.loads(r.content) for r in self.requests]


@pytest.fixture
def receiver() -> Receiver:
    return Receiver()


@pytest.fixture
async def sim(receiver: Receiver) -> AsyncIterator[WahaSimulator]:
    simulator = WahaSimulator(
        api_key=KEY,
        webhook_url="http://ventros.test/webhooks/waha/c1",
        webhook_secret=SECRET,
        ack_delay_seconds=0,
        webhook_retry_seconds=0,
    )
    simulator._http = httpx.AsyncClient(transport=httpx.MockTransport(receiver))
    yield simulator
    await simulator.aclose()


@pytest.fixture
async def http(sim: WahaSimulator) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=sim.app)
    async with httpx.AsyncClient(transport=transport, base_url="http://waha") as client:
        yield client


async def send(
    http: httpx.AsyncClient, path: str = "/api/sendText", **fields: Any
) -> httpx.Response:
    body = {"session": "default", "chatId": CHAT, **VALID[path], **fields}
    return await http.post(path, json=body, headers={"X-Api-Key": KEY})


async def settled(sim: WahaSimulator) -> None:
    while sim._tasks:
        await asyncio.gather(*list(sim._tasks))


async def test_every_send_endpoint_answers_201_in_nowebs_shape(
    http: httpx.AsyncClient, sim: WahaSimulator
) -> None:
    expected_keys = set(fixture("send_text.response.json"))
    for path in REQUIRED:
        answer = await send(http, path)
        assert answer.status_code == 201, (path, answer.text)
        body = answer.json()
        assert set(body) == expected_keys
        assert body["key"]["remoteJid"] == "5511976543210@s.whatsapp.net"
        assert body["key"]["fromMe"] is True
        assert isinstance(body["messageTimestamp"], str)
        sent = message_id_of(body)
        assert sent is not None
        assert sent.serialized == f"true_{CHAT}_{body['key']['id']}"
    assert [s.path for s in sim.sends] == list(REQUIRED)
    assert sim.sends[0].body["text"] == "Olá 😊"


async def test_a_missing_required_field_is_a_400_and_nothing_is_sent(
    http: httpx.AsyncClient, sim: WahaSimulator
) -> None:
    for path, required in REQUIRED.items():
        for name in required:
            body = {"session": "default", "chatId": CHAT, **VALID[path]}
            del body[name]
            answer = await http.post(path, json=body, headers={"X-Api-Key": KEY})
            assert answer.status_code == 400, (path, name)
            assert name in answer.json()["message"]
    assert (await send(http, chatId="+5511976543210")).status_code == 400
    assert (await send(http, session="other")).status_code == 400
    assert (await send(http, "/api/sendLocation", latitude="-23.5")).status_code == 400
    assert not sim.sends


async def test_the_api_key_is_required_in_the_header_or_the_query(
    http: httpx.AsyncClient,
) -> None:
    body = {"session": "default", "chatId": CHAT, "text": "x"}
    refused = await http.post("/api/sendText", json=body, headers={"X-Api-Key": "wrong"})
    assert refused.status_code == 401
    assert refused.json() == {"message": "Unauthorized", "statusCode": 401}
    assert (await http.post("/api/sendText", json=body)).status_code == 401
    assert (await http.post(f"/api/sendText?x-api-key={KEY}", json=body)).status_code == 201


async def test_failures_on_demand_then_reset(http: httpx.AsyncClient, sim: WahaSimulator) -> None:
    armed = await http.post("/_sim/fail", json={"status": 503, "count": 2})
    assert armed.json()["count"] == 2
    assert [(await send(http)).status_code for _ in range(3)] == [503, 503, 201]
    await http.post("/_sim/fail", json={"status": 500, "always": True})
    assert [(await send(http)).status_code for _ in range(3)] == [500, 500, 500]
    await http.post("/_sim/reset")
    assert (await send(http)).status_code == 201
    listed = (await http.get("/_sim/sends")).json()
    assert listed["total"] == 1
    assert listed["sends"][0]["id"].startswith(f"true_{CHAT}_")


async def test_latency_on_demand_delays_the_answer(
    http: httpx.AsyncClient, sim: WahaSimulator
) -> None:
    await http.post("/_sim/fail", json={"count": 0, "delay_seconds": 5})
    with pytest.raises(TimeoutError):
        async with asyncio.timeout(0.2):
            await send(http)
    assert not sim.sends  # timed out before WAHA took it


async def test_profile_picture_like_the_fixture(http: httpx.AsyncClient) -> None:
    answer = await http.get(
        "/api/contacts/profile-picture",
        params={"contactId": CHAT, "session": "default", "refresh": "true"},
        headers={"X-Api-Key": KEY},
    )
    assert answer.status_code == 200
    assert set(answer.json()) == set(fixture("profile_picture.response.json"))
    assert answer.json()["profilePictureURL"].startswith("https://")


async def test_a_send_is_followed_by_signed_acks_sent_then_delivered(
    http: httpx.AsyncClient, sim: WahaSimulator, receiver: Receiver
) -> None:
    sent = message_id_of((await send(http)).json())
    assert sent is not None
    await settled(sim)
    assert len(receiver.requests) == 2
    delivered = fixture("message.ack.delivered.json")
    for request, (ack, name) in zip(receiver.requests, [(1, "SERVER"), (2, "DEVICE")], strict=True):
        assert request.headers["X-Webhook-Hmac-Algorithm"] == "sha512"
        assert signature_matches(SECRET, request.content, request.headers["X-Webhook-Hmac"])
        assert request.headers["Content-Type"] == "application/json"
        assert request.headers["X-Webhook-Timestamp"].isdigit()
        data = json.loads(request.content)
        assert (
            request.content == json.dumps(data, ensure_ascii=False, separators=(",", ":")).encode()
        )
        assert set(delivered) - {"metadata"} <= set(data)
        assert data["event"] == "message.ack"
        assert data["id"].startswith("evt_")
        assert len(data["id"]) == 30
        payload = data["payload"]
        assert set(payload) == set(delivered["payload"])
        assert (payload["id"], payload["ack"], payload["ackName"]) == (sent.serialized, ack, name)
        assert payload["_data"]["update"] == {"status": ack + 1}
        update = parse_event(parse_envelope(data))
        assert isinstance(update, AckUpdate)
        assert update.message_id.serialized == sent.serialized
        assert update.from_me


async def test_read_acks_on_demand(
    http: httpx.AsyncClient, sim: WahaSimulator, receiver: Receiver
) -> None:
    await http.post("/_sim/webhook", json={"read_acks": True})
    await send(http)
    await settled(sim)
    assert [e["payload"]["ack"] for e in receiver.envelopes()] == [1, 2, 3]


async def test_a_customer_writes_in_as_wahas_message_event(
    http: httpx.AsyncClient, receiver: Receiver
) -> None:
    answer = await http.post(
        "/_sim/customer-message",
        json={"from": "+55 11 97654-3210", "body": "Oi, tudo bem? 😊", "push_name": "Mariana"},
    )
    assert answer.status_code == 200, answer.text
    assert answer.json()["webhook_status"] == 200
    [request] = receiver.requests
    assert str(request.url) == "http://ventros.test/webhooks/waha/c1"
    assert signature_matches(SECRET, request.content, request.headers["X-Webhook-Hmac"])
    data = json.loads(request.content)
    text = fixture("message.text.json")
    assert set(text) - {"metadata"} <= set(data)
    assert set(data["payload"]) == set(text["payload"])
    assert set(data["payload"]["_data"]) == set(text["payload"]["_data"])
    message = parse_event(parse_envelope(data))
    assert isinstance(message, WahaMessage)
    assert (message.chat_id, message.from_me, message.text) == (CHAT, False, "Oi, tudo bem? 😊")
    assert message.push_name == "Mariana"
    assert message.id.serialized == answer.json()["message_id"]


async def test_webhooks_are_retried_on_5xx_and_the_last_status_reported(
    http: httpx.AsyncClient, receiver: Receiver
) -> None:
    receiver.status = 503
    answer = await http.post("/_sim/customer-message", json={"from": "5511976543210", "body": "x"})
    assert answer.json()["webhook_status"] == 503
    assert len(receiver.requests) == 3
    assert len({r.content for r in receiver.requests}) == 1  # the same event each time
    assert (await http.post("/_sim/customer-message", json={"body": "x"})).status_code == 400


def test_ids_and_chat_ids() -> None:
    first, second = ulid(1784639700420), ulid(1784639700420)
    assert len(first) == 26
    assert first[:10] == second[:10]
    assert first != second
    assert chat_id_of("+55 (11) 97654-3210") == CHAT
    assert chat_id_of("120363@g.us") == "120363@g.us"
    with pytest.raises(ValueError, match="not a phone number"):
        chat_id_of("nobody")
