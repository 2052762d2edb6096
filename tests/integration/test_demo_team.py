"""The demo's team and history: the logins it lists work, and the inbox shows sessions in
every state, every message type and a pipeline with contacts on its stages."""

from __future__ import annotations

import pytest

from tests.conftest import TenantLogin
from tests.integration.test_web_app import principal_of
from ventros.conversations import inbox
from ventros.identity import service as identity
from ventros.identity.domain import Role
from ventros.pipelines import service as pipelines
from ventros.runtime.container import Container
from ventros.stand_ins.demo_team import seed_demo_team

pytestmark = pytest.mark.integration


async def test_the_demo_team_logs_in_and_finds_a_living_inbox(
    container: Container, tenant: TenantLogin
) -> None:
    users = await seed_demo_team(container.uow, principal_of(tenant))
    assert {u.role for u in users} == {Role.SUPERVISOR, Role.AGENT}
    logged = {}
    for user in users:
        logged[user.email] = await identity.authenticate(
            container.uow, container.rate_limits, email=user.email, password=user.password,
            client_ip="127.0.0.1",
        )  # fmt: skip
    supervisor = logged[users[0].email]
    counts = {
        view: len((await inbox.list_inbox(container.uow, supervisor, view=view, search=None,
                                          limit=100)).items)
        for view in ("unassigned", "all", "closed")
    }  # fmt: skip
    assert counts == {"unassigned": 12, "all": 24, "closed": 12}
    agent = logged[users[1].email]
    mine = await inbox.list_inbox(container.uow, agent, view="mine", search=None, limit=100)
    assert mine.items
    types = set()
    for item in (await inbox.list_inbox(container.uow, supervisor, view="all", search=None,
                                        limit=100)).items:  # fmt: skip
        conversation = await inbox.open_conversation(
            container.uow, supervisor, item.session_id, limit=50, mark_as_read=False
        )
        types |= {m.content.type.value for m in conversation.messages}
    assert types >= {
        "text",
        "image",
        "video",
        "audio",
        "document",
        "location",
        "contact",
        "sticker",
    }
    [pipeline] = (await pipelines.list_pipelines(container.uow, supervisor, limit=10)).items
    assert len(pipeline.stages) == 5
    placed = set()
    for item in mine.items:
        stages = await pipelines.contact_stages(
            container.uow, supervisor, item.contact_id, [pipeline.id]
        )
        placed.add(stages[pipeline.id])
    assert len(placed - {None}) >= 2
