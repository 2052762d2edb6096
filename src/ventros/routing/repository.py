"""Persistence of teams, business hours, routing rules, SLA policies and the tenant's
follow-up setting (SQLAlchemy Core, one row per aggregate)."""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy import (
    Column,
    Date,
    DateTime,
    Index,
    Integer,
    Row,
    Table,
    Text,
    select,
    text,
)
from sqlalchemy.dialects.postgresql import ARRAY, JSONB, UUID, insert

from ventros.kernel.clock import utcnow
from ventros.platform.db import metadata
from ventros.platform.uow import UnitOfWork
from ventros.routing.domain import (
    BusinessHours,
    Conditions,
    FollowUp,
    RoutingRule,
    SlaPolicy,
    Team,
)

business_hours = Table(
    "business_hours",
    metadata,
    Column("id", UUID(as_uuid=True), primary_key=True),
    Column("tenant_id", UUID(as_uuid=True), nullable=False),
    Column("name", Text, nullable=False),
    Column("timezone", Text, nullable=False),
    Column("weekly", JSONB, nullable=False),
    Column("holidays", ARRAY(Date), nullable=False, server_default=text("'{}'::date[]")),
    Column("outside_hours_reply", Text),
    Column("updated_at", DateTime(timezone=True), nullable=False),
    Index("ix_business_hours_tenant_id", "tenant_id"),
)

teams = Table(
    "teams",
    metadata,
    Column("id", UUID(as_uuid=True), primary_key=True),
    Column("tenant_id", UUID(as_uuid=True), nullable=False),
    Column("name", Text, nullable=False),
    Column(
        "members", ARRAY(UUID(as_uuid=True)), nullable=False, server_default=text("'{}'::uuid[]")
    ),
    Column("business_hours_id", UUID(as_uuid=True)),
    Column("follow_up", JSONB),
    Column("updated_at", DateTime(timezone=True), nullable=False),
    Index("ix_teams_tenant_id", "tenant_id"),
)

routing_rules = Table(
    "routing_rules",
    metadata,
    Column("id", UUID(as_uuid=True), primary_key=True),
    Column("tenant_id", UUID(as_uuid=True), nullable=False),
    Column("name", Text, nullable=False),
    Column("position", Integer, nullable=False),
    Column("team_id", UUID(as_uuid=True), nullable=False),
    Column("conditions", JSONB, nullable=False),
    Column("required_skills", ARRAY(Text), nullable=False, server_default=text("'{}'::text[]")),
    Column("updated_at", DateTime(timezone=True), nullable=False),
    Index("ix_routing_rules_tenant_id_position", "tenant_id", "position"),
)

sla_policies = Table(
    "sla_policies",
    metadata,
    Column("id", UUID(as_uuid=True), primary_key=True),
    Column("tenant_id", UUID(as_uuid=True), nullable=False),
    Column("name", Text, nullable=False),
    Column("team_id", UUID(as_uuid=True)),
    Column("label", Text),
    Column("first_response_seconds", Integer),
    Column("resolution_seconds", Integer),
    Column("updated_at", DateTime(timezone=True), nullable=False),
    Index("ix_sla_policies_tenant_id_team_id", "tenant_id", "team_id"),
)

# The tenant's follow-up for sessions of no team (a team's own setting wins).
routing_settings = Table(
    "routing_settings",
    metadata,
    Column("tenant_id", UUID(as_uuid=True), primary_key=True),
    Column("follow_up", JSONB),
    Column("updated_at", DateTime(timezone=True), nullable=False),
)


def _hours(row: Row[Any]) -> BusinessHours:
    return BusinessHours(
        id=row.id,
        tenant_id=row.tenant_id,
        name=row.name,
        timezone=row.timezone,
        weekly=dict(row.weekly),
        holidays=list(row.holidays),
        outside_hours_reply=row.outside_hours_reply,
    )


