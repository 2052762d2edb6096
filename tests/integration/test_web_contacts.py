"""The contacts screens and the pipeline kanban over HTTP against real PostgreSQL: search
by a phone without the ninth digit, create with its validation and duplicate refusal, the
contact page and its refusals (other tenant, viewer, CSRF, merge into itself), the LGPD
export, and kanban moves under transition rules."""

from __future__ import annotations

import json
import re
import uuid
from contextlib import aclosing

import pytest
from fastapi import FastAPI

from tests.conftest import TenantLogin
from tests.integration.test_web_app import add_user, count_hooks, logged_in, principal_of
from tests.integration.test_web_app import web_app as web_app
from ventros.contacts import service as contacts
from ventros.identity.domain import Role
from ventros.pipelines import service as pipelines
from ventros.runtime.container import Container

pytestmark = pytest.mark.integration


def new_phone() -> tuple[str, str]:
    """A São Paulo mobile as stored (+55 11 9XXXX-XXXX) and as written without the 9."""
    subscriber = f"{7 + uuid.uuid4().int % 3}{uuid.uuid4().int % 10**7:07d}"
    return f"+55119{subscriber}", f"11 {subscriber[:4]}-{subscriber[4:]}"


async def a_contact(container: Container, tenant: TenantLogin, name: str, phone: str) -> uuid.UUID:
    created = await contacts.create_contact(
        container.uow, principal_of(tenant), contacts.CreateContact(name=name, phone=phone)
    )
    return created.id


def row_ids(html: str) -> list[str]:
    return re.findall(r'data-testid="contact-row" data-contact-id="([^"]+)"', html)


async def test_search_finds_a_phone_written_without_the_ninth_digit(
    web_app: FastAPI, container: Container, tenant: TenantLogin
) -> None:
    stored, old_style = new_phone()
    wanted = await a_contact(container, tenant, "Joana Prado", stored)
    await a_contact(container, tenant, "Outra Pessoa", new_phone()[0])
    web, _ = await logged_in(web_app, tenant.email)
    async with aclosing(web):
        page = await web.get("/app/contacts", params={"q": old_style})
        assert page.status_code == 200
        assert row_ids(page.text) == [str(wanted)]
        rows = await web.get("/app/contacts/rows", params={"q": "joana"})
        assert row_ids(rows.text) == [str(wanted)]
        assert count_hooks(page.text, "contacts-search") == 1
        assert count_hooks(page.text, "contact-create") == 1


async def test_create_shows_field_errors_and_a_duplicate_links_to_the_existing_contact(
    web_app: FastAPI, container: Container, tenant: TenantLogin
) -> None:
    stored, old_style = new_phone()
    existing = await a_contact(container, tenant, "Carlos Lima", stored)
    web, csrf = await logged_in(web_app, tenant.email)
    async with aclosing(web):
        bad = await web.post("/app/contacts", data={"csrf_token": csrf, "name": "X", "phone": "12"})
        assert bad.status_code == 422
        assert count_hooks(bad.text, "field-error-phone") == 1
        duplicate = await web.post(
            "/app/contacts", data={"csrf_token": csrf, "name": "Carlos 2", "phone": old_style}
        )
        assert duplicate.status_code == 409
        assert count_hooks(duplicate.text, "toast-error") == 1
        assert f'href="/app/contacts/{existing}"' in duplicate.text
        made = await web.post(
            "/app/contacts",
            data={"csrf_token": csrf, "name": "Nova Pessoa", "phone": new_phone()[0],
                  "tags": "vip, vip, lead"},
        )  # fmt: skip
        assert made.status_code == 303
        tagged = await web.get("/app/contacts/rows", params={"tag": "lead"})
        assert made.headers["location"].split("?")[0].rsplit("/", 1)[-1] in row_ids(tagged.text)
        assert str(existing) not in row_ids(tagged.text)
        page = await web.get(made.headers["location"])
        assert page.status_code == 200
        assert "Nova Pessoa" in page.text
        assert count_hooks(page.text, "contact-timeline") == 1
        assert 'data-event-name="contact.created"' in page.text


