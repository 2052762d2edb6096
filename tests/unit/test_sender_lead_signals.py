"""Which first messages carry lead signals (ingest's tracking hook)."""

from __future__ import annotations

from ventros.conversations.ingest import lead_signals
from ventros.tracking.domain import ClickIdType


def test_a_referral_is_a_signal() -> None:
    signals = lead_signals("Oi", {"source_id": "123", "ctwa_clid": "abc", "source_type": "ad"})
    assert signals is not None
    assert signals.referral is not None
    assert signals.referral.ctwa_clid == "abc"


def test_a_link_with_utm_or_click_ids_is_a_signal() -> None:
    signals = lead_signals("veja https://a.example/?utm_source=x&fbclid=F1.", None)
    assert signals is not None
    assert signals.utm.source == "x"
    assert signals.click_ids == {ClickIdType.FBCLID: "F1"}


def test_plain_text_and_plain_links_are_not() -> None:
    assert lead_signals("Oi, tudo bem?", None) is None
    assert lead_signals("https://a.example/produto", None) is None
    assert lead_signals(None, None) is None
