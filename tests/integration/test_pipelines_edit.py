"""Editing a pipeline through HTTP against real PostgreSQL: renames keep ids, a removed
stage's contacts go where the edit says (history closed, metrics and lists follow), the
refusals, RBAC, tenancy, a move to a removed stage, concurrency with moves, and the web
edit screen."""

import asyncio
import html
import re
import uuid
from contextlib import aclosing
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from tests.conftest import TenantLogin
from tests.integration.test_pipelines_api import _contact, _move, _pipeline, _stage, _user
from tests.integration.test_web_app import add_user, count_hooks, logged_in
from tests.integration.test_web_app import web_app as web_app
from ventros.identity.domain import Role
from ventros.kernel.events import Actor
from ventros.pipelines.repository import pipeline_stage_daily, pipeline_stage_history
from ventros.platform.outbox import domain_events
from ventros.runtime.container import Container

pytestmark = pytest.mark.integration


def _kept(pipeline: dict[str, Any], *names: str) -> list[dict[str, Any]]:
    """The named stages as they are, in the order given (for a PATCH's `stages`)."""
    by_name = {s["name"]: s for s in pipeline["stages"]}
    return [{"id": by_name[n]["id"], "name": n, "kind": by_name[n]["kind"]} for n in names]


async def _patch(
    client: httpx.AsyncClient, headers: dict[str, str], pipeline: dict[str, Any], **body: Any
) -> httpx.Response:
    return await client.patch(f"/api/v1/pipelines/{pipeline['id']}", json=body, headers=headers)


async def _placed(
    client: httpx.AsyncClient, headers: dict[str, str], pipeline: dict[str, Any], stage: str
) -> str:
    contact_id = await _contact(client, headers, f"In {stage}")
    response = await _move(client, headers, contact_id, pipeline, stage)
    assert response.status_code == 200, response.text
    return contact_id


async def _listed(client: httpx.AsyncClient, headers: dict[str, str], stage_id: str) -> set[str]:
    response = await client.get("/api/v1/contacts", params={"stage_id": stage_id}, headers=headers)
    assert response.status_code == 200, response.text
    return {c["id"] for c in response.json()["items"]}


async def test_a_supervisor_renames_reorders_and_adds_stages_keeping_their_ids(
    client: httpx.AsyncClient, tenant: TenantLogin
) -> None:
    supervisor = await _user(client, tenant, "supervisor")
    pipeline = await _pipeline(
        client, tenant.headers, allowed_transitions=[["Lead", "Qualified"], ["Qualified", "Won"]]
    )
    contact_id = await _placed(client, tenant.headers, pipeline, "Qualified")
    stages = _kept(pipeline, "Qualified", "Lead", "Won", "Lost")
    stages[0]["name"] = "Proposal"
    stages[3]["kind"] = "open"
    response = await _patch(
        client,
        supervisor,
        pipeline,
        name="Vendas",
        stages=[*stages, {"name": "Paused", "kind": "open"}],
    )
    assert response.status_code == 200, response.text
    edited = response.json()
    assert edited["name"] == "Vendas"
    assert [(s["name"], s["kind"], s["position"]) for s in edited["stages"]] == [
        ("Proposal", "open", 0),
        ("Lead", "open", 1),
        ("Won", "won", 2),
        ("Lost", "open", 3),
        ("Paused", "open", 4),
    ]
    assert [s["id"] for s in edited["stages"][:4]] == [s["id"] for s in stages]
    assert edited["stages"][4]["id"] not in {s["id"] for s in pipeline["stages"]}
    # The transitions followed the rename; the contact stayed put, under its new name.
    assert edited["allowed_transitions"] == [["Proposal", "Won"], ["Lead", "Proposal"]]
    assert await _listed(client, tenant.headers, _stage(pipeline, "Qualified")) == {contact_id}
    read = await client.get(f"/api/v1/pipelines/{pipeline['id']}", headers=tenant.headers)
    assert read.json() == edited
    # Only the name: the rest stays.
    renamed = await _patch(client, tenant.headers, pipeline, name="Vendas 2")
    assert renamed.json()["stages"] == edited["stages"]
    assert renamed.json()["allowed_transitions"] == edited["allowed_transitions"]
    # null: any move again.
    opened = await _patch(client, tenant.headers, pipeline, allowed_transitions=None)
    assert opened.json()["allowed_transitions"] is None


