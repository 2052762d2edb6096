"""The Contacts slice through HTTP, as a client sees it."""

import uuid

import httpx
import pytest

from tests.conftest import TEST_PASSWORD, TenantLogin, login

pytestmark = pytest.mark.integration


async def _user(client: httpx.AsyncClient, admin: TenantLogin, role: str) -> dict[str, str]:
    email = f"{role}-{uuid.uuid4().hex[:8]}@example.com"
    response = await client.post(
        "/api/v1/agents",
        json={"email": email, "name": role.title(), "password": TEST_PASSWORD, "role": role},
        headers=admin.headers,
    )
    assert response.status_code == 201, response.text
    return {"Authorization": f"Bearer {await login(client, email)}"}


async def test_creating_a_contact_normalises_its_phone_and_email(
    client: httpx.AsyncClient, tenant: TenantLogin
) -> None:
    response = await client.post(
        "/api/v1/contacts",
        json={
            "name": "Ana Souza",
            "phone": "+55 11 8765-4321",
            "email": "Ana@Example.com",
            "tags": ["vip"],
            "custom_fields": {"plan": "gold", "seats": 3},
        },
        headers=tenant.headers,
    )
    assert response.status_code == 201, response.text
    body = response.json()
    assert body["phone"] == "+5511987654321"
    assert body["email"] == "ana@example.com"
    assert body["custom_fields"] == {"plan": "gold", "seats": 3}
    assert body["tenant_id"] == str(tenant.tenant_id)

    fetched = await client.get(f"/api/v1/contacts/{body['id']}", headers=tenant.headers)
    assert fetched.json() == body


@pytest.mark.parametrize(
    ("first", "second"),
    [
        ({"phone": "+55 11 8765-4321"}, {"phone": "+55 11 98765-4321"}),
        ({"phone": "+5511987654321"}, {"phone": "551187654321@c.us"}),
        ({"email": "bob@example.com"}, {"email": "BOB@example.COM"}),
    ],
)
async def test_a_duplicate_phone_or_email_is_409_with_the_existing_id(
    client: httpx.AsyncClient, tenant: TenantLogin, first: dict[str, str], second: dict[str, str]
) -> None:
    created = await client.post(
        "/api/v1/contacts", json={"name": "First", **first}, headers=tenant.headers
    )
    assert created.status_code == 201
    duplicate = await client.post(
        "/api/v1/contacts", json={"name": "Second", **second}, headers=tenant.headers
    )
    assert duplicate.status_code == 409
    assert duplicate.headers["content-type"].startswith("application/problem+json")
    assert duplicate.json()["existing_id"] == created.json()["id"]


async def test_the_same_phone_in_two_tenants_is_two_contacts(
    client: httpx.AsyncClient, tenant: TenantLogin, other_tenant: TenantLogin
) -> None:
    for login_ in (tenant, other_tenant):
        response = await client.post(
            "/api/v1/contacts",
            json={"name": "Shared", "phone": "+5521999990000"},
            headers=login_.headers,
        )
        assert response.status_code == 201


async def test_another_tenants_contact_is_404(
    client: httpx.AsyncClient, tenant: TenantLogin, other_tenant: TenantLogin
) -> None:
    created = await client.post(
        "/api/v1/contacts", json={"name": "Private"}, headers=tenant.headers
    )
    contact_id = created.json()["id"]
    for method, body in (("GET", None), ("PATCH", {"name": "Hacked"}), ("DELETE", None)):
        response = await client.request(
            method, f"/api/v1/contacts/{contact_id}", json=body, headers=other_tenant.headers
        )
        assert response.status_code == 404, (method, response.text)
    still = await client.get(f"/api/v1/contacts/{contact_id}", headers=tenant.headers)
    assert still.json()["name"] == "Private"


