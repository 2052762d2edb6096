"""LGPD: a contact's export holds everything stored about them; anonymisation leaves no
trace of their phone, email or name in any column of any table; retention purges."""

from __future__ import annotations

import json
import random
import uuid
from datetime import timedelta
from typing import Any

import httpx
import psycopg
import pytest

from tests.conftest import TEST_PASSWORD, TenantLogin, login
from tests.integration.waha_kit import create_channel, deliver, fixture, ingest
from ventros.kernel.clock import utcnow
from ventros.privacy.service import purge_deleted_contacts
from ventros.runtime.container import Container

pytestmark = pytest.mark.integration

FIXTURE_DIGITS = "5511976543210"
FIXTURE_NAME = "Mariana Costa"
SEARCHED_TYPES = ("text", "character varying", "jsonb", "json", "ARRAY", "bytea")


class Person:
    """A unique person, so a database-wide search sees no other test's data."""

    def __init__(self) -> None:
        self.digits = "55119" + "".join(random.choices("0123456789", k=8))
        self.e164 = "+" + self.digits
        self.whatsapp_id = f"{self.digits}@c.us"
        tag = "".join(random.choices("bcdfghjklmnpqrstvwxz", k=8))
        self.name = f"Zuleica Quintanilha {tag.title()}"
        self.email = f"zuleica.{tag}@example.org"

    @property
    def needles(self) -> dict[str, str]:
        return {
            "phone E.164": self.e164,
            "phone digits": self.digits,
            "WhatsApp id": self.whatsapp_id,
            "email": self.email,
            "name": self.name,
        }

    def envelope(self) -> dict[str, Any]:
        raw = json.dumps(fixture("message.text.json"), ensure_ascii=False)
        raw = raw.replace(FIXTURE_DIGITS, self.digits).replace(FIXTURE_NAME, self.name)
        raw = raw.replace("evt_01ky2d1fe4brsshx0dw8bfr6qj", f"evt_{uuid.uuid4().hex}")
        envelope: dict[str, Any] = json.loads(raw)
        envelope["payload"]["body"] = f"Oi, sou {self.name}, meu e-mail é {self.email}"
        return envelope


def search_everywhere(owner_url: str, needles: dict[str, str]) -> list[str]:
    """Every (table.column, needle) where a text, array, JSON or binary value holds it."""
    found: list[str] = []
    with psycopg.connect(owner_url.replace("+asyncpg", "")) as conn:
        columns = conn.execute(
            "SELECT table_name, column_name, data_type FROM information_schema.columns "
            "WHERE table_schema = 'public' AND data_type = ANY(%s)",
            (list(SEARCHED_TYPES),),
        ).fetchall()
        for table, column, kind in columns:
            for label, needle in needles.items():
                if kind == "bytea":
                    where = f"position(convert_to(%s, 'UTF8') in \"{column}\") > 0"
                    param = needle
                else:
                    where = f'"{column}"::text ILIKE %s'
                    param = "%" + needle.replace("%", r"\%").replace("_", r"\_") + "%"
                hit = conn.execute(
                    f'SELECT count(*) FROM "{table}" WHERE {where}',
                    (param,),
                ).fetchone()
                if hit and hit[0]:
                    found.append(f"{table}.{column} holds the {label}")
    return found


async def _person_with_history(
    client: httpx.AsyncClient, container: Container, tenant: TenantLogin, person: Person
) -> str:
    headers = tenant.headers
    channel = await create_channel(client, tenant)
    await deliver(client, channel["id"], person.envelope())
    assert await ingest(container, tenant) == 1
    found = await client.get("/api/v1/contacts", params={"q": person.digits}, headers=headers)
    [contact] = found.json()["items"]
    contact_id = str(contact["id"])
    assert contact["phone"] == person.e164

    changed = await client.patch(
        f"/api/v1/contacts/{contact_id}",
        json={
            "email": person.email,
            "tags": ["vip"],
            "custom_fields": {"cpf": "123.456.789-09", "nickname": person.name},
        },
        headers=headers,
    )
    assert changed.status_code == 200, changed.text
    tracking = await client.post(
        "/api/v1/trackings",
        json={
            "contact_id": contact_id,
            "click_id": "fbclid-" + uuid.uuid4().hex,
            "click_id_type": "fbclid",
            "utm_source": "facebook",
            "utm_content": f"lead-{person.digits}",
            "landing_url": f"https://loja.example/?email={person.email}&wa={person.digits}",
        },
        headers=headers,
    )
    assert tracking.status_code == 201, tracking.text
    pipeline = await client.post(
        "/api/v1/pipelines",
        json={
            "name": "Vendas",
            "stages": [
                {"name": "Lead", "kind": "open"},
                {"name": "Proposta", "kind": "open"},
                {"name": "Ganho", "kind": "won"},
            ],
        },
        headers=headers,
    )
    assert pipeline.status_code == 201, pipeline.text
    stages = {s["name"]: s["id"] for s in pipeline.json()["stages"]}
    for stage in ("Lead", "Proposta"):
        moved = await client.put(
            f"/api/v1/contacts/{contact_id}/pipeline",
            json={"pipeline_id": pipeline.json()["id"], "stage_id": stages[stage]},
            headers=headers,
        )
        assert moved.status_code in (200, 201), moved.text
    return contact_id