async def test_a_removed_stages_contacts_move_to_the_destination(
    client: httpx.AsyncClient, tenant: TenantLogin, container: Container
) -> None:
    headers = tenant.headers
    pipeline = await _pipeline(client, headers, allowed_transitions=[["Lead", "Qualified"]])
    qualified, won, lead = (_stage(pipeline, n) for n in ("Qualified", "Won", "Lead"))
    movers = {await _placed(client, headers, pipeline, "Qualified") for _ in range(3)}
    stayer = await _placed(client, headers, pipeline, "Lead")

    response = await _patch(
        client,
        headers,
        pipeline,
        stages=_kept(pipeline, "Lead", "Won", "Lost"),
        move_contacts_to={qualified: won},  # not an allowed move: the stage is gone
    )
    assert response.status_code == 200, response.text
    assert [s["name"] for s in response.json()["stages"]] == ["Lead", "Won", "Lost"]
    assert response.json()["allowed_transitions"] == []  # its only pair named Qualified

    assert await _listed(client, headers, won) == movers
    assert await _listed(client, headers, qualified) == set()
    assert await _listed(client, headers, lead) == {stayer}
    now = datetime.now(UTC)
    metrics = await client.get(
        f"/api/v1/pipelines/{pipeline['id']}/metrics",
        params={
            "from": (now - timedelta(days=1)).isoformat(),
            "to": (now + timedelta(hours=1)).isoformat(),
        },
        headers=headers,
    )
    assert metrics.status_code == 200, metrics.text
    figures = {s["name"]: s for s in metrics.json()["stages"]}
    assert set(figures) == {"Lead", "Won", "Lost"}
    assert (figures["Won"]["contacts"], figures["Won"]["entered"]) == (3, 3)
    assert figures["Lead"]["contacts"] == 1
    assert metrics.json()["win_rate"] == 1.0

    h, d, events = pipeline_stage_history, pipeline_stage_daily, domain_events
    async with container.uow(tenant.tenant_id, Actor.system()) as tx:
        rows = (
            await tx.connection.execute(
                h.select().where(h.c.contact_id.in_([uuid.UUID(c) for c in movers]))
            )
        ).all()
        daily = (
            await tx.connection.execute(
                d.select().where(d.c.pipeline_id == uuid.UUID(pipeline["id"]))
            )
        ).all()
        changes = (
            await tx.connection.execute(
                events.select().where(
                    events.c.name == "contact.pipeline_status_changed",
                    events.c.data["from_stage_id"].astext == qualified,
                )
            )
        ).all()
        updated = (
            await tx.connection.execute(
                events.select().where(
                    events.c.name == "pipeline.updated",
                    events.c.aggregate_id == uuid.UUID(pipeline["id"]),
                )
            )
        ).all()
    stays = {(str(r.stage_id), r.exited_at is None) for r in rows}
    assert stays == {(qualified, False), (won, True)}
    assert len(rows) == 6
    closed = [r for r in rows if str(r.stage_id) == qualified]
    assert {str(r.next_stage_id) for r in closed} == {won}
    assert {r.exited_by for r in closed} == {tenant.admin_id}
    # The rollup was rebuilt: no rows left for the removed stage.
    assert qualified not in {str(r.stage_id) for r in daily}
    assert {str(c.contact_id) for c in changes} == movers
    assert {c.data["to_stage_kind"] for c in changes} == {"won"}
    [event] = updated
    assert event.data["removed_stage_ids"] == [qualified]
    assert event.data["move_contacts_to"] == {qualified: won}


async def test_a_removed_stage_holding_contacts_without_a_destination_is_422(
    client: httpx.AsyncClient, tenant: TenantLogin
) -> None:
    headers = tenant.headers
    pipeline = await _pipeline(client, headers)
    for _ in range(2):
        await _placed(client, headers, pipeline, "Qualified")
    response = await _patch(client, headers, pipeline, stages=_kept(pipeline, "Lead", "Won"))
    assert response.status_code == 422, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    assert "'Qualified' holds 2 contact" in response.json()["detail"]
    assert response.json()["errors"][0]["loc"] == ["body", "move_contacts_to"]
    # Nothing changed.
    read = await client.get(f"/api/v1/pipelines/{pipeline['id']}", headers=headers)
    assert [s["name"] for s in read.json()["stages"]] == ["Lead", "Qualified", "Won", "Lost"]
    # An empty stage goes without one.
    emptied = await _patch(client, headers, pipeline, stages=_kept(pipeline, "Qualified", "Won"))
    assert emptied.status_code == 200, emptied.text


