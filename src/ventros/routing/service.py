"""Routing's use cases: CRUD of teams, business hours, routing rules and SLA policies, the
tenant's follow-up; and, for conversations, where a new session goes (`route`) and how a
team's clocks run (`route_of_team`)."""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import date
from typing import Any

from sqlalchemy import select

from ventros.identity.domain import Principal
from ventros.identity.repository import users
from ventros.kernel.errors import NotFound, RuleViolation
from ventros.kernel.events import Actor
from ventros.kernel.ids import new_id
from ventros.platform.uow import UnitOfWork, UnitOfWorkFactory
from ventros.routing import repository as repo
from ventros.routing.domain import (
    AlwaysOpen,
    BusinessHours,
    Conditions,
    FollowUp,
    Hours,
    Route,
    RoutingRule,
    SessionFacts,
    SlaPolicy,
    Team,
    label_key,
)


def _open(uow: UnitOfWorkFactory, principal: Principal) -> UnitOfWork:
    return uow(principal.tenant_id, Actor.user(principal.user_id))


def _found(item: Any, what: str) -> Any:
    if item is None:
        raise NotFound(f"{what} not found")
    return item


# ---------------------------------------------------------------- business hours


@dataclass(frozen=True)
class HoursCommand:
    name: str
    timezone: str
    weekly: dict[str, list[list[str]]]
    holidays: list[date]
    outside_hours_reply: str | None


async def create_hours(
    uow: UnitOfWorkFactory, principal: Principal, command: HoursCommand
) -> BusinessHours:
    hours = BusinessHours(id=new_id(), tenant_id=principal.tenant_id, **command.__dict__)
    async with _open(uow, principal) as tx:
        await repo.save_hours(tx, hours)
        await tx.commit()
    return hours


async def update_hours(
    uow: UnitOfWorkFactory, principal: Principal, hours_id: uuid.UUID, changes: dict[str, Any]
) -> BusinessHours:
    """A schedule edit: open sessions' SLA deadlines are recomputed from it when their
    workflow next reads them (it re-reads at least every `SLA_RECHECK_SECONDS`)."""
    async with _open(uow, principal) as tx:
        current: BusinessHours = _found(await repo.get_hours(tx, hours_id), "business hours")
        values = {
            "name": current.name,
            "timezone": current.timezone,
            "weekly": current.weekly,
            "holidays": current.holidays,
            "outside_hours_reply": current.outside_hours_reply,
            **changes,
        }
        hours = BusinessHours(id=hours_id, tenant_id=principal.tenant_id, **values)
        await repo.save_hours(tx, hours)
        await tx.commit()
    return hours


async def get_hours(
    uow: UnitOfWorkFactory, principal: Principal, hours_id: uuid.UUID
) -> BusinessHours:
    async with _open(uow, principal) as tx:
        return _found(await repo.get_hours(tx, hours_id), "business hours")  # type: ignore[no-any-return]


async def list_hours(uow: UnitOfWorkFactory, principal: Principal) -> list[BusinessHours]:
    async with _open(uow, principal) as tx:
        return await repo.list_hours(tx)


async def delete_hours(uow: UnitOfWorkFactory, principal: Principal, hours_id: uuid.UUID) -> None:
    async with _open(uow, principal) as tx:
        if not await repo.delete_hours(tx, hours_id):
            raise NotFound("business hours not found")
        await tx.commit()


# ---------------------------------------------------------------- teams


async def _check_members(tx: UnitOfWork, members: list[uuid.UUID]) -> None:
    if not members:
        return
    found = set(
        (await tx.connection.execute(select(users.c.id).where(users.c.id.in_(members)))).scalars()
    )
    missing = [str(m) for m in members if m not in found]
    if missing:
        raise RuleViolation(f"unknown agents: {', '.join(missing)}", field="members")


async def _check_hours_id(tx: UnitOfWork, hours_id: uuid.UUID | None) -> None:
    if hours_id is not None and await repo.get_hours(tx, hours_id) is None:
        raise RuleViolation("unknown business hours", field="business_hours_id")


async def create_team(uow: UnitOfWorkFactory, principal: Principal, values: dict[str, Any]) -> Team:
    team = Team(id=new_id(), tenant_id=principal.tenant_id, **values)
    async with _open(uow, principal) as tx:
        await _check_members(tx, team.members)
        await _check_hours_id(tx, team.business_hours_id)
        await repo.save_team(tx, team)
        await tx.commit()
    return team


async def update_team(
    uow: UnitOfWorkFactory, principal: Principal, team_id: uuid.UUID, changes: dict[str, Any]
) -> Team:
    """Changing members affects new assignments only: an agent taken off the team keeps the
    team's sessions they hold (they are not pulled from a conversation mid-way)."""
    async with _open(uow, principal) as tx:
        current: Team = _found(await repo.get_team(tx, team_id), "team")
        values = {
            "name": current.name,
            "members": current.members,
            "business_hours_id": current.business_hours_id,
            "follow_up": current.follow_up,
            **changes,
        }
        team = Team(id=team_id, tenant_id=principal.tenant_id, **values)
        await _check_members(tx, team.members)
        await _check_hours_id(tx, team.business_hours_id)
        await repo.save_team(tx, team)
        await tx.commit()
    return team


