"""Canned replies, private notes and conversation labels over the API, against real
PostgreSQL: the catalogues' CRUD and their errors, rendering for a session, RBAC, another
tenant seeing nothing, events, and the mentions view of the inbox."""

from __future__ import annotations

import uuid
from typing import Any

import httpx
import pytest

from tests.conftest import TenantLogin
from tests.integration.test_sessions_assignment import _user_login
from tests.integration.test_web_app import conversation
from ventros.conversations import inbox
from ventros.identity.domain import Principal, Role
from ventros.kernel.ids import TenantId, UserId
from ventros.runtime.container import Container

pytestmark = pytest.mark.integration

Json = dict[str, Any]


async def _ok(response: httpx.Response, status: int = 200) -> Any:
    assert response.status_code == status, response.text
    return response.json() if response.content else None


async def events_named(client: httpx.AsyncClient, tenant: TenantLogin, name: str) -> list[Json]:
    page = await _ok(await client.get(f"/api/v1/events?name={name}", headers=tenant.headers))
    return list(page["items"])


# --------------------------------------------------------------------------- canned replies


async def test_admins_write_canned_replies_agents_read_them_and_viewers_are_refused(
    client: httpx.AsyncClient, tenant: TenantLogin
) -> None:
    h = tenant.headers
    created = await _ok(
        await client.post(
            "/api/v1/canned-replies",
            json={"shortcut": "/Obrigado", "text": "Obrigado, {{contact.first_name}}!"},
            headers=h,
        ),
        201,
    )
    assert created["shortcut"] == "obrigado"
    _, agent_h = await _user_login(client, tenant, "agent")
    _, viewer_h = await _user_login(client, tenant, "viewer")
    _, supervisor_h = await _user_login(client, tenant, "supervisor")
    listed = await _ok(await client.get("/api/v1/canned-replies", headers=agent_h))
    assert [r["id"] for r in listed["items"]] == [created["id"]]
    body = {"shortcut": "/frete", "text": "Frete grátis acima de R$ 200"}
    for refused in (agent_h, viewer_h):
        answer = await client.post("/api/v1/canned-replies", json=body, headers=refused)
        assert answer.status_code == 403
        assert answer.headers["content-type"].startswith("application/problem+json")
    await _ok(await client.post("/api/v1/canned-replies", json=body, headers=supervisor_h), 201)
    url = f"/api/v1/canned-replies/{created['id']}"
    assert (await client.patch(url, json={"text": "x"}, headers=agent_h)).status_code == 403
    assert (await client.delete(url, headers=viewer_h)).status_code == 403


async def test_an_unknown_variable_is_422_naming_the_field_and_a_taken_shortcut_409(
    client: httpx.AsyncClient, tenant: TenantLogin
) -> None:
    h = tenant.headers
    unknown = await client.post(
        "/api/v1/canned-replies", json={"shortcut": "oi", "text": "Oi {{contact.foo}}"}, headers=h
    )
    assert unknown.status_code == 422
    problem = unknown.json()
    assert problem["errors"][0]["loc"][-1] == "text"
    assert "contact.foo" in problem["detail"]
    first = await _ok(
        await client.post(
            "/api/v1/canned-replies", json={"shortcut": "oi", "text": "Oi!"}, headers=h
        ),
        201,
    )
    again = await client.post(
        "/api/v1/canned-replies", json={"shortcut": "/OI", "text": "Olá"}, headers=h
    )
    assert again.status_code == 409
    assert again.json()["existing_id"] == first["id"]
    # Another scope (a team's replies) may use the same shortcut, once.
    made = await client.post("/api/v1/teams", json={"name": "Vendas"}, headers=h)
    team = (await _ok(made, 201))["id"]
    body = {"shortcut": "oi", "text": "Oi do time", "team_id": team}
    await _ok(await client.post("/api/v1/canned-replies", json=body, headers=h), 201)
    assert (await client.post("/api/v1/canned-replies", json=body, headers=h)).status_code == 409
    # Renaming onto a taken shortcut is the same conflict; a bad variable on PATCH too.
    other = await _ok(
        await client.post(
            "/api/v1/canned-replies", json={"shortcut": "tchau", "text": "Tchau"}, headers=h
        ),
        201,
    )
    url = f"/api/v1/canned-replies/{other['id']}"
    assert (await client.patch(url, json={"shortcut": "oi"}, headers=h)).status_code == 409
    bad = await client.patch(url, json={"text": "{{agent.phone}}"}, headers=h)
    assert bad.status_code == 422
    assert bad.json()["errors"][0]["loc"][-1] == "text"
    missing_file = await client.post(
        "/api/v1/canned-replies",
        json={"shortcut": "foto", "text": "Veja", "media_id": str(uuid.uuid4())},
        headers=h,
    )
    assert missing_file.status_code == 422
    assert missing_file.json()["errors"][0]["loc"][-1] == "media_id"
    for bad_shortcut in ("", "/", "com espaço"):
        answer = await client.post(
            "/api/v1/canned-replies", json={"shortcut": bad_shortcut, "text": "x"}, headers=h
        )
        assert answer.status_code == 422, bad_shortcut


