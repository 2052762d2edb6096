"""A new WhatsApp contact gets their profile picture from WAHA, through the consumer."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest

from tests.conftest import TEST_SECRET, TenantLogin
from tests.integration.waha_kit import create_channel, deliver, ingest, rows
from tests.stand_ins.waha import PICTURE_URL, WahaStandIn
from ventros.channels.waha_client import WahaClient
from ventros.contacts.handlers import consumer
from ventros.contacts.profile_picture import PictureSource
from ventros.kernel.events import Actor, DomainEvent
from ventros.platform.consumers import Outcome, process_event
from ventros.platform.crypto import SecretBox
from ventros.platform.ratelimit import RateLimits
from ventros.runtime.container import Container
from ventros.webhooks.repository import load_event

pytestmark = pytest.mark.integration


@pytest.fixture
async def source() -> AsyncIterator[PictureSource]:
    picture_source = PictureSource(
        SecretBox.from_secret(TEST_SECRET), WahaClient.create(timeout_seconds=5), RateLimits()
    )
    try:
        yield picture_source
    finally:
        await picture_source.aclose()


async def _first_contact_created(
    client: httpx.AsyncClient, container: Container, tenant: TenantLogin, waha: WahaStandIn
) -> DomainEvent:
    """A customer writes in on a channel of the stand-in: their `contact.created`."""
    channel = await create_channel(client, tenant, base_url=waha.base_url)
    await deliver(client, channel["id"], "message.text.json")
    await ingest(container, tenant)
    [found] = await rows(
        container, tenant, "SELECT id FROM domain_events WHERE name = 'contact.created'"
    )
    async with container.uow(tenant.tenant_id, Actor.system()) as tx:
        event = await load_event(tx, found.id)
    assert event is not None
    return event


async def test_a_new_whatsapp_contact_gets_the_profile_picture_once(
    client: httpx.AsyncClient,
    container: Container,
    tenant: TenantLogin,
    waha: WahaStandIn,
    source: PictureSource,
) -> None:
    event = await _first_contact_created(client, container, tenant, waha)
    fetch = consumer(lambda: source)

    assert await process_event(container.uow, fetch, event) is Outcome.PROCESSED
    assert await process_event(container.uow, fetch, event) is Outcome.DUPLICATE

    asked = [r for r in waha.requests if r.path == "/api/contacts/profile-picture"]
    assert [r.query["contactId"] for r in asked] == ["5511976543210@c.us"]
    [contact] = await rows(container, tenant, "SELECT id, profile_picture_url FROM contacts")
    assert contact.profile_picture_url == PICTURE_URL
    updated = await rows(
        container,
        tenant,
        "SELECT aggregate_id FROM domain_events WHERE name = 'contact.profile_picture_updated'",
    )
    assert [u.aggregate_id for u in updated] == [contact.id]


async def test_when_waha_fails_the_contact_stays_without_a_picture_and_nothing_fails(
    client: httpx.AsyncClient,
    container: Container,
    tenant: TenantLogin,
    waha: WahaStandIn,
    source: PictureSource,
) -> None:
    event = await _first_contact_created(client, container, tenant, waha)
    waha.fail(1, status=500)

    outcome = await process_event(container.uow, consumer(lambda: source), event)

    assert outcome is Outcome.PROCESSED
    [contact] = await rows(container, tenant, "SELECT profile_picture_url FROM contacts")
    assert contact.profile_picture_url is None
