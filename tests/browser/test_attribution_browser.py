"""A won deal in the attribution report, in a real browser against a fresh `ventros run` whose
Meta Graph is the local ads stand-in: a click-to-WhatsApp lead moved to `won` on the kanban
by the keyboard counts as one more conversion for its campaign and its source on the reports
screen, the screen's figures equal the API's for the same range, and the conversion reaches
the (stand-in) Conversions API."""

from __future__ import annotations

import functools
import time
import uuid
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from tests.browser.api_kit import Api, a_contact
from tests.browser.conftest import Demo
from tests.browser.test_inbox_browser import log_in
from tests.browser.test_reports_browser import api_get, api_token, last_days, same, settled, table
from ventros.stand_ins.ads import VALID_TOKEN, AdsStandIn

pytestmark = pytest.mark.e2e

CONVERSION_SECONDS = 30.0  # the won move's conversion is made by a consumer, after the move


@pytest.fixture(scope="module")
def ads() -> Iterator[AdsStandIn]:
    with AdsStandIn() as stand_in:
        yield stand_in


@pytest.fixture(scope="module")
def demo_settings(ads: AdsStandIn) -> dict[str, str]:
    return {"VENTROS_ADS_GRAPH_BASE_URL": ads.url}


@pytest.fixture
def context(browser: Any) -> Iterator[Any]:
    made = browser.new_context(viewport={"width": 1400, "height": 900}, locale="pt-BR")
    try:
        yield made
    finally:
        made.close()


def a_won_lead(api: Api, campaign: str, click_id: str) -> tuple[str, str, dict[str, str]]:
    """A click-to-WhatsApp lead of `campaign` in a new pipeline's `Proposta`, one keyboard
    step from `Ganho`; returns (contact id, pipeline id, stage name -> id)."""
    api.call(
        "PUT",
        "/ad-integrations/meta",
        {
            "access_token": VALID_TOKEN,
            "config": {"dataset_id": "777000111", "waba_id": "102290129340398"},
            "conversion_on_won": True,
            "won_event_name": "Purchase",
        },
    )
    pipeline = api.call(
        "POST",
        "/pipelines",
        {
            "name": f"Anúncios {campaign}",
            "stages": [
                {"name": "Novo", "kind": "open"},
                {"name": "Proposta", "kind": "open"},
                {"name": "Ganho", "kind": "won"},
                {"name": "Perdido", "kind": "lost"},
            ],
        },
        expect=201,
    )
    stages = {s["name"]: s["id"] for s in pipeline["stages"]}
    contact_id = a_contact(api, "Lead do Anúncio")
    api.call(
        "POST",
        "/trackings",
        {
            "contact_id": contact_id,
            "source": "facebook_ads",
            "campaign_id": campaign,
            "click_id": click_id,
            "click_id_type": "ctwa_clid",
        },
        expect=201,
    )
    api.call(
        "PUT",
        f"/contacts/{contact_id}/pipeline",
        {"pipeline_id": pipeline["id"], "stage_id": stages["Proposta"]},
    )
    return contact_id, pipeline["id"], stages


def test_a_lead_won_on_the_kanban_counts_as_a_conversion_of_its_campaign_and_source(
    context: Any, demo: Demo, ads: AdsStandIn
) -> None:
    from playwright.sync_api import expect

    campaign = f"cmp-teste-{uuid.uuid4().hex[:8]}"
    click_id = f"ARAkLk{uuid.uuid4().hex[:20]}"
    contact_id, pipeline_id, stages = a_won_lead(Api.as_admin(demo), campaign, click_id)
    page = log_in(context, demo, "supervisor")
    token = api_token(context, demo, "supervisor")
    first, last = last_days(30)  # the screen's default range
    period = {"from": first, "to": last}

    def shown(by: str) -> dict[str, dict[str, str]]:
        page.goto(f"{demo.base_url}/app/reports?attribution_by={by}")
        expect(page.get_by_test_id("report-attribution")).to_be_visible()
        return table(page, "attribution-row")

    def api(by: str) -> Callable[[], Any]:
        return lambda: api_get(context, demo, token, "/reports/attribution", group_by=by, **period)

    before = {"campaign": shown("campaign"), "source": shown("source")}
    assert before["campaign"][campaign]["leads"] == "1", before["campaign"].get(campaign)
    assert before["campaign"][campaign]["conversions"] == "0"

    page.goto(f"{demo.base_url}/app/pipelines/{pipeline_id}")
    page.get_by_test_id("kanban").wait_for()
    card = page.locator(f'[data-testid="kanban-card"][data-contact-id="{contact_id}"]')
    card.get_by_test_id("kanban-card-move").focus()
    page.keyboard.press("ArrowDown")
    won = page.locator(f'[data-testid="kanban-column"][data-stage-id="{stages["Ganho"]}"]')
    expect(won.locator(f'[data-contact-id="{contact_id}"]')).to_have_count(1)

    deadline = time.monotonic() + CONVERSION_SECONDS
    while shown("campaign")[campaign]["conversions"] == "0" and time.monotonic() < deadline:
        time.sleep(0.5)
    for by, key in (("campaign", campaign), ("source", "facebook_ads")):
        report, after = settled(api(by), functools.partial(shown, by))
        was, now = before[by][key], after[key]
        assert int(now["conversions"]) == int(was["conversions"]) + 1, (by, was, now)
        assert now["leads"] == was["leads"], (by, was, now)
        # A won move carries no deal value: the revenue stays.
        assert now["revenue_cents"] == was["revenue_cents"], (by, was, now)
        # Every row on screen is the API's for the same range.
        assert list(after) == [i["key"] for i in report["items"]], by
        for item in report["items"]:
            for name, value in after[item["key"]].items():
                assert same(value, item[name]), (by, item["key"], name, value, item[name])

    # The conversion went to Meta's Conversions API: here, the stand-in.
    deadline = time.monotonic() + CONVERSION_SECONDS
    sent: list[dict[str, Any]] = []
    while not sent and time.monotonic() < deadline:
        with ads.state.lock:
            sent = [e for e in ads.state.capi_events if e["user_data"].get("ctwa_clid") == click_id]
        time.sleep(0.5)
    assert [e["event_name"] for e in sent] == ["Purchase"]
    assert sent[0]["action_source"] == "business_messaging"