@pytest.mark.parametrize(
    "case",
    [
        "unknown id",
        "destination removed too",
        "destination in another pipeline",
        "destination for a kept stage",
        "duplicate names",
        "no stages",
        "unknown kind",
        "transition to an unknown stage",
        "empty name",
        "extra field",
    ],
)
async def test_invalid_edits_are_422(
    client: httpx.AsyncClient, tenant: TenantLogin, case: str
) -> None:
    headers = tenant.headers
    pipeline = await _pipeline(client, headers)
    other = await _pipeline(client, headers)
    await _placed(client, headers, pipeline, "Qualified")
    qualified, lead = _stage(pipeline, "Qualified"), _stage(pipeline, "Lead")
    without = _kept(pipeline, "Lead", "Won")
    body: dict[str, Any] = {
        "unknown id": {"stages": [*without, {"id": str(uuid.uuid4()), "name": "X"}]},
        "destination removed too": {
            "stages": _kept(pipeline, "Won"),
            "move_contacts_to": {qualified: lead},
        },
        "destination in another pipeline": {
            "stages": without,
            "move_contacts_to": {qualified: _stage(other, "Lead")},
        },
        "destination for a kept stage": {"move_contacts_to": {lead: qualified}},
        "duplicate names": {"stages": [*without, {"name": "lead"}]},
        "no stages": {"stages": []},
        "unknown kind": {"stages": [{"name": "A", "kind": "maybe"}]},
        "transition to an unknown stage": {"allowed_transitions": [["Lead", "Nowhere"]]},
        "empty name": {"name": ""},
        "extra field": {"color": "red"},
    }[case]
    response = await _patch(client, headers, pipeline, **body)
    assert response.status_code == 422, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    read = await client.get(f"/api/v1/pipelines/{pipeline['id']}", headers=headers)
    assert read.json()["stages"] == pipeline["stages"]


async def test_agents_and_viewers_may_not_edit_and_other_tenants_see_404(
    client: httpx.AsyncClient, tenant: TenantLogin, other_tenant: TenantLogin
) -> None:
    pipeline = await _pipeline(client, tenant.headers)
    for role in ("agent", "viewer"):
        headers = await _user(client, tenant, role)
        assert (await _patch(client, headers, pipeline, name="X")).status_code == 403, role
    theirs = await _patch(client, other_tenant.headers, pipeline, name="Mine now")
    assert theirs.status_code == 404
    missing = await client.patch(
        f"/api/v1/pipelines/{uuid.uuid4()}", json={"name": "X"}, headers=tenant.headers
    )
    assert missing.status_code == 404
    read = await client.get(f"/api/v1/pipelines/{pipeline['id']}", headers=tenant.headers)
    assert read.json()["name"] == "Sales"


async def test_a_move_to_a_removed_stage_is_422(
    client: httpx.AsyncClient, tenant: TenantLogin
) -> None:
    headers = tenant.headers
    pipeline = await _pipeline(client, headers)
    contact_id = await _placed(client, headers, pipeline, "Lead")
    removed = await _patch(client, headers, pipeline, stages=_kept(pipeline, "Lead", "Won"))
    assert removed.status_code == 200, removed.text
    response = await _move(client, headers, contact_id, pipeline, "Qualified")  # the old id
    assert response.status_code == 422
    assert "does not belong" in response.json()["detail"]
    assert await _listed(client, headers, _stage(pipeline, "Lead")) == {contact_id}


async def test_moves_racing_an_edit_never_land_in_the_removed_stage(
    client: httpx.AsyncClient, tenant: TenantLogin, container: Container
) -> None:
    """Moves into a stage while it is removed: each is either before the edit (and its
    contact moved by it) or after it (and refused); none is left in the removed stage."""
    headers = tenant.headers
    pipeline = await _pipeline(client, headers)
    qualified, won = _stage(pipeline, "Qualified"), _stage(pipeline, "Won")
    await _placed(client, headers, pipeline, "Qualified")
    contacts = [await _contact(client, headers, f"Racer {n}") for n in range(8)]

    async def move(contact_id: str) -> int:
        return (await _move(client, headers, contact_id, pipeline, "Qualified")).status_code

    async def edit() -> int:
        response = await _patch(
            client,
            headers,
            pipeline,
            stages=_kept(pipeline, "Lead", "Won", "Lost"),
            move_contacts_to={qualified: won},
        )
        return response.status_code

    *moved, edited = await asyncio.gather(*(move(c) for c in contacts), edit())
    assert edited == 200
    assert set(moved) <= {200, 422}
    h = pipeline_stage_history
    async with container.uow(tenant.tenant_id, Actor.system()) as tx:
        stranded = (
            await tx.connection.execute(
                h.select().where(h.c.stage_id == uuid.UUID(qualified), h.c.exited_at.is_(None))
            )
        ).all()
    assert stranded == []
    accepted = {c for c, status in zip(contacts, moved, strict=True) if status == 200}
    assert accepted <= await _listed(client, headers, won)


