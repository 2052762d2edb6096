"""The reports screen in a real browser against a fresh `ventros run` (its demo has
sessions, ad leads with spend and a sales pipeline): the figures on screen equal the API's
for the same range, each CSV download has the table's rows, a bad range is refused beside
its field, who may read reports, axe, and the screenshot."""

from __future__ import annotations

import csv
import io
import json
import re
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, TypeVar

import pytest

from tests.browser.conftest import SCREENSHOTS, Demo
from tests.browser.test_inbox_browser import axe_summary, axe_violations, log_in

pytestmark = pytest.mark.e2e


@pytest.fixture
def context(browser: Any) -> Iterator[Any]:
    made = browser.new_context(
        viewport={"width": 1280, "height": 900}, locale="pt-BR", accept_downloads=True
    )
    try:
        yield made
    finally:
        made.close()


def api_token(context: Any, demo: Demo, who: str) -> str:
    email, password = demo.logins[who]
    answer = context.request.post(
        f"{demo.base_url}/api/v1/auth/login", data={"email": email, "password": password}
    )
    assert answer.ok, answer.text()
    return str(answer.json()["access_token"])


def api_get(context: Any, demo: Demo, token: str, path: str, **params: str) -> Any:
    answer = context.request.get(
        f"{demo.base_url}/api/v1{path}",
        params=params,
        headers={"Authorization": f"Bearer {token}"},
    )
    assert answer.ok, answer.text()
    return answer.json()


def table(page: Any, testid: str, key: str = "data-key") -> dict[str, dict[str, str]]:
    """A report table as its rows show it: key -> field -> raw figure (`data-value`)."""
    rows: dict[str, dict[str, str]] = page.evaluate(
        """([testid, key]) => Object.fromEntries(
            [...document.querySelectorAll(`[data-testid="${testid}"]`)].map(row => [
                row.getAttribute(key),
                Object.fromEntries([...row.querySelectorAll("[data-field]")].map(
                    cell => [cell.dataset.field, cell.dataset.value]))]))""",
        [testid, key],
    )
    return rows


def same(shown: str, api: Any) -> bool:
    if api is None:
        return shown == ""
    return abs(float(shown) - float(api)) < 1e-9


def last_days(days: int) -> tuple[str, str]:
    today = datetime.now(UTC).date()
    return (today - timedelta(days=days - 1)).isoformat(), today.isoformat()


def downloaded_rows(page: Any, testid: str) -> list[dict[str, str]]:
    with page.expect_download() as info:
        page.get_by_test_id(testid).click()
    path = Path(info.value.path())
    assert info.value.suggested_filename.endswith(".csv")
    return list(csv.DictReader(io.StringIO(path.read_text(encoding="utf-8-sig"))))


T = TypeVar("T")
SETTLE_SECONDS = 30.0


def settled(fetch: Callable[[], Any], read: Callable[[], T]) -> tuple[Any, T]:
    """The API's answer and what the screen (or a download) read meanwhile, once the
    demo's figures held still around the read: its background (timeouts closing
    sessions, the simulated customer) keeps changing them."""
    deadline = time.monotonic() + SETTLE_SECONDS
    while True:
        before = fetch()
        seen = read()
        if fetch() == before or time.monotonic() > deadline:
            return before, seen


def test_figures_on_screen_and_in_the_csv_equal_the_apis(context: Any, demo: Demo) -> None:
    from playwright.sync_api import expect

    first, last = last_days(30)
    period = {"from": first, "to": last}
    page = log_in(context, demo, "supervisor")
    page.get_by_test_id("nav-reports").click()
    expect(page.get_by_test_id("report-service")).to_be_visible()
    # The default range is the last 30 days, today included.
    expect(page.get_by_test_id("report-from")).to_have_value(first)
    expect(page.get_by_test_id("report-to")).to_have_value(last)
    page.get_by_test_id("report-apply").click()
    token = api_token(context, demo, "supervisor")

    def on_screen(testid: str, key: str = "data-key") -> Callable[[], dict[str, dict[str, str]]]:
        def read() -> dict[str, dict[str, str]]:
            page.reload()
            return table(page, testid, key)

        return read

    def api(path: str, **params: str) -> Callable[[], Any]:
        return lambda: api_get(context, demo, token, path, **period, **params)

    service, shown = settled(api("/reports/service", group_by="agent"), on_screen("service-row"))
    assert service["overall"]["sessions"] > 0, "the demo has sessions"
    assert set(shown) == {g["key"] or "" for g in service["groups"]}
    for group in service["groups"]:
        for name, value in shown[group["key"] or ""].items():
            assert same(value, group[name]), (group["key"], name, value, group[name])
    service, kpi = settled(
        api("/reports/service", group_by="agent"),
        lambda: page.locator('[data-testid="service-kpi"][data-field="sessions"]').get_attribute(
            "data-value"
        ),
    )
    assert kpi == str(service["overall"]["sessions"])
    service, rows = settled(
        api("/reports/service", group_by="agent"),
        lambda: downloaded_rows(page, "report-service-csv"),
    )
    assert [r["key"] for r in rows] == [g["key"] or "" for g in service["groups"]]
    assert [int(r["sessions"]) for r in rows] == [g["sessions"] for g in service["groups"]]

    by_source = api("/reports/attribution", group_by="source")
    attribution, shown = settled(by_source, on_screen("attribution-row"))
    assert attribution["items"], "the demo has ad leads"
    assert list(shown) == [i["key"] for i in attribution["items"]]
    for item in attribution["items"]:
        for name, value in shown[item["key"]].items():
            assert same(value, item[name]), (item["key"], name, value, item[name])
    # Money as Brazilians write it.
    spent = next(i for i in attribution["items"] if i["spend_cents"])
    spend_cell = page.locator(
        f'[data-testid="attribution-row"][data-key="{spent["key"]}"] [data-field="spend_cents"]'
    )
    expect(spend_cell).to_contain_text("R$")
    attribution, rows = settled(by_source, lambda: downloaded_rows(page, "report-attribution-csv"))
    assert [r["key"] for r in rows] == [i["key"] for i in attribution["items"]]
    assert [int(r["leads"]) for r in rows] == [i["leads"] for i in attribution["items"]]

    page.get_by_test_id("attribution-by-campaign").click()
    expect(page.get_by_test_id("attribution-by-campaign")).to_have_attribute("aria-current", "true")
    by_campaign, shown = settled(
        api("/reports/attribution", group_by="campaign"), on_screen("attribution-row")
    )
    assert list(shown) == [i["key"] for i in by_campaign["items"]]

    pipeline_id = page.get_by_test_id("report-pipeline").input_value()
    funnel = api(f"/pipelines/{pipeline_id}/metrics")
    metrics, shown = settled(funnel, on_screen("funnel-row", key="data-stage-id"))
    assert list(shown) == [s["stage_id"] for s in metrics["stages"]]
    for stage in metrics["stages"]:
        for name, value in shown[stage["stage_id"]].items():
            assert same(value, stage[name]), (stage["name"], name, value, stage[name])
    metrics, rows = settled(funnel, lambda: downloaded_rows(page, "report-funnel-csv"))
    assert [(r["stage_id"], int(r["entered"])) for r in rows] == [
        (s["stage_id"], s["entered"]) for s in metrics["stages"]
    ]
    expect(page.get_by_test_id("report-chart").first).to_be_visible()


