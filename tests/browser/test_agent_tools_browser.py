"""The conversation screen's productivity tools in a real browser against `ventros run`:
a canned reply suggested after `/` and filled for the contact, a private note that stays
in the conversation and reaches the mentioned agent's inbox, and a label put on the
session and used as an inbox filter, under the app's CSP; then axe."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from tests.browser.conftest import SCREENSHOTS, Demo
from tests.browser.test_inbox_browser import axe_violations, log_in, open_demo_conversation
from ventros.stand_ins.demo import DEMO_CUSTOMER_NAME

pytestmark = pytest.mark.e2e


@pytest.fixture
def context(browser: Any) -> Iterator[Any]:
    made = browser.new_context(viewport={"width": 1280, "height": 800}, locale="pt-BR")
    try:
        yield made
    finally:
        made.close()


def _admin_api(demo: Demo) -> httpx.Client:
    """An API client logged in as the demo's admin (the one who writes the catalogues)."""
    email, password = demo.logins["admin"]
    token = httpx.post(
        f"{demo.base_url}/api/v1/auth/login",
        json={"email": email, "password": password},
        timeout=10,
    )
    assert token.status_code == 200, token.text
    return httpx.Client(
        base_url=demo.base_url,
        timeout=10,
        headers={"Authorization": f"Bearer {token.json()['access_token']}"},
    )


def test_a_canned_reply_a_private_note_and_a_label_in_the_conversation(
    browser: Any, context: Any, demo: Demo
) -> None:
    from playwright.sync_api import expect

    with _admin_api(demo) as api:
        created = api.post(
            "/api/v1/canned-replies",
            json={
                "shortcut": "boasvindas",
                "text": "Olá {{contact.first_name}}! Sou {{agent.name}}.",
            },
        )
        assert created.status_code == 201, created.text
        label = api.post("/api/v1/labels", json={"name": "Orçamento", "color": "#d97706"})
        assert label.status_code == 201, label.text

    page = log_in(context, demo, "supervisor")
    session_id = open_demo_conversation(page, demo, "all")
    first_name = DEMO_CUSTOMER_NAME.split()[0]

    # `/boas` suggests the reply; choosing it fills the composer, rendered for the contact.
    composer = page.get_by_test_id("composer-text")
    composer.click()
    composer.press_sequentially("/boas", delay=40)
    item = page.get_by_test_id("canned-suggestions").get_by_test_id("canned-item")
    expect(item).to_have_count(1, timeout=5_000)
    expect(item).to_contain_text("/boasvindas")
    item.click()
    expect(composer).to_have_value(f"Olá {first_name}! Sou Sofia Supervisora.")
    expect(page.get_by_test_id("canned-item")).to_have_count(0)

    # The same composer, note toggle on: a private note mentioning Ana.
    composer.fill("Cliente pediu 10% de desconto, @ana pode aprovar?")
    page.get_by_test_id("composer-note").check()
    page.get_by_test_id("composer-send").click()
    expect(page.get_by_test_id("toast-info")).to_be_visible()
    note = page.locator('[data-testid="message"][data-type="note"]').filter(
        has_text="pode aprovar?"
    )
    expect(note).to_have_count(1)
    expect(note).to_have_attribute("data-direction", "internal")
    expect(note).not_to_have_attribute("data-status", "queued")

    # A label from the header's chips, then the inbox filtered by it.
    labels = page.get_by_test_id("session-labels")
    labels.get_by_test_id("session-label-add").select_option(label="Orçamento")
    labels.get_by_test_id("session-label-submit").click()
    chip = page.get_by_test_id("session-labels").get_by_test_id("session-label")
    expect(chip).to_contain_text("Orçamento")
    # The colour comes from the catalogue through app.js (inline styles are refused).
    assert chip.evaluate("el => el.style.getPropertyValue('--label-color')") == "#d97706"
    # The README's picture: a note, a label, and the suggestions open again.
    composer = page.get_by_test_id("composer-text")
    composer.fill("")
    composer.press_sequentially("/", delay=40)
    composer.press_sequentially("boas", delay=40)
    expect(page.get_by_test_id("canned-item")).to_have_count(1, timeout=5_000)
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENSHOTS / "conversation-tools.png"))
    page.get_by_test_id("inbox-filter-label").select_option(label="Orçamento")
    expect(page).to_have_url(re.compile(r"[?&]label="))
    items = page.get_by_test_id("inbox-item")
    expect(items).to_have_count(1)
    expect(items.first).to_have_attribute("data-session-id", session_id)

    # Ana, mentioned, finds the conversation under her mentions.
    ana_context = browser.new_context(viewport={"width": 1280, "height": 800}, locale="pt-BR")
    try:
        ana = log_in(ana_context, demo, "ana@demo.ventros.local")
        ana.get_by_test_id("inbox-filter-mentions").click()
        mentioned = ana.locator(f'[data-testid="inbox-item"][data-session-id="{session_id}"]')
        expect(mentioned).to_be_visible()
        expect(mentioned.get_by_test_id("inbox-mention")).to_be_visible()
    finally:
        ana_context.close()


def test_the_conversation_with_notes_labels_and_suggestions_passes_axe(
    browser: Any, demo: Demo
) -> None:
    from playwright.sync_api import expect

    with _admin_api(demo) as api:
        api.post("/api/v1/canned-replies", json={"shortcut": "obrigado", "text": "Obrigado!"})
    # axe is injected as an inline script, which the app's CSP rightly refuses.
    context = browser.new_context(
        viewport={"width": 1280, "height": 800}, bypass_csp=True, locale="pt-BR"
    )
    try:
        page = log_in(context, demo, "supervisor")
        open_demo_conversation(page, demo, "all")
        page.get_by_test_id("composer-text").press_sequentially("/ob", delay=40)
        expect(page.get_by_test_id("canned-item").first).to_be_visible(timeout=5_000)
        problems = axe_violations(page)
    finally:
        context.close()
    assert problems == [], json.dumps(problems, indent=1)[:3000]
