"""Business-time arithmetic and routing rules (pure): intervals, holidays, DST, overlaps
refused, SLA points that pause while closed, keywords with accents folded."""

from __future__ import annotations

import uuid
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from ventros.kernel.errors import RuleViolation
from ventros.routing.domain import (
    AlwaysOpen,
    BusinessHours,
    Conditions,
    RoutingRule,
    SessionFacts,
    SlaPolicy,
    fold,
    sla_points,
)

SP = ZoneInfo("America/Sao_Paulo")
NY = ZoneInfo("America/New_York")
TENANT = uuid.uuid4()
WEEKDAYS_9_TO_18 = {d: [["09:00", "18:00"]] for d in ("mon", "tue", "wed", "thu", "fri")}


def hours(weekly: dict[str, list[list[str]]], **kw: object) -> BusinessHours:
    return BusinessHours(id=uuid.uuid4(), tenant_id=TENANT, name="h", weekly=weekly, **kw)  # type: ignore[arg-type]


def local(tz: ZoneInfo, *args: int) -> datetime:
    return datetime(*args, tzinfo=tz).astimezone(UTC)  # type: ignore[misc]


def test_default_time_zone_is_sao_paulo_and_open_means_inside_an_interval() -> None:
    h = hours(WEEKDAYS_9_TO_18)
    assert h.timezone == "America/Sao_Paulo"
    # Thursday 2026-12-03
    assert h.is_open(local(SP, 2026, 12, 3, 9, 0))
    assert h.is_open(local(SP, 2026, 12, 3, 17, 59))
    assert not h.is_open(local(SP, 2026, 12, 3, 18, 0))
    assert not h.is_open(local(SP, 2026, 12, 5, 12, 0))  # Saturday


def test_business_time_skips_nights_and_weekends() -> None:
    h = hours(WEEKDAYS_9_TO_18)
    friday_17h = local(SP, 2026, 12, 4, 17, 0)
    # Two business hours from Friday 17:00: one on Friday, one on Monday from 09:00.
    assert h.add(friday_17h, 7200) == local(SP, 2026, 12, 7, 10, 0)
    assert h.elapsed(friday_17h, local(SP, 2026, 12, 7, 10, 0)) == 7200
    # Started while closed: the clock starts at the opening.
    assert h.add(local(SP, 2026, 12, 5, 3, 0), 60) == local(SP, 2026, 12, 7, 9, 1)
    assert h.next_opening(local(SP, 2026, 12, 5, 3, 0)) == local(SP, 2026, 12, 7, 9, 0)


def test_holidays_close_the_day_and_a_holiday_without_hours_changes_nothing() -> None:
    christmas = date(2026, 12, 25)  # a Friday
    sunday = date(2026, 12, 27)
    plain = hours(WEEKDAYS_9_TO_18)
    h = hours(WEEKDAYS_9_TO_18, holidays=[christmas, sunday])
    thursday_17h = local(SP, 2026, 12, 24, 17, 0)
    assert h.add(thursday_17h, 7200) == local(SP, 2026, 12, 28, 10, 0)
    assert plain.add(thursday_17h, 7200) == local(SP, 2026, 12, 25, 10, 0)
    assert not h.is_open(local(SP, 2026, 12, 25, 12, 0))
    saturday = local(SP, 2026, 12, 26, 12, 0)
    assert h.add(saturday, 3600) == plain.add(saturday, 3600)


def test_a_dst_change_counts_business_time_not_wall_clock() -> None:
    # New York springs forward on 2026-03-08 at 02:00 (to 03:00): a 00:00-06:00 Sunday
    # lasts five real hours; the schedule is read in local time, the clock in real time.
    h = hours(
        {"sun": [["00:00", "06:00"]], "mon": [["00:00", "06:00"]]}, timezone="America/New_York"
    )
    start = local(NY, 2026, 3, 8, 0, 0)
    end_of_sunday = local(NY, 2026, 3, 8, 6, 0)
    assert (end_of_sunday - start).total_seconds() == 5 * 3600
    assert h.elapsed(start, end_of_sunday) == 5 * 3600
    # Six business hours: five on Sunday, one on Monday, never counted twice.
    assert h.add(start, 6 * 3600) == local(NY, 2026, 3, 9, 1, 0)
    # Falling back (2026-11-01): 00:00-06:00 lasts seven real hours.
    fall = hours({"sun": [["00:00", "06:00"]]}, timezone="America/New_York")
    assert fall.elapsed(local(NY, 2026, 11, 1, 0, 0), local(NY, 2026, 11, 1, 6, 0)) == 7 * 3600