async def test_a_viewer_reads_but_cannot_create_update_or_delete(
    client: httpx.AsyncClient, tenant: TenantLogin
) -> None:
    viewer = await _user(client, tenant, "viewer")
    created = await client.post("/api/v1/contacts", json={"name": "Seen"}, headers=tenant.headers)
    contact_id = created.json()["id"]

    assert (await client.get(f"/api/v1/contacts/{contact_id}", headers=viewer)).status_code == 200
    assert (await client.get("/api/v1/contacts", headers=viewer)).status_code == 200
    refused = await client.post("/api/v1/contacts", json={"name": "Nope"}, headers=viewer)
    assert refused.status_code == 403
    assert refused.headers["content-type"].startswith("application/problem+json")
    assert (
        await client.patch(f"/api/v1/contacts/{contact_id}", json={"name": "x"}, headers=viewer)
    ).status_code == 403
    assert (
        await client.delete(f"/api/v1/contacts/{contact_id}", headers=viewer)
    ).status_code == 403


async def test_an_agent_may_write_contacts(client: httpx.AsyncClient, tenant: TenantLogin) -> None:
    agent = await _user(client, tenant, "agent")
    assert (
        await client.post("/api/v1/contacts", json={"name": "By agent"}, headers=agent)
    ).status_code == 201


async def test_update_changes_only_the_fields_sent_and_null_clears(
    client: httpx.AsyncClient, tenant: TenantLogin
) -> None:
    created = await client.post(
        "/api/v1/contacts",
        json={
            "name": "Carla",
            "phone": "+5531988887777",
            "email": "carla@example.com",
            "tags": ["a"],
        },
        headers=tenant.headers,
    )
    contact_id = created.json()["id"]
    updated = await client.patch(
        f"/api/v1/contacts/{contact_id}",
        json={"email": None, "tags": ["a", "b"]},
        headers=tenant.headers,
    )
    assert updated.status_code == 200
    body = updated.json()
    assert body["email"] is None
    assert body["tags"] == ["a", "b"]
    assert body["phone"] == "+5531988887777"
    assert body["name"] == "Carla"


async def test_updating_to_a_taken_phone_is_409(
    client: httpx.AsyncClient, tenant: TenantLogin
) -> None:
    first = await client.post(
        "/api/v1/contacts", json={"name": "A", "phone": "+5541977776666"}, headers=tenant.headers
    )
    second = await client.post("/api/v1/contacts", json={"name": "B"}, headers=tenant.headers)
    response = await client.patch(
        f"/api/v1/contacts/{second.json()['id']}",
        json={"phone": "+55 41 7777-6666"},
        headers=tenant.headers,
    )
    assert response.status_code == 409
    assert response.json()["existing_id"] == first.json()["id"]


async def test_a_deleted_contact_is_404_gone_from_lists_and_frees_its_phone(
    client: httpx.AsyncClient, tenant: TenantLogin
) -> None:
    created = await client.post(
        "/api/v1/contacts", json={"name": "Gone", "phone": "+5551966665555"}, headers=tenant.headers
    )
    contact_id = created.json()["id"]
    assert (
        await client.delete(f"/api/v1/contacts/{contact_id}", headers=tenant.headers)
    ).status_code == 204
    assert (
        await client.get(f"/api/v1/contacts/{contact_id}", headers=tenant.headers)
    ).status_code == 404
    assert (
        await client.delete(f"/api/v1/contacts/{contact_id}", headers=tenant.headers)
    ).status_code == 404
    listed = await client.get("/api/v1/contacts", params={"q": "Gone"}, headers=tenant.headers)
    assert listed.json()["items"] == []
    again = await client.post(
        "/api/v1/contacts", json={"name": "Back", "phone": "+5551966665555"}, headers=tenant.headers
    )
    assert again.status_code == 201


