"""The web app over HTTP against real PostgreSQL: login and its cookie, CSRF, the inbox
and its unread counts, a conversation's permissions per role, escaping, the locale."""

from __future__ import annotations

import re
import uuid
from collections.abc import AsyncIterator
from contextlib import aclosing
from datetime import timedelta

import httpx
import pytest
from fastapi import FastAPI

from tests.conftest import TEST_PASSWORD, TenantLogin
from ventros.contacts import service as contacts
from ventros.conversations.domain import Message, MessageContent, MessageType, Session
from ventros.conversations.repository import MessageRepository, SessionRepository
from ventros.identity.domain import Principal, Role, User
from ventros.identity.passwords import hash_password
from ventros.identity.repository import UserRepository
from ventros.kernel.clock import utcnow
from ventros.kernel.events import Actor
from ventros.kernel.ids import TenantId, UserId
from ventros.runtime.container import Container
from ventros.runtime.http import create_app

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def web_app(container: Container) -> FastAPI:
    return create_app(container)


def browser(app: FastAPI, *, https: bool = False) -> httpx.AsyncClient:
    """A client with its own cookie jar, like one browser."""
    scheme = "https" if https else "http"
    return httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url=f"{scheme}://ventros.test"
    )


async def add_user(container: Container, tenant: TenantLogin, role: Role) -> User:
    async with container.uow(tenant.tenant_id, Actor.system()) as tx:
        user = User.register(
            tenant_id=tenant.tenant_id,
            email=f"{role.value}-{uuid.uuid4().hex[:10]}@example.com",
            name=f"{role.value.title()} {uuid.uuid4().hex[:4]}",
            role=role,
            password_hash=await hash_password(TEST_PASSWORD),
        )
        await UserRepository(tx).add(user)
        await tx.commit()
    return user


def principal_of(tenant: TenantLogin) -> Principal:
    return Principal(
        user_id=UserId(tenant.admin_id),
        tenant_id=TenantId(tenant.tenant_id),
        role=Role.ADMIN,
        email=tenant.email,
    )


async def conversation(
    container: Container,
    tenant: TenantLogin,
    *,
    name: str = "Mariana Costa",
    texts: tuple[str, ...] = ("Olá!",),
    agent_id: uuid.UUID | None = None,
    age_seconds: float = 60,
) -> Session:
    contact = await contacts.create_contact(
        container.uow,
        principal_of(tenant),
        contacts.CreateContact(name=name, phone=f"+55119{uuid.uuid4().int % 10**8:08d}"),
    )
    at = utcnow() - timedelta(seconds=age_seconds)
    async with container.uow(tenant.tenant_id, Actor.system()) as tx:
        session = Session.open(
            tenant_id=tenant.tenant_id, contact_id=contact.id, channel_id=uuid.uuid4(), at=at
        )
        session.agent_id = agent_id
        sent = [
            Message.receive(
                tenant_id=tenant.tenant_id,
                session=session,
                content=MessageContent(type=MessageType.TEXT, text=text),
                at=at + timedelta(seconds=index),
                external_id=f"wamid-{uuid.uuid4().hex}",
            )
            for index, text in enumerate(texts)
        ]
        assert await SessionRepository(tx).add(session)
        for message in sent:
            assert await MessageRepository(tx).add(message)
        await tx.commit()
    return session


async def logged_in(app: FastAPI, email: str) -> tuple[httpx.AsyncClient, str]:
    """A browser logged in as `email`, and the CSRF token of its pages."""
    web = browser(app)
    response = await web.post("/login", data={"email": email, "password": TEST_PASSWORD})
    assert response.status_code == 303, response.text
    assert response.headers["location"] == "/app/inbox"
    page = await web.get("/app/inbox")
    assert page.status_code == 200
    found = re.search(r'name="csrf_token" value="([^"]+)"', page.text)
    assert found is not None
    return web, found.group(1)


def count_hooks(html: str, testid: str) -> int:
    return html.count(f'data-testid="{testid}"')


@pytest.fixture
async def admin_web(
    web_app: FastAPI, tenant: TenantLogin
) -> AsyncIterator[tuple[httpx.AsyncClient, str]]:
    web, csrf = await logged_in(web_app, tenant.email)
    async with aclosing(web):
        yield web, csrf


# --------------------------------------------------------------------------- login