async def test_a_replys_team_must_be_one_of_the_tenants_teams(
    client: httpx.AsyncClient, tenant: TenantLogin, other_tenant: TenantLogin
) -> None:
    h = tenant.headers
    theirs = await _ok(
        await client.post("/api/v1/teams", json={"name": "Deles"}, headers=other_tenant.headers),
        201,
    )
    ours = await _ok(await client.post("/api/v1/teams", json={"name": "Suporte"}, headers=h), 201)
    for team_id in (str(uuid.uuid4()), theirs["id"]):
        body = {"shortcut": "garantia", "text": "Garantia de 1 ano", "team_id": team_id}
        refused = await client.post("/api/v1/canned-replies", json=body, headers=h)
        assert refused.status_code == 422, refused.text
        assert refused.headers["content-type"].startswith("application/problem+json")
        assert refused.json()["errors"][0]["loc"][-1] == "team_id"
    body = {"shortcut": "garantia", "text": "Garantia de 1 ano", "team_id": ours["id"]}
    reply = await _ok(await client.post("/api/v1/canned-replies", json=body, headers=h), 201)
    assert reply["team_id"] == ours["id"]
    url = f"/api/v1/canned-replies/{reply['id']}"
    moved = await client.patch(url, json={"team_id": theirs["id"]}, headers=h)
    assert moved.status_code == 422, moved.text
    assert moved.json()["errors"][0]["loc"][-1] == "team_id"
    assert (await _ok(await client.get(url, headers=h)))["team_id"] == ours["id"]
    # null still makes it the tenant's reply.
    cleared = await _ok(await client.patch(url, json={"team_id": None}, headers=h))
    assert cleared["team_id"] is None


async def test_replies_are_found_by_shortcut_or_words_changed_and_deleted(
    client: httpx.AsyncClient, tenant: TenantLogin
) -> None:
    h = tenant.headers
    ids = {}
    for shortcut, text in (
        ("orcamento", "Segue o orçamento"),
        ("oi", "Olá, tudo bem?"),
        ("frete", "Frete grátis acima de R$ 200"),
    ):
        created = await client.post(
            "/api/v1/canned-replies", json={"shortcut": shortcut, "text": text}, headers=h
        )
        ids[shortcut] = (await _ok(created, 201))["id"]

    async def found(q: str) -> set[str]:
        page = await _ok(await client.get("/api/v1/canned-replies", params={"q": q}, headers=h))
        return {r["shortcut"] for r in page["items"]}

    assert await found("/o") == {"orcamento", "oi"}
    assert await found("/OR") == {"orcamento"}
    assert await found("GRÁTIS frete") == {"frete"}
    assert await found("tudo") == {"oi"}
    assert await found("nada disso") == set()
    paged = await _ok(await client.get("/api/v1/canned-replies?limit=2", headers=h))
    assert len(paged["items"]) == 2
    rest = await _ok(
        await client.get(f"/api/v1/canned-replies?limit=2&cursor={paged['next_cursor']}", headers=h)
    )
    assert len(rest["items"]) == 1
    assert rest["next_cursor"] is None

    url = f"/api/v1/canned-replies/{ids['oi']}"
    changed = await _ok(await client.patch(url, json={"text": "Oi {{agent.name}}"}, headers=h))
    assert changed["text"] == "Oi {{agent.name}}"
    assert changed["shortcut"] == "oi"
    await _ok(await client.delete(url, headers=h), 204)
    assert (await client.get(url, headers=h)).status_code == 404
    assert [
        e["data"]["shortcut"] for e in await events_named(client, tenant, "canned_reply.deleted")
    ] == ["oi"]


