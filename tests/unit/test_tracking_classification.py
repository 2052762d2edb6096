"""Lead source classification and the Tracking aggregate. No I/O."""

import uuid

import pytest

from ventros.kernel.errors import RuleViolation
from ventros.tracking.domain import (
    AdReferral,
    AttributionRow,
    Classification,
    ClickIdType,
    Signals,
    Source,
    Tracking,
    Utm,
    classify,
)

CTWA = "Aff-n8ZTODiE79d22KtAwQKj9e"


def test_a_click_to_whatsapp_referral_is_facebook_ads_with_its_ctwa_clid() -> None:
    referral = AdReferral("ad", "120226305854810726", "https://fb.me/3cr4Wqqkv", CTWA)
    assert classify(Signals(referral=referral)) == Classification(
        Source.FACEBOOK_ADS, CTWA, ClickIdType.CTWA_CLID, "120226305854810726"
    )


@pytest.mark.parametrize(
    "url", ["https://www.instagram.com/p/abc/", "https://instagram.com/ad", "instagram.com/x"]
)
def test_a_referral_whose_source_url_is_on_instagram_is_instagram_ads(url: str) -> None:
    referral = AdReferral("ad", "1", url, CTWA)
    assert classify(Signals(referral=referral)).source is Source.INSTAGRAM_ADS


def test_a_lookalike_host_is_not_instagram() -> None:
    referral = AdReferral("ad", "1", "https://notinstagram.com/x", CTWA)
    assert classify(Signals(referral=referral)).source is Source.FACEBOOK_ADS


def test_a_referral_from_an_organic_post_is_organic() -> None:
    assert classify(Signals(referral=AdReferral("post", "9"))).source is Source.ORGANIC


def test_the_ad_referral_wins_over_click_ids_and_utm() -> None:
    signals = Signals(
        referral=AdReferral("ad", "1", None, CTWA),
        click_ids={ClickIdType.GCLID: "g"},
        utm=Utm("google", "cpc"),
    )
    assert classify(signals).source is Source.FACEBOOK_ADS


@pytest.mark.parametrize(
    ("click_ids", "expected"),
    [
        ({ClickIdType.WBRAID: "w", ClickIdType.GBRAID: "b"}, ("b", ClickIdType.GBRAID)),
        ({ClickIdType.GCLID: "g", ClickIdType.WBRAID: "w"}, ("g", ClickIdType.GCLID)),
        ({ClickIdType.GCLID: "g", ClickIdType.TTCLID: "t"}, ("g", ClickIdType.GCLID)),
    ],
)
def test_google_click_ids_come_next_gclid_first(
    click_ids: dict[ClickIdType, str], expected: tuple[str, ClickIdType]
) -> None:
    found = classify(Signals(click_ids=click_ids, utm=Utm("tiktok", "cpc")))
    assert (found.source, found.click_id, found.click_id_type) == (Source.GOOGLE_ADS, *expected)


def test_ttclid_is_tiktok_ads_and_wins_over_fbclid() -> None:
    found = classify(Signals(click_ids={ClickIdType.TTCLID: "E.C.P.x", ClickIdType.FBCLID: "f"}))
    assert (found.source, found.click_id_type) == (Source.TIKTOK_ADS, ClickIdType.TTCLID)


@pytest.mark.parametrize(
    ("utm", "source"),
    [
        (Utm(), Source.FACEBOOK_ADS),
        (Utm("facebook", "paid_social"), Source.FACEBOOK_ADS),
        (Utm("ig", "cpc"), Source.INSTAGRAM_ADS),
        (Utm("facebook", "social"), Source.ORGANIC),
    ],
)
def test_fbclid_is_meta_ads_unless_utm_medium_says_unpaid(utm: Utm, source: Source) -> None:
    found = classify(Signals(click_ids={ClickIdType.FBCLID: "IwAR"}, utm=utm))
    assert (found.source, found.click_id, found.click_id_type) == (
        source,
        "IwAR",
        ClickIdType.FBCLID,
    )