# --------------------------------------------------------------------------- the web screen


def _form(page: str) -> dict[str, str]:
    """The edit form's fields as the page fills them (checkboxes only when checked)."""
    fields: dict[str, str] = {}
    for tag in re.findall(r"<input[^>]*>", page):
        name = re.search(r'name="([^"]+)"', tag)
        if not name or ('type="checkbox"' in tag and "checked" not in tag):
            continue
        value = re.search(r'value="([^"]*)"', tag)
        fields[name.group(1)] = html.unescape(value.group(1)) if value else "on"
    for name, body in re.findall(r'<select[^>]*name="([^"]+)"[^>]*>(.*?)</select>', page, re.S):
        chosen = re.search(r'<option value="([^"]*)" selected', body)
        fields[name] = chosen.group(1) if chosen else ""
    for name, text in re.findall(r'<textarea[^>]*name="([^"]+)"[^>]*>(.*?)</textarea>', page, re.S):
        fields[name] = html.unescape(text)
    return fields


def _row(fields: dict[str, str], stage_id: str) -> str:
    """The form prefix (`stage-N`) of a stage's row."""
    return next(k[: -len("-id")] for k, v in fields.items() if k.endswith("-id") and v == stage_id)


async def test_the_web_edit_screen_saves_and_a_refusal_keeps_what_was_typed(
    web_app: FastAPI, client: httpx.AsyncClient, tenant: TenantLogin
) -> None:
    headers = tenant.headers
    pipeline = await _pipeline(client, headers, allowed_transitions=[["Lead", "Qualified"]])
    held = await _placed(client, headers, pipeline, "Qualified")
    web, _ = await logged_in(web_app, tenant.email)
    async with aclosing(web):
        board = await web.get(f"/app/pipelines/{pipeline['id']}")
        assert count_hooks(board.text, "pipeline-edit") == 1
        page = await web.get(f"/app/pipelines/{pipeline['id']}/edit")
        assert page.status_code == 200
        for hook, count in (("pipeline-edit-form", 1), ("pipeline-stage-row", 4 + 3),
                            ("pipeline-stage-remove", 4), ("pipeline-stage-destination", 4),
                            ("pipeline-edit-save", 1)):  # fmt: skip
            assert count_hooks(page.text, hook) == count, hook
        fields = _form(page.text)
        assert fields["transitions"] == "Lead > Qualified"
        qualified = _row(fields, _stage(pipeline, "Qualified"))
        lead = _row(fields, _stage(pipeline, "Lead"))

        # Remove Qualified (it holds a contact) without saying where it goes; rename Lead.
        typed = {**fields, "name": "Funil novo", f"{lead}-name": "Novo lead",
                 f"{qualified}-remove": "on", "stage-4-name": "Proposta"}  # fmt: skip
        refused = await web.post(f"/app/pipelines/{pipeline['id']}/edit", data=typed)
        assert refused.status_code == 422
        assert "“Qualified” tem 1 contato" in html.unescape(refused.text)
        kept = _form(refused.text)
        assert kept["name"] == "Funil novo"
        assert kept[f"{lead}-name"] == "Novo lead"
        assert kept[f"{qualified}-remove"] == "on"
        assert kept["stage-4-name"] == "Proposta"
        assert 'aria-invalid="true"' in refused.text

        # Say where: saved, with the renamed transition kept as shown.
        typed[f"{qualified}-to"] = _stage(pipeline, "Won")
        saved = await web.post(f"/app/pipelines/{pipeline['id']}/edit", data=typed)
        assert saved.status_code == 303, saved.text
        assert saved.headers["location"].startswith(f"/app/pipelines/{pipeline['id']}")
        # Screens that read the history of the removed stage still answer.
        for path in (f"/app/reports?pipeline_id={pipeline['id']}",
                     f"/app/reports/funnel.csv?pipeline_id={pipeline['id']}",
                     f"/app/contacts/{held}", f"/app/pipelines/{pipeline['id']}"):  # fmt: skip
            shown = await web.get(path)
            assert shown.status_code == 200, path
        assert ">Qualified</h2>" not in shown.text  # the board: no column for it
        assert ">Novo lead</h2>" in shown.text
        funnel = await web.get(f"/app/reports/funnel.csv?pipeline_id={pipeline['id']}")
        assert "Qualified" not in funnel.text
        assert "Novo lead" in funnel.text
        read = (await client.get(f"/api/v1/pipelines/{pipeline['id']}", headers=headers)).json()
        assert read["name"] == "Funil novo"
        assert [s["name"] for s in read["stages"]] == ["Novo lead", "Won", "Lost", "Proposta"]
        assert read["allowed_transitions"] == []  # its only pair named the removed stage
        assert await _listed(client, headers, _stage(pipeline, "Won")) == {held}

        # The screen says no move is allowed now; saved as shown (the box empty): any move.
        page = await web.get(f"/app/pipelines/{pipeline['id']}/edit")
        assert count_hooks(page.text, "pipeline-no-moves") == 1
        again = await web.post(f"/app/pipelines/{pipeline['id']}/edit", data=_form(page.text))
        assert again.status_code == 303, again.text
    read = (await client.get(f"/api/v1/pipelines/{pipeline['id']}", headers=headers)).json()
    assert read["allowed_transitions"] is None