async def test_a_reply_renders_for_the_sessions_contact_and_the_agent(
    client: httpx.AsyncClient, container: Container, tenant: TenantLogin
) -> None:
    h = tenant.headers
    contact = await _ok(
        await client.post(
            "/api/v1/contacts",
            json={
                "name": "Júlia Gonçalves",
                "phone": "+5511987650001",
                "custom_fields": {"cidade": "Florianópolis"},
            },
            headers=h,
        ),
        201,
    )
    session = await conversation(container, tenant, name="placeholder")
    # The session of the contact created over the API.
    from ventros.conversations.domain import Session
    from ventros.conversations.repository import SessionRepository
    from ventros.kernel.clock import utcnow
    from ventros.kernel.events import Actor

    async with container.uow(tenant.tenant_id, Actor.system()) as tx:
        own = Session.open(
            tenant_id=tenant.tenant_id,
            contact_id=uuid.UUID(contact["id"]),
            channel_id=uuid.uuid4(),
            at=utcnow(),
        )
        assert await SessionRepository(tx).add(own)
        await tx.commit()
    reply = await _ok(
        await client.post(
            "/api/v1/canned-replies",
            json={
                "shortcut": "boasvindas",
                "text": "Olá {{contact.first_name}}, sou {{agent.name}}. "
                "Entregamos em {{custom.cidade}}{{custom.bairro}}!",
            },
            headers=h,
        ),
        201,
    )
    rendered = await _ok(
        await client.get(
            f"/api/v1/canned-replies/{reply['id']}/render?session_id={own.id}", headers=h
        )
    )
    me = await _ok(await client.get("/api/v1/me", headers=h))
    assert rendered["text"] == f"Olá Júlia, sou {me['name']}. Entregamos em Florianópolis!"
    # Another contact without the field: empty, no braces.
    other = await _ok(
        await client.get(
            f"/api/v1/canned-replies/{reply['id']}/render?session_id={session.id}", headers=h
        )
    )
    assert "{{" not in other["text"]
    assert other["text"].endswith("Entregamos em !")
    missing = await client.get(
        f"/api/v1/canned-replies/{reply['id']}/render?session_id={uuid.uuid4()}", headers=h
    )
    assert missing.status_code == 404


async def test_another_tenant_sees_none_of_the_replies_labels_or_notes(
    client: httpx.AsyncClient, container: Container, tenant: TenantLogin, other_tenant: TenantLogin
) -> None:
    h, them = tenant.headers, other_tenant.headers
    reply = await _ok(
        await client.post(
            "/api/v1/canned-replies", json={"shortcut": "oi", "text": "Oi"}, headers=h
        ),
        201,
    )
    label = await _ok(await client.post("/api/v1/labels", json={"name": "VIP"}, headers=h), 201)
    session = await conversation(container, tenant)
    await _ok(
        await client.post(f"/api/v1/sessions/{session.id}/notes", json={"text": "x"}, headers=h),
        201,
    )

    assert (await _ok(await client.get("/api/v1/canned-replies", headers=them)))["items"] == []
    assert await _ok(await client.get("/api/v1/labels", headers=them)) == []
    for url in (f"/api/v1/canned-replies/{reply['id']}", f"/api/v1/labels/{label['id']}"):
        assert (await client.get(url, headers=them)).status_code == 404
        assert (await client.delete(url, headers=them)).status_code == 404
    assert (
        await client.get(
            f"/api/v1/canned-replies/{reply['id']}/render?session_id={session.id}", headers=them
        )
    ).status_code == 404
    labels_url = f"/api/v1/sessions/{session.id}/labels"
    assert (
        await client.post(labels_url, json={"label_id": label["id"]}, headers=them)
    ).status_code == 404
    assert (await client.get(labels_url, headers=them)).status_code == 404
    note = await client.post(
        f"/api/v1/sessions/{session.id}/notes", json={"text": "x"}, headers=them
    )
    assert note.status_code == 404
    # Their own session with our label: the label is not theirs.
    theirs = await conversation(container, other_tenant)
    foreign = await client.post(
        f"/api/v1/sessions/{theirs.id}/labels", json={"label_id": label["id"]}, headers=them
    )
    assert foreign.status_code == 404
    assert (
        await client.get(f"/api/v1/sessions?label={label['id']}", headers=them)
    ).status_code == 404


