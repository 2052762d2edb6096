"""The pipeline kanban in a real browser against a fresh `ventros run`: a card dragged
across the stages to `won`, the same by the keyboard menu, a forbidden move returned with
its reason, someone else's move seen live, a viewer's read-only board, axe and the
screenshot."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest

from tests.browser.api_kit import Api, a_contact, a_viewer
from tests.browser.conftest import SCREENSHOTS, Demo
from tests.browser.test_inbox_browser import axe_summary, axe_violations, log_in

pytestmark = pytest.mark.e2e


@dataclass
class Board:
    pipeline_id: str
    stages: dict[str, str]  # name -> id
    cards: list[str]  # contact ids, all in "Novo"


@pytest.fixture(scope="module")
def board(demo: Demo) -> Board:
    """A pipeline whose rules allow Novo → Qualificado → Ganho, and Perdido from either."""
    api = Api.as_admin(demo)
    created = api.call(
        "POST",
        "/pipelines",
        {
            "name": "Funil com regras",
            "stages": [
                {"name": "Novo", "kind": "open"},
                {"name": "Qualificado", "kind": "open"},
                {"name": "Ganho", "kind": "won"},
                {"name": "Perdido", "kind": "lost"},
            ],
            "allowed_transitions": [
                ["Novo", "Qualificado"], ["Qualificado", "Ganho"],
                ["Novo", "Perdido"], ["Qualificado", "Perdido"],
            ],
        },
        expect=201,
    )  # fmt: skip
    stages = {s["name"]: s["id"] for s in created["stages"]}
    cards = []
    for name in ("Arrastada Silva", "Teclado Souza", "Proibida Lima", "Ao Vivo Costa"):
        contact_id = a_contact(api, name)
        api.call(
            "PUT",
            f"/contacts/{contact_id}/pipeline",
            {"pipeline_id": created["id"], "stage_id": stages["Novo"]},
        )
        cards.append(contact_id)
    return Board(created["id"], stages, cards)


@pytest.fixture
def context(browser: Any) -> Iterator[Any]:
    made = browser.new_context(viewport={"width": 1400, "height": 800}, locale="pt-BR")
    try:
        yield made
    finally:
        made.close()


def column(page: Any, stage_id: str) -> Any:
    return page.locator(f'[data-testid="kanban-column"][data-stage-id="{stage_id}"]')


def card(page: Any, contact_id: str) -> Any:
    return page.locator(f'[data-testid="kanban-card"][data-contact-id="{contact_id}"]')


def open_board(page: Any, demo: Demo, board: Board) -> None:
    """The board, once the live stream's first refresh (on connecting) has come back: a
    refresh that replaced the board in the middle of a drag would cancel the drop."""
    board_read = f"/app/pipelines/{board.pipeline_id}"

    def live_refresh(response: Any) -> bool:
        return bool(
            response.url.endswith(board_read) and response.request.headers.get("hx-request")
        )

    with page.expect_response(live_refresh):
        page.goto(f"{demo.base_url}{board_read}")
    page.get_by_test_id("kanban").wait_for()


def test_a_card_dragged_across_the_stages_reaches_won(
    context: Any, demo: Demo, board: Board
) -> None:
    from playwright.sync_api import expect

    page = log_in(context, demo, "ana@demo.ventros.local")
    open_board(page, demo, board)
    moved = board.cards[0]
    qualified, won = board.stages["Qualificado"], board.stages["Ganho"]
    expect(column(page, board.stages["Novo"]).get_by_test_id("kanban-count")).to_have_text("4")
    card(page, moved).drag_to(column(page, qualified))
    expect(column(page, qualified).locator(f'[data-contact-id="{moved}"]')).to_have_count(1)
    card(page, moved).drag_to(column(page, won))
    won_column = page.locator('[data-testid="kanban-column"][data-stage-kind="won"]')
    expect(won_column.locator(f'[data-contact-id="{moved}"]')).to_have_count(1)
    expect(won_column.get_by_test_id("kanban-count")).to_have_text("1")
    # It stays there: the server moved it.
    page.reload()
    expect(won_column.locator(f'[data-contact-id="{moved}"]')).to_have_count(1)


def test_the_keyboard_menu_moves_a_card_to_won(context: Any, demo: Demo, board: Board) -> None:
    from playwright.sync_api import expect

    page = log_in(context, demo, "ana@demo.ventros.local")
    open_board(page, demo, board)
    moved = board.cards[1]
    for stage in ("Qualificado", "Ganho"):
        # The keyboard alone: focus the card's menu, arrow down to the next stage.
        card(page, moved).get_by_test_id("kanban-card-move").focus()
        page.keyboard.press("ArrowDown")
        expect(
            column(page, board.stages[stage]).locator(f'[data-contact-id="{moved}"]')
        ).to_have_count(1)
    page.reload()
    won_column = page.locator('[data-testid="kanban-column"][data-stage-kind="won"]')
    expect(won_column.locator(f'[data-contact-id="{moved}"]')).to_have_count(1)


def test_a_move_to_won_shows_in_the_funnel_report(context: Any, demo: Demo, board: Board) -> None:
    """The manager's view of the same move: the reports screen's funnel for this pipeline
    counts one more contact entering each stage the card went through."""
    from playwright.sync_api import expect

    api = Api.as_admin(demo)
    moved = a_contact(api, "Funil Oliveira")
    api.call(
        "PUT",
        f"/contacts/{moved}/pipeline",
        {"pipeline_id": board.pipeline_id, "stage_id": board.stages["Novo"]},
    )
    page = log_in(context, demo, "admin")
    report = f"{demo.base_url}/app/reports?pipeline_id={board.pipeline_id}"

    def entered() -> dict[str, int]:
        page.goto(report)
        rows = page.get_by_test_id("funnel-row")
        expect(rows.first).to_be_visible()
        return {
            row.get_attribute("data-stage-id"): int(
                row.locator('[data-field="entered"]').get_attribute("data-value")
            )
            for row in rows.all()
        }

    before = entered()
    open_board(page, demo, board)
    for stage in ("Qualificado", "Ganho"):
        card(page, moved).get_by_test_id("kanban-card-move").focus()
        page.keyboard.press("ArrowDown")
        expect(
            column(page, board.stages[stage]).locator(f'[data-contact-id="{moved}"]')
        ).to_have_count(1)
    after = entered()
    for stage in ("Qualificado", "Ganho"):
        stage_id = board.stages[stage]
        assert after[stage_id] == before[stage_id] + 1, (stage, before, after)
    assert after[board.stages["Perdido"]] == before[board.stages["Perdido"]]


def test_a_forbidden_move_puts_the_card_back_and_says_why(
    context: Any, demo: Demo, board: Board
) -> None:
    from playwright.sync_api import expect

    page = log_in(context, demo, "ana@demo.ventros.local")
    open_board(page, demo, board)
    refused = board.cards[2]
    new, won = board.stages["Novo"], board.stages["Ganho"]
    count_before = column(page, new).get_by_test_id("kanban-count").inner_text()
    card(page, refused).drag_to(column(page, won))
    toast = page.get_by_test_id("toast-error")
    expect(toast).to_be_visible()
    expect(toast).to_contain_text("Novo")
    expect(toast).to_contain_text("Ganho")
    expect(column(page, new).locator(f'[data-contact-id="{refused}"]')).to_have_count(1)
    expect(column(page, new).get_by_test_id("kanban-count")).to_have_text(count_before)
    menu = card(page, refused).get_by_test_id("kanban-card-move")
    menu.select_option(won)
    expect(toast).to_be_visible()
    expect(menu).to_have_value(new)
    expect(column(page, new).locator(f'[data-contact-id="{refused}"]')).to_have_count(1)


def test_someone_elses_move_shows_live(context: Any, demo: Demo, board: Board) -> None:
    from playwright.sync_api import expect

    page = log_in(context, demo, "supervisor")
    open_board(page, demo, board)
    page.wait_for_timeout(500)  # let the stream connect before someone else moves
    live = board.cards[3]
    lost = board.stages["Perdido"]
    Api.as_admin(demo).call(
        "PUT",
        f"/contacts/{live}/pipeline",
        {"pipeline_id": board.pipeline_id, "stage_id": lost},
    )
    expect(column(page, lost).locator(f'[data-contact-id="{live}"]')).to_have_count(
        1, timeout=10_000
    )


def test_a_viewer_sees_the_board_without_move_controls(
    context: Any, demo: Demo, board: Board
) -> None:
    from playwright.sync_api import expect

    demo.logins.setdefault("viewer", a_viewer(Api.as_admin(demo)))
    page = log_in(context, demo, "viewer")
    open_board(page, demo, board)
    expect(page.get_by_test_id("kanban-column")).to_have_count(4)
    expect(page.get_by_test_id("kanban-card").first).to_be_visible()
    expect(page.get_by_test_id("kanban-card-move")).to_have_count(0)
    expect(page.locator('[data-testid="kanban-card"][draggable="true"]')).to_have_count(0)


def test_the_kanban_passes_axe_and_is_photographed(browser: Any, demo: Demo) -> None:
    context = browser.new_context(
        viewport={"width": 1400, "height": 800}, bypass_csp=True, locale="pt-BR"
    )
    try:
        page = log_in(context, demo, "supervisor")
        page.goto(f"{demo.base_url}/app/pipelines")
        list_problems = axe_violations(page)
        page.get_by_test_id("pipeline-link").filter(has_text="Vendas").click()
        page.get_by_test_id("kanban").wait_for()
        page.wait_for_timeout(300)
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(SCREENSHOTS / "kanban.png"))
        kanban_problems = axe_violations(page)
    finally:
        context.close()
    problems = list_problems + kanban_problems
    assert problems == [], json.dumps(axe_summary(problems), indent=1)
