"""A canned reply with a file, chosen in the web composer, sends its text as the caption
of the reply's file (kept by Ventros, by `media_id`) through the same use case as the API."""

from __future__ import annotations

import os
from contextlib import aclosing

import httpx
import pytest

from tests.conftest import TenantLogin
from tests.integration.test_media_uploads import store, upload
from tests.integration.test_waha_simulator_sending import Running, waha
from tests.integration.test_web_app import logged_in
from tests.integration.test_web_attachments import app_of, customer_session, outbound
from ventros.media.store import MediaStore
from ventros.runtime.container import Container

pytestmark = pytest.mark.integration
__all__ = ["store", "waha"]  # shared fixtures

PNG = b"\x89PNG\r\n\x1a\n" + os.urandom(1_000)


async def test_a_canned_reply_with_a_file_sends_the_file_with_the_text_as_caption(
    client: httpx.AsyncClient,
    container: Container,
    tenant: TenantLogin,
    waha: Running,
    store: MediaStore,
) -> None:
    session_id = await customer_session(client, container, tenant, waha)
    uploaded = await upload(client, tenant, PNG, "catalogo.png", "image/png")
    assert uploaded.status_code == 201, uploaded.text
    kept = uploaded.json()
    reply = await client.post(
        "/api/v1/canned-replies",
        json={"shortcut": "catalogo", "text": "Nosso catálogo", "media_id": kept["id"]},
        headers=tenant.headers,
    )
    assert reply.status_code == 201, reply.text
    web, csrf = await logged_in(app_of(client), tenant.email)
    async with aclosing(web):
        found = (await web.get(f"/app/inbox/{session_id}/canned", params={"text": "/cat"})).text
        assert f'data-canned-media-id="{kept["id"]}"' in found
        sent = await web.post(
            f"/app/inbox/{session_id}/send",
            data={"csrf_token": csrf, "text": "Nosso catálogo", "canned_media_id": kept["id"]},
        )
        assert sent.status_code == 303
        assert sent.headers["location"].endswith("toast_info=sent")
    [message] = await outbound(container, tenant, session_id)
    assert message.content.type.value == "image"
    assert message.content.caption == "Nosso catálogo"
    assert (message.content.media or {})["media_id"] == kept["id"]