async def test_a_contact_of_another_tenant_is_a_404_and_merging_it_is_refused(
    web_app: FastAPI, container: Container, tenant: TenantLogin, other_tenant: TenantLogin
) -> None:
    mine = await a_contact(container, tenant, "Minha", new_phone()[0])
    theirs = await a_contact(container, other_tenant, "Deles", new_phone()[0])
    web, csrf = await logged_in(web_app, tenant.email)
    async with aclosing(web):
        assert (await web.get(f"/app/contacts/{theirs}")).status_code == 404
        for duplicate, code in ((theirs, "merge_missing"), (mine, "merge_self")):
            merged = await web.post(
                f"/app/contacts/{mine}/merge",
                data={"csrf_token": csrf, "duplicate_id": str(duplicate)},
            )
            assert merged.status_code == 303
            assert f"contact_toast={code}" in merged.headers["location"]
            shown = await web.get(merged.headers["location"])
            assert count_hooks(shown.text, "toast-error") == 1
        # Their contact is untouched.
        still = await contacts.get_contact(container.uow, principal_of(other_tenant), theirs)
        assert still.name == "Deles"


async def test_merge_edit_export_and_anonymise_for_an_admin(
    web_app: FastAPI, container: Container, tenant: TenantLogin
) -> None:
    survivor = await a_contact(container, tenant, "Paula Reis", new_phone()[0])
    duplicate = await a_contact(container, tenant, "Paula R.", new_phone()[0])
    web, csrf = await logged_in(web_app, tenant.email)
    async with aclosing(web):
        merged = await web.post(
            f"/app/contacts/{survivor}/merge",
            data={"csrf_token": csrf, "duplicate_id": f"/app/contacts/{duplicate}"},
        )
        assert "toast_info=merged" in merged.headers["location"]
        assert (await web.get(f"/app/contacts/{duplicate}")).status_code == 404
        edited = await web.post(
            f"/app/contacts/{survivor}/edit",
            data={"csrf_token": csrf, "name": "Paula Reis", "email": "paula@example.com",
                  "tags": "cliente"},
        )  # fmt: skip
        assert "toast_info=saved" in edited.headers["location"]
        exported = await web.get(f"/app/contacts/{survivor}/export")
        assert exported.status_code == 200
        assert "attachment" in exported.headers["content-disposition"]
        assert json.loads(exported.text)["contact"]["email"] == "paula@example.com"
        unconfirmed = await web.post(
            f"/app/contacts/{survivor}/anonymise", data={"csrf_token": csrf}
        )
        assert "confirm_anonymise" in unconfirmed.headers["location"]
        done = await web.post(
            f"/app/contacts/{survivor}/anonymise", data={"csrf_token": csrf, "confirm": "yes"}
        )
        assert "toast_info=anonymised" in done.headers["location"]
        after = await contacts.get_contact(container.uow, principal_of(tenant), survivor)
        assert after.email is None
        deleted = await web.post(f"/app/contacts/{survivor}/delete", data={"csrf_token": csrf})
        assert "toast_info=deleted" in deleted.headers["location"]
        assert (await web.get(f"/app/contacts/{survivor}")).status_code == 404
        assert str(survivor) not in row_ids((await web.get("/app/contacts")).text)


async def test_a_viewer_sees_no_write_control_and_is_refused_writes(
    web_app: FastAPI, container: Container, tenant: TenantLogin
) -> None:
    contact_id = await a_contact(container, tenant, "Vera Lúcia", new_phone()[0])
    pipeline = await a_pipeline(container, tenant)
    viewer = await add_user(container, tenant, Role.VIEWER)
    web, csrf = await logged_in(web_app, viewer.email)
    async with aclosing(web):
        listing = await web.get("/app/contacts")
        assert listing.status_code == 200
        assert count_hooks(listing.text, "contact-row") >= 1
        assert count_hooks(listing.text, "contact-create") == 0
        page = await web.get(f"/app/contacts/{contact_id}")
        for hook in ("contact-save", "contact-merge", "contact-delete", "contact-export",
                     "contact-anonymise"):  # fmt: skip
            assert count_hooks(page.text, hook) == 0, hook
        board = await web.get(f"/app/pipelines/{pipeline.id}")
        assert count_hooks(board.text, "kanban-column") == 3
        assert count_hooks(board.text, "kanban-card-move") == 0
        assert 'draggable="true"' not in board.text
        writes = [
            ("/app/contacts", {"name": "X"}),
            (f"/app/contacts/{contact_id}/edit", {"name": "X"}),
            (f"/app/contacts/{contact_id}/delete", {}),
            (f"/app/contacts/{contact_id}/anonymise", {"confirm": "yes"}),
            (f"/app/pipelines/{pipeline.id}/move",
             {"contact_id": str(contact_id), "stage_id": str(pipeline.stages[1].id)}),
        ]  # fmt: skip
        for path, data in writes:
            response = await web.post(path, data={"csrf_token": csrf, **data})
            assert response.status_code == 403, path
        assert (await web.get(f"/app/contacts/{contact_id}/export")).status_code == 403


