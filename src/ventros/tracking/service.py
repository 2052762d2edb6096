"""Tracking use cases: record where a lead came from; the attribution report."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import datetime

from ventros.contacts import service as contacts
from ventros.identity.domain import Principal
from ventros.identity.permissions import Permission, require
from ventros.kernel.errors import RuleViolation
from ventros.kernel.events import Actor
from ventros.platform.crypto import SecretBox
from ventros.platform.uow import UnitOfWork, UnitOfWorkFactory
from ventros.tracking import conversions
from ventros.tracking.domain import (
    AttributionRow,
    ClickIdType,
    GroupBy,
    Model,
    Signals,
    Source,
    Tracking,
    Utm,
)
from ventros.tracking.integrations import (
    REQUIRED_CONFIG,
    REQUIRED_SECRETS,
    Integration,
    IntegrationView,
    Platform,
    list_integrations,
    save_integration,
)
from ventros.tracking.repository import TrackingRepository, attribution


@dataclass(frozen=True)
class CreateTracking:
    contact_id: uuid.UUID
    source: Source | None = None
    campaign_id: str | None = None
    adset_id: str | None = None
    ad_id: str | None = None
    utm: Utm = field(default_factory=Utm)
    click_id: str | None = None
    click_id_type: ClickIdType | None = None
    landing_url: str | None = None
    source_url: str | None = None
    referrer: str | None = None


@dataclass(frozen=True)
class Page:
    items: list[Tracking]
    next_before: uuid.UUID | None


def _open(uow: UnitOfWorkFactory, principal: Principal) -> UnitOfWork:
    return uow(principal.tenant_id, Actor.user(principal.user_id))


async def create_tracking(
    uow: UnitOfWorkFactory, principal: Principal, command: CreateTracking
) -> Tracking:
    # The contact belongs to the Contacts context: ask its service (404 when not ours).
    await contacts.get_contact(uow, principal, command.contact_id)
    async with _open(uow, principal) as tx:
        tracking = Tracking.record_manually(
            tenant_id=principal.tenant_id,
            contact_id=command.contact_id,
            source=command.source,
            campaign_id=command.campaign_id,
            adset_id=command.adset_id,
            ad_id=command.ad_id,
            utm=command.utm,
            click_id=command.click_id,
            click_id_type=command.click_id_type,
            landing_url=command.landing_url,
            source_url=command.source_url,
            referrer=command.referrer,
        )
        await TrackingRepository(tx).add(tracking)
        await tx.commit()
    return tracking


async def track_inbound_lead(
    tx: UnitOfWork, *, contact_id: uuid.UUID, signals: Signals
) -> Tracking:
    """For ingest: records a tracking inside the caller's open unit of work (not committed
    here), so the message, the contact and the tracking commit together."""
    tracking = Tracking.from_signals(tenant_id=tx.tenant_id, contact_id=contact_id, signals=signals)
    await TrackingRepository(tx).add(tracking)
    return tracking


async def list_trackings(
    uow: UnitOfWorkFactory,
    principal: Principal,
    *,
    contact_id: uuid.UUID | None,
    limit: int,
    before: uuid.UUID | None = None,
) -> Page:
    async with _open(uow, principal) as tx:
        rows = await TrackingRepository(tx).list(
            contact_id=contact_id, limit=limit + 1, before=before
        )
    items = rows[:limit]
    return Page(items, items[-1].id if len(rows) > limit else None)


async def attribution_report(
    uow: UnitOfWorkFactory,
    principal: Principal,
    group_by: GroupBy,
    *,
    since: datetime,
    until: datetime,
    model: Model = Model.FIRST_TOUCH,
) -> list[AttributionRow]:
    async with _open(uow, principal) as tx:
        return await attribution(tx, group_by, since=since, until=until, model=model)


async def move_contact_trackings(
    tx: UnitOfWork, *, from_contact_id: uuid.UUID, to_contact_id: uuid.UUID
) -> int:
    """Contact merge: the duplicate's trackings and conversions become the survivor's."""
    from ventros.tracking.repository import reassign_contact

    return await reassign_contact(tx, from_contact_id, to_contact_id)


# --------------------------------------------------------------------------- ad platforms


@dataclass(frozen=True)
class ConnectAdPlatform:
    """An integration as an admin types it: tokens are write-only from here on."""

    platform: Platform
    access_token: str
    developer_token: str | None = None
    config: dict[str, str] = field(default_factory=dict)
    conversion_on_won: bool = False
    won_event_name: str = "Purchase"


async def connect_ad_platform(
    uow: UnitOfWorkFactory, box: SecretBox, principal: Principal, command: ConnectAdPlatform
) -> IntegrationView:
    """Create or replace the tenant's integration with an ad platform (admin). Raises
    RuleViolation naming the missing token or config field."""
    require(principal, Permission.SETTINGS_MANAGE)
    secrets = {"access_token": command.access_token}
    if command.developer_token:
        secrets["developer_token"] = command.developer_token
    for name in REQUIRED_SECRETS[command.platform]:
        if not secrets.get(name):
            raise RuleViolation(f"{command.platform.value} needs {name}", field=name)
    for name in REQUIRED_CONFIG[command.platform]:
        if not command.config.get(name):
            raise RuleViolation(
                f"{command.platform.value} needs config.{name}", field=f"config.{name}"
            )
    conversions.check_request(command.won_event_name, None, None)
    integration = Integration(
        platform=command.platform,
        secrets=secrets,
        config=dict(command.config),
        conversion_on_won=command.conversion_on_won,
        won_event_name=command.won_event_name,
    )
    async with _open(uow, principal) as tx:
        await save_integration(tx, box, integration)
        await tx.commit()
    return IntegrationView(
        platform=command.platform,
        config=integration.config,
        secrets_set=sorted(secrets),
        conversion_on_won=integration.conversion_on_won,
        won_event_name=integration.won_event_name,
    )


async def ad_platforms(
    uow: UnitOfWorkFactory, box: SecretBox, principal: Principal
) -> list[IntegrationView]:
    """The tenant's integrations: which tokens are set, never their values (admin)."""
    require(principal, Permission.SETTINGS_MANAGE)
    async with _open(uow, principal) as tx:
        return await list_integrations(tx, box)