async def test_wrong_password_shows_one_error_and_sets_no_cookie(
    web_app: FastAPI, tenant: TenantLogin
) -> None:
    async with browser(web_app) as web:
        for email in (tenant.email, "nobody@example.com"):
            response = await web.post("/login", data={"email": email, "password": "wrong-Pass1"})
            assert response.status_code == 401
            assert count_hooks(response.text, "login-error") == 1
            assert "ventros_session" not in response.headers.get("set-cookie", "")
        assert (await web.get("/app/inbox")).headers["location"] == "/login"


async def test_login_sets_a_strict_cookie_and_logout_revokes_it(
    web_app: FastAPI, tenant: TenantLogin
) -> None:
    async with browser(web_app, https=True) as web:
        response = await web.post("/login", data={"email": tenant.email, "password": TEST_PASSWORD})
        cookie = response.headers["set-cookie"].lower()
        assert "httponly" in cookie
        assert "samesite=lax" in cookie
        assert "secure" in cookie
    web, csrf = await logged_in(web_app, tenant.email)
    async with aclosing(web):
        page = await web.get("/app/inbox")
        assert "script-src 'self'" in page.headers["content-security-policy"]
        for hook in (
            "nav-inbox",
            "nav-contacts",
            "nav-pipelines",
            "nav-reports",
            "nav-settings",
            "agent-status",
            "locale-switch",
            "logout",
            "inbox-list",
        ):
            assert count_hooks(page.text, hook) == 1, hook
        stolen = web.cookies["ventros_session"]
        assert (await web.post("/logout", data={"csrf_token": csrf})).status_code == 303
    async with browser(web_app) as replay:
        replay.cookies.set("ventros_session", stolen)
        expired = await replay.get("/app/inbox")
        assert expired.status_code == 401
        assert count_hooks(expired.text, "session-expired") == 1


async def test_a_tampered_cookie_is_an_expired_session(
    web_app: FastAPI, tenant: TenantLogin
) -> None:
    web, _ = await logged_in(web_app, tenant.email)
    async with aclosing(web):
        token = web.cookies["ventros_session"]
        web.cookies.set("ventros_session", token[:-2] + ("00" if token[-2:] != "00" else "11"))
        assert (await web.get("/app/inbox")).status_code == 401


# --------------------------------------------------------------------------- CSRF


async def test_forged_or_missing_csrf_is_403_and_changes_nothing(
    web_app: FastAPI, container: Container, tenant: TenantLogin
) -> None:
    session = await conversation(container, tenant, agent_id=tenant.admin_id)
    web, csrf = await logged_in(web_app, tenant.email)
    async with aclosing(web):
        for data in ({}, {"csrf_token": "forged"}):
            response = await web.post(f"/app/inbox/{session.id}/close", data=data)
            assert response.status_code == 403
        forged_header = await web.post(
            f"/app/inbox/{session.id}/close", headers={"X-CSRF-Token": csrf + "x"}
        )
        assert forged_header.status_code == 403
        async with container.uow(tenant.tenant_id, Actor.system()) as tx:
            still = await SessionRepository(tx).get(session.id)
        assert still is not None
        assert still.status.value == "open"
        done = await web.post(f"/app/inbox/{session.id}/close", data={"csrf_token": csrf})
        assert done.status_code == 303
        async with container.uow(tenant.tenant_id, Actor.system()) as tx:
            closed = await SessionRepository(tx).get(session.id)
        assert closed is not None
        assert closed.status.value == "closed"


# --------------------------------------------------------------------------- inbox


def inbox_ids(html: str) -> list[str]:
    return re.findall(r'data-testid="inbox-item" data-session-id="([^"]+)"', html)