# --------------------------------------------------------------------------- labels


async def test_labels_catalogue_crud_with_conflicts_and_bad_colours(
    client: httpx.AsyncClient, tenant: TenantLogin
) -> None:
    h = tenant.headers
    vip = await _ok(
        await client.post("/api/v1/labels", json={"name": "VIP", "color": "#FFAA00"}, headers=h),
        201,
    )
    assert vip["color"] == "#ffaa00"
    dup = await client.post("/api/v1/labels", json={"name": "vip"}, headers=h)
    assert dup.status_code == 409
    assert dup.json()["existing_id"] == vip["id"]
    bad = await client.post(
        "/api/v1/labels", json={"name": "Reclamação", "color": "red"}, headers=h
    )
    assert bad.status_code == 422
    assert bad.json()["errors"][0]["loc"][-1] == "color"
    assert (await client.post("/api/v1/labels", json={"name": "  "}, headers=h)).status_code == 422
    complaint = await _ok(
        await client.post("/api/v1/labels", json={"name": "Reclamação"}, headers=h), 201
    )
    assert [x["name"] for x in await _ok(await client.get("/api/v1/labels", headers=h))] == [
        "Reclamação",
        "VIP",
    ]
    renamed = await _ok(
        await client.patch(f"/api/v1/labels/{complaint['id']}", json={"name": "Queixa"}, headers=h)
    )
    assert renamed["name"] == "Queixa"
    taken = await client.patch(f"/api/v1/labels/{complaint['id']}", json={"name": "VIP"}, headers=h)
    assert taken.status_code == 409
    _, agent_h = await _user_login(client, tenant, "agent")
    assert (
        await client.post("/api/v1/labels", json={"name": "X"}, headers=agent_h)
    ).status_code == 403
    assert (await client.delete(f"/api/v1/labels/{vip['id']}", headers=agent_h)).status_code == 403
    assert len(await _ok(await client.get("/api/v1/labels", headers=agent_h))) == 2
    await _ok(await client.delete(f"/api/v1/labels/{vip['id']}", headers=h), 204)
    assert (await client.get(f"/api/v1/labels/{vip['id']}", headers=h)).status_code == 404


