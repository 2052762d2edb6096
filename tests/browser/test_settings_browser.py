"""The settings screen in a real browser against a fresh `ventros run`: an admin adds a user
who then logs in, a webhook to a private address is refused beside its field, a tenant
setting out of range likewise, the demo channel's live status and QR pairing, write-only
ad tokens, the 403 for everyone but admins, axe, and the screenshot."""

from __future__ import annotations

import json
import re
import time
import uuid
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from tests.browser.conftest import SCREENSHOTS, Demo
from tests.browser.test_inbox_browser import axe_summary, axe_violations, log_in

pytestmark = pytest.mark.e2e


@pytest.fixture
def context(browser: Any) -> Iterator[Any]:
    made = browser.new_context(viewport={"width": 1280, "height": 900}, locale="pt-BR")
    try:
        yield made
    finally:
        made.close()


def admin_token(demo: Demo) -> str:
    email, password = demo.logins["admin"]
    answer = httpx.post(
        f"{demo.base_url}/api/v1/auth/login", json={"email": email, "password": password}
    )
    return str(answer.json()["access_token"])


def open_settings(context: Any, demo: Demo) -> Any:
    page = log_in(context, demo, "admin")
    page.get_by_test_id("nav-settings").click()
    page.get_by_test_id("settings-tenant").wait_for()
    return page


def test_an_admin_adds_an_agent_who_can_then_log_in(context: Any, browser: Any, demo: Demo) -> None:
    from playwright.sync_api import expect

    email = f"carla-{uuid.uuid4().hex[:6]}@example.com"
    password = "Carla-Atende-1"
    page = open_settings(context, demo)
    section = page.get_by_test_id("settings-agents")
    section.get_by_test_id("agent-create-open").click()
    section.get_by_label("Nome").fill("Carla Nova")
    section.get_by_label("E-mail").fill(email)
    section.get_by_label("Senha").fill("curta")
    section.get_by_label("Papel").select_option("agent")
    section.get_by_label("Conversas simultâneas").fill("4")
    section.get_by_label("Habilidades (separadas por vírgula)").fill("vendas, suporte")
    section.get_by_test_id("agent-create-submit").click()
    # The password policy is the API's, said beside the field; what was typed stays.
    expect(page.locator('[data-testid="field-error"][data-field="password"]')).to_be_visible()
    section = page.get_by_test_id("settings-agents")
    expect(section.get_by_label("E-mail")).to_have_value(email)
    section.get_by_label("Senha").fill(password)
    section.get_by_test_id("agent-create-submit").click()
    expect(page.get_by_test_id("toast-info")).to_be_visible()
    row = page.get_by_test_id("agent-row").filter(has_text=email)
    expect(row).to_contain_text("Carla Nova")
    expect(row).to_contain_text("vendas")

    theirs = browser.new_context(viewport={"width": 1280, "height": 720})
    try:
        demo.logins[email] = (email, password)
        agent_page = log_in(theirs, demo, email)
        expect(agent_page.locator(".me-name")).to_have_text("Carla Nova")
        expect(agent_page.get_by_test_id("nav-settings")).to_have_count(0)
    finally:
        theirs.close()

    row.get_by_test_id("agent-deactivate").click()
    row = page.get_by_test_id("agent-row").filter(has_text=email)
    expect(row).to_have_attribute("data-active", "false")
    refused = browser.new_context()
    try:
        login = refused.new_page()
        login.goto(f"{demo.base_url}/login")
        login.get_by_test_id("login-email").fill(email)
        login.get_by_test_id("login-password").fill(password)
        login.get_by_test_id("login-submit").click()
        expect(login.get_by_test_id("login-error")).to_be_visible()
    finally:
        refused.close()
    row.get_by_test_id("agent-reactivate").click()
    expect(page.get_by_test_id("agent-row").filter(has_text=email)).to_have_attribute(
        "data-active", "true"
    )


