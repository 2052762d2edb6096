"""Editing a pipeline in a real browser against a fresh `ventros run`: an admin renames a
stage, adds one and removes one that holds a card (first refused without a destination,
the message beside it and the form as typed; then saved), and the kanban shows the card
in its destination with the counts right; a board left open while a stage is removed
puts back a card moved there, with a toast. Axe and the screenshot of the edit screen."""

from __future__ import annotations

import json
import re
from typing import Any

import pytest

from tests.browser.api_kit import Api, a_contact
from tests.browser.conftest import SCREENSHOTS, Demo
from tests.browser.test_inbox_browser import axe_summary, axe_violations, log_in
from tests.browser.test_kanban_browser import card, column
from tests.browser.test_viewer_browser import context as context  # axe may run (bypass_csp)

pytestmark = pytest.mark.e2e

WAIT = 15_000  # ms: the machine may be loaded


def a_pipeline(api: Api, name: str, stages: list[tuple[str, str]]) -> dict[str, str]:
    created = api.call(
        "POST",
        "/pipelines",
        {"name": name, "stages": [{"name": n, "kind": k} for n, k in stages]},
        expect=201,
    )
    return {"id": created["id"], **{s["name"]: s["id"] for s in created["stages"]}}


def place(api: Api, pipeline: dict[str, str], stage: str, name: str) -> str:
    contact_id = a_contact(api, name)
    api.call(
        "PUT",
        f"/contacts/{contact_id}/pipeline",
        {"pipeline_id": pipeline["id"], "stage_id": pipeline[stage]},
    )
    return contact_id


def row(page: Any, stage_id: str) -> Any:
    return page.locator(f'[data-testid="pipeline-stage-row"][data-stage-id="{stage_id}"]')


def test_an_admin_renames_adds_and_removes_a_stage_and_the_card_follows(
    context: Any, demo: Demo
) -> None:
    from playwright.sync_api import expect

    api = Api.as_admin(demo)
    pipeline = a_pipeline(
        api, "Funil editável", [("Entrada", "open"), ("Proposta", "open"), ("Fechado", "won")]
    )
    held = place(api, pipeline, "Proposta", "Retida Proposta")
    place(api, pipeline, "Entrada", "Primeira Entrada")
    place(api, pipeline, "Fechado", "Já Fechada")

    page = log_in(context, demo, "admin")
    page.goto(f"{demo.base_url}/app/pipelines/{pipeline['id']}")
    page.get_by_test_id("pipeline-edit").click()
    form = page.get_by_test_id("pipeline-edit-form")
    expect(form).to_be_visible(timeout=WAIT)
    expect(page.get_by_test_id("pipeline-stage-row")).to_have_count(3 + 3)

    row(page, pipeline["Entrada"]).get_by_test_id("pipeline-stage-name").fill("Primeiro contato")
    blank = row(page, "").first
    blank.get_by_test_id("pipeline-stage-name").fill("Negociação")
    blank.get_by_test_id("pipeline-stage-order").fill("2")
    row(page, pipeline["Proposta"]).get_by_test_id("pipeline-stage-remove").check()
    problems = axe_violations(page)
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENSHOTS / "pipeline-edit.png"))
    page.get_by_test_id("pipeline-edit-save").click()

    # Refused: the card in Proposta needs somewhere to go. Said beside it, input kept.
    removed = row(page, pipeline["Proposta"])
    error = removed.get_by_test_id("field-error")
    expect(error).to_contain_text("“Proposta” tem 1 contato", timeout=WAIT)
    expect(removed.get_by_test_id("pipeline-stage-destination")).to_have_attribute(
        "aria-invalid", "true"
    )
    expect(removed.get_by_test_id("pipeline-stage-remove")).to_be_checked()
    expect(row(page, pipeline["Entrada"]).get_by_test_id("pipeline-stage-name")).to_have_value(
        "Primeiro contato"
    )
    expect(page.get_by_test_id("pipeline-stage-name").nth(3)).to_have_value("Negociação")
    problems += axe_violations(page)

    removed.get_by_test_id("pipeline-stage-destination").select_option(pipeline["Fechado"])
    page.get_by_test_id("pipeline-edit-save").click()

    expect(page).to_have_url(re.compile(rf"/app/pipelines/{pipeline['id']}\?"), timeout=WAIT)
    page.get_by_test_id("kanban").wait_for()
    headings = page.locator('[data-testid="kanban-column"] h2')
    expect(headings).to_have_text(["Primeiro contato", "Negociação", "Fechado"], timeout=WAIT)
    won = column(page, pipeline["Fechado"])
    expect(won.locator(f'[data-contact-id="{held}"]')).to_have_count(1)
    expect(won.get_by_test_id("kanban-count")).to_have_text("2")
    expect(column(page, pipeline["Entrada"]).get_by_test_id("kanban-count")).to_have_text("1")
    expect(
        page.locator('[data-testid="kanban-column"]').nth(1).get_by_test_id("kanban-count")
    ).to_have_text("0")
    expect(column(page, pipeline["Proposta"])).to_have_count(0)
    problems += axe_violations(page)
    assert problems == [], json.dumps(axe_summary(problems), indent=1)