async def get_team(uow: UnitOfWorkFactory, principal: Principal, team_id: uuid.UUID) -> Team:
    async with _open(uow, principal) as tx:
        return _found(await repo.get_team(tx, team_id), "team")  # type: ignore[no-any-return]


async def list_teams(uow: UnitOfWorkFactory, principal: Principal) -> list[Team]:
    async with _open(uow, principal) as tx:
        return await repo.list_teams(tx)


async def delete_team(uow: UnitOfWorkFactory, principal: Principal, team_id: uuid.UUID) -> None:
    async with _open(uow, principal) as tx:
        if not await repo.delete_team(tx, team_id):
            raise NotFound("team not found")
        await tx.commit()


# ---------------------------------------------------------------- routing rules


async def _check_team_id(tx: UnitOfWork, team_id: uuid.UUID) -> None:
    if await repo.get_team(tx, team_id) is None:
        raise RuleViolation("unknown team", field="team_id")


async def create_rule(
    uow: UnitOfWorkFactory,
    principal: Principal,
    *,
    name: str,
    team_id: uuid.UUID,
    conditions: Conditions,
    required_skills: list[str],
    position: int | None,
) -> RoutingRule:
    """A rule, at `position` in the evaluation order (absent: last)."""
    async with _open(uow, principal) as tx:
        await _check_team_id(tx, team_id)
        rules = await repo.list_rules(tx)
        rule = RoutingRule(
            id=new_id(),
            tenant_id=principal.tenant_id,
            name=name,
            position=0,
            team_id=team_id,
            conditions=conditions,
            required_skills=required_skills,
        )
        at = len(rules) if position is None else max(0, min(position, len(rules)))
        rules.insert(at, rule)
        await _renumber(tx, rules)
        await tx.commit()
    return rule


async def _renumber(tx: UnitOfWork, rules: list[RoutingRule]) -> None:
    for index, rule in enumerate(rules):
        rule.position = index
        await repo.save_rule(tx, rule)


async def update_rule(
    uow: UnitOfWorkFactory, principal: Principal, rule_id: uuid.UUID, changes: dict[str, Any]
) -> RoutingRule:
    async with _open(uow, principal) as tx:
        rules = await repo.list_rules(tx)
        current = _found(next((r for r in rules if r.id == rule_id), None), "routing rule")
        position = changes.pop("position", None)
        values = {
            "name": current.name,
            "team_id": current.team_id,
            "conditions": current.conditions,
            "required_skills": current.required_skills,
            **changes,
        }
        rule = RoutingRule(id=rule_id, tenant_id=principal.tenant_id, position=0, **values)
        await _check_team_id(tx, rule.team_id)
        index = rules.index(current)
        rules.pop(index)
        rules.insert(index if position is None else max(0, min(position, len(rules))), rule)
        await _renumber(tx, rules)
        await tx.commit()
    return rule


async def reorder_rules(
    uow: UnitOfWorkFactory, principal: Principal, ids: list[uuid.UUID]
) -> list[RoutingRule]:
    """The rules in the order given; every rule must be named once."""
    async with _open(uow, principal) as tx:
        rules = {r.id: r for r in await repo.list_rules(tx)}
        if sorted(ids) != sorted(rules):
            raise RuleViolation("name every rule of the tenant exactly once", field="ids")
        ordered = [rules[i] for i in ids]
        await _renumber(tx, ordered)
        await tx.commit()
    return ordered


async def get_rule(uow: UnitOfWorkFactory, principal: Principal, rule_id: uuid.UUID) -> RoutingRule:
    async with _open(uow, principal) as tx:
        return _found(await repo.get_rule(tx, rule_id), "routing rule")  # type: ignore[no-any-return]


async def list_rules(uow: UnitOfWorkFactory, principal: Principal) -> list[RoutingRule]:
    async with _open(uow, principal) as tx:
        return await repo.list_rules(tx)


async def delete_rule(uow: UnitOfWorkFactory, principal: Principal, rule_id: uuid.UUID) -> None:
    async with _open(uow, principal) as tx:
        if not await repo.delete_rule(tx, rule_id):
            raise NotFound("routing rule not found")
        await _renumber(tx, await repo.list_rules(tx))
        await tx.commit()


# ---------------------------------------------------------------- SLA policies