def test_a_webhook_to_a_private_address_is_refused_beside_the_field(
    context: Any, demo: Demo
) -> None:
    from playwright.sync_api import expect

    page = open_settings(context, demo)
    section = page.get_by_test_id("settings-webhooks")
    section.get_by_test_id("webhook-create-open").click()
    section.get_by_test_id("webhook-url").fill("http://192.168.0.10/ganchos")
    section.get_by_test_id("webhook-create-submit").click()
    error = page.locator('[data-testid="field-error"][data-field="url"]')
    expect(error).to_be_visible()
    expect(error).to_contain_text("Recusado")
    expect(error).to_contain_text("192.168.0.10")  # the API's own words ride along
    expect(page.get_by_test_id("webhook-url")).to_have_value("http://192.168.0.10/ganchos")
    expect(page.get_by_test_id("webhook-url")).to_have_attribute("aria-invalid", "true")
    expect(page.get_by_test_id("webhook-row")).to_have_count(0)


def test_a_setting_out_of_range_is_refused_and_a_good_one_saved(context: Any, demo: Demo) -> None:
    from playwright.sync_api import expect

    page = open_settings(context, demo)
    section = page.get_by_test_id("settings-tenant")
    section.locator("#session_timeout_seconds").fill("9999999")
    section.get_by_test_id("settings-tenant-save").click()
    error = page.locator('[data-testid="field-error"][data-field="session_timeout_seconds"]')
    expect(error).to_contain_text("604800")
    section = page.get_by_test_id("settings-tenant")
    section.locator("#session_timeout_seconds").fill("2700")
    section.locator("#csat_on_close").check()
    section.get_by_test_id("settings-tenant-save").click()
    expect(page.get_by_test_id("toast-info")).to_be_visible()
    expect(page.locator("#session_timeout_seconds")).to_have_value("2700")
    settings = httpx.get(
        f"{demo.base_url}/api/v1/settings", headers={"Authorization": f"Bearer {admin_token(demo)}"}
    ).json()
    assert settings["session_timeout_seconds"] == 2700
    assert settings["csat_on_close"] is True


def test_the_channel_shows_its_live_status_and_the_qr_code_while_pairing(
    context: Any, demo: Demo
) -> None:
    from playwright.sync_api import expect

    page = open_settings(context, demo)
    # The demo's channel (another test adds one on a session named "centro").
    channel = page.get_by_test_id("channel-row").filter(has_text="· default")
    expect(channel.get_by_test_id("channel-status")).to_have_attribute("data-status", "WORKING")
    # The phone is unpaired: WAHA offers QR codes until one is scanned.
    played = httpx.post(f"{demo.sim_url}/_sim/pair", json={"rotations": 3, "rotate_seconds": 8})
    assert played.status_code == 202
    status_url = (
        f"{demo.base_url}/api/v1/channels/{channel.get_attribute('data-channel-id')}/status"
    )
    admin = {"Authorization": f"Bearer {admin_token(demo)}"}
    deadline = time.monotonic() + 10
    while httpx.get(status_url, headers=admin).json()["status"] != "SCAN_QR_CODE":
        assert time.monotonic() < deadline, "WAHA never offered a QR code"
        time.sleep(0.1)
    expect(channel.get_by_test_id("channel-qr")).to_be_visible()
    channel.get_by_test_id("channel-qr").click()
    image = channel.get_by_test_id("channel-qr-image")
    expect(image).to_be_visible(timeout=10_000)
    page.wait_for_function(
        "img => img.complete && img.naturalWidth > 100", arg=image.element_handle()
    )
    expect(channel.get_by_test_id("channel-status")).to_have_attribute(
        "data-status", "SCAN_QR_CODE"
    )
    # Scanned: the panel, refreshing itself, says the phone is connected.
    expect(channel.get_by_test_id("channel-status")).to_have_attribute(
        "data-status", "WORKING", timeout=40_000
    )
    expect(channel.get_by_test_id("channel-qr-image")).to_have_count(0)
    channel.get_by_test_id("channel-restart").click()
    expect(channel.locator(".note")).to_be_visible()