@pytest.mark.parametrize(
    ("utm", "source"),
    [
        (Utm("google", "cpc"), Source.GOOGLE_ADS),
        (Utm("Facebook", "Paid"), Source.FACEBOOK_ADS),
        (Utm("instagram", "cpc"), Source.INSTAGRAM_ADS),
        (Utm("tiktok", "paid_social"), Source.TIKTOK_ADS),
        (Utm("newsletter", "email"), Source.ORGANIC),
        (Utm("google", "organic"), Source.ORGANIC),
        (Utm("bing", "cpc"), Source.ORGANIC),
        (Utm(campaign="spring"), Source.ORGANIC),
    ],
)
def test_utm_without_click_ids_follows_medium_and_source(utm: Utm, source: Source) -> None:
    assert classify(Signals(utm=utm, referrer="https://google.com")).source is source


def test_a_referrer_alone_is_organic_and_nothing_at_all_is_direct() -> None:
    assert classify(Signals(referrer="https://www.bing.com/search?q=x")).source is Source.ORGANIC
    assert classify(Signals()).source is Source.DIRECT


def test_signals_are_read_from_a_landing_url() -> None:
    signals = Signals.from_url(
        "https://shop.example/?utm_source=google&utm_medium=cpc&utm_campaign=bf&gclid=Cj0&x=1"
    )
    assert signals.utm == Utm("google", "cpc", "bf")
    assert signals.click_ids == {ClickIdType.GCLID: "Cj0"}
    assert classify(signals).source is Source.GOOGLE_ADS


def test_a_tracking_without_source_is_classified_and_records_tracking_created() -> None:
    contact = uuid.uuid4()
    tracking = Tracking.create(
        tenant_id=uuid.uuid4(),
        contact_id=contact,
        ad_id="120226305854810726",
        click_id=CTWA,
        click_id_type=ClickIdType.CTWA_CLID,
        source_url="https://www.instagram.com/p/1",
    )
    assert tracking.source is Source.INSTAGRAM_ADS
    [event] = tracking.pull_events()
    assert event.name == "tracking.created"
    assert event.payload["contact_id"] == str(contact)
    assert event.payload["click_id_type"] == "ctwa_clid"


def test_an_explicit_source_is_kept() -> None:
    tracking = Tracking.create(
        tenant_id=uuid.uuid4(),
        contact_id=uuid.uuid4(),
        source=Source.ORGANIC,
        utm=Utm("google", "cpc"),
    )
    assert tracking.source is Source.ORGANIC


def test_a_click_id_needs_its_type_and_the_other_way_round() -> None:
    with pytest.raises(RuleViolation):
        Tracking.create(tenant_id=uuid.uuid4(), contact_id=uuid.uuid4(), click_id="x")
    with pytest.raises(RuleViolation):
        Tracking.create(
            tenant_id=uuid.uuid4(), contact_id=uuid.uuid4(), click_id_type=ClickIdType.GCLID
        )


def test_an_inbound_ad_referral_becomes_a_tracking_with_ad_id_and_ctwa_clid() -> None:
    referral = AdReferral("ad", "120226305854810726", "https://fb.me/3cr4Wqqkv", CTWA)
    tracking = Tracking.from_signals(
        tenant_id=uuid.uuid4(), contact_id=uuid.uuid4(), signals=Signals(referral=referral)
    )
    assert (tracking.source, tracking.ad_id, tracking.click_id, tracking.click_id_type) == (
        Source.FACEBOOK_ADS,
        "120226305854810726",
        CTWA,
        ClickIdType.CTWA_CLID,
    )
    assert tracking.source_url == "https://fb.me/3cr4Wqqkv"


def test_cpl_and_roi_follow_from_spend_and_stay_unknown_without_it() -> None:
    known = AttributionRow(
        "facebook_ads", leads=4, conversions=1, revenue_cents=5000, spend_cents=1000
    )
    assert (known.cpl_cents, known.roi) == (250, 4.0)
    unknown = AttributionRow(
        "organic", leads=4, conversions=1, revenue_cents=5000, spend_cents=None
    )
    assert (unknown.cpl_cents, unknown.roi) == (None, None)
    assert AttributionRow("x", 0, 0, 0, 500).cpl_cents is None
