"""A viewer in a real browser against a fresh `ventros run`: every screen opens (the inbox, a
conversation, contacts, a contact, the pipelines, a kanban, the reports) with its data and
without a single write control, the admin screens answer the 403 page, and each screen
passes axe as the viewer sees it (UI.md: "A viewer sees everything and can change nothing
(write controls absent); admin screens answer 403 to others")."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest

from tests.browser.api_kit import Api, a_viewer
from tests.browser.conftest import Demo
from tests.browser.test_inbox_browser import axe_summary, axe_violations, log_in

pytestmark = pytest.mark.e2e

# Anything in the page body that would change something: a form posting with a control the
# user can fill or press, an htmx write, a draggable card. Read-only fields (`readonly`,
# `disabled`) inside a form with nothing to submit it are how a viewer reads a record.
WRITE_CONTROLS = """() => {
    const main = document.querySelector("main");
    const describe = el => el.outerHTML.slice(0, 160);
    const posting = [...main.querySelectorAll("form")].filter(
        f => (f.getAttribute("method") || "get").toLowerCase() === "post");
    const found = [];
    for (const form of posting) {
        for (const el of form.querySelectorAll(
                "button, input[type=submit], input[type=image], input[type=file]")) {
            found.push(describe(el));
        }
        for (const el of form.querySelectorAll("input, textarea, select")) {
            if (el.type === "hidden" || el.disabled || el.readOnly) continue;
            found.push(describe(el));
        }
    }
    for (const el of main.querySelectorAll(
            "[hx-post], [hx-put], [hx-patch], [hx-delete], [draggable=true]")) {
        found.push(describe(el));
    }
    return found;
}"""

# The hooks of UI.md (and of this app) that change something, none of which a viewer gets.
WRITE_HOOKS = (
    "composer-text", "composer-send", "composer-attach", "composer-schedule", "composer-note",
    "note-text", "note-send", "action-take", "action-assign", "action-transfer",
    "transfer-note", "action-close", "action-snooze", "session-label-add",
    "session-label-remove", "contact-create", "contact-create-submit", "contact-save",
    "contact-merge", "contact-merge-id", "contact-merge-submit", "contact-merge-suggestion",
    "contact-delete", "contact-export", "contact-anonymise", "kanban-card-move",
    "pipeline-create", "nav-settings",
)  # fmt: skip


@pytest.fixture
def context(browser: Any) -> Iterator[Any]:
    # axe is injected as an inline script, which the app's CSP rightly refuses.
    made = browser.new_context(
        viewport={"width": 1280, "height": 900}, bypass_csp=True, locale="pt-BR"
    )
    try:
        yield made
    finally:
        made.close()


def opened(page: Any, url: str, testid: str) -> None:
    """The screen answers 200 and shows its main part."""
    from playwright.sync_api import expect

    answer = page.goto(url)
    assert answer is not None
    assert answer.status == 200, (url, answer.status)
    expect(page.get_by_test_id(testid).first).to_be_visible()


def read_only(page: Any, screen: str) -> None:
    from playwright.sync_api import expect

    for hook in WRITE_HOOKS:
        expect(page.get_by_test_id(hook), f"{screen}: {hook}").to_have_count(0)
    assert page.evaluate(WRITE_CONTROLS) == [], screen
    expect(page.get_by_test_id("agent-status")).to_be_disabled()


def test_a_viewer_sees_every_screen_with_no_write_control(context: Any, demo: Demo) -> None:
    from playwright.sync_api import expect

    demo.logins.setdefault("viewer", a_viewer(Api.as_admin(demo)))
    page = log_in(context, demo, "viewer")
    base = demo.base_url
    problems: dict[str, list[dict[str, Any]]] = {}

    def check(screen: str) -> None:
        read_only(page, screen)
        problems[screen] = axe_violations(page)

    opened(page, f"{base}/app/inbox?view=all", "inbox-list")
    expect(page.get_by_test_id("inbox-item").first).to_be_visible()
    check("inbox")

    # The demo conversation with every message type, and its contact panel.
    item = page.get_by_test_id("inbox-item").filter(has_text="Amanda Barbosa").first
    session_id = item.get_attribute("data-session-id")
    opened(page, f"{base}/app/inbox/{session_id}", "conversation")
    expect(page.get_by_test_id("message").first).to_be_visible()
    expect(page.get_by_test_id("contact-panel")).to_be_visible()
    expect(page.get_by_test_id("contact-stage")).to_be_disabled()
    check("conversation")

    opened(page, f"{base}/app/contacts", "contacts-table")
    row = page.get_by_test_id("contact-row").first
    expect(row).to_be_visible()
    contact_id = row.get_attribute("data-contact-id")
    check("contacts")

    opened(page, f"{base}/app/contacts/{contact_id}", "contact-title")
    expect(page.get_by_test_id("contact-timeline")).to_be_visible()
    expect(page.get_by_test_id("contact-edit-name")).to_have_attribute("readonly", "")
    check("contact")

    opened(page, f"{base}/app/pipelines", "pipelines-list")
    link = page.get_by_test_id("pipeline-link").filter(has_text="Vendas")
    board = str(link.get_attribute("href"))
    check("pipelines")

    opened(page, f"{base}{board}", "kanban")
    expect(page.get_by_test_id("kanban-column").first).to_be_visible()
    expect(page.get_by_test_id("kanban-card").first).to_be_visible()
    check("kanban")

    opened(page, f"{base}/app/reports", "report-service")
    for report in ("report-attribution", "report-funnel"):
        expect(page.get_by_test_id(report)).to_be_visible()
    expect(page.get_by_test_id("attribution-row").first).to_be_visible()
    check("reports")
    csv = context.request.get(f"{base}/app/reports/attribution.csv")
    assert csv.status == 200, csv.text()

    # Admin screens: the 403 page.
    for path in ("/app/settings", f"/app/contacts/{contact_id}/anonymise"):
        answer = page.goto(f"{base}{path}")
        assert answer is not None
        assert answer.status == 403, (path, answer.status)
        expect(page.get_by_test_id("error-403")).to_be_visible()
    assert context.request.get(f"{base}/app/contacts/{contact_id}/export").status == 403

    found = {screen: found for screen, found in problems.items() if found}
    assert found == {}, json.dumps(
        {screen: axe_summary(found[screen]) for screen in found}, indent=1
    )
