"""The signed WAHA webhook: what is refused (and stored nothing), what is stored once."""

import json
import uuid

import httpx
import pytest

from tests.conftest import TenantLogin
from tests.integration.waha_kit import (
    compact,
    create_channel,
    fixture,
    ingest,
    post_webhook,
    rows,
    scalar,
)
from ventros.channels.waha import sign
from ventros.runtime.container import Container

pytestmark = pytest.mark.integration


async def _stored(container: Container, login: TenantLogin, channel_id: str) -> int:
    count = await scalar(
        container,
        login,
        "SELECT count(*) FROM inbound_events WHERE channel_id = :id",
        id=channel_id,
    )
    return int(count)


async def test_a_signed_envelope_is_stored_and_a_repeat_is_accepted_but_not_stored_again(
    client: httpx.AsyncClient, container: Container, tenant: TenantLogin
) -> None:
    channel_id = (await create_channel(client, tenant))["id"]
    first = await post_webhook(client, channel_id, fixture("message.text.json"))
    assert first.status_code == 200, first.text
    assert first.json() == {"status": "stored", "event": "message"}
    for _ in range(4):
        again = await post_webhook(client, channel_id, fixture("message.text.json"))
        assert again.status_code == 200
        assert again.json()["status"] == "duplicate"
    assert await _stored(container, tenant, channel_id) == 1
    body = await scalar(
        container,
        tenant,
        "SELECT body->>'id' FROM inbound_events WHERE channel_id = :id",
        id=channel_id,
    )
    assert body == "evt_01ky2d1fe4brsshx0dw8bfr6qj"


async def test_wrong_missing_or_tampered_signatures_are_401_and_store_nothing(
    client: httpx.AsyncClient, container: Container, tenant: TenantLogin
) -> None:
    channel_id = (await create_channel(client, tenant))["id"]
    body = compact(fixture("message.text.json"))
    tampered = body.replace(b"Ray-Ban", b"Oakley!")
    attempts = [
        {"X-Webhook-Hmac": sign("not-the-secret", body)},
        {"X-Webhook-Hmac": ""},  # missing
        {"X-Webhook-Hmac": "zz"},
        {"X-Webhook-Hmac-Algorithm": "sha256"},
        {"X-Webhook-Hmac-Algorithm": "md5"},
    ]
    for headers in attempts:
        response = await post_webhook(client, channel_id, body, headers=headers)
        assert response.status_code == 401, headers
        assert response.headers["content-type"].startswith("application/problem+json")
    signed_original = {"X-Webhook-Hmac": sign("whsec-Ótica-visão-clara", body)}
    response = await post_webhook(client, channel_id, tampered, headers=signed_original)
    assert response.status_code == 401
    # No signature headers at all, no token either.
    bare = await client.post(f"/webhooks/waha/{channel_id}", content=body)
    assert bare.status_code == 401
    assert await _stored(container, tenant, channel_id) == 0


async def test_an_unknown_channel_is_404(client: httpx.AsyncClient) -> None:
    body = compact(fixture("message.text.json"))
    for channel_id in (str(uuid.uuid4()), "not-a-uuid"):
        response = await post_webhook(client, channel_id, body)
        assert response.status_code == 404, channel_id


async def test_a_signed_body_that_is_not_json_is_400(
    client: httpx.AsyncClient, container: Container, tenant: TenantLogin
) -> None:
    channel_id = (await create_channel(client, tenant))["id"]
    for body in (b"{not json", b"\xff\xfe\x00", b"", b'{"event": NaN}'):
        response = await post_webhook(client, channel_id, body)
        assert response.status_code == 400, body
    assert await _stored(container, tenant, channel_id) == 0


@pytest.mark.parametrize(
    "envelope",
    [
        [1, 2, 3],
        {"hello": "world"},
        {"event": "message", "payload": {}},
        {"event": "message", "session": "default", "payload": "text"},
        {"event": "message", "session": "default", "payload": {"body": "a\u0000b"}},
    ],
)
async def test_json_that_is_not_a_waha_envelope_is_422_and_stores_nothing(
    client: httpx.AsyncClient,
    container: Container,
    tenant: TenantLogin,
    envelope: object,
) -> None:
    channel_id = (await create_channel(client, tenant))["id"]
    body = json.dumps(envelope).encode()
    response = await post_webhook(client, channel_id, body)
    assert response.status_code == 422, response.text
    assert await _stored(container, tenant, channel_id) == 0


async def test_a_body_over_16_mib_is_413(client: httpx.AsyncClient, tenant: TenantLogin) -> None:
    channel_id = (await create_channel(client, tenant))["id"]
    envelope = fixture("message.text.json")
    envelope["payload"]["body"] = "x" * (16 * 1024 * 1024)
    response = await post_webhook(client, channel_id, envelope)
    assert response.status_code == 413


async def test_a_large_media_envelope_under_16_mib_is_accepted(
    client: httpx.AsyncClient, container: Container, tenant: TenantLogin
) -> None:
    channel_id = (await create_channel(client, tenant))["id"]
    envelope = fixture("message.image.json")
    envelope["payload"]["_data"]["message"]["imageMessage"]["jpegThumbnail"] = "A" * (3 << 20)
    response = await post_webhook(client, channel_id, envelope)
    assert response.status_code == 200, response.text
    assert await _stored(container, tenant, channel_id) == 1


async def test_unknown_event_types_are_stored_and_then_ignored(
    client: httpx.AsyncClient, container: Container, tenant: TenantLogin
) -> None:
    channel_id = (await create_channel(client, tenant))["id"]
    envelope = {
        "id": "evt_01ky2fzzzzzzzzzzzzzzzzzzzz",
        "timestamp": 1784642410095,
        "event": "presence.update",
        "session": "default",
        "payload": {"id": "5511976543210@c.us", "presences": []},
        "engine": "NOWEB",
    }
    response = await post_webhook(client, channel_id, envelope)
    assert response.status_code == 200
    assert await ingest(container, tenant) == 1
    outcome = await scalar(
        container,
        tenant,
        "SELECT outcome FROM inbound_events WHERE channel_id = :id AND processed_at IS NOT NULL",
        id=channel_id,
    )
    assert outcome.startswith("ignored")


async def test_without_an_envelope_id_the_exact_bytes_are_the_dedupe_key(
    client: httpx.AsyncClient, container: Container, tenant: TenantLogin
) -> None:
    channel_id = (await create_channel(client, tenant))["id"]
    envelope = fixture("message.text.json")
    del envelope["id"]
    for _ in range(3):
        assert (await post_webhook(client, channel_id, envelope)).status_code == 200
    envelope["timestamp"] += 1
    assert (await post_webhook(client, channel_id, envelope)).status_code == 200
    assert await _stored(container, tenant, channel_id) == 2
    keys = await rows(
        container,
        tenant,
        "SELECT event_key FROM inbound_events WHERE channel_id = :id",
        id=channel_id,
    )
    assert all(key.startswith("sha256:") for (key,) in keys)


async def test_the_same_event_id_on_two_channels_is_two_events(
    client: httpx.AsyncClient, container: Container, tenant: TenantLogin
) -> None:
    first = (await create_channel(client, tenant))["id"]
    second = (await create_channel(client, tenant, name="Outra loja"))["id"]
    for channel_id in (first, second):
        response = await post_webhook(client, channel_id, fixture("message.text.json"))
        assert response.json()["status"] == "stored"
    assert await _stored(container, tenant, first) == 1
    assert await _stored(container, tenant, second) == 1