def test_a_narrower_range_changes_the_figures_like_the_api(context: Any, demo: Demo) -> None:
    from playwright.sync_api import expect

    first, last = last_days(1)
    page = log_in(context, demo, "supervisor")
    page.goto(f"{demo.base_url}/app/reports?group_by=day")
    page.get_by_test_id("report-from").fill(first)
    page.get_by_test_id("report-to").fill(last)
    page.get_by_test_id("report-apply").click()
    expect(page).to_have_url(re.compile(rf"from={first}"))
    token = api_token(context, demo, "supervisor")

    def read() -> dict[str, dict[str, str]]:
        page.reload()
        return table(page, "service-row")

    service, shown = settled(
        lambda: api_get(
            context, demo, token, "/reports/service", group_by="day", **{"from": first, "to": last}
        ),
        read,
    )
    assert {k: int(v["sessions"]) for k, v in shown.items()} == {
        g["key"]: g["sessions"] for g in service["groups"]
    }


def test_a_range_backwards_is_refused_beside_the_dates(context: Any, demo: Demo) -> None:
    from playwright.sync_api import expect

    page = log_in(context, demo, "supervisor")
    page.goto(f"{demo.base_url}/app/reports")
    page.get_by_test_id("report-from").fill("2026-06-10")
    page.get_by_test_id("report-to").fill("2026-06-01")
    page.get_by_test_id("report-apply").click()
    error = page.locator('[data-testid="field-error"][data-field="to"]')
    expect(error).to_be_visible()
    expect(page.get_by_test_id("report-to")).to_have_attribute("aria-invalid", "true")
    expect(page.get_by_test_id("report-service")).to_have_count(0)


def test_readers_see_no_write_control_and_agents_get_403(
    context: Any, browser: Any, demo: Demo
) -> None:
    from playwright.sync_api import expect

    page = log_in(context, demo, "supervisor")
    page.goto(f"{demo.base_url}/app/reports")
    expect(page.get_by_test_id("report-service")).to_be_visible()
    main = page.locator("main")
    expect(main.locator('form[method="post"]')).to_have_count(0)
    expect(main.locator("button[hx-post], [hx-post], [hx-put], [hx-delete]")).to_have_count(0)
    expect(page.get_by_test_id("nav-settings")).to_have_count(0)
    # An agent is refused reports by the API (reports:read is for supervisors, admins and
    # viewers, who read everything): the screen answers the same.
    other = browser.new_context(viewport={"width": 1280, "height": 720})
    try:
        agent = log_in(other, demo, "agent")
        answer = agent.goto(f"{demo.base_url}/app/reports")
        assert answer is not None
        assert answer.status == 403
        expect(agent.get_by_test_id("error-403")).to_be_visible()
        assert other.request.get(f"{demo.base_url}/app/reports/service.csv").status == 403
    finally:
        other.close()


def test_reports_pass_axe_and_are_photographed(browser: Any, demo: Demo) -> None:
    from playwright.sync_api import expect

    context = browser.new_context(
        viewport={"width": 1280, "height": 900}, bypass_csp=True, locale="pt-BR"
    )
    try:
        page = log_in(context, demo, "supervisor")
        page.goto(f"{demo.base_url}/app/reports")
        page.get_by_test_id("report-funnel").wait_for()
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        # The screen scrolls inside its pane: a tall window shows all three reports.
        page.set_viewport_size({"width": 1280, "height": 1900})
        page.screenshot(path=str(SCREENSHOTS / "reports.png"))
        page.set_viewport_size({"width": 1280, "height": 900})
        problems = axe_violations(page)
        page.goto(f"{demo.base_url}/app/reports?group_by=day&attribution_by=campaign")
        page.get_by_test_id("report-service").wait_for()
        problems += axe_violations(page)
        page.get_by_test_id("locale-switch").select_option("en")
        expect(page.locator("html")).to_have_attribute("lang", "en")
        expect(page.get_by_test_id("report-service-csv")).to_have_text("Export CSV")
        assert "Exportar CSV" not in page.content()
    finally:
        context.close()
    assert problems == [], json.dumps(axe_summary(problems), indent=1)