@pytest.mark.parametrize(
    ("weekly", "field"),
    [
        ({"mon": [["09:00", "12:00"], ["11:00", "14:00"]]}, "weekly.mon"),
        ({"tue": [["09:00", "18:00"], ["09:00", "10:00"]]}, "weekly.tue"),
        ({"wed": [["18:00", "09:00"]]}, "weekly.wed"),
        ({"funday": [["09:00", "18:00"]]}, "weekly.funday"),
        ({"thu": [["9h", "18:00"]]}, "weekly.thu"),
    ],
)
def test_overlapping_or_malformed_intervals_are_refused(
    weekly: dict[str, list[list[str]]], field: str
) -> None:
    with pytest.raises(RuleViolation) as refused:
        hours(weekly)
    assert refused.value.field == field


def test_touching_intervals_and_a_day_ending_at_midnight_are_fine() -> None:
    h = hours({"mon": [["09:00", "12:00"], ["12:00", "24:00"]], "tue": [["00:00", "01:00"]]})
    monday_23h = local(SP, 2026, 12, 7, 23, 0)
    assert h.add(monday_23h, 7200) == local(SP, 2026, 12, 8, 1, 0)


def test_unknown_time_zone_is_refused() -> None:
    with pytest.raises(RuleViolation) as refused:
        hours(WEEKDAYS_9_TO_18, timezone="Mars/Olympus")
    assert refused.value.field == "timezone"


def test_sla_points_pause_outside_hours() -> None:
    h = hours(WEEKDAYS_9_TO_18)
    policy = SlaPolicy(uuid.uuid4(), TENANT, "p", 3600, None, team_id=uuid.uuid4())
    started = local(SP, 2026, 12, 4, 17, 30)  # Friday, 30 business minutes left
    points = {p.key: p.at for p in sla_points(policy, h, started)}
    # 80 % = 48 min: 30 on Friday, 18 on Monday.
    assert points["first_response.warning"] == local(SP, 2026, 12, 7, 9, 18)
    assert points["first_response.breached"] == local(SP, 2026, 12, 7, 9, 30)
    always = {p.key: p.at for p in sla_points(policy, AlwaysOpen(), started)}
    assert always["first_response.breached"] == started + timedelta(hours=1)


def _facts(text: str, **kw: object) -> SessionFacts:
    values: dict[str, object] = {
        "channel_id": uuid.uuid4(),
        "first_message": text,
        "tags": (),
        "source": None,
        "at": datetime(2026, 12, 3, 15, tzinfo=UTC),
    }
    values.update(kw)
    return SessionFacts(**values)  # type: ignore[arg-type]


def _rule(**conditions: object) -> RoutingRule:
    return RoutingRule(
        id=uuid.uuid4(),
        tenant_id=TENANT,
        name="r",
        position=0,
        team_id=uuid.uuid4(),
        conditions=Conditions(**conditions),  # type: ignore[arg-type]
    )


def test_keywords_fold_accents_and_case_and_match_whole_words() -> None:
    assert fold("PREÇO Ação") == "preco acao"
    rule = _rule(keywords=("preco", "orçamento"))
    assert rule.matches(_facts("Quero saber o preço das lentes"), AlwaysOpen())
    assert rule.matches(_facts("ORCAMENTO por favor"), AlwaysOpen())
    assert not rule.matches(_facts("minha armação quebrou"), AlwaysOpen())
    assert not rule.matches(_facts("precose"), AlwaysOpen())  # not a word of it


def test_tags_sources_channel_and_hours_conditions() -> None:
    channel = uuid.uuid4()
    rule = _rule(channel_ids=(channel,), tags=("VIP",), sources=("facebook_ads",), hours="outside")
    closed = hours({})
    facts = _facts("oi", channel_id=channel, tags=("vip",), source="facebook_ads")
    assert rule.matches(facts, closed)
    assert not rule.matches(facts, AlwaysOpen())
    assert not rule.matches(_facts("oi", tags=("vip",), source="facebook_ads"), closed)


def test_an_invalid_pattern_names_its_field() -> None:
    with pytest.raises(RuleViolation) as refused:
        Conditions(pattern="(unclosed")
    assert refused.value.field == "conditions.pattern"
    assert _rule(pattern=r"arma[cç]ao\s+quebr").matches(
        _facts("Minha armação quebrou"), AlwaysOpen()
    )
