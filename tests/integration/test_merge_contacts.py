"""MergeContacts: the survivor takes sessions (open ones collapse), trackings, tags and
custom fields; the duplicate's phone resolves to the survivor afterwards."""

from __future__ import annotations

import uuid

import httpx
import pytest

from tests.conftest import TenantLogin
from ventros.contacts import service as contacts
from ventros.contacts.domain import Phone
from ventros.conversations.domain import Session
from ventros.conversations.repository import SessionFilter, SessionRepository
from ventros.kernel.clock import utcnow
from ventros.kernel.events import Actor
from ventros.runtime.container import Container

pytestmark = pytest.mark.integration


async def test_merging_moves_everything_and_the_duplicate_phone_then_resolves_to_the_survivor(
    container: Container, client: httpx.AsyncClient, tenant: TenantLogin
) -> None:
    h = tenant.headers
    survivor = (
        await client.post(
            "/api/v1/contacts",
            json={
                "name": "Ana",
                "phone": "+5511987654321",
                "tags": ["vip"],
                "custom_fields": {"plan": "gold"},
            },
            headers=h,
        )
    ).json()
    duplicate = (
        await client.post(
            "/api/v1/contacts",
            json={
                "name": "Ana",
                "phone": "+5511912345678",
                "email": "ana@example.com",
                "tags": ["lead"],
                "custom_fields": {"plan": "free", "city": "SP"},
            },
            headers=h,
        )
    ).json()
    response = await client.get("/api/v1/contacts/duplicates", headers=h)
    assert response.status_code == 200, response.text
    channel_id = uuid.uuid4()
    async with container.uow(tenant.tenant_id, Actor.system()) as tx:
        for contact in (survivor, duplicate):
            session = Session.open(
                tenant_id=tenant.tenant_id,
                contact_id=uuid.UUID(contact["id"]),
                channel_id=channel_id,
                at=utcnow(),
            )
            assert await SessionRepository(tx).add(session)
        await tx.commit()
    tracking = await client.post(
        "/api/v1/trackings", json={"contact_id": duplicate["id"], "source": "organic"}, headers=h
    )
    assert tracking.status_code == 201, tracking.text

    response = await client.post(
        f"/api/v1/contacts/{survivor['id']}/merge",
        json={"duplicate_id": duplicate["id"]},
        headers=h,
    )
    assert response.status_code == 200, response.text
    merged = response.json()
    assert merged["id"] == survivor["id"]
    assert sorted(merged["tags"]) == ["lead", "vip"]
    assert merged["custom_fields"] == {"plan": "gold", "city": "SP"}
    assert merged["email"] == "ana@example.com"
    assert (await client.get(f"/api/v1/contacts/{duplicate['id']}", headers=h)).status_code == 404

    async with container.uow(tenant.tenant_id, Actor.system()) as tx:
        sessions = await SessionRepository(tx).list(
            SessionFilter(contact_id=uuid.UUID(survivor["id"])), limit=10, before=None
        )
        assert sorted((s.status.value, s.close_reason) for s in sessions) == [
            ("closed", "merged"),
            ("open", None),
        ]
        found = await contacts.find_by_phones(tx, [Phone("+5511912345678")])
        resolved, created = await contacts.find_or_create_by_phone(
            tx, phone=Phone("+5511912345678"), name="Ana"
        )
    assert resolved.id == uuid.UUID(survivor["id"])
    assert not created
    assert [c.id for c in found.values()] == [uuid.UUID(survivor["id"])]
    trackings = await client.get(f"/api/v1/trackings?contact_id={survivor['id']}", headers=h)
    assert len(trackings.json()["items"]) == 1
