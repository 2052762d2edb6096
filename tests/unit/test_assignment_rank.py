"""The pure ranking of AssignAgentToSession: who has room, least loaded first, then the one
idle longest, then by id (stable)."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

from ventros.agents.repository import AgentSlot
from ventros.conversations.service.assignment import rank
from ventros.identity.domain import AgentStatus

T0 = datetime(2026, 11, 1, 12, 0, tzinfo=UTC)


def slot(
    capacity: int = 5,
    *,
    idle_minutes: float = 0,
    id_: uuid.UUID | None = None,
    skills: tuple[str, ...] = (),
) -> AgentSlot:
    return AgentSlot(
        id=id_ or uuid.uuid4(),
        capacity=capacity,
        skills=skills,
        status=AgentStatus.AVAILABLE,
        idle_since=T0 - timedelta(minutes=idle_minutes),
    )


def test_nobody_to_rank_is_an_empty_list() -> None:
    assert rank([], {}) == []


def test_agents_at_or_over_capacity_are_left_out() -> None:
    full, over, free = slot(2), slot(2), slot(2)
    ranked = rank([full, over, free], {full.id: 2, over.id: 3, free.id: 1})
    assert ranked == [free]


def test_an_agent_with_capacity_zero_never_has_room() -> None:
    assert rank([slot(0)], {}) == []


def test_an_agent_missing_from_the_loads_has_no_sessions() -> None:
    loaded, unknown = slot(5), slot(5)
    assert rank([loaded, unknown], {loaded.id: 1}) == [unknown, loaded]


def test_the_least_loaded_comes_first_whatever_the_idle_time() -> None:
    busy_but_idle_long = slot(10, idle_minutes=600)
    light_just_assigned = slot(10, idle_minutes=0)
    loads = {busy_but_idle_long.id: 3, light_just_assigned.id: 1}
    assert rank([busy_but_idle_long, light_just_assigned], loads) == [
        light_just_assigned,
        busy_but_idle_long,
    ]


def test_load_is_absolute_not_a_share_of_capacity() -> None:
    big = slot(100)  # 5 of 100
    small = slot(5)  # 4 of 5
    assert rank([big, small], {big.id: 5, small.id: 4}) == [small, big]


def test_among_equally_loaded_the_one_idle_longest_comes_first() -> None:
    recent, oldest, middle = slot(idle_minutes=1), slot(idle_minutes=90), slot(idle_minutes=30)
    loads = {recent.id: 2, oldest.id: 2, middle.id: 2}
    assert rank([recent, oldest, middle], loads) == [oldest, middle, recent]


def test_full_ties_are_broken_by_id_so_the_order_is_stable() -> None:
    ids = sorted(uuid.uuid4() for _ in range(4))
    agents = [slot(idle_minutes=5, id_=i) for i in reversed(ids)]
    assert [a.id for a in rank(agents, {})] == ids
    assert [a.id for a in rank(list(reversed(agents)), {})] == ids


def test_rank_does_not_change_its_inputs() -> None:
    a, b = slot(idle_minutes=1), slot(idle_minutes=2)
    candidates, loads = [a, b], {a.id: 0, b.id: 1}
    rank(candidates, loads)
    assert candidates == [a, b]
    assert loads == {a.id: 0, b.id: 1}


def test_a_full_ordering() -> None:
    a = slot(3, idle_minutes=10)  # load 0, idle 10
    b = slot(3, idle_minutes=50)  # load 0, idle 50 -> first
    c = slot(3, idle_minutes=99)  # load 1
    d = slot(3, idle_minutes=500)  # load 3: full
    e = slot(10, idle_minutes=1)  # load 2
    loads = {c.id: 1, d.id: 3, e.id: 2}
    assert rank([a, b, c, d, e], loads) == [b, a, c, e]
