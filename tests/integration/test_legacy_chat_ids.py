"""Brazil's legacy ids: before the first message to a contact who never wrote in, WAHA's
check-exists is asked; a number registered before the ninth digit gets its 12-digit chat id
(kept on the contact), and a number not on WhatsApp fails at once with `not_on_whatsapp`."""

from __future__ import annotations

import httpx
import pytest

from tests.conftest import TenantLogin
from tests.integration.test_sending_outbound import message, send, sending_event
from tests.integration.test_waha_simulator_sending import FAST, SECRET, Running, waha
from tests.integration.waha_kit import channel_on_simulator
from ventros.channels.sender import Sender
from ventros.channels.waha_client import WahaClient
from ventros.conversations.handlers.sending import CONSUMER_NAME, WhenMessageSendingSendThroughWaha
from ventros.platform.consumers import Consumer, Outcome, process_event
from ventros.platform.crypto import SecretBox
from ventros.platform.ratelimit import RateLimits
from ventros.runtime.container import Container

pytestmark = pytest.mark.integration
__all__ = ["waha"]  # the simulator fixture, shared

LEGACY = "5511987651234"  # +55 11 98765-1234, on WhatsApp since before 2012
UNKNOWN = "5511912345678"


def consumer(container: Container, client: WahaClient) -> Consumer:
    sender = Sender(client, RateLimits(), FAST)
    box = SecretBox.from_secret(container.settings.resolved_secret_key())
    return Consumer(
        CONSUMER_NAME,
        ("message.sending",),
        WhenMessageSendingSendThroughWaha(lambda: (sender, box)),
    )


async def new_contact(client: httpx.AsyncClient, tenant: TenantLogin, phone: str) -> str:
    response = await client.post(
        "/api/v1/contacts", json={"name": "Dona Cida", "phone": f"+{phone}"}, headers=tenant.headers
    )
    assert response.status_code == 201, response.text
    return str(response.json()["id"])


async def send_text(
    client: httpx.AsyncClient,
    container: Container,
    tenant: TenantLogin,
    handler: Consumer,
    contact: str,
    channel: str,
    text: str,
) -> str:
    body = {"contact_id": contact, "channel_id": channel, "type": "text", "text": text}
    accepted = await send(client, tenant, body)
    event = await sending_event(container, tenant, accepted["id"])
    assert await process_event(container.uow, handler, event) is Outcome.PROCESSED
    return str(accepted["id"])


async def test_a_legacy_number_is_written_to_at_the_12_digit_id_whatsapp_answered(
    client: httpx.AsyncClient,
    container: Container,
    tenant: TenantLogin,
    waha: Running,
    waha_client: WahaClient,
) -> None:
    waha.sim.legacy_numbers = {LEGACY}
    channel = await channel_on_simulator(client, tenant, waha.sim, secret=SECRET)
    contact = await new_contact(client, tenant, LEGACY)
    handler = consumer(container, waha_client)

    first = await send_text(client, container, tenant, handler, contact, channel, "Olá!")
    assert waha.sim.sends[-1].body["chatId"] == "551187651234@c.us"
    assert (await message(client, tenant, first))["status"] == "sent"
    stored = (await client.get(f"/api/v1/contacts/{contact}", headers=tenant.headers)).json()
    assert stored["custom_fields"]["whatsapp_id"] == "551187651234@c.us"
    assert stored["phone"] == f"+{LEGACY}"  # the phone stays as the person gives it

    checks = waha.sim.exists_checks
    await send_text(client, container, tenant, handler, contact, channel, "Tudo bem?")
    assert waha.sim.sends[-1].body["chatId"] == "551187651234@c.us"
    assert waha.sim.exists_checks == checks  # asked once, kept


async def test_a_number_not_on_whatsapp_fails_at_once_without_retries(
    client: httpx.AsyncClient,
    container: Container,
    tenant: TenantLogin,
    waha: Running,
    waha_client: WahaClient,
) -> None:
    waha.sim.unknown_numbers = {UNKNOWN}
    channel = await channel_on_simulator(client, tenant, waha.sim, secret=SECRET)
    contact = await new_contact(client, tenant, UNKNOWN)
    failed = await send_text(
        client, container, tenant, consumer(container, waha_client), contact, channel, "Oi"
    )
    read = await message(client, tenant, failed)
    assert (read["status"], read["error"]) == ("failed", "not_on_whatsapp")
    assert waha.sim.sends_total == 0
    assert waha.sim.exists_checks == 1


async def test_a_current_number_keeps_its_13_digit_id(
    client: httpx.AsyncClient,
    container: Container,
    tenant: TenantLogin,
    waha: Running,
    waha_client: WahaClient,
) -> None:
    channel = await channel_on_simulator(client, tenant, waha.sim, secret=SECRET)
    contact = await new_contact(client, tenant, "5521998765432")
    await send_text(
        client, container, tenant, consumer(container, waha_client), contact, channel, "Oi"
    )
    assert waha.sim.sends[-1].body["chatId"] == "5521998765432@c.us"
