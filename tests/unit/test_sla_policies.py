"""Which SLA policies hold a session, and its targets (pure): the team's policy and its
labels' policies, each target the strictest of them; a label policy naming a team holds
only that team's sessions; deadlines count from the session's start however late a label
comes."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

from ventros.routing.domain import (
    AlwaysOpen,
    Route,
    SlaPolicy,
    SlaTargets,
    sla_points,
    strictest_targets,
)

TENANT = uuid.uuid4()
VENDAS, SUPORTE = uuid.uuid4(), uuid.uuid4()


def policy(
    *,
    team: uuid.UUID | None = None,
    label: str | None = None,
    first: int | None = None,
    resolution: int | None = None,
) -> SlaPolicy:
    return SlaPolicy(uuid.uuid4(), TENANT, "p", first, resolution, team_id=team, label=label)


TEAM = policy(team=VENDAS, first=3600, resolution=86400)
VIP = policy(label="VIP", first=600)
URGENT_SUPPORT = policy(team=SUPORTE, label="urgente", first=300, resolution=3600)
POLICIES = (TEAM, VIP, URGENT_SUPPORT)


def test_a_session_without_labels_is_held_to_its_teams_policy_only() -> None:
    assert strictest_targets(POLICIES, VENDAS) == SlaTargets(3600, 86400)
    assert strictest_targets(POLICIES, SUPORTE) is None  # its only policy wants a label
    assert strictest_targets(POLICIES, None) is None


def test_each_target_is_the_strictest_of_the_team_and_label_policies() -> None:
    # VIP tightens the first response; the team's resolution target stays.
    assert strictest_targets(POLICIES, VENDAS, ["VIP"]) == SlaTargets(600, 86400)
    # A looser label never loosens the team's target.
    slow = policy(label="VIP", first=7200, resolution=172800)
    assert strictest_targets((TEAM, slow), VENDAS, ["VIP"]) == SlaTargets(3600, 86400)


def test_a_label_policy_without_a_team_holds_any_teams_sessions_and_those_of_none() -> None:
    assert strictest_targets(POLICIES, SUPORTE, ["VIP"]) == SlaTargets(600, None)
    assert strictest_targets(POLICIES, None, ["VIP"]) == SlaTargets(600, None)


def test_a_label_policy_naming_a_team_holds_only_that_teams_sessions() -> None:
    assert strictest_targets(POLICIES, SUPORTE, ["urgente"]) == SlaTargets(300, 3600)
    assert strictest_targets(POLICIES, VENDAS, ["urgente"]) == SlaTargets(3600, 86400)
    assert strictest_targets(POLICIES, None, ["urgente"]) is None


def test_labels_match_whatever_their_case_and_spacing() -> None:
    spaced = policy(label="  Cliente   Ouro ", first=120)
    assert spaced.label == "Cliente Ouro"
    assert strictest_targets((spaced,), None, ["cliente ouro"]) == SlaTargets(120, None)
    assert strictest_targets(POLICIES, VENDAS, ["vip"]) == SlaTargets(600, 86400)
    assert strictest_targets(POLICIES, VENDAS, ["vipp"]) == SlaTargets(3600, 86400)


def test_a_blank_label_with_a_team_is_the_teams_policy() -> None:
    blank = policy(team=VENDAS, label="  ", first=60)
    assert blank.label is None
    assert strictest_targets((blank,), VENDAS) == SlaTargets(60, None)


def test_a_route_answers_its_sessions_targets_and_whether_labels_matter() -> None:
    route = Route(team_id=VENDAS, sla_policies=(TEAM, VIP))
    assert route.sla() == SlaTargets(3600, 86400)
    assert route.sla(["VIP", "other"]) == SlaTargets(600, 86400)
    assert route.has_label_policies
    assert not Route(team_id=VENDAS, sla_policies=(TEAM,)).has_label_policies
    assert Route().sla() is None


def test_a_label_added_late_moves_the_deadline_from_the_start_not_from_the_label() -> None:
    started = datetime(2026, 12, 7, 12, 0, tzinfo=UTC)
    before = {p.key: p.at for p in sla_points(TEAM, AlwaysOpen(), started)}
    targets = strictest_targets(POLICIES, VENDAS, ["VIP"])
    assert targets is not None
    after = {p.key: p.at for p in sla_points(targets, AlwaysOpen(), started)}
    assert before["first_response.breached"] == started + timedelta(hours=1)
    assert after["first_response.breached"] == started + timedelta(minutes=10)
    assert after["first_response.warning"] == started + timedelta(minutes=8)
    # One point per kind and level: nothing doubles.
    assert sorted(after) == sorted(before)
