"""The conversation screen's productivity tools over HTTP against real PostgreSQL: canned
reply suggestions filled for the contact, the composer's private note (and the note-only
form on someone else's session), label chips, and the inbox's label and mentions filters."""

from __future__ import annotations

import html
import re
from contextlib import aclosing

import httpx
import pytest
from fastapi import FastAPI

from tests.conftest import TenantLogin
from tests.integration.test_web_app import (
    add_user,
    conversation,
    count_hooks,
    inbox_ids,
    logged_in,
    web_app,  # noqa: F401 (the module's app fixture)
)
from ventros.identity.domain import Role
from ventros.runtime.container import Container

pytestmark = pytest.mark.integration


async def _api(client: httpx.AsyncClient, tenant: TenantLogin, path: str, body: dict) -> dict:
    response = await client.post(path, json=body, headers=tenant.headers)
    assert response.status_code == 201, response.text
    return dict(response.json())


async def test_typing_a_slash_suggests_canned_replies_filled_for_the_contact(
    web_app: FastAPI,  # noqa: F811
    client: httpx.AsyncClient,
    container: Container,
    tenant: TenantLogin,
) -> None:
    await _api(
        client,
        tenant,
        "/api/v1/canned-replies",
        {"shortcut": "boasvindas", "text": "Olá {{contact.first_name}}, aqui é {{agent.name}}!"},
    )
    await _api(client, tenant, "/api/v1/canned-replies", {"shortcut": "frete", "text": "Grátis"})
    agent = await add_user(container, tenant, Role.AGENT)
    session = await conversation(container, tenant, name="Márcia Lopes", agent_id=agent.id)
    web, _ = await logged_in(web_app, agent.email)
    async with aclosing(web):
        page = (await web.get(f"/app/inbox/{session.id}")).text
        assert count_hooks(page, "canned-suggestions") == 1
        url = f"/app/inbox/{session.id}/canned"
        found = (await web.get(url, params={"text": "/boa"})).text
        assert count_hooks(found, "canned-item") == 1
        [filled] = re.findall(r'data-canned-text="([^"]*)"', found)
        assert html.unescape(filled) == f"Olá Márcia, aqui é {agent.name}!"
        assert count_hooks((await web.get(url, params={"text": "/"})).text, "canned-item") == 0
        assert count_hooks((await web.get(url, params={"text": "/x"})).text, "canned-item") == 0
        # Words that are not a shortcut being typed suggest nothing.
        plain = (await web.get(url, params={"text": "/boa tarde"})).text
        assert count_hooks(plain, "canned-item") == 0


