"""The service settings screen in a real browser against a fresh `ventros run`: an admin sets
up a "Vendas" team with a member, a routing rule on the word "preço" to it (an invalid
regular expression refused beside its field first), business hours (overlapping intervals
refused beside their day), an SLA policy, a canned reply "/oi" (an unknown variable refused
first) and a label; the API then reads back what was made. Supervisors reach the screen,
agents do not; axe, and the screenshot."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest

from tests.browser.api_kit import Api
from tests.browser.conftest import SCREENSHOTS, Demo
from tests.browser.test_inbox_browser import axe_summary, axe_violations, log_in

pytestmark = pytest.mark.e2e

PAGE = "/app/settings/service"


@pytest.fixture
def context(browser: Any) -> Iterator[Any]:
    made = browser.new_context(viewport={"width": 1280, "height": 900}, locale="pt-BR")
    try:
        yield made
    finally:
        made.close()


def open_service_settings(context: Any, demo: Demo) -> Any:
    page = log_in(context, demo, "admin")
    page.get_by_test_id("nav-settings").click()
    page.get_by_test_id("settings-service-link").click()
    page.get_by_test_id("settings-teams").wait_for()
    return page


def error_on(page: Any, field: str) -> Any:
    return page.locator(f'[data-testid="field-error"][data-field="{field}"]')


def saved(page: Any) -> None:
    from playwright.sync_api import expect

    expect(page.get_by_test_id("toast-info")).to_be_visible()


def test_an_admin_sets_up_a_team_its_routing_and_its_replies(context: Any, demo: Demo) -> None:
    from playwright.sync_api import expect

    page = open_service_settings(context, demo)

    form = page.get_by_test_id("settings-team-form")
    form.get_by_label("Nome da equipe").fill("Vendas")
    form.get_by_test_id("settings-team-submit").click()
    saved(page)
    team = page.get_by_test_id("team-row").filter(has_text="Vendas")
    expect(team).to_have_count(1)
    member = team.get_by_test_id("team-member-pick").locator("option").first.inner_text()
    team.get_by_test_id("team-member-add").click()
    saved(page)
    team = page.get_by_test_id("team-row").filter(has_text="Vendas")
    expect(team.get_by_test_id("team-member")).to_contain_text(member)

    page.get_by_test_id("settings-rule-open").click()
    form = page.get_by_test_id("settings-rule-form")
    form.get_by_label("Nome", exact=True).fill("Preços")
    form.get_by_label("Enviar para a equipe").select_option(label="Vendas")
    form.get_by_label("Palavras na primeira mensagem (separadas por vírgula)").fill("preço")
    form.get_by_label("Ou uma expressão regular").fill("pre(ço")
    form.get_by_test_id("settings-rule-submit").click()
    # The API's refusal, in its own words, beside the field; what was typed stays.
    error = error_on(page, "conditions.pattern")
    expect(error).to_contain_text("invalid regular expression")
    form = page.get_by_test_id("settings-rule-form")
    pattern = form.get_by_label("Ou uma expressão regular")
    expect(pattern).to_have_attribute("aria-invalid", "true")
    expect(pattern).to_have_value("pre(ço")
    expect(form.get_by_label("Enviar para a equipe")).to_have_value(
        team.get_attribute("data-team-id") or ""
    )
    expect(page.get_by_test_id("rule-row")).to_have_count(0)
    pattern.fill("")
    form.get_by_test_id("settings-rule-submit").click()
    saved(page)
    rule = page.get_by_test_id("rule-row").filter(has_text="Preços")
    expect(rule).to_contain_text("Vendas")
    expect(rule).to_contain_text("preço")

    page.get_by_test_id("settings-hours-open").click()
    form = page.get_by_test_id("settings-hours-form")
    form.get_by_label("Nome", exact=True).fill("Comercial")
    form.get_by_label("Para a equipe").select_option(label="Vendas")
    form.get_by_test_id("settings-hours-mon").fill("09:00-13:00, 12:00-18:00")
    form.get_by_label("Feriados (AAAA-MM-DD, separados por vírgula)").fill("2026-12-25")
    form.get_by_test_id("settings-hours-submit").click()
    expect(error_on(page, "weekly.mon")).to_contain_text("must not overlap")
    form = page.get_by_test_id("settings-hours-form")
    form.get_by_test_id("settings-hours-mon").fill("09:00-12:00, 13:00-18:00")
    form.get_by_test_id("settings-hours-submit").click()
    saved(page)
    expect(page.get_by_test_id("hours-row").filter(has_text="Comercial")).to_contain_text(
        "2026-12-25"
    )
    expect(page.get_by_test_id("team-row").filter(has_text="Vendas")).to_contain_text("Comercial")

    form = page.get_by_test_id("settings-sla-form")
    form.get_by_label("Nome", exact=True).fill("Resposta rápida")
    form.get_by_label("Equipe", exact=True).select_option(label="Vendas")
    form.get_by_label("Primeira resposta (segundos)").fill("300")
    form.get_by_label("Resolução (segundos)").fill("3600")
    form.get_by_test_id("settings-sla-submit").click()
    saved(page)
    expect(page.get_by_test_id("sla-row").filter(has_text="Resposta rápida")).to_contain_text("300")

    form = page.get_by_test_id("settings-canned-form")
    form.get_by_label("Atalho").fill("/oi")
    form.get_by_label("Texto").fill("Olá {{contato.nome}}!")
    form.get_by_test_id("settings-canned-submit").click()
    expect(error_on(page, "text")).to_contain_text("unknown variable {{contato.nome}}")
    form = page.get_by_test_id("settings-canned-form")
    expect(form.get_by_label("Atalho")).to_have_value("/oi")
    form.get_by_label("Texto").fill("Olá {{contact.first_name}}, como posso ajudar?")
    form.get_by_test_id("settings-canned-submit").click()
    saved(page)
    expect(page.get_by_test_id("canned-row").filter(has_text="/oi")).to_contain_text(
        "{{contact.first_name}}"
    )

    form = page.get_by_test_id("settings-label-form")
    form.get_by_label("Nome da etiqueta").fill("Urgente")
    form.get_by_label("Cor").fill("#dc2626")
    form.get_by_test_id("settings-label-submit").click()
    saved(page)
    expect(page.get_by_test_id("label-row").filter(has_text="Urgente")).to_have_attribute(
        "data-color", "#dc2626"
    )

    api = Api.as_admin(demo)
    teams = {t["name"]: t for t in api.call("GET", "/teams")}
    vendas = teams["Vendas"]
    assert len(vendas["members"]) == 1
    rules = api.call("GET", "/routing-rules")
    assert [(r["name"], r["team_id"], r["conditions"]["keywords"]) for r in rules] == [
        ("Preços", vendas["id"], ["preço"])
    ]
    hours = {h["name"]: h for h in api.call("GET", "/business-hours")}
    assert vendas["business_hours_id"] == hours["Comercial"]["id"]
    assert hours["Comercial"]["weekly"]["mon"] == [["09:00", "12:00"], ["13:00", "18:00"]]
    policies = api.call("GET", "/sla-policies")
    assert [(p["team_id"], p["first_response_seconds"]) for p in policies] == [(vendas["id"], 300)]
    replies = api.call("GET", "/canned-replies?q=/oi")["items"]
    assert [r["shortcut"] for r in replies] == ["oi"]
    assert "Urgente" in [label["name"] for label in api.call("GET", "/labels")]

    # A row's delete button removes it, here and in the API.
    page.get_by_test_id("rule-row").filter(has_text="Preços").get_by_test_id("rule-delete").click()
    saved(page)
    expect(page.get_by_test_id("rule-row")).to_have_count(0)
    assert api.call("GET", "/routing-rules") == []


def test_supervisors_reach_the_screen_and_agents_do_not(context: Any, demo: Demo) -> None:
    from playwright.sync_api import expect

    page = log_in(context, demo, "supervisor")
    page.get_by_test_id("nav-service-settings").click()
    expect(page.get_by_test_id("settings-canned-form")).to_be_visible()
    expect(page.get_by_test_id("settings-rule-form")).to_be_attached()
    context.clear_cookies()
    page = log_in(context, demo, "agent")
    expect(page.get_by_test_id("nav-service-settings")).to_have_count(0)
    answer = page.goto(f"{demo.base_url}{PAGE}")
    assert answer is not None
    assert answer.status == 403
    expect(page.get_by_test_id("error-403")).to_be_visible()


def test_service_settings_pass_axe_and_are_photographed(browser: Any, demo: Demo) -> None:
    context = browser.new_context(
        viewport={"width": 1280, "height": 900}, bypass_csp=True, locale="pt-BR"
    )
    try:
        page = open_service_settings(context, demo)
        for opener in ("settings-rule-open", "settings-hours-open"):
            page.get_by_test_id(opener).click()
        problems = axe_violations(page)
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        # The screen scrolls inside its pane: a tall window shows every section.
        page.set_viewport_size({"width": 1280, "height": 2600})
        page.screenshot(path=str(SCREENSHOTS / "settings-service.png"))
        page.set_viewport_size({"width": 1280, "height": 900})
        # A refused form: the error beside its field is announced and tied to it.
        form = page.get_by_test_id("settings-rule-form")
        form.get_by_label("Ou uma expressão regular").fill("(")
        form.get_by_test_id("settings-rule-submit").click()
        # The request model speaks first, as in the API: no team chosen.
        error_on(page, "team_id").wait_for()
        problems += axe_violations(page)
    finally:
        context.close()
    assert problems == [], json.dumps(axe_summary(problems), indent=1)