async def test_search_matches_name_email_and_phone_digits(
    client: httpx.AsyncClient, tenant: TenantLogin
) -> None:
    await client.post(
        "/api/v1/contacts",
        json={"name": "Joana Prado", "phone": "+5511955554444"},
        headers=tenant.headers,
    )
    await client.post(
        "/api/v1/contacts",
        json={"name": "Pedro", "email": "pedro@prado.dev"},
        headers=tenant.headers,
    )
    await client.post("/api/v1/contacts", json={"name": "Other 100%_"}, headers=tenant.headers)

    async def names(q: str) -> set[str]:
        response = await client.get("/api/v1/contacts", params={"q": q}, headers=tenant.headers)
        assert response.status_code == 200
        return {c["name"] for c in response.json()["items"]}

    assert await names("prado") == {"Joana Prado", "Pedro"}
    assert await names("JOANA") == {"Joana Prado"}
    assert await names("5555444") == {"Joana Prado"}
    assert await names("100%_") == {"Other 100%_"}
    assert await names("%") == {"Other 100%_"}


async def test_filter_by_tag_and_source(client: httpx.AsyncClient, tenant: TenantLogin) -> None:
    await client.post(
        "/api/v1/contacts",
        json={"name": "Tagged", "tags": ["vip"], "source": "ads"},
        headers=tenant.headers,
    )
    await client.post("/api/v1/contacts", json={"name": "Plain"}, headers=tenant.headers)
    by_tag = await client.get("/api/v1/contacts", params={"tag": "vip"}, headers=tenant.headers)
    by_source = await client.get(
        "/api/v1/contacts", params={"source": "ads"}, headers=tenant.headers
    )
    assert [c["name"] for c in by_tag.json()["items"]] == ["Tagged"]
    assert [c["name"] for c in by_source.json()["items"]] == ["Tagged"]


async def test_cursor_pagination_walks_every_contact_once_newest_first(
    client: httpx.AsyncClient, tenant: TenantLogin
) -> None:
    created = []
    for i in range(7):
        response = await client.post(
            "/api/v1/contacts", json={"name": f"Page {i}"}, headers=tenant.headers
        )
        created.append(response.json()["id"])
    seen: list[str] = []
    cursor = None
    while True:
        params = {"limit": 3, **({"cursor": cursor} if cursor else {})}
        page = (await client.get("/api/v1/contacts", params=params, headers=tenant.headers)).json()
        seen.extend(c["id"] for c in page["items"])
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert seen == list(reversed(created))


async def test_a_search_pages_through_its_own_tenants_live_matches_only(
    client: httpx.AsyncClient, tenant: TenantLogin, other_tenant: TenantLogin
) -> None:
    """Search runs in `ventros_search_contacts` (as the system role, to reach the trigram
    index): it must keep to the caller's tenant, skip deleted contacts and page by cursor."""
    word = f"Zephyr{uuid.uuid4().hex[:6]}"
    ours = []
    for i in range(5):
        made = await client.post(
            "/api/v1/contacts", json={"name": f"{word} {i}"}, headers=tenant.headers
        )
        ours.append(made.json()["id"])
    theirs = await client.post(
        "/api/v1/contacts", json={"name": f"{word} x"}, headers=other_tenant.headers
    )
    assert theirs.status_code == 201, theirs.text
    gone = await client.delete(f"/api/v1/contacts/{ours.pop()}", headers=tenant.headers)
    assert gone.status_code == 204, gone.text
    seen: list[str] = []
    cursor = None
    while True:
        params = {"q": word.lower(), "limit": 2, **({"cursor": cursor} if cursor else {})}
        page = (await client.get("/api/v1/contacts", params=params, headers=tenant.headers)).json()
        seen.extend(c["id"] for c in page["items"])
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert seen == list(reversed(ours))


async def test_limit_over_200_and_a_bad_cursor_are_422(
    client: httpx.AsyncClient, tenant: TenantLogin
) -> None:
    assert (
        await client.get("/api/v1/contacts", params={"limit": 201}, headers=tenant.headers)
    ).status_code == 422
    assert (
        await client.get("/api/v1/contacts", params={"cursor": "!!"}, headers=tenant.headers)
    ).status_code == 422