async def save_policy(
    uow: UnitOfWorkFactory,
    principal: Principal,
    values: dict[str, Any],
    policy_id: uuid.UUID | None = None,
) -> SlaPolicy:
    async with _open(uow, principal) as tx:
        if policy_id is not None:
            current: SlaPolicy = _found(await repo.get_policy(tx, policy_id), "SLA policy")
            values = {
                "name": current.name,
                "team_id": current.team_id,
                "label": current.label,
                "first_response_seconds": current.first_response_seconds,
                "resolution_seconds": current.resolution_seconds,
                **values,
            }
        policy = SlaPolicy(id=policy_id or new_id(), tenant_id=principal.tenant_id, **values)
        if policy.team_id is not None:
            await _check_team_id(tx, policy.team_id)
        await repo.save_policy(tx, policy)
        await tx.commit()
    return policy


async def get_policy(
    uow: UnitOfWorkFactory, principal: Principal, policy_id: uuid.UUID
) -> SlaPolicy:
    async with _open(uow, principal) as tx:
        return _found(await repo.get_policy(tx, policy_id), "SLA policy")  # type: ignore[no-any-return]


async def list_policies(uow: UnitOfWorkFactory, principal: Principal) -> list[SlaPolicy]:
    async with _open(uow, principal) as tx:
        return await repo.list_policies(tx)


async def delete_policy(uow: UnitOfWorkFactory, principal: Principal, policy_id: uuid.UUID) -> None:
    async with _open(uow, principal) as tx:
        if not await repo.delete_policy(tx, policy_id):
            raise NotFound("SLA policy not found")
        await tx.commit()


# ---------------------------------------------------------------- tenant follow-up


async def get_follow_up(uow: UnitOfWorkFactory, principal: Principal) -> FollowUp | None:
    async with _open(uow, principal) as tx:
        return await repo.tenant_follow_up(tx)


async def set_follow_up(
    uow: UnitOfWorkFactory, principal: Principal, follow_up: FollowUp | None
) -> FollowUp | None:
    async with _open(uow, principal) as tx:
        await repo.save_tenant_follow_up(tx, follow_up)
        await tx.commit()
    return follow_up


# ---------------------------------------------------------------- for conversations


async def _hours_of(tx: UnitOfWork, team: Team) -> Hours:
    if team.business_hours_id is None:
        return AlwaysOpen()
    return await repo.get_hours(tx, team.business_hours_id) or AlwaysOpen()


async def route_of_team(tx: UnitOfWork, team_id: uuid.UUID | None) -> Route:
    """A team's members, hours, SLA policies and follow-up as they are now (no team, or a
    deleted one: the tenant's common queue, always open, the label policies of no team,
    the tenant's follow-up)."""
    team = await repo.get_team(tx, team_id) if team_id is not None else None
    if team is None:
        return Route(
            sla_policies=tuple(await repo.policies_for_team(tx, None)),
            follow_up=await repo.tenant_follow_up(tx),
        )
    return Route(
        team_id=team.id,
        members=tuple(team.members),
        hours=await _hours_of(tx, team),
        sla_policies=tuple(await repo.policies_for_team(tx, team.id)),
        follow_up=team.follow_up or await repo.tenant_follow_up(tx),
    )


async def label_has_policy(tx: UnitOfWork, label: str) -> bool:
    """Whether an SLA policy names this conversation label (its sessions' clocks must then
    look again when it is put on or taken off)."""
    key = label_key(label)
    policies = await repo.list_policies(tx)
    return any(p.label is not None and label_key(p.label) == key for p in policies)


async def team_exists(tx: UnitOfWork, team_id: uuid.UUID) -> bool:
    """Whether the tenant has this team (another tenant's is not seen)."""
    return await repo.get_team(tx, team_id) is not None


async def team_members(tx: UnitOfWork, team_id: uuid.UUID | None) -> tuple[uuid.UUID, ...] | None:
    """Who may take a session of this team (None: no team, or a deleted one: anyone)."""
    if team_id is None:
        return None
    team = await repo.get_team(tx, team_id)
    return tuple(team.members) if team is not None else None


async def route(tx: UnitOfWork, facts: Callable[[], Awaitable[SessionFacts]]) -> Route:
    """The first rule, in order, that matches the new session decides its team and skills;
    none matches: the tenant's common queue. `facts` are read only when there are rules
    (most tenants have none: the hot path pays one query)."""
    rules = await repo.list_rules(tx)
    if not rules:
        return await route_of_team(tx, None)
    known = await facts()
    cached: dict[uuid.UUID, Route] = {}
    for rule in rules:
        if rule.team_id not in cached:
            cached[rule.team_id] = await route_of_team(tx, rule.team_id)
        team_route = cached[rule.team_id]
        if team_route.team_id is None:
            continue  # the team is gone
        if rule.matches(known, team_route.hours):
            return Route(
                team_id=team_route.team_id,
                rule_id=rule.id,
                required_skills=tuple(rule.required_skills),
                members=team_route.members,
                hours=team_route.hours,
                sla_policies=team_route.sla_policies,
                follow_up=team_route.follow_up,
            )
    return await route_of_team(tx, None)
