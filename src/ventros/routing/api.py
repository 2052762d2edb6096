"""HTTP routes of routing: teams, business hours, routing rules (an ordered list), SLA
policies and the tenant's follow-up. Reads for anyone who reads agents; writes for
supervisors and admins."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Depends, Response, status

from ventros.api.deps import Uow, authorized
from ventros.identity.domain import Principal
from ventros.identity.permissions import Permission
from ventros.routing import service
from ventros.routing.schemas import (
    BusinessHoursCreate,
    BusinessHoursRead,
    BusinessHoursUpdate,
    RoutingRuleCreate,
    RoutingRuleOrder,
    RoutingRuleRead,
    RoutingRuleUpdate,
    RoutingSettings,
    SlaPolicyCreate,
    SlaPolicyRead,
    SlaPolicyUpdate,
    TeamCreate,
    TeamRead,
    TeamUpdate,
)

router = APIRouter(tags=["routing"])

Reader = Annotated[Principal, Depends(authorized(Permission.AGENTS_READ))]
Manager = Annotated[Principal, Depends(authorized(Permission.AGENTS_MANAGE))]
NO_CONTENT = status.HTTP_204_NO_CONTENT


# ---------------------------------------------------------------- business hours


@router.post(
    "/business-hours", status_code=status.HTTP_201_CREATED, response_model=BusinessHoursRead
)
async def create_business_hours(
    body: BusinessHoursCreate, principal: Manager, uow: Uow
) -> BusinessHoursRead:
    """A weekly schedule with holidays and a time zone."""
    command = service.HoursCommand(**body.model_dump())
    return BusinessHoursRead.of(await service.create_hours(uow, principal, command))


@router.get("/business-hours", response_model=list[BusinessHoursRead])
async def list_business_hours(principal: Reader, uow: Uow) -> list[BusinessHoursRead]:
    """The tenant's schedules."""
    return [BusinessHoursRead.of(h) for h in await service.list_hours(uow, principal)]


@router.get("/business-hours/{hours_id}", response_model=BusinessHoursRead)
async def get_business_hours(hours_id: uuid.UUID, principal: Reader, uow: Uow) -> BusinessHoursRead:
    """One schedule."""
    return BusinessHoursRead.of(await service.get_hours(uow, principal, hours_id))


@router.patch("/business-hours/{hours_id}", response_model=BusinessHoursRead)
async def update_business_hours(
    hours_id: uuid.UUID, body: BusinessHoursUpdate, principal: Manager, uow: Uow
) -> BusinessHoursRead:
    """Change a schedule; open sessions' SLA deadlines follow it."""
    changes = body.model_dump(exclude_unset=True)
    return BusinessHoursRead.of(await service.update_hours(uow, principal, hours_id, changes))


@router.delete("/business-hours/{hours_id}", status_code=NO_CONTENT)
async def delete_business_hours(hours_id: uuid.UUID, principal: Manager, uow: Uow) -> Response:
    """Remove a schedule; its teams become always open."""
    await service.delete_hours(uow, principal, hours_id)
    return Response(status_code=NO_CONTENT)


# ---------------------------------------------------------------- teams


def _team_values(body: TeamCreate | TeamUpdate) -> dict[str, object]:
    values = body.model_dump(exclude_unset=True, exclude={"follow_up"})
    if "follow_up" in body.model_fields_set:
        values["follow_up"] = body.follow_up.domain() if body.follow_up else None
    return values


@router.post("/teams", status_code=status.HTTP_201_CREATED, response_model=TeamRead)
async def create_team(body: TeamCreate, principal: Manager, uow: Uow) -> TeamRead:
    """A team: its agents, its business hours, its follow-up."""
    return TeamRead.of(await service.create_team(uow, principal, _team_values(body)))


@router.get("/teams", response_model=list[TeamRead])
async def list_teams(principal: Reader, uow: Uow) -> list[TeamRead]:
    """The tenant's teams."""
    return [TeamRead.of(t) for t in await service.list_teams(uow, principal)]


@router.get("/teams/{team_id}", response_model=TeamRead)
async def get_team(team_id: uuid.UUID, principal: Reader, uow: Uow) -> TeamRead:
    """One team."""
    return TeamRead.of(await service.get_team(uow, principal, team_id))


@router.patch("/teams/{team_id}", response_model=TeamRead)
async def update_team(
    team_id: uuid.UUID, body: TeamUpdate, principal: Manager, uow: Uow
) -> TeamRead:
    """Change a team; an agent taken off keeps the sessions they hold, gets no new ones."""
    return TeamRead.of(await service.update_team(uow, principal, team_id, _team_values(body)))


@router.delete("/teams/{team_id}", status_code=NO_CONTENT)
async def delete_team(team_id: uuid.UUID, principal: Manager, uow: Uow) -> Response:
    """Remove a team with its routing rules and SLA policies."""
    await service.delete_team(uow, principal, team_id)
    return Response(status_code=NO_CONTENT)


# ---------------------------------------------------------------- routing rules