@pytest.mark.parametrize(
    ("change", "field", "words"),
    [
        ({"name": " "}, "name", "Dê ao funil um nome"),
        ({"name": "a\x00b"}, "name", "NUL"),
        ({"transitions": "Lead to Won"}, "transitions", "write a move as From > To"),
        ({"transitions": "Lead > Nowhere"}, "transitions", "unknown stage: 'Nowhere'"),
        ({"stage-4-name": "lead"}, "stages", "duplicate stage name"),
        ({"stage-0-name": ""}, "stages", "must not be empty"),
        ({"stage-0-id": "not-an-id"}, "stages", "unknown stage id"),
    ],
)
async def test_web_refusals_show_beside_their_field(
    web_app: FastAPI,
    client: httpx.AsyncClient,
    tenant: TenantLogin,
    change: dict[str, str],
    field: str,
    words: str,
) -> None:
    pipeline = await _pipeline(client, tenant.headers)
    web, _ = await logged_in(web_app, tenant.email)
    async with aclosing(web):
        fields = _form((await web.get(f"/app/pipelines/{pipeline['id']}/edit")).text)
        refused = await web.post(f"/app/pipelines/{pipeline['id']}/edit", data={**fields, **change})
    assert refused.status_code == 422
    error = re.search(rf'<p class="field-error" id="error-{field}"[^>]*>(.*?)</p>', refused.text)
    assert error is not None, refused.text
    # The reader's language (pt-BR here), the use case's words as detail.
    assert re.search(r"^(Dê|Escreva|Confira)", html.unescape(error.group(1)))
    assert words in html.unescape(error.group(1))
    for name, value in change.items():
        if name != "stage-0-id" and "\x00" not in value:
            assert _form(refused.text)[name] == value


async def test_viewers_and_agents_get_no_edit_link_and_a_403_page(
    web_app: FastAPI, client: httpx.AsyncClient, container: Container, tenant: TenantLogin
) -> None:
    pipeline = await _pipeline(client, tenant.headers)
    for role in (Role.VIEWER, Role.AGENT):
        user = await add_user(container, tenant, role)
        web, csrf = await logged_in(web_app, user.email)
        async with aclosing(web):
            board = await web.get(f"/app/pipelines/{pipeline['id']}")
            assert count_hooks(board.text, "pipeline-edit") == 0
            page = await web.get(f"/app/pipelines/{pipeline['id']}/edit")
            assert page.status_code == 403
            posted = await web.post(
                f"/app/pipelines/{pipeline['id']}/edit", data={"csrf_token": csrf, "name": "X"}
            )
            assert posted.status_code == 403
    web, _ = await logged_in(web_app, tenant.email)
    async with aclosing(web):
        assert (await web.get(f"/app/pipelines/{uuid.uuid4()}/edit")).status_code == 404


async def test_a_kanban_move_to_a_stage_removed_meanwhile_says_so(
    web_app: FastAPI, client: httpx.AsyncClient, tenant: TenantLogin
) -> None:
    pipeline = await _pipeline(client, tenant.headers)
    contact_id = await _placed(client, tenant.headers, pipeline, "Lead")
    web, csrf = await logged_in(web_app, tenant.email)
    async with aclosing(web):
        await web.get(f"/app/pipelines/{pipeline['id']}")  # the board, before the edit
        removed = await _patch(
            client, tenant.headers, pipeline, stages=_kept(pipeline, "Lead", "Won")
        )
        assert removed.status_code == 200
        refused = await web.post(
            f"/app/pipelines/{pipeline['id']}/move",
            data={"contact_id": contact_id, "stage_id": _stage(pipeline, "Qualified")},
            headers={"accept": "application/json", "x-csrf-token": csrf},
        )
    assert refused.status_code == 422
    assert refused.json()["refresh"] is True
    assert "não existe mais" in refused.json()["error"]