def test_a_card_moved_to_a_stage_removed_meanwhile_goes_back_with_a_toast(
    context: Any, demo: Demo
) -> None:
    from playwright.sync_api import expect

    api = Api.as_admin(demo)
    pipeline = a_pipeline(
        api, "Funil mudado", [("Novo", "open"), ("Contato", "open"), ("Ganho", "won")]
    )
    moved = place(api, pipeline, "Novo", "Movida Depois")

    page = log_in(context, demo, "ana@demo.ventros.local")
    # This page hears nothing live (the stream is cut), like a board that has not yet been
    # told of the edit: the window in which a move can still name the removed stage.
    page.route("**/app/stream", lambda route: route.abort())
    page.goto(f"{demo.base_url}/app/pipelines/{pipeline['id']}")
    expect(column(page, pipeline["Contato"])).to_have_count(1, timeout=WAIT)

    api.call(
        "PATCH",
        f"/pipelines/{pipeline['id']}",
        {
            "stages": [
                {"id": pipeline["Novo"], "name": "Novo", "kind": "open"},
                {"id": pipeline["Ganho"], "name": "Ganho", "kind": "won"},
            ]
        },
    )

    # The keyboard alone: focus the card's menu, arrow down to the next stage (the removed one).
    menu = card(page, moved).get_by_test_id("kanban-card-move")
    menu.focus()
    page.keyboard.press("ArrowDown")
    toast = page.get_by_test_id("toast-error")
    expect(toast).to_be_visible(timeout=WAIT)
    expect(toast).to_contain_text("não existe mais")
    new = column(page, pipeline["Novo"])
    expect(new.locator(f'[data-contact-id="{moved}"]')).to_have_count(1)
    expect(new.get_by_test_id("kanban-count")).to_have_text("1")
    # And the board was brought up to date: the removed stage's column is gone.
    expect(column(page, pipeline["Contato"])).to_have_count(0, timeout=WAIT)
    expect(card(page, moved).get_by_test_id("kanban-card-move")).to_have_value(pipeline["Novo"])


def test_an_open_board_shows_someone_elses_edit_live(context: Any, demo: Demo) -> None:
    from playwright.sync_api import expect

    api = Api.as_admin(demo)
    pipeline = a_pipeline(api, "Funil ao vivo", [("Novo", "open"), ("Ganho", "won")])
    page = log_in(context, demo, "supervisor")
    page.goto(f"{demo.base_url}/app/pipelines/{pipeline['id']}")
    page.get_by_test_id("kanban").wait_for()
    page.wait_for_timeout(500)  # let the stream connect before someone else edits
    api.call(
        "PATCH",
        f"/pipelines/{pipeline['id']}",
        {
            "stages": [
                {"id": pipeline["Novo"], "name": "Recém-chegado", "kind": "open"},
                {"name": "Proposta", "kind": "open"},
                {"id": pipeline["Ganho"], "name": "Ganho", "kind": "won"},
            ]
        },
    )
    expect(page.locator('[data-testid="kanban-column"] h2')).to_have_text(
        ["Recém-chegado", "Proposta", "Ganho"], timeout=WAIT
    )


def test_an_agent_has_no_edit_link_and_the_edit_page_is_refused(context: Any, demo: Demo) -> None:
    from playwright.sync_api import expect

    pipeline = a_pipeline(Api.as_admin(demo), "Funil do agente", [("Novo", "open")])
    page = log_in(context, demo, "ana@demo.ventros.local")
    page.goto(f"{demo.base_url}/app/pipelines/{pipeline['id']}")
    page.get_by_test_id("kanban").wait_for()
    expect(page.get_by_test_id("pipeline-edit")).to_have_count(0)
    answer = page.goto(f"{demo.base_url}/app/pipelines/{pipeline['id']}/edit")
    assert answer is not None
    assert answer.status == 403
