"""Pipelines through HTTP: creation, RBAC, moves, transition rules, tenancy, metrics."""

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from sqlalchemy import update

from tests.conftest import TEST_PASSWORD, TenantLogin, login
from ventros.kernel.events import Actor
from ventros.pipelines.repository import pipeline_stage_history, rebuild_daily
from ventros.platform.outbox import domain_events
from ventros.runtime.container import Container

pytestmark = pytest.mark.integration

STAGES = [
    {"name": "Lead", "kind": "open"},
    {"name": "Qualified", "kind": "open"},
    {"name": "Won", "kind": "won"},
    {"name": "Lost", "kind": "lost"},
]


async def _user(client: httpx.AsyncClient, admin: TenantLogin, role: str) -> dict[str, str]:
    email = f"{role}-{uuid.uuid4().hex[:8]}@example.com"
    response = await client.post(
        "/api/v1/agents",
        json={"email": email, "name": role.title(), "password": TEST_PASSWORD, "role": role},
        headers=admin.headers,
    )
    assert response.status_code == 201, response.text
    return {"Authorization": f"Bearer {await login(client, email)}"}


async def _pipeline(
    client: httpx.AsyncClient, headers: dict[str, str], **extra: Any
) -> dict[str, Any]:
    response = await client.post(
        "/api/v1/pipelines", json={"name": "Sales", "stages": STAGES, **extra}, headers=headers
    )
    assert response.status_code == 201, response.text
    return dict(response.json())


async def _contact(client: httpx.AsyncClient, headers: dict[str, str], name: str = "Lead") -> str:
    response = await client.post("/api/v1/contacts", json={"name": name}, headers=headers)
    assert response.status_code == 201, response.text
    return str(response.json()["id"])


def _stage(pipeline: dict[str, Any], name: str) -> str:
    return str(next(s["id"] for s in pipeline["stages"] if s["name"] == name))


async def _move(
    client: httpx.AsyncClient,
    headers: dict[str, str],
    contact_id: str,
    pipeline: dict[str, Any],
    stage: str,
) -> httpx.Response:
    return await client.put(
        f"/api/v1/contacts/{contact_id}/pipeline",
        json={"pipeline_id": pipeline["id"], "stage_id": _stage(pipeline, stage)},
        headers=headers,
    )


async def test_a_supervisor_creates_a_pipeline_that_everyone_can_read(
    client: httpx.AsyncClient, tenant: TenantLogin, container: Container
) -> None:
    supervisor = await _user(client, tenant, "supervisor")
    viewer = await _user(client, tenant, "viewer")
    created = await _pipeline(
        client, supervisor, allowed_transitions=[["Lead", "Qualified"], ["Qualified", "Won"]]
    )
    assert [(s["name"], s["kind"], s["position"]) for s in created["stages"]] == [
        ("Lead", "open", 0),
        ("Qualified", "open", 1),
        ("Won", "won", 2),
        ("Lost", "lost", 3),
    ]
    assert created["allowed_transitions"] == [["Lead", "Qualified"], ["Qualified", "Won"]]
    fetched = await client.get(f"/api/v1/pipelines/{created['id']}", headers=viewer)
    assert fetched.status_code == 200
    assert fetched.json() == created
    listed = await client.get("/api/v1/pipelines", headers=viewer)
    assert [p["id"] for p in listed.json()["items"]] == [created["id"]]

    async with container.uow(tenant.tenant_id, Actor.system()) as tx:
        created_events = (
            await tx.connection.execute(
                domain_events.select().where(domain_events.c.name == "pipeline.created")
            )
        ).all()
    assert [str(e.aggregate_id) for e in created_events] == [created["id"]]


async def test_agents_and_viewers_may_not_create_pipelines(
    client: httpx.AsyncClient, tenant: TenantLogin
) -> None:
    for role in ("agent", "viewer"):
        headers = await _user(client, tenant, role)
        response = await client.post(
            "/api/v1/pipelines", json={"name": "X", "stages": STAGES}, headers=headers
        )
        assert response.status_code == 403, role


@pytest.mark.parametrize(
    "body",
    [
        {"name": "X", "stages": []},
        {"name": "X", "stages": [{"name": "A", "kind": "maybe"}]},
        {"name": "X", "stages": [{"name": "A"}, {"name": "a"}]},
        {"name": "X", "stages": STAGES, "allowed_transitions": [["Lead", "Nowhere"]]},
    ],
)
async def test_invalid_pipelines_are_422(
    client: httpx.AsyncClient, tenant: TenantLogin, body: dict[str, Any]
) -> None:
    response = await client.post("/api/v1/pipelines", json=body, headers=tenant.headers)
    assert response.status_code == 422, response.text
    assert response.headers["content-type"].startswith("application/problem+json")