async def test_inbox_lists_unread_counts_and_opening_clears_them(
    web_app: FastAPI,
    container: Container,
    tenant: TenantLogin,
    admin_web: tuple[httpx.AsyncClient, str],
) -> None:
    web, _ = admin_web
    older = await conversation(container, tenant, name="Older", texts=("a",), age_seconds=600)
    newer = await conversation(container, tenant, name="Newer", texts=("b", "c", "d"))
    page = (await web.get("/app/inbox?view=all")).text
    ids = inbox_ids(page)
    assert ids.index(str(newer.id)) < ids.index(str(older.id))
    item = page[page.index(f'data-session-id="{newer.id}"') :]
    assert re.search(r'data-testid="inbox-unread"[^>]*>3<', item[: item.index("</li>")])
    # The waiting queue serves the oldest first.
    waiting = inbox_ids((await web.get("/app/inbox?view=unassigned")).text)
    assert waiting.index(str(older.id)) < waiting.index(str(newer.id))
    opened = await web.get(f"/app/inbox/{newer.id}")
    assert opened.status_code == 200
    assert count_hooks(opened.text, "message") == 3
    after = (await web.get("/app/inbox?view=all")).text
    item = after[after.index(f'data-session-id="{newer.id}"') :]
    assert "inbox-unread" not in item[: item.index("</li>")]
    found = inbox_ids((await web.get("/app/inbox?view=all&q=Older")).text)
    assert found == [str(older.id)]


async def test_inbox_pages_by_keyset(
    web_app: FastAPI,
    container: Container,
    tenant: TenantLogin,
    admin_web: tuple[httpx.AsyncClient, str],
) -> None:
    web, _ = admin_web
    made = [
        await conversation(container, tenant, name=f"P{i}", age_seconds=100 + i) for i in range(55)
    ]
    first = (await web.get("/app/inbox/list?view=all")).text
    cursor = re.search(r'after=([^"&]+)"', first)
    assert cursor is not None
    second = (await web.get(f"/app/inbox/list?view=all&after={cursor.group(1)}")).text
    seen = inbox_ids(first) + inbox_ids(second)
    assert len(seen) == len(set(seen)) == 55
    assert set(seen) == {str(s.id) for s in made}


# --------------------------------------------------------------------------- conversation


async def test_message_html_renders_as_text(
    web_app: FastAPI,
    container: Container,
    tenant: TenantLogin,
    admin_web: tuple[httpx.AsyncClient, str],
) -> None:
    web, _ = admin_web
    evil = "<script>alert(1)</script> <img src=x onerror=alert(2)> [x](javascript:alert(3)) *ok*"
    session = await conversation(container, tenant, texts=(evil,))
    page = (await web.get(f"/app/inbox/{session.id}")).text
    assert "<script>alert(1)" not in page
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    assert "<img src=x" not in page
    assert 'href="javascript:' not in page
    assert "<strong>ok</strong>" in page


async def test_another_tenants_session_is_a_404_page(
    web_app: FastAPI, container: Container, tenant: TenantLogin, other_tenant: TenantLogin
) -> None:
    theirs = await conversation(container, other_tenant)
    web, csrf = await logged_in(web_app, tenant.email)
    async with aclosing(web):
        response = await web.get(f"/app/inbox/{theirs.id}")
        assert response.status_code == 404
        assert count_hooks(response.text, "error-404") == 1
        posted = await web.post(f"/app/inbox/{theirs.id}/close", data={"csrf_token": csrf})
        assert posted.status_code == 404


async def test_viewer_sees_no_write_control_and_a_crafted_post_is_403(
    web_app: FastAPI, container: Container, tenant: TenantLogin
) -> None:
    viewer = await add_user(container, tenant, Role.VIEWER)
    session = await conversation(container, tenant)
    web, csrf = await logged_in(web_app, viewer.email)
    async with aclosing(web):
        page = (await web.get(f"/app/inbox/{session.id}")).text
        for control in (
            "composer-text",
            "composer-send",
            "action-take",
            "action-assign",
            "action-transfer",
            "action-close",
        ):
            assert count_hooks(page, control) == 0, control
        assert count_hooks(page, "conversation") == 1
        for action in ("take", "close", "send"):
            response = await web.post(
                f"/app/inbox/{session.id}/{action}", data={"csrf_token": csrf, "text": "hi"}
            )
            assert response.status_code == 403, action


