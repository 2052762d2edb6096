"""The audit trail and contact timelines come from the stored domain events."""

import httpx
import pytest

from tests.conftest import TenantLogin

pytestmark = pytest.mark.integration


async def test_a_contacts_timeline_lists_its_events_oldest_first_with_the_actor(
    client: httpx.AsyncClient, tenant: TenantLogin
) -> None:
    created = await client.post("/api/v1/contacts", json={"name": "Tina"}, headers=tenant.headers)
    contact_id = created.json()["id"]
    await client.patch(
        f"/api/v1/contacts/{contact_id}", json={"name": "Tina M"}, headers=tenant.headers
    )
    await client.delete(f"/api/v1/contacts/{contact_id}", headers=tenant.headers)

    # A deleted contact answers 404, its history stays in the audit trail.
    assert (
        await client.get(f"/api/v1/contacts/{contact_id}/timeline", headers=tenant.headers)
    ).status_code == 404
    events = (
        await client.get("/api/v1/events", params={"limit": 200}, headers=tenant.headers)
    ).json()["items"]
    mine = [e for e in events if e["aggregate_id"] == contact_id]
    assert [e["name"] for e in mine] == ["contact.created", "contact.updated", "contact.deleted"]
    assert all(e["actor"] == {"type": "user", "id": str(tenant.admin_id)} for e in mine)
    assert mine[1]["data"]["changes"] == {"name": "Tina M"}
    assert {
        "id",
        "name",
        "occurred_at",
        "tenant_id",
        "aggregate_type",
        "aggregate_id",
        "actor",
        "data",
    } <= set(mine[0])


async def test_the_timeline_of_a_live_contact(
    client: httpx.AsyncClient, tenant: TenantLogin
) -> None:
    created = await client.post("/api/v1/contacts", json={"name": "Live"}, headers=tenant.headers)
    contact_id = created.json()["id"]
    await client.patch(
        f"/api/v1/contacts/{contact_id}", json={"tags": ["x"]}, headers=tenant.headers
    )
    timeline = await client.get(f"/api/v1/contacts/{contact_id}/timeline", headers=tenant.headers)
    assert timeline.status_code == 200
    assert [e["name"] for e in timeline.json()["items"]] == ["contact.created", "contact.updated"]


async def test_events_page_with_after_and_filter_by_name(
    client: httpx.AsyncClient, tenant: TenantLogin
) -> None:
    for i in range(5):
        await client.post("/api/v1/contacts", json={"name": f"E{i}"}, headers=tenant.headers)
    seen: list[str] = []
    after = None
    while True:
        params = {"limit": 2, "name": "contact.created", **({"after": after} if after else {})}
        page = (await client.get("/api/v1/events", params=params, headers=tenant.headers)).json()
        seen.extend(e["data"]["name"] for e in page["items"])
        after = page["next_cursor"]
        if after is None:
            break
    assert seen[-5:] == [f"E{i}" for i in range(5)]


async def test_another_tenants_events_are_invisible(
    client: httpx.AsyncClient, tenant: TenantLogin, other_tenant: TenantLogin
) -> None:
    created = await client.post("/api/v1/contacts", json={"name": "Secret"}, headers=tenant.headers)
    contact_id = created.json()["id"]
    timeline = await client.get(
        f"/api/v1/contacts/{contact_id}/timeline", headers=other_tenant.headers
    )
    assert timeline.status_code == 404
    theirs = (
        await client.get("/api/v1/events", params={"limit": 200}, headers=other_tenant.headers)
    ).json()
    assert all(e["tenant_id"] == str(other_tenant.tenant_id) for e in theirs["items"])
    assert contact_id not in {e["aggregate_id"] for e in theirs["items"]}


async def test_a_survivors_timeline_includes_the_history_of_the_contacts_merged_into_it(
    client: httpx.AsyncClient, tenant: TenantLogin
) -> None:
    ids = []
    for name in ("Survivor", "Duplicate", "Older duplicate"):
        created = await client.post("/api/v1/contacts", json={"name": name}, headers=tenant.headers)
        ids.append(created.json()["id"])
    survivor, duplicate, older = ids
    await client.patch(f"/api/v1/contacts/{older}", json={"tags": ["vip"]}, headers=tenant.headers)
    # A merge of a merge: the older duplicate went into the duplicate first.
    for into, away in ((duplicate, older), (survivor, duplicate)):
        merged = await client.post(
            f"/api/v1/contacts/{into}/merge", json={"duplicate_id": away}, headers=tenant.headers
        )
        assert merged.status_code == 200, merged.text

    timeline = await client.get(f"/api/v1/contacts/{survivor}/timeline", headers=tenant.headers)

    assert timeline.status_code == 200
    history = [(e["aggregate_id"], e["name"]) for e in timeline.json()["items"]]
    assert (older, "contact.created") in history
    assert (older, "contact.updated") in history
    assert (duplicate, "contact.created") in history
    assert history[0] == (survivor, "contact.created")
    assert history[-1][1] == "contact.merged"