async def test_an_agent_moves_a_contact_and_a_forbidden_move_is_422(
    client: httpx.AsyncClient, tenant: TenantLogin, container: Container
) -> None:
    pipeline = await _pipeline(
        client, tenant.headers, allowed_transitions=[["Lead", "Qualified"], ["Qualified", "Won"]]
    )
    agent = await _user(client, tenant, "agent")
    contact_id = await _contact(client, agent)

    first = await _move(client, agent, contact_id, pipeline, "Lead")
    assert first.status_code == 200, first.text
    assert first.json()["stage_id"] == _stage(pipeline, "Lead")
    forbidden = await _move(client, agent, contact_id, pipeline, "Won")
    assert forbidden.status_code == 422
    assert forbidden.headers["content-type"].startswith("application/problem+json")
    allowed = await _move(client, agent, contact_id, pipeline, "Qualified")
    assert allowed.status_code == 200
    assert allowed.json() == {
        "contact_id": contact_id,
        "pipeline_id": pipeline["id"],
        "stage_id": _stage(pipeline, "Qualified"),
        "entered_at": allowed.json()["entered_at"],
    }

    events = domain_events
    async with container.uow(tenant.tenant_id, Actor.system()) as tx:
        changes = (
            await tx.connection.execute(
                events.select()
                .where(
                    events.c.contact_id == uuid.UUID(contact_id),
                    events.c.name == "contact.pipeline_status_changed",
                )
                .order_by(events.c.id)
            )
        ).all()
    assert [(c.data["from_stage_id"], c.data["to_stage_id"]) for c in changes] == [
        (None, _stage(pipeline, "Lead")),
        (_stage(pipeline, "Lead"), _stage(pipeline, "Qualified")),
    ]
    assert {c.data["pipeline_id"] for c in changes} == {pipeline["id"]}
    assert {c.actor_id for c in changes} == {changes[0].actor_id}
    assert changes[0].actor_type == "user"


async def test_the_first_placement_may_be_any_stage(
    client: httpx.AsyncClient, tenant: TenantLogin
) -> None:
    pipeline = await _pipeline(client, tenant.headers, allowed_transitions=[["Lead", "Won"]])
    contact_id = await _contact(client, tenant.headers)
    assert (await _move(client, tenant.headers, contact_id, pipeline, "Lost")).status_code == 200


async def test_a_move_records_history_and_one_stage_per_pipeline(
    client: httpx.AsyncClient, tenant: TenantLogin, container: Container
) -> None:
    pipeline = await _pipeline(client, tenant.headers)
    contact_id = await _contact(client, tenant.headers)
    for stage in ("Lead", "Qualified", "Qualified", "Won"):
        response = await _move(client, tenant.headers, contact_id, pipeline, stage)
        assert response.status_code == 200

    h = pipeline_stage_history
    async with container.uow(tenant.tenant_id, Actor.system()) as tx:
        rows = (
            await tx.connection.execute(
                h.select().where(h.c.contact_id == uuid.UUID(contact_id)).order_by(h.c.entered_at)
            )
        ).all()
    assert [str(r.stage_id) for r in rows] == [
        _stage(pipeline, "Lead"),
        _stage(pipeline, "Qualified"),
        _stage(pipeline, "Won"),
    ]
    assert [r.exited_at is None for r in rows] == [False, False, True]
    assert [str(r.next_stage_id) if r.next_stage_id else None for r in rows] == [
        _stage(pipeline, "Qualified"),
        _stage(pipeline, "Won"),
        None,
    ]
    assert {r.entered_by for r in rows} == {tenant.admin_id}
    assert rows[0].exited_by == tenant.admin_id


async def test_a_viewer_may_not_move_contacts(
    client: httpx.AsyncClient, tenant: TenantLogin
) -> None:
    pipeline = await _pipeline(client, tenant.headers)
    contact_id = await _contact(client, tenant.headers)
    viewer = await _user(client, tenant, "viewer")
    assert (await _move(client, viewer, contact_id, pipeline, "Lead")).status_code == 403


