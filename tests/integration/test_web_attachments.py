"""The web composer's attachments: a multipart send stores the file through media (WhatsApp's
types, 16 MiB) and sends it by `media_id` through the same use case as the API; refusals
come back as a toast and send nothing; CSRF is checked on multipart forms too."""

from __future__ import annotations

import os
import re
import uuid
from collections.abc import AsyncIterator
from contextlib import aclosing
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from fastapi import FastAPI

from tests.conftest import TenantLogin
from tests.integration.test_media_uploads import store
from tests.integration.test_waha_simulator_sending import Running, customer_writes, waha
from tests.integration.test_web_app import count_hooks, logged_in, principal_of
from ventros.conversations import inbox
from ventros.conversations import service as conversations
from ventros.conversations.domain import Direction, Message
from ventros.conversations.repository import SessionFilter
from ventros.media.store import MediaStore
from ventros.runtime.container import Container

pytestmark = pytest.mark.integration
__all__ = ["store", "waha"]  # shared fixtures

PNG = b"\x89PNG\r\n\x1a\n" + os.urandom(2_000)
OVER_16_MIB = ("grande.jpg", b"\xff\xd8\xff" + bytes(17 << 20), "image/jpeg")
EXE = ("setup.exe", b"MZ\x90\x00" + bytes(1000), "application/x-msdownload")
EXE_AS_PDF = ("nota.pdf", b"MZ\x90\x00" + bytes(1000), "application/pdf")


def app_of(client: httpx.AsyncClient) -> FastAPI:
    """The session's app: the one whose media store the `store` fixture replaced."""
    app: FastAPI = client._transport.app  # type: ignore[attr-defined]
    return app


async def customer_session(
    client: httpx.AsyncClient, container: Container, tenant: TenantLogin, waha: Running
) -> uuid.UUID:
    """A session on a real channel, its 24-hour window open (the customer just wrote)."""
    _, contact_id = await customer_writes(client, container, tenant, waha)
    of_contact = SessionFilter(contact_id=uuid.UUID(contact_id))
    found = await conversations.list_sessions(
        container.uow, principal_of(tenant), of_contact, limit=5
    )
    assert len(found.items) == 1
    return found.items[0].id


async def outbound(
    container: Container, tenant: TenantLogin, session_id: uuid.UUID
) -> list[Message]:
    opened = await inbox.open_conversation(
        container.uow, principal_of(tenant), session_id, limit=50, mark_as_read=False
    )
    return [m for m in opened.messages if m.direction is Direction.OUTBOUND]


def stored_files(tmp_path: Path) -> list[Path]:
    return [p for p in (tmp_path / "media").rglob("*") if p.is_file()]


@dataclass
class Composer:
    """A logged-in agent's web client on a customer's open conversation."""

    session_id: uuid.UUID
    web: httpx.AsyncClient
    csrf: str

    @property
    def page(self) -> str:
        return f"/app/inbox/{self.session_id}"

    async def send(
        self, file: tuple[str, bytes, str], text: str = "", *, csrf: str | None = None
    ) -> httpx.Response:
        return await self.web.post(
            f"{self.page}/send",
            data={"csrf_token": self.csrf if csrf is None else csrf, "text": text, "send_at": ""},
            files={"file": file},
        )


@pytest.fixture
async def composer(
    client: httpx.AsyncClient,
    container: Container,
    tenant: TenantLogin,
    waha: Running,
    store: MediaStore,
) -> AsyncIterator[Composer]:
    session_id = await customer_session(client, container, tenant, waha)
    web, csrf = await logged_in(app_of(client), tenant.email)
    async with aclosing(web):
        yield Composer(session_id, web, csrf)