async def _user(client: httpx.AsyncClient, admin: TenantLogin, role: str) -> dict[str, str]:
    email = f"{role}-{uuid.uuid4().hex[:8]}@example.com"
    response = await client.post(
        "/api/v1/agents",
        json={"email": email, "name": role.title(), "password": TEST_PASSWORD, "role": role},
        headers=admin.headers,
    )
    assert response.status_code == 201, response.text
    return {"Authorization": f"Bearer {await login(client, email)}"}


async def test_after_anonymisation_no_column_of_any_table_holds_the_person(
    client: httpx.AsyncClient, container: Container, tenant: TenantLogin, owner_url: str
) -> None:
    person = Person()
    contact_id = await _person_with_history(client, container, tenant, person)
    before = search_everywhere(owner_url, person.needles)
    assert any(hit.startswith("contacts.phone") for hit in before), before
    assert any(hit.startswith("messages.") for hit in before), before
    assert any(hit.startswith("inbound_events.body") for hit in before), before
    assert any(hit.startswith("domain_events.data") for hit in before), before
    assert any(hit.startswith("trackings.") for hit in before), before

    exported = await client.get(f"/api/v1/contacts/{contact_id}/export", headers=tenant.headers)
    assert exported.status_code == 200, exported.text
    data = exported.json()
    assert data["contact"]["phone"] == person.e164
    assert data["contact"]["email"] == person.email
    assert data["contact"]["name"] == person.name
    assert [m["text"] for m in data["messages"]] == [person.envelope()["payload"]["body"]]
    assert len(data["sessions"]) == 1
    assert data["trackings"][0]["utm_content"] == f"lead-{person.digits}"
    assert len(data["pipeline_history"]) == 2
    assert len(data["pipeline_positions"]) == 1
    names = {e["name"] for e in data["events"]}
    assert {"contact.created", "message.received"} <= names

    done = await client.post(f"/api/v1/contacts/{contact_id}/anonymize", headers=tenant.headers)
    assert done.status_code == 200, done.text
    assert done.json()["messages_erased"] == 1
    assert done.json()["trackings_erased"] == 1

    assert search_everywhere(owner_url, person.needles) == []

    # Counts and metrics are kept.
    after = (
        await client.get(f"/api/v1/contacts/{contact_id}/export", headers=tenant.headers)
    ).json()
    assert after["contact"]["name"] == "Anonymized"
    assert after["contact"]["phone"] is None
    assert after["contact"]["tags"] == []
    assert len(after["messages"]) == 1
    assert after["messages"][0]["text"] is None
    assert after["messages"][0]["direction"] == "inbound"
    assert len(after["sessions"]) == 1
    assert len(after["trackings"]) == 1
    assert after["trackings"][0]["utm_source"] == "facebook"
    assert len(after["pipeline_history"]) == 2
    audited = [e for e in after["events"] if e["name"] == "contact.anonymized"]
    assert len(audited) == 1
    assert audited[0]["actor_type"] == "user"
    assert set(audited[0]["data"]) >= {"contact_id", "messages_erased"}


async def test_only_admins_anonymise_and_other_tenants_see_nothing(
    client: httpx.AsyncClient, tenant: TenantLogin, other_tenant: TenantLogin
) -> None:
    created = await client.post(
        "/api/v1/contacts",
        json={"name": "Ana Souza", "phone": "+5511912345678"},
        headers=tenant.headers,
    )
    contact_id = created.json()["id"]
    for role in ("viewer", "agent", "supervisor"):
        headers = await _user(client, tenant, role)
        refused = await client.post(f"/api/v1/contacts/{contact_id}/anonymize", headers=headers)
        assert refused.status_code == 403, (role, refused.text)
    viewer = await _user(client, tenant, "viewer")
    assert (
        await client.get(f"/api/v1/contacts/{contact_id}/export", headers=viewer)
    ).status_code == 200
    for path in ("export", "anonymize"):
        method = client.get if path == "export" else client.post
        foreign = await method(
            f"/api/v1/contacts/{contact_id}/{path}", headers=other_tenant.headers
        )
        assert foreign.status_code == 404, foreign.text
    missing = await client.get(f"/api/v1/contacts/{uuid.uuid4()}/export", headers=tenant.headers)
    assert missing.status_code == 404
    contact = await client.get(f"/api/v1/contacts/{contact_id}", headers=tenant.headers)
    assert contact.json()["name"] == "Ana Souza"


async def test_deleted_contacts_are_purged_after_the_retention_period(
    client: httpx.AsyncClient, container: Container, tenant: TenantLogin, owner_url: str
) -> None:
    old, recent = Person(), Person()
    ids = []
    for person in (old, recent):
        created = await client.post(
            "/api/v1/contacts",
            json={"name": person.name, "phone": person.e164, "email": person.email},
            headers=tenant.headers,
        )
        assert created.status_code == 201, created.text
        ids.append(created.json()["id"])
        deleted = await client.delete(f"/api/v1/contacts/{ids[-1]}", headers=tenant.headers)
        assert deleted.status_code == 204
    with psycopg.connect(owner_url) as conn:
        conn.execute(
            "UPDATE contacts SET deleted_at = %s WHERE id = %s",
            (utcnow() - timedelta(days=31), ids[0]),
        )

    purged = await purge_deleted_contacts(container.uow, tenant.tenant_id)
    assert [str(i) for i in purged] == [ids[0]]
    assert search_everywhere(owner_url, old.needles) == []
    assert search_everywhere(owner_url, {"phone": recent.e164}) != []
    assert await purge_deleted_contacts(container.uow, tenant.tenant_id) == []