async def test_labels_go_on_and_off_sessions_with_events_and_filter_the_session_list(
    client: httpx.AsyncClient, container: Container, tenant: TenantLogin
) -> None:
    h = tenant.headers
    vip = await _ok(await client.post("/api/v1/labels", json={"name": "VIP"}, headers=h), 201)
    quote = await _ok(
        await client.post("/api/v1/labels", json={"name": "Orçamento"}, headers=h), 201
    )
    labelled, plain = await conversation(container, tenant), await conversation(container, tenant)
    _, agent_h = await _user_login(client, tenant, "agent")
    _, viewer_h = await _user_login(client, tenant, "viewer")
    url = f"/api/v1/sessions/{labelled.id}/labels"
    current = await _ok(await client.post(url, json={"label_id": vip["id"]}, headers=agent_h))
    assert [x["name"] for x in current] == ["VIP"]
    current = await _ok(await client.post(url, json={"label_id": quote["id"]}, headers=h))
    assert [x["name"] for x in current] == ["Orçamento", "VIP"]
    # Again: no change, no second event.
    await _ok(await client.post(url, json={"label_id": vip["id"]}, headers=h))
    refused = await client.post(url, json={"label_id": vip["id"]}, headers=viewer_h)
    assert refused.status_code == 403
    unknown = await client.post(url, json={"label_id": str(uuid.uuid4())}, headers=h)
    assert unknown.status_code == 404
    no_session = await client.post(
        f"/api/v1/sessions/{uuid.uuid4()}/labels", json={"label_id": vip["id"]}, headers=h
    )
    assert no_session.status_code == 404

    listed = await _ok(await client.get(f"/api/v1/sessions?label={vip['id']}", headers=viewer_h))
    assert [s["id"] for s in listed["items"]] == [str(labelled.id)]
    everyone = await _ok(await client.get("/api/v1/sessions", headers=h))
    assert {str(labelled.id), str(plain.id)} <= {s["id"] for s in everyone["items"]}
    assert (
        await client.get(f"/api/v1/sessions?label={uuid.uuid4()}", headers=h)
    ).status_code == 404

    labeled = await events_named(client, tenant, "session.labeled")
    assert sorted(e["data"]["label"] for e in labeled) == ["Orçamento", "VIP"]
    assert {e["data"]["session_id"] for e in labeled} == {str(labelled.id)}

    current = await _ok(await client.delete(f"{url}/{vip['id']}", headers=agent_h))
    assert [x["name"] for x in current] == ["Orçamento"]
    assert (await client.delete(f"{url}/{vip['id']}", headers=h)).status_code == 404
    unlabeled = await events_named(client, tenant, "session.unlabeled")
    assert [e["data"]["label_id"] for e in unlabeled] == [vip["id"]]
    listed = await _ok(await client.get(f"/api/v1/sessions?label={vip['id']}", headers=h))
    assert listed["items"] == []
    # A label deleted from the catalogue leaves the sessions that had it.
    await _ok(await client.delete(f"/api/v1/labels/{quote['id']}", headers=h), 204)
    assert await _ok(await client.get(url, headers=h)) == []


# --------------------------------------------------------------------------- notes


async def test_a_note_is_an_internal_message_any_writer_adds_even_when_closed(
    client: httpx.AsyncClient, container: Container, tenant: TenantLogin
) -> None:
    h = tenant.headers
    session = await conversation(container, tenant, texts=("Quero trocar o pedido",))
    before = await _ok(await client.get(f"/api/v1/sessions/{session.id}", headers=h))
    url = f"/api/v1/sessions/{session.id}/notes"
    note = await _ok(
        await client.post(url, json={"text": "  Cliente VIP, priorizar  "}, headers=h), 201
    )
    assert note["type"] == "note"
    assert note["direction"] == "internal"
    assert note["status"] == "internal"
    assert note["text"] == "Cliente VIP, priorizar"
    assert note["author_id"] == str(tenant.admin_id)
    messages = await _ok(await client.get(f"/api/v1/sessions/{session.id}/messages", headers=h))
    assert [m["type"] for m in messages["items"]] == ["text", "note"]
    # It is not activity: the session's clock and reply counts stay.
    fetched = await _ok(await client.get(f"/api/v1/sessions/{session.id}", headers=h))
    assert fetched["reply_count"] == 0
    assert fetched["last_activity_at"] == before["last_activity_at"]

    _, agent_h = await _user_login(client, tenant, "agent")
    _, viewer_h = await _user_login(client, tenant, "viewer")
    # Any agent may write one, even on a session that is not theirs; viewers may not.
    await _ok(await client.post(url, json={"text": "vi aqui"}, headers=agent_h), 201)
    assert (await client.post(url, json={"text": "x"}, headers=viewer_h)).status_code == 403
    empty = await client.post(url, json={"text": "   "}, headers=h)
    assert empty.status_code == 422
    assert empty.json()["errors"][0]["loc"][-1] == "text"
    assert (await client.post(url, json={}, headers=h)).status_code == 422
    missing = await client.post(
        f"/api/v1/sessions/{uuid.uuid4()}/notes", json={"text": "x"}, headers=h
    )
    assert missing.status_code == 404

    await _ok(await client.post(f"/api/v1/sessions/{session.id}/close", headers=h))
    after = await client.post(
        url, json={"text": "Cliente ligou depois: resolvido"}, headers=agent_h
    )
    assert after.status_code == 201
    added = await events_named(client, tenant, "session.note_added")
    assert len(added) == 3
    assert await events_named(client, tenant, "message.sending") == []