async def test_writes_without_the_csrf_token_are_refused(
    web_app: FastAPI, container: Container, tenant: TenantLogin
) -> None:
    contact_id = await a_contact(container, tenant, "Sem Token", new_phone()[0])
    web, _ = await logged_in(web_app, tenant.email)
    async with aclosing(web):
        for path in ("/app/contacts", f"/app/contacts/{contact_id}/delete"):
            response = await web.post(path, data={"name": "X"})
            assert response.status_code == 403
        assert (await contacts.get_contact(container.uow, principal_of(tenant), contact_id)).name


async def a_pipeline(container: Container, tenant: TenantLogin) -> pipelines.Pipeline:
    return await pipelines.create_pipeline(
        container.uow,
        principal_of(tenant),
        pipelines.CreatePipeline(
            name="Vendas",
            stages=[("Novo", "open"), ("Ganho", "won"), ("Perdido", "lost")],
            allowed_transitions=[("Novo", "Ganho"), ("Novo", "Perdido")],
        ),
    )


async def test_kanban_moves_follow_the_transition_rules(
    web_app: FastAPI, container: Container, tenant: TenantLogin
) -> None:
    pipeline = await a_pipeline(container, tenant)
    new, won, lost = (s.id for s in pipeline.stages)
    placed = []
    for index in range(3):
        contact_id = await a_contact(container, tenant, f"Lead {index}", new_phone()[0])
        await pipelines.move_contact(
            container.uow,
            principal_of(tenant),
            pipelines.MoveContact(contact_id, pipeline.id, new),
        )
        placed.append(contact_id)
    web, csrf = await logged_in(web_app, tenant.email)
    json_post = {"accept": "application/json", "x-csrf-token": csrf}
    async with aclosing(web):
        board = await web.get(f"/app/pipelines/{pipeline.id}")
        assert board.status_code == 200
        assert 'data-stage-kind="won"' in board.text
        assert count_hooks(board.text, "kanban-card") == 3
        moved = await web.post(
            f"/app/pipelines/{pipeline.id}/move",
            data={"contact_id": str(placed[0]), "stage_id": str(won)},
            headers=json_post,
        )
        assert moved.status_code == 200, moved.text
        refused = await web.post(
            f"/app/pipelines/{pipeline.id}/move",
            data={"contact_id": str(placed[0]), "stage_id": str(lost)},
            headers=json_post,
        )
        assert refused.status_code == 422
        assert "Ganho" in refused.json()["error"]
        assert "Perdido" in refused.json()["error"]
        stages = await pipelines.contact_stages(
            container.uow, principal_of(tenant), placed[0], [pipeline.id]
        )
        assert stages[pipeline.id] == won
        plain = await web.post(
            f"/app/pipelines/{pipeline.id}/move",
            data={"csrf_token": csrf, "contact_id": str(placed[0]), "stage_id": str(new)},
        )
        assert "toast_error=forbidden_move" in plain.headers["location"]
        assert (await web.get(f"/app/pipelines/{uuid.uuid4()}")).status_code == 404


async def test_a_long_column_loads_more_cards(
    web_app: FastAPI, container: Container, tenant: TenantLogin, monkeypatch: pytest.MonkeyPatch
) -> None:
    from ventros.web import pipelines as screens

    monkeypatch.setattr(screens, "CARDS_PER_COLUMN", 2)
    pipeline = await a_pipeline(container, tenant)
    for index in range(5):
        contact_id = await a_contact(container, tenant, f"Fila {index}", new_phone()[0])
        await pipelines.move_contact(
            container.uow,
            principal_of(tenant),
            pipelines.MoveContact(contact_id, pipeline.id, pipeline.stages[0].id),
        )
    web, _ = await logged_in(web_app, tenant.email)
    async with aclosing(web):
        board = await web.get(f"/app/pipelines/{pipeline.id}")
        assert count_hooks(board.text, "kanban-card") == 2
        assert re.search(r'data-testid="kanban-count"[^>]*>5<', board.text)
        seen = set(re.findall(r'data-testid="kanban-card" data-contact-id="([^"]+)"', board.text))
        more = re.search(r'hx-get="(/app/pipelines/[^"]+/cards\?after=[^"]+)"', board.text)
        while more:
            page = await web.get(more.group(1).replace("&amp;", "&"))
            assert page.status_code == 200
            ids = re.findall(r'data-testid="kanban-card" data-contact-id="([^"]+)"', page.text)
            assert not seen & set(ids)
            seen |= set(ids)
            more = re.search(r'hx-get="(/app/pipelines/[^"]+/cards\?after=[^"]+)"', page.text)
        assert len(seen) == 5