@router.post("/routing-rules", status_code=status.HTTP_201_CREATED, response_model=RoutingRuleRead)
async def create_routing_rule(
    body: RoutingRuleCreate, principal: Manager, uow: Uow
) -> RoutingRuleRead:
    """A rule: conditions on a new session, the team and skills it goes to."""
    rule = await service.create_rule(
        uow,
        principal,
        name=body.name,
        team_id=body.team_id,
        conditions=body.conditions.domain(),
        required_skills=body.required_skills,
        position=body.position,
    )
    return RoutingRuleRead.of(rule)


@router.get("/routing-rules", response_model=list[RoutingRuleRead])
async def list_routing_rules(principal: Reader, uow: Uow) -> list[RoutingRuleRead]:
    """The rules in evaluation order (the first match wins)."""
    return [RoutingRuleRead.of(r) for r in await service.list_rules(uow, principal)]


@router.put("/routing-rules/order", response_model=list[RoutingRuleRead])
async def order_routing_rules(
    body: RoutingRuleOrder, principal: Manager, uow: Uow
) -> list[RoutingRuleRead]:
    """Set the evaluation order: every rule's id, first to last."""
    return [RoutingRuleRead.of(r) for r in await service.reorder_rules(uow, principal, body.ids)]


@router.get("/routing-rules/{rule_id}", response_model=RoutingRuleRead)
async def get_routing_rule(rule_id: uuid.UUID, principal: Reader, uow: Uow) -> RoutingRuleRead:
    """One rule."""
    return RoutingRuleRead.of(await service.get_rule(uow, principal, rule_id))


@router.patch("/routing-rules/{rule_id}", response_model=RoutingRuleRead)
async def update_routing_rule(
    rule_id: uuid.UUID, body: RoutingRuleUpdate, principal: Manager, uow: Uow
) -> RoutingRuleRead:
    """Change a rule, or move it (`position`)."""
    changes = body.model_dump(exclude_unset=True, exclude={"conditions"})
    if body.conditions is not None:
        changes["conditions"] = body.conditions.domain()
    return RoutingRuleRead.of(await service.update_rule(uow, principal, rule_id, changes))


@router.delete("/routing-rules/{rule_id}", status_code=NO_CONTENT)
async def delete_routing_rule(rule_id: uuid.UUID, principal: Manager, uow: Uow) -> Response:
    """Remove a rule."""
    await service.delete_rule(uow, principal, rule_id)
    return Response(status_code=NO_CONTENT)


# ---------------------------------------------------------------- SLA policies


@router.post("/sla-policies", status_code=status.HTTP_201_CREATED, response_model=SlaPolicyRead)
async def create_sla_policy(body: SlaPolicyCreate, principal: Manager, uow: Uow) -> SlaPolicyRead:
    """First-response and resolution targets (business seconds) for a team."""
    return SlaPolicyRead.of(await service.save_policy(uow, principal, body.model_dump()))


@router.get("/sla-policies", response_model=list[SlaPolicyRead])
async def list_sla_policies(principal: Reader, uow: Uow) -> list[SlaPolicyRead]:
    """The tenant's SLA policies."""
    return [SlaPolicyRead.of(p) for p in await service.list_policies(uow, principal)]


@router.get("/sla-policies/{policy_id}", response_model=SlaPolicyRead)
async def get_sla_policy(policy_id: uuid.UUID, principal: Reader, uow: Uow) -> SlaPolicyRead:
    """One SLA policy."""
    return SlaPolicyRead.of(await service.get_policy(uow, principal, policy_id))


@router.patch("/sla-policies/{policy_id}", response_model=SlaPolicyRead)
async def update_sla_policy(
    policy_id: uuid.UUID, body: SlaPolicyUpdate, principal: Manager, uow: Uow
) -> SlaPolicyRead:
    """Change a policy's targets."""
    changes = body.model_dump(exclude_unset=True)
    return SlaPolicyRead.of(await service.save_policy(uow, principal, changes, policy_id))


@router.delete("/sla-policies/{policy_id}", status_code=NO_CONTENT)
async def delete_sla_policy(policy_id: uuid.UUID, principal: Manager, uow: Uow) -> Response:
    """Remove a policy."""
    await service.delete_policy(uow, principal, policy_id)
    return Response(status_code=NO_CONTENT)


# ---------------------------------------------------------------- tenant follow-up


@router.get("/routing-settings", response_model=RoutingSettings)
async def get_routing_settings(principal: Reader, uow: Uow) -> RoutingSettings:
    """The tenant's follow-up for sessions of no team."""
    follow_up = await service.get_follow_up(uow, principal)
    return RoutingSettings(follow_up=follow_up.to_json() if follow_up else None)


@router.put("/routing-settings", response_model=RoutingSettings)
async def put_routing_settings(
    body: RoutingSettings, principal: Manager, uow: Uow
) -> RoutingSettings:
    """Set (or clear, with null) the tenant's follow-up."""
    await service.set_follow_up(uow, principal, body.follow_up.domain() if body.follow_up else None)
    return body
