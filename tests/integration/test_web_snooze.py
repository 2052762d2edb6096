"""The web app's part of issue 16: `action-snooze` in the conversation screen puts the
session out of the inbox until the chosen time; a routed session shows its team in the
inbox item."""

from __future__ import annotations

import re
from contextlib import aclosing
from datetime import timedelta

import httpx
import pytest
from fastapi import FastAPI

from tests.conftest import TenantLogin
from tests.integration.test_routing_rules import created
from tests.integration.test_web_app import conversation, count_hooks, inbox_ids, logged_in
from tests.integration.test_web_app import web_app as web_app  # the module's app fixture
from ventros.conversations.repository import SessionRepository
from ventros.kernel.clock import utcnow
from ventros.kernel.events import Actor
from ventros.runtime.container import Container

pytestmark = pytest.mark.integration


async def test_snooze_hides_the_conversation_and_the_team_shows_in_the_inbox(
    web_app: FastAPI, container: Container, client: httpx.AsyncClient, tenant: TenantLogin
) -> None:
    team = await created(client, tenant, "/teams", {"name": "Vendas Online"})
    kept = await conversation(container, tenant, name="Fica", agent_id=tenant.admin_id)
    snoozed = await conversation(container, tenant, name="Adiada", agent_id=tenant.admin_id)
    async with container.uow(tenant.tenant_id, Actor.system()) as tx:
        routed = await SessionRepository(tx).get(kept.id)
        assert routed is not None
        routed.team_id = team["id"]
        await SessionRepository(tx).save(routed)
        await tx.commit()
    web, csrf = await logged_in(web_app, tenant.email)
    async with aclosing(web):
        opened = (await web.get(f"/app/inbox/{snoozed.id}")).text
        assert count_hooks(opened, "action-snooze") == 1
        page = (await web.get("/app/inbox?view=all")).text
        item = page[page.index(f'data-session-id="{kept.id}"') :]
        assert re.search(r'data-testid="inbox-team">Vendas Online<', item[: item.index("</li>")])
        forged = await web.post(
            f"/app/inbox/{snoozed.id}/snooze", data={"until": "2099-01-01T10:00"}
        )
        assert forged.status_code == 403
        until = (utcnow() + timedelta(hours=2)).strftime("%Y-%m-%dT%H:%M")
        done = await web.post(
            f"/app/inbox/{snoozed.id}/snooze", data={"csrf_token": csrf, "until": until + "Z"}
        )
        assert done.status_code == 303
        assert "toast_info=snoozed" in done.headers["location"]
        ids = inbox_ids((await web.get("/app/inbox?view=all")).text)
        assert str(kept.id) in ids
        assert str(snoozed.id) not in ids
        past = await web.post(
            f"/app/inbox/{kept.id}/snooze", data={"csrf_token": csrf, "until": "2020-01-01T10:00"}
        )
        assert "toast_error" in past.headers["location"]
    async with container.uow(tenant.tenant_id, Actor.system()) as tx:
        stored = await SessionRepository(tx).get(snoozed.id)
        untouched = await SessionRepository(tx).get(kept.id)
    assert stored is not None
    assert stored.snoozed_until is not None
    assert untouched is not None
    assert untouched.snoozed_until is None