def _team(row: Row[Any]) -> Team:
    return Team(
        id=row.id,
        tenant_id=row.tenant_id,
        name=row.name,
        members=list(row.members),
        business_hours_id=row.business_hours_id,
        follow_up=FollowUp.of(row.follow_up),
    )


def _rule(row: Row[Any]) -> RoutingRule:
    return RoutingRule(
        id=row.id,
        tenant_id=row.tenant_id,
        name=row.name,
        position=row.position,
        team_id=row.team_id,
        conditions=Conditions.of(row.conditions),
        required_skills=list(row.required_skills),
    )


def _policy(row: Row[Any]) -> SlaPolicy:
    return SlaPolicy(
        id=row.id,
        tenant_id=row.tenant_id,
        name=row.name,
        team_id=row.team_id,
        label=row.label,
        first_response_seconds=row.first_response_seconds,
        resolution_seconds=row.resolution_seconds,
    )


async def _upsert(tx: UnitOfWork, table: Table, values: dict[str, Any]) -> None:
    statement = insert(table).values(**values, updated_at=utcnow())
    keys = [c for c in values if c not in ("id", "tenant_id")]
    await tx.connection.execute(
        statement.on_conflict_do_update(
            index_elements=[table.c.id],
            set_={
                **{k: statement.excluded[k] for k in keys},
                "updated_at": statement.excluded.updated_at,
            },
        )
    )


async def _delete(tx: UnitOfWork, table: Table, item_id: uuid.UUID) -> bool:
    result = await tx.connection.execute(table.delete().where(table.c.id == item_id))
    return bool(result.rowcount)


# ---------------------------------------------------------------- business hours


async def save_hours(tx: UnitOfWork, hours: BusinessHours) -> None:
    await _upsert(
        tx,
        business_hours,
        {
            "id": hours.id,
            "tenant_id": hours.tenant_id,
            "name": hours.name,
            "timezone": hours.timezone,
            "weekly": hours.weekly,
            "holidays": hours.holidays,
            "outside_hours_reply": hours.outside_hours_reply,
        },
    )


async def get_hours(tx: UnitOfWork, hours_id: uuid.UUID) -> BusinessHours | None:
    row = (
        await tx.connection.execute(select(business_hours).where(business_hours.c.id == hours_id))
    ).first()
    return _hours(row) if row else None


async def list_hours(tx: UnitOfWork) -> list[BusinessHours]:
    rows = await tx.connection.execute(
        select(business_hours).order_by(business_hours.c.name, business_hours.c.id)
    )
    return [_hours(r) for r in rows]


async def delete_hours(tx: UnitOfWork, hours_id: uuid.UUID) -> bool:
    await tx.connection.execute(
        teams.update().where(teams.c.business_hours_id == hours_id).values(business_hours_id=None)
    )
    return await _delete(tx, business_hours, hours_id)


# ---------------------------------------------------------------- teams


async def save_team(tx: UnitOfWork, team: Team) -> None:
    await _upsert(
        tx,
        teams,
        {
            "id": team.id,
            "tenant_id": team.tenant_id,
            "name": team.name,
            "members": team.members,
            "business_hours_id": team.business_hours_id,
            "follow_up": team.follow_up.to_json() if team.follow_up else None,
        },
    )


async def get_team(tx: UnitOfWork, team_id: uuid.UUID) -> Team | None:
    row = (await tx.connection.execute(select(teams).where(teams.c.id == team_id))).first()
    return _team(row) if row else None


async def list_teams(tx: UnitOfWork) -> list[Team]:
    rows = await tx.connection.execute(select(teams).order_by(teams.c.name, teams.c.id))
    return [_team(r) for r in rows]


async def delete_team(tx: UnitOfWork, team_id: uuid.UUID) -> bool:
    # A team's rules and policies go with it: a rule for no team could route nowhere.
    await tx.connection.execute(routing_rules.delete().where(routing_rules.c.team_id == team_id))
    await tx.connection.execute(sla_policies.delete().where(sla_policies.c.team_id == team_id))
    return await _delete(tx, teams, team_id)


