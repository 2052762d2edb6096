"""The contacts screens in a real browser against a fresh `ventros run`: create a contact,
find it by its phone written without the ninth digit, a duplicate refused with a link to
the first, the contact page's live timeline and refusals, a viewer's read-only view, the
admin's LGPD controls, axe and the screenshots."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from typing import Any

import pytest

from tests.browser.api_kit import Api, a_contact, a_viewer, new_phone
from tests.browser.conftest import SCREENSHOTS, Demo
from tests.browser.test_inbox_browser import axe_summary, axe_violations, log_in

pytestmark = pytest.mark.e2e

CONTACT_URL = re.compile(r"/app/contacts/([0-9a-f-]{36})")


@pytest.fixture
def context(browser: Any) -> Iterator[Any]:
    made = browser.new_context(viewport={"width": 1280, "height": 800}, locale="pt-BR")
    try:
        yield made
    finally:
        made.close()


def create_contact(page: Any, demo: Demo, name: str, phone: str) -> None:
    page.goto(f"{demo.base_url}/app/contacts")
    form = page.get_by_test_id("contact-create")
    form.get_by_test_id("contact-create-name").fill(name)
    form.get_by_test_id("contact-create-phone").fill(phone)
    form.get_by_test_id("contact-create-tags").fill("teste, navegador")
    form.get_by_test_id("contact-create-submit").click()


def test_contacts_screens_pass_axe_and_are_photographed(browser: Any, demo: Demo) -> None:
    # First in this module: the pictures show the demo's contacts, not the tests' ones.
    # axe is injected as an inline script, which the app's CSP rightly refuses.
    context = browser.new_context(
        viewport={"width": 1280, "height": 800}, bypass_csp=True, locale="pt-BR"
    )
    try:
        page = log_in(context, demo, "supervisor")
        page.goto(f"{demo.base_url}/app/contacts")
        page.get_by_test_id("contacts-table").wait_for()
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(SCREENSHOTS / "contacts.png"))
        list_problems = axe_violations(page)
        page.get_by_test_id("contact-row").filter(has_text="Amanda Barbosa").first.locator(
            "a"
        ).click()
        page.get_by_test_id("contact-timeline").wait_for()
        page.wait_for_timeout(300)
        page.screenshot(path=str(SCREENSHOTS / "contact.png"))
        contact_problems = axe_violations(page)
    finally:
        context.close()
    problems = list_problems + contact_problems
    assert problems == [], json.dumps(axe_summary(problems), indent=1)


def test_create_then_find_by_the_old_phone_and_a_duplicate_is_refused(
    context: Any, demo: Demo
) -> None:
    from playwright.sync_api import expect

    page = log_in(context, demo, "ana@demo.ventros.local")
    phone, without_ninth_digit = new_phone()
    create_contact(page, demo, "Helena Navegador", phone)
    expect(page).to_have_url(CONTACT_URL)
    expect(page.get_by_test_id("toast-info")).to_be_visible()
    found = CONTACT_URL.search(page.url)
    assert found is not None
    contact_id = found.group(1)

    page.goto(f"{demo.base_url}/app/contacts")
    page.get_by_test_id("contacts-search").press_sequentially(without_ninth_digit, delay=20)
    rows = page.get_by_test_id("contact-row")
    expect(rows).to_have_count(1)
    expect(rows.first).to_have_attribute("data-contact-id", contact_id)
    expect(rows.first).to_contain_text("Helena Navegador")

    create_contact(page, demo, "Helena de Novo", without_ninth_digit)
    toast = page.get_by_test_id("toast-error")
    expect(toast).to_be_visible()
    toast.get_by_test_id("toast-existing-contact").click()
    expect(page).to_have_url(re.compile(f"/app/contacts/{contact_id}$"))
    expect(page.get_by_test_id("contact-title")).to_have_text("Helena Navegador")


def test_a_bad_phone_is_shown_next_to_its_field(context: Any, demo: Demo) -> None:
    from playwright.sync_api import expect

    page = log_in(context, demo, "ana@demo.ventros.local")
    create_contact(page, demo, "Sem Telefone Certo", "123")
    expect(page.get_by_test_id("field-error-phone")).to_be_visible()
    expect(page.get_by_test_id("contact-create-phone")).to_have_attribute("aria-invalid", "true")
    expect(page.get_by_test_id("contact-create-name")).to_have_value("Sem Telefone Certo")


def test_the_timeline_is_live_and_merging_into_itself_is_refused(context: Any, demo: Demo) -> None:
    from playwright.sync_api import expect

    api = Api.as_admin(demo)
    contact_id = a_contact(api, "Otávio Linha")
    page = log_in(context, demo, "supervisor")
    page.goto(f"{demo.base_url}/app/contacts/{contact_id}")
    timeline = page.get_by_test_id("contact-timeline")
    first = timeline.get_by_test_id("timeline-event").first
    expect(first).to_have_attribute("data-event-name", "contact.created")
    page.wait_for_timeout(500)  # let the stream connect before someone else edits
    api.call("PATCH", f"/contacts/{contact_id}", {"name": "Otávio do Tempo"})
    newest = timeline.get_by_test_id("timeline-event").first
    expect(newest).to_have_attribute("data-event-name", "contact.updated", timeout=10_000)

    page.get_by_test_id("contact-merge-id").fill(contact_id)
    page.get_by_test_id("contact-merge-submit").click()
    expect(page.get_by_test_id("toast-error")).to_be_visible()


def test_a_viewer_sees_contacts_without_write_controls(context: Any, demo: Demo) -> None:
    from playwright.sync_api import expect

    api = Api.as_admin(demo)
    demo.logins.setdefault("viewer", a_viewer(api))
    contact_id = a_contact(api, "Lívia Leitura")
    page = log_in(context, demo, "viewer")
    page.goto(f"{demo.base_url}/app/contacts")
    expect(page.get_by_test_id("contacts-table")).to_be_visible()
    expect(page.get_by_test_id("contact-row").first).to_be_visible()
    expect(page.get_by_test_id("contact-create")).to_have_count(0)
    page.goto(f"{demo.base_url}/app/contacts/{contact_id}")
    expect(page.get_by_test_id("contact-timeline")).to_be_visible()
    for hook in ("contact-save", "contact-merge", "contact-delete", "contact-export",
                 "contact-anonymise"):  # fmt: skip
        expect(page.get_by_test_id(hook)).to_have_count(0)
    expect(page.get_by_test_id("contact-edit-name")).to_have_attribute("readonly", "")


def test_an_admin_exports_and_anonymises_after_confirming(context: Any, demo: Demo) -> None:
    from playwright.sync_api import expect

    api = Api.as_admin(demo)
    contact_id = a_contact(api, "Dora Dados")
    page = log_in(context, demo, "admin")
    page.goto(f"{demo.base_url}/app/contacts/{contact_id}")
    with page.expect_download() as download:
        page.get_by_test_id("contact-export").click()
    exported = json.loads(open(download.value.path(), encoding="utf-8").read())
    assert exported["contact"]["name"] == "Dora Dados"
    page.get_by_test_id("contact-anonymise").click()
    page.get_by_test_id("contact-anonymise-confirm-box").check()
    page.get_by_test_id("contact-anonymise-confirm").click()
    expect(page.get_by_test_id("toast-info")).to_be_visible()
    assert api.call("GET", f"/contacts/{contact_id}")["name"] != "Dora Dados"