async def test_another_tenants_pipeline_and_contact_are_404(
    client: httpx.AsyncClient, tenant: TenantLogin, other_tenant: TenantLogin
) -> None:
    pipeline = await _pipeline(client, tenant.headers)
    contact_id = await _contact(client, tenant.headers)
    theirs = await _pipeline(client, other_tenant.headers)
    their_contact = await _contact(client, other_tenant.headers)

    for path in (
        f"/api/v1/pipelines/{pipeline['id']}",
        f"/api/v1/pipelines/{pipeline['id']}/metrics",
    ):
        assert (await client.get(path, headers=other_tenant.headers)).status_code == 404
    assert (await _move(client, tenant.headers, contact_id, theirs, "Lead")).status_code == 404
    assert (await _move(client, tenant.headers, their_contact, pipeline, "Lead")).status_code == 404
    assert (
        await _move(client, tenant.headers, str(uuid.uuid4()), pipeline, "Lead")
    ).status_code == 404
    listed = await client.get("/api/v1/pipelines", headers=other_tenant.headers)
    assert [p["id"] for p in listed.json()["items"]] == [theirs["id"]]


async def test_a_stage_of_another_pipeline_is_422(
    client: httpx.AsyncClient, tenant: TenantLogin
) -> None:
    pipeline = await _pipeline(client, tenant.headers)
    other = await _pipeline(client, tenant.headers)
    contact_id = await _contact(client, tenant.headers)
    response = await client.put(
        f"/api/v1/contacts/{contact_id}/pipeline",
        json={"pipeline_id": pipeline["id"], "stage_id": _stage(other, "Lead")},
        headers=tenant.headers,
    )
    assert response.status_code == 422


T0 = datetime(2026, 10, 1, 9, 0, tzinfo=UTC)


async def test_metrics_equal_the_figures_of_a_scripted_history(
    client: httpx.AsyncClient, tenant: TenantLogin, container: Container
) -> None:
    """Five contacts, with these stays (hours after T0):

    A: Lead 0-2, Qualified 2-5, Won 5-
    B: Lead 0-4, Qualified 4-10, Lost 10-
    C: Lead 1-2, Lost 2-            (skips Qualified: not "to the next stage")
    D: Lead 3-                      (still there)
    E: Qualified 0- (first placement) — outside the range below: entered on the previous day
    """
    pipeline = await _pipeline(client, tenant.headers)
    script = {
        "A": [("Lead", 0), ("Qualified", 2), ("Won", 5)],
        "B": [("Lead", 0), ("Qualified", 4), ("Lost", 10)],
        "C": [("Lead", 1), ("Lost", 2)],
        "D": [("Lead", 3)],
        "E": [("Qualified", -24)],
    }
    h = pipeline_stage_history
    for name, stays in script.items():
        contact_id = await _contact(client, tenant.headers, name)
        for stage, _hour in stays:
            moved = await _move(client, tenant.headers, contact_id, pipeline, stage)
            assert moved.status_code == 200
        # Rewrite the times the moves were stamped with to the script's.
        async with container.uow(tenant.tenant_id, Actor.system()) as tx:
            rows = (
                await tx.connection.execute(
                    h.select()
                    .where(h.c.contact_id == uuid.UUID(contact_id))
                    .order_by(h.c.entered_at)
                )
            ).all()
            for index, row in enumerate(rows):
                entered = T0 + timedelta(hours=stays[index][1])
                exited = (
                    T0 + timedelta(hours=stays[index + 1][1]) if index + 1 < len(stays) else None
                )
                await tx.connection.execute(
                    update(h).where(h.c.id == row.id).values(entered_at=entered, exited_at=exited)
                )
            await rebuild_daily(tx, uuid.UUID(pipeline["id"]))
            await tx.commit()

    response = await client.get(
        f"/api/v1/pipelines/{pipeline['id']}/metrics",
        params={"from": "2026-10-01", "to": "2026-10-01"},
        headers=tenant.headers,
    )
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["pipeline_id"] == pipeline["id"]
    figures = {
        s["name"]: (
            s["contacts"],
            s["entered"],
            s["exited_to_next"],
            s["conversion_rate"],
            s["avg_seconds_in_stage"],
        )
        for s in body["stages"]
    }
    assert figures == {
        # Lead: A (2h), B (4h), C (1h) left; D is there; A and B went on to Qualified.
        "Lead": (1, 4, 2, 0.5, (2 + 4 + 1) * 3600 / 3),
        # Qualified: A (3h) and B (6h) entered in range; E is there but entered before it.
        "Qualified": (1, 2, 1, 0.5, (3 + 6) * 3600 / 2),
        "Won": (1, 1, 0, 0.0, None),
        "Lost": (2, 2, 0, 0.0, None),
    }
    assert body["win_rate"] == pytest.approx(1 / 3)

    narrower = await client.get(
        f"/api/v1/pipelines/{pipeline['id']}/metrics",
        params={"from": "2026-10-01T09:30:00Z", "to": "2026-10-01T12:30:00Z"},
        headers=tenant.headers,
    )
    stages = {s["name"]: s for s in narrower.json()["stages"]}
    # Entries at 10:00 (C Lead), 11:00 (A Qualified, C Lost), 12:00 (D Lead).
    assert [stages[n]["entered"] for n in ("Lead", "Qualified", "Won", "Lost")] == [2, 1, 0, 1]
    assert stages["Lead"]["conversion_rate"] == 0.0
    assert stages["Qualified"]["exited_to_next"] == 1
    assert narrower.json()["win_rate"] == 0.0