async def test_a_note_from_the_composer_is_shown_as_a_note_and_never_queued(
    web_app: FastAPI,  # noqa: F811
    client: httpx.AsyncClient,
    container: Container,
    tenant: TenantLogin,
) -> None:
    owner = await add_user(container, tenant, Role.AGENT)
    colleague = await add_user(container, tenant, Role.AGENT)
    viewer = await add_user(container, tenant, Role.VIEWER)
    session = await conversation(container, tenant, agent_id=owner.id)
    handle = colleague.email.partition("@")[0]
    web, csrf = await logged_in(web_app, owner.email)
    async with aclosing(web):
        posted = await web.post(
            f"/app/inbox/{session.id}/send",
            data={"csrf_token": csrf, "text": f"@{handle} olha esse cliente", "note": "on"},
        )
        assert posted.status_code == 303
        page = (await web.get(posted.headers["location"])).text
        assert count_hooks(page, "toast-info") == 1
        [note] = re.findall(r'<article class="message internal note"[^>]*>', page)
        assert 'data-type="note"' in note
        assert 'data-status="internal"' in note
    messages = await client.get(f"/api/v1/sessions/{session.id}/messages", headers=tenant.headers)
    assert [m["type"] for m in messages.json()["items"]] == ["text", "note"]
    sending = await client.get("/api/v1/events?name=message.sending", headers=tenant.headers)
    assert sending.json()["items"] == []

    # The colleague cannot answer the owner's session, yet may add a note, and finds the
    # session under their mentions.
    web, csrf = await logged_in(web_app, colleague.email)
    async with aclosing(web):
        page = (await web.get(f"/app/inbox/{session.id}")).text
        assert count_hooks(page, "composer-text") == 0
        assert count_hooks(page, "note-text") == 1
        mentions = (await web.get("/app/inbox?view=mentions")).text
        assert inbox_ids(mentions) == [str(session.id)]
        assert count_hooks(mentions, "inbox-mention") == 1
        assert count_hooks(mentions, "inbox-filter-mentions") == 1
        replied = await web.post(
            f"/app/inbox/{session.id}/send",
            data={"csrf_token": csrf, "text": "Vi, obrigado", "note": "on"},
        )
        assert replied.status_code == 303
        assert "toast_info=noted" in replied.headers["location"]
        # Without the note toggle it is a reply, which is the owner's: refused.
        refused = await web.post(
            f"/app/inbox/{session.id}/send", data={"csrf_token": csrf, "text": "Oi"}
        )
        assert refused.status_code == 403
    web, csrf = await logged_in(web_app, viewer.email)
    async with aclosing(web):
        page = (await web.get(f"/app/inbox/{session.id}")).text
        assert count_hooks(page, "note-text") == 0
        assert count_hooks(page, "composer-note") == 0
        denied = await web.post(
            f"/app/inbox/{session.id}/send", data={"csrf_token": csrf, "text": "x", "note": "on"}
        )
        assert denied.status_code == 403


async def test_labels_are_added_and_removed_in_the_header_and_filter_the_inbox(
    web_app: FastAPI,  # noqa: F811
    client: httpx.AsyncClient,
    container: Container,
    tenant: TenantLogin,
) -> None:
    vip = await _api(client, tenant, "/api/v1/labels", {"name": "VIP", "color": "#aa3300"})
    labelled = await conversation(container, tenant, name="Com Etiqueta")
    other = await conversation(container, tenant, name="Sem Etiqueta")
    web, csrf = await logged_in(web_app, tenant.email)
    async with aclosing(web):
        page = (await web.get(f"/app/inbox/{labelled.id}")).text
        assert count_hooks(page, "session-labels") == 1
        assert count_hooks(page, "session-label") == 0
        added = await web.post(
            f"/app/inbox/{labelled.id}/labels", data={"csrf_token": csrf, "label_id": vip["id"]}
        )
        assert added.status_code == 303
        page = (await web.get(added.headers["location"])).text
        assert count_hooks(page, "session-label") == 1
        assert 'data-color="#aa3300"' in page
        # The catalogue's only label is on: nothing left to add.
        assert count_hooks(page, "session-label-add") == 0

        inbox = (await web.get(f"/app/inbox?view=all&label={vip['id']}")).text
        assert count_hooks(inbox, "inbox-filter-label") == 1
        assert inbox_ids(inbox) == [str(labelled.id)]
        everyone = inbox_ids((await web.get("/app/inbox?view=all")).text)
        assert {str(labelled.id), str(other.id)} <= set(everyone)
        listed = (await web.get(f"/app/inbox/list?view=all&label={vip['id']}")).text
        assert inbox_ids(listed) == [str(labelled.id)]

        removed = await web.post(
            f"/app/inbox/{labelled.id}/labels/{vip['id']}/remove", data={"csrf_token": csrf}
        )
        assert removed.status_code == 303
        page = (await web.get(removed.headers["location"])).text
        assert count_hooks(page, "session-label") == 0
        assert count_hooks(page, "toast-info") == 1
        forged = await web.post(
            f"/app/inbox/{labelled.id}/labels", data={"csrf_token": "x", "label_id": vip["id"]}
        )
        assert forged.status_code == 403
    labeled = await client.get("/api/v1/events?name=session.labeled", headers=tenant.headers)
    assert len(labeled.json()["items"]) == 1