def test_a_new_channel_shows_its_webhook_url_and_secret_once(context: Any, demo: Demo) -> None:
    from playwright.sync_api import expect

    page = open_settings(context, demo)
    section = page.get_by_test_id("settings-channels")
    section.get_by_test_id("channel-create-open").click()
    section.get_by_label("Nome").fill("Loja Centro")
    section.get_by_label("Endereço do WAHA").fill(demo.sim_url)
    section.get_by_label("Sessão do WAHA").fill("centro")
    section.get_by_test_id("channel-create-submit").click()
    created = page.get_by_test_id("channel-created")
    expect(created).to_be_visible()
    url = page.get_by_test_id("channel-webhook-url").inner_text()
    secret = page.get_by_test_id("channel-webhook-secret").inner_text()
    assert re.fullmatch(rf"{re.escape(demo.base_url)}/webhooks/waha/[0-9a-f-]{{36}}", url), url
    assert len(secret) >= 32
    page.goto(f"{demo.base_url}/app/settings")
    expect(page.get_by_test_id("channel-row").filter(has_text="Loja Centro")).to_have_count(1)
    assert secret not in page.content()


def test_ad_tokens_are_never_shown_back(context: Any, demo: Demo) -> None:
    from playwright.sync_api import expect

    token = "EAAG" + uuid.uuid4().hex
    page = open_settings(context, demo)
    form = page.get_by_test_id("ads-form-tiktok")
    form.get_by_label("Token de acesso").fill(token)
    form.get_by_test_id("ads-save-tiktok").click()
    error = page.locator('[data-testid="field-error"][data-field="config.event_source_id"]')
    expect(error).to_be_visible()
    assert token not in page.content()
    form = page.get_by_test_id("ads-form-tiktok")
    form.get_by_label("Token de acesso").fill(token)
    form.locator('input[name="config.event_source_id"]').fill("CQ1234")
    form.get_by_test_id("ads-save-tiktok").click()
    expect(page.get_by_test_id("toast-info")).to_be_visible()
    form = page.get_by_test_id("ads-form-tiktok")
    expect(form.get_by_test_id("ads-status")).to_have_attribute("data-configured", "true")
    expect(form.locator('input[name="config.event_source_id"]')).to_have_value("CQ1234")
    expect(form.get_by_label("Token de acesso")).to_have_value("")
    assert token not in page.content()


@pytest.mark.parametrize("who", ["supervisor", "agent"])
def test_everyone_but_admins_gets_403(context: Any, demo: Demo, who: str) -> None:
    from playwright.sync_api import expect

    page = log_in(context, demo, who)
    expect(page.get_by_test_id("nav-settings")).to_have_count(0)
    csrf = page.locator('input[name="csrf_token"]').first.input_value()
    answer = page.goto(f"{demo.base_url}/app/settings")
    assert answer is not None
    assert answer.status == 403
    expect(page.get_by_test_id("error-403")).to_be_visible()
    posted = page.request.post(
        f"{demo.base_url}/app/settings/tenant",
        form={"csrf_token": csrf, "session_timeout_seconds": "60"},
        max_redirects=0,
    )
    assert posted.status == 403


def test_settings_pass_axe_and_are_photographed(browser: Any, demo: Demo) -> None:
    context = browser.new_context(
        viewport={"width": 1280, "height": 900}, bypass_csp=True, locale="pt-BR"
    )
    try:
        page = open_settings(context, demo)
        page.get_by_test_id("channel-restart").first.wait_for()  # the live panel is in
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        # The screen scrolls inside its pane: a tall window shows every section.
        page.set_viewport_size({"width": 1280, "height": 2000})
        page.screenshot(path=str(SCREENSHOTS / "settings.png"))
        page.set_viewport_size({"width": 1280, "height": 900})
        problems = axe_violations(page)
        for opener in ("agent-create-open", "webhook-create-open", "channel-create-open"):
            page.get_by_test_id(opener).click()
        problems += axe_violations(page)
    finally:
        context.close()
    assert problems == [], json.dumps(axe_summary(problems), indent=1)