async def test_a_bad_metrics_range_is_422(client: httpx.AsyncClient, tenant: TenantLogin) -> None:
    pipeline = await _pipeline(client, tenant.headers)
    for params in ({"from": "yesterday"}, {"from": "2026-10-03", "to": "2026-10-01"}):
        response = await client.get(
            f"/api/v1/pipelines/{pipeline['id']}/metrics", params=params, headers=tenant.headers
        )
        assert response.status_code == 422, params


async def test_the_daily_rollup_kept_by_moves_agrees_with_the_history(
    client: httpx.AsyncClient, tenant: TenantLogin
) -> None:
    pipeline = await _pipeline(client, tenant.headers)
    for stays in (["Lead", "Qualified", "Won"], ["Lead", "Lost"], ["Lead"], ["Qualified"]):
        contact_id = await _contact(client, tenant.headers)
        for stage in stays:
            assert (await _move(client, tenant.headers, contact_id, pipeline, stage)).is_success
    today = datetime.now(UTC)
    whole_days = {  # yesterday, today and tomorrow: read from the rollup
        "from": (today - timedelta(days=1)).date().isoformat(),
        "to": (today + timedelta(days=1)).date().isoformat(),
    }
    partial = {  # no whole day inside: read from the history
        "from": (today - timedelta(hours=1)).isoformat(),
        "to": (today + timedelta(hours=1)).isoformat(),
    }
    answers = []
    for params in (whole_days, partial):
        response = await client.get(
            f"/api/v1/pipelines/{pipeline['id']}/metrics", params=params, headers=tenant.headers
        )
        assert response.status_code == 200, response.text
        body = response.json()
        answers.append(
            (
                [
                    (s["contacts"], s["entered"], s["exited_to_next"], s["conversion_rate"])
                    for s in body["stages"]
                ],
                body["win_rate"],
            )
        )
    assert answers[0] == answers[1]
    assert answers[0] == (
        [(1, 3, 1, 1 / 3), (1, 2, 1, 0.5), (1, 1, 0, 0.0), (1, 1, 0, 0.0)],
        0.5,
    )


async def test_contacts_are_listed_by_the_pipeline_and_stage_they_are_in_now(
    client: httpx.AsyncClient, tenant: TenantLogin
) -> None:
    headers = tenant.headers
    sales, other = await _pipeline(client, headers), await _pipeline(client, headers)
    lead, moved_on, elsewhere = [
        await _contact(client, headers, name) for name in ("Lead", "Moved on", "Elsewhere")
    ]
    first, second = STAGES[0]["name"], STAGES[1]["name"]
    assert (await _move(client, headers, lead, sales, first)).status_code == 200
    assert (await _move(client, headers, moved_on, sales, first)).status_code == 200
    assert (await _move(client, headers, moved_on, sales, second)).status_code == 200
    assert (await _move(client, headers, elsewhere, other, first)).status_code == 200

    async def listed(**params: str) -> set[str]:
        response = await client.get("/api/v1/contacts", params=params, headers=headers)
        assert response.status_code == 200, response.text
        return {c["id"] for c in response.json()["items"]}

    assert await listed(pipeline_id=sales["id"]) == {lead, moved_on}
    assert await listed(pipeline_id=sales["id"], stage_id=_stage(sales, first)) == {lead}
    assert await listed(stage_id=_stage(sales, second)) == {moved_on}
    assert await listed(pipeline_id=str(uuid.uuid4())) == set()
    bad = await client.get("/api/v1/contacts", params={"stage_id": "nope"}, headers=headers)
    assert bad.status_code == 422