async def test_a_mention_raises_agent_mentioned_and_shows_in_the_agents_inbox(
    client: httpx.AsyncClient, container: Container, tenant: TenantLogin
) -> None:
    h = tenant.headers
    ana_id, _ = await _user_login(client, tenant, "agent")
    ana = await _ok(await client.get(f"/api/v1/agents/{ana_id}", headers=h))
    handle = ana["email"].partition("@")[0]
    mentioned = await conversation(container, tenant, name="Cliente Mencionado")
    other = await conversation(container, tenant, name="Outro Cliente")
    await _ok(
        await client.post(
            f"/api/v1/sessions/{mentioned.id}/notes",
            json={"text": f"@{handle.upper()}, pode ver o pedido? @ninguem.aqui"},
            headers=h,
        ),
        201,
    )
    await _ok(
        await client.post(
            f"/api/v1/sessions/{other.id}/notes", json={"text": "sem menção"}, headers=h
        ),
        201,
    )
    [event] = await events_named(client, tenant, "agent.mentioned")
    assert event["data"]["agent_id"] == ana_id
    assert event["data"]["session_id"] == str(mentioned.id)
    assert event["data"]["author_id"] == str(tenant.admin_id)

    def principal(user_id: str, role: Role) -> Principal:
        return Principal(
            user_id=UserId(uuid.UUID(user_id)),
            tenant_id=TenantId(tenant.tenant_id),
            role=role,
            email="x@example.com",
        )

    page = await inbox.list_inbox(
        container.uow, principal(ana_id, Role.AGENT), view="mentions", search=None, limit=20
    )
    assert [item.session_id for item in page.items] == [mentioned.id]
    assert page.items[0].mentioned
    admin_page = await inbox.list_inbox(
        container.uow,
        principal(str(tenant.admin_id), Role.ADMIN),
        view="mentions",
        search=None,
        limit=20,
    )
    assert admin_page.items == []


async def test_the_service_report_can_keep_one_labels_sessions(
    client: httpx.AsyncClient, container: Container, tenant: TenantLogin
) -> None:
    h = tenant.headers
    vip = await _ok(await client.post("/api/v1/labels", json={"name": "VIP"}, headers=h), 201)
    labelled = await conversation(container, tenant)
    await conversation(container, tenant)
    await conversation(container, tenant)
    await _ok(
        await client.post(
            f"/api/v1/sessions/{labelled.id}/labels", json={"label_id": vip["id"]}, headers=h
        )
    )
    everything = await _ok(await client.get("/api/v1/reports/service", headers=h))
    assert everything["overall"]["sessions"] == 3
    only_vip = await _ok(await client.get(f"/api/v1/reports/service?label={vip['id']}", headers=h))
    assert only_vip["overall"]["sessions"] == 1
    unknown = await client.get(f"/api/v1/reports/service?label={uuid.uuid4()}", headers=h)
    assert unknown.status_code == 404


async def test_row_level_security_hides_other_tenants_replies_labels_and_mentions(
    client: httpx.AsyncClient, container: Container, tenant: TenantLogin, other_tenant: TenantLogin
) -> None:
    """Raw SQL with no filter, as the app's role: each new table shows one tenant only."""
    from sqlalchemy import text

    for login in (tenant, other_tenant):
        h = login.headers
        await _ok(
            await client.post(
                "/api/v1/canned-replies", json={"shortcut": "oi", "text": "Oi"}, headers=h
            ),
            201,
        )
        label = await _ok(await client.post("/api/v1/labels", json={"name": "VIP"}, headers=h), 201)
        session = await conversation(container, login)
        await _ok(
            await client.post(
                f"/api/v1/sessions/{session.id}/labels", json={"label_id": label["id"]}, headers=h
            )
        )
        handle = login.email.partition("@")[0]
        await _ok(
            await client.post(
                f"/api/v1/sessions/{session.id}/notes", json={"text": f"@{handle}"}, headers=h
            ),
            201,
        )
    async with container.database.app.connect() as conn, conn.begin():
        await conn.execute(
            text("SELECT set_config('app.tenant_id', :t, true)"), {"t": str(tenant.tenant_id)}
        )
        for table in ("canned_replies", "labels", "session_labels", "note_mentions"):
            seen = (await conn.execute(text(f"SELECT tenant_id FROM {table}"))).scalars().all()
            assert set(seen) == {tenant.tenant_id}, table