async def test_agent_reads_another_agents_session_and_cannot_transfer_it(
    web_app: FastAPI, container: Container, tenant: TenantLogin
) -> None:
    owner = await add_user(container, tenant, Role.AGENT)
    other = await add_user(container, tenant, Role.AGENT)
    session = await conversation(container, tenant, agent_id=owner.id)
    web, csrf = await logged_in(web_app, other.email)
    async with aclosing(web):
        page = (await web.get(f"/app/inbox/{session.id}")).text
        assert count_hooks(page, "message") == 1
        for control in ("action-transfer", "transfer-note", "action-close", "composer-text"):
            assert count_hooks(page, control) == 0, control
        transfer = await web.post(
            f"/app/inbox/{session.id}/transfer",
            data={"csrf_token": csrf, "to_agent_id": str(other.id), "note": "mine now"},
        )
        assert transfer.status_code == 403
    async with container.uow(tenant.tenant_id, Actor.system()) as tx:
        unchanged = await SessionRepository(tx).get(session.id)
    assert unchanged is not None
    assert unchanged.agent_id == owner.id


async def test_agent_takes_a_waiting_session_and_replies(
    web_app: FastAPI, container: Container, tenant: TenantLogin
) -> None:
    agent = await add_user(container, tenant, Role.AGENT)
    session = await conversation(container, tenant)
    web, csrf = await logged_in(web_app, agent.email)
    async with aclosing(web):
        page = (await web.get(f"/app/inbox/{session.id}")).text
        assert count_hooks(page, "action-take") == 1
        taken = await web.post(f"/app/inbox/{session.id}/take", data={"csrf_token": csrf})
        assert taken.status_code == 303
        page = (await web.get(taken.headers["location"])).text
        assert count_hooks(page, "toast-info") == 1
        assert count_hooks(page, "composer-text") == 1
        assert count_hooks(page, "window-closed-notice") == 0
        assert str(session.id) in inbox_ids((await web.get("/app/inbox?view=mine")).text)


async def test_a_session_outside_the_24h_window_disables_the_composer(
    web_app: FastAPI,
    container: Container,
    tenant: TenantLogin,
    admin_web: tuple[httpx.AsyncClient, str],
) -> None:
    web, _ = admin_web
    session = await conversation(container, tenant, agent_id=tenant.admin_id, age_seconds=25 * 3600)
    page = (await web.get(f"/app/inbox/{session.id}")).text
    assert count_hooks(page, "window-closed-notice") == 1
    assert re.search(r'data-testid="composer-text"\s+disabled', page)


async def test_english_switch_changes_the_strings(
    web_app: FastAPI, tenant: TenantLogin, admin_web: tuple[httpx.AsyncClient, str]
) -> None:
    web, csrf = admin_web
    page = (await web.get("/app/inbox")).text
    assert 'lang="pt-BR"' in page
    assert "Caixa de entrada" in page
    switched = await web.post("/app/locale", data={"locale": "en"}, headers={"X-CSRF-Token": csrf})
    assert switched.status_code == 204
    page = (await web.get("/app/inbox")).text
    assert 'lang="en"' in page
    assert "Caixa de entrada" not in page
    assert ">Inbox<" in page


async def test_a_refused_stage_move_comes_back_as_a_toast_error(
    web_app: FastAPI,
    container: Container,
    tenant: TenantLogin,
    admin_web: tuple[httpx.AsyncClient, str],
) -> None:
    from ventros.pipelines import service as pipelines

    web, csrf = admin_web
    session = await conversation(container, tenant, agent_id=tenant.admin_id)
    admin = principal_of(tenant)
    pipeline = await pipelines.create_pipeline(
        container.uow,
        admin,
        pipelines.CreatePipeline(
            name="Funil",
            stages=[("Novo", "open"), ("Ganho", "won")],
            allowed_transitions=[("Ganho", "Novo")],
        ),
    )
    new, won = pipeline.stages
    back = f"/app/inbox/{session.id}"
    moved = await web.post(
        f"/app/contacts/{session.contact_id}/stage",
        data={"csrf_token": csrf, "stage": f"{pipeline.id}:{new.id}", "next": back},
    )
    assert moved.status_code == 303
    page = (await web.get(moved.headers["location"])).text
    assert count_hooks(page, "toast-info") == 1
    refused = await web.post(
        f"/app/contacts/{session.contact_id}/stage",
        data={"csrf_token": csrf, "stage": f"{pipeline.id}:{won.id}", "next": back},
    )
    assert refused.headers["location"] == f"{back}?toast_error=forbidden_move"
    page = (await web.get(refused.headers["location"])).text
    assert count_hooks(page, "toast-error") == 1
    stages = await pipelines.contact_stages(container.uow, admin, session.contact_id, [pipeline.id])
    assert stages[pipeline.id] == new.id