async def test_unknown_contact_ids_and_bad_input_are_not_500(
    web_app: FastAPI, tenant: TenantLogin
) -> None:
    web, csrf = await logged_in(web_app, tenant.email)
    async with aclosing(web):
        assert (await web.get(f"/app/contacts/{uuid.uuid4()}")).status_code == 404
        assert (await web.get("/app/contacts", params={"q": "x" * 500})).status_code == 422
        response = await web.post(
            f"/app/contacts/{uuid.uuid4()}/merge", data={"csrf_token": csrf, "duplicate_id": "?"}
        )
        assert response.status_code == 303


async def test_an_admin_creates_a_pipeline_with_rules_and_an_agent_may_not(
    web_app: FastAPI, container: Container, tenant: TenantLogin
) -> None:
    web, csrf = await logged_in(web_app, tenant.email)
    async with aclosing(web):
        listing = await web.get("/app/pipelines")
        assert count_hooks(listing.text, "pipeline-create") == 1
        bad = await web.post(
            "/app/pipelines",
            data={"csrf_token": csrf, "name": "Ruim", "stages": "A\nB", "transitions": "A > Z"},
        )
        assert bad.status_code == 422
        assert count_hooks(bad.text, "pipeline-create-error") == 1
        made = await web.post(
            "/app/pipelines",
            data={"csrf_token": csrf, "name": "Suporte", "stages": "Aberto\nResolvido | won",
                  "transitions": "Aberto > Resolvido"},
        )  # fmt: skip
        assert made.status_code == 303
        pipeline_id = uuid.UUID(made.headers["location"].split("?")[0].rsplit("/", 1)[-1])
        created = await pipelines.get_pipeline(container.uow, principal_of(tenant), pipeline_id)
        assert [(s.name, s.kind.value) for s in created.stages] == [
            ("Aberto", "open"),
            ("Resolvido", "won"),
        ]
        assert created.allowed_transitions is not None
    agent = await add_user(container, tenant, Role.AGENT)
    agent_web, agent_csrf = await logged_in(web_app, agent.email)
    async with aclosing(agent_web):
        listing = await agent_web.get("/app/pipelines")
        assert count_hooks(listing.text, "pipeline-create") == 0
        refused = await agent_web.post(
            "/app/pipelines", data={"csrf_token": agent_csrf, "name": "X", "stages": "A"}
        )
        assert refused.status_code == 403


async def test_the_screens_speak_english_when_asked(
    web_app: FastAPI, container: Container, tenant: TenantLogin
) -> None:
    pipeline = await a_pipeline(container, tenant)
    web, _ = await logged_in(web_app, tenant.email)
    async with aclosing(web):
        english = {"accept-language": "en"}
        listing = await web.get("/app/contacts", headers=english)
        assert "New contact" in listing.text
        assert "Novo contato" not in listing.text
        board = await web.get(f"/app/pipelines/{pipeline.id}", headers=english)
        assert ">Won<" in board.text
        portuguese = await web.get(f"/app/pipelines/{pipeline.id}")
        assert ">Ganho<" in portuguese.text


async def test_the_contact_page_suggests_its_likely_duplicates(
    web_app: FastAPI, container: Container, tenant: TenantLogin
) -> None:
    stored, _ = new_phone()
    me = await a_contact(container, tenant, "Rita Duarte", stored)
    same_email = await contacts.create_contact(
        container.uow,
        principal_of(tenant),
        contacts.CreateContact(name="R. Duarte", email="rita@example.com"),
    )
    await contacts.update_contact(
        container.uow,
        principal_of(tenant),
        me,
        contacts.UpdateContact({"email": "rita.d@example.com"}),
    )
    # Same name, a phone that differs only before its last six digits.
    similar = await a_contact(container, tenant, "rita duarte", "+55219" + stored[-8:])
    unrelated = await a_contact(container, tenant, "Outra Rita", new_phone()[0])
    web, _ = await logged_in(web_app, tenant.email)
    async with aclosing(web):
        found = await web.get(f"/app/contacts/{me}/duplicates")
        assert found.status_code == 200
        suggested = re.findall(
            r'data-testid="contact-merge-suggestion" data-contact-id="([^"]+)"', found.text
        )
        assert str(similar) in suggested
        assert str(unrelated) not in suggested
        assert str(same_email.id) not in suggested
        assert (await web.get(f"/app/contacts/{uuid.uuid4()}/duplicates")).status_code == 404