# ---------------------------------------------------------------- routing rules


async def save_rule(tx: UnitOfWork, rule: RoutingRule) -> None:
    await _upsert(
        tx,
        routing_rules,
        {
            "id": rule.id,
            "tenant_id": rule.tenant_id,
            "name": rule.name,
            "position": rule.position,
            "team_id": rule.team_id,
            "conditions": rule.conditions.to_json(),
            "required_skills": rule.required_skills,
        },
    )


async def get_rule(tx: UnitOfWork, rule_id: uuid.UUID) -> RoutingRule | None:
    row = (
        await tx.connection.execute(select(routing_rules).where(routing_rules.c.id == rule_id))
    ).first()
    return _rule(row) if row else None


async def list_rules(tx: UnitOfWork) -> list[RoutingRule]:
    """The tenant's rules in evaluation order."""
    query = select(routing_rules).order_by(routing_rules.c.position, routing_rules.c.id)
    return [_rule(r) for r in await tx.connection.execute(query)]


async def delete_rule(tx: UnitOfWork, rule_id: uuid.UUID) -> bool:
    return await _delete(tx, routing_rules, rule_id)


# ---------------------------------------------------------------- SLA policies


async def save_policy(tx: UnitOfWork, policy: SlaPolicy) -> None:
    await _upsert(
        tx,
        sla_policies,
        {
            "id": policy.id,
            "tenant_id": policy.tenant_id,
            "name": policy.name,
            "team_id": policy.team_id,
            "label": policy.label,
            "first_response_seconds": policy.first_response_seconds,
            "resolution_seconds": policy.resolution_seconds,
        },
    )


async def get_policy(tx: UnitOfWork, policy_id: uuid.UUID) -> SlaPolicy | None:
    row = (
        await tx.connection.execute(select(sla_policies).where(sla_policies.c.id == policy_id))
    ).first()
    return _policy(row) if row else None


async def list_policies(tx: UnitOfWork) -> list[SlaPolicy]:
    rows = await tx.connection.execute(
        select(sla_policies).order_by(sla_policies.c.name, sla_policies.c.id)
    )
    return [_policy(r) for r in rows]


async def policies_for_team(tx: UnitOfWork, team_id: uuid.UUID | None) -> list[SlaPolicy]:
    """The policies a session of this team (None: of no team) may be held to: the team's
    own, and the label policies of any team or of this one."""
    of_labels = sla_policies.c.label.is_not(None)
    if team_id is None:
        where = of_labels & sla_policies.c.team_id.is_(None)
    else:
        where = (sla_policies.c.team_id == team_id) | (of_labels & sla_policies.c.team_id.is_(None))
    query = select(sla_policies).where(where).order_by(sla_policies.c.id)
    return [_policy(r) for r in await tx.connection.execute(query)]


async def delete_policy(tx: UnitOfWork, policy_id: uuid.UUID) -> bool:
    return await _delete(tx, sla_policies, policy_id)


# ---------------------------------------------------------------- tenant follow-up


async def tenant_follow_up(tx: UnitOfWork) -> FollowUp | None:
    row = (await tx.connection.execute(select(routing_settings.c.follow_up))).first()
    return FollowUp.of(row.follow_up) if row else None


async def save_tenant_follow_up(tx: UnitOfWork, follow_up: FollowUp | None) -> None:
    statement = insert(routing_settings).values(
        tenant_id=tx.tenant_id,
        follow_up=follow_up.to_json() if follow_up else None,
        updated_at=utcnow(),
    )
    await tx.connection.execute(
        statement.on_conflict_do_update(
            index_elements=[routing_settings.c.tenant_id],
            set_={
                "follow_up": statement.excluded.follow_up,
                "updated_at": statement.excluded.updated_at,
            },
        )
    )