async def test_an_attached_image_is_sent_as_an_image_of_ventros_media(
    client: httpx.AsyncClient, container: Container, tenant: TenantLogin, composer: Composer
) -> None:
    page = (await composer.web.get(composer.page)).text
    attach = re.search(r'<input type="file"[^>]*data-testid="composer-attach"[^>]*>', page)
    assert attach is not None
    assert "disabled" not in attach.group(0)
    assert 'enctype="multipart/form-data"' in page

    sent = await composer.send(("vitrine.png", PNG, "image/png"), text="Nossa vitrine")
    assert sent.status_code == 303
    assert sent.headers["location"] == f"{composer.page}?toast_info=sent"
    page = (await composer.web.get(sent.headers["location"])).text
    assert count_hooks(page, "toast-info") == 1

    [message] = await outbound(container, tenant, composer.session_id)
    assert message.content.type.value == "image"
    assert message.content.caption == "Nossa vitrine"
    media = message.content.media or {}
    assert media["mimetype"] == "image/png"
    assert media["url"] == f"/api/v1/media/{media['media_id']}"
    kept = await client.get(media["url"], headers=tenant.headers)
    assert kept.status_code == 200
    assert kept.content == PNG


async def test_the_page_shows_a_kept_image_through_its_login_only(
    client: httpx.AsyncClient,
    container: Container,
    tenant: TenantLogin,
    other_tenant: TenantLogin,
    composer: Composer,
) -> None:
    await composer.send(("vitrine.png", PNG, "image/png"))
    [message] = await outbound(container, tenant, composer.session_id)
    link = f"/app/media/{(message.content.media or {})['media_id']}"
    page = (await composer.web.get(composer.page)).text
    assert f'<img src="{link}"' in page
    shown = await composer.web.get(link)
    assert shown.status_code == 200
    assert shown.content == PNG
    assert shown.headers["content-type"] == "image/png"
    theirs, _ = await logged_in(app_of(client), other_tenant.email)
    async with aclosing(theirs):
        assert (await theirs.get(link)).status_code == 404
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app_of(client)), base_url="http://ventros.test"
    ) as anonymous:
        assert (await anonymous.get(link)).headers["location"] == "/login"


async def test_a_text_from_the_multipart_composer_without_a_file_is_a_text(
    container: Container, tenant: TenantLogin, composer: Composer, tmp_path: Path
) -> None:
    # What a browser posts when the file input is left empty: a nameless, empty part.
    sent = await composer.send(("", b"", "application/octet-stream"), text="Olá!")
    assert sent.headers["location"] == f"{composer.page}?toast_info=sent"
    [message] = await outbound(container, tenant, composer.session_id)
    assert message.content.type.value == "text"
    assert message.content.text == "Olá!"
    assert stored_files(tmp_path) == []


@pytest.mark.parametrize(
    ("file", "toast", "says"),
    [
        (OVER_16_MIB, "file_too_large", "16 MB"),
        (EXE, "file_type", "PDF"),
        (EXE_AS_PDF, "file_type", "PDF"),
    ],
    ids=["17-mib", "exe", "exe-as-pdf"],
)
async def test_a_refused_file_is_a_toast_error_and_nothing_is_sent_or_stored(
    container: Container,
    tenant: TenantLogin,
    composer: Composer,
    tmp_path: Path,
    file: tuple[str, bytes, str],
    toast: str,
    says: str,
) -> None:
    refused = await composer.send(file, text="Segue")
    assert refused.status_code == 303
    assert refused.headers["location"] == f"{composer.page}?toast_error={toast}"
    page = (await composer.web.get(refused.headers["location"])).text
    assert count_hooks(page, "toast-error") == 1
    shown = re.search(r'data-testid="toast-error">([^<]*)<', page)
    assert shown is not None
    assert says in shown.group(1)
    assert await outbound(container, tenant, composer.session_id) == []
    assert stored_files(tmp_path) == []


async def test_a_forged_csrf_on_an_attachment_is_403_and_nothing_is_stored(
    container: Container, tenant: TenantLogin, composer: Composer, tmp_path: Path
) -> None:
    for forged in ("forged", composer.csrf + "x", ""):
        response = await composer.send(("a.png", PNG, "image/png"), csrf=forged)
        assert response.status_code == 403
    assert await outbound(container, tenant, composer.session_id) == []
    assert stored_files(tmp_path) == []
