"""Per-tenant ad-platform integrations: the tokens (sealed at rest, never returned), the ids
each platform needs (dataset, customer, conversion action...), and whether entering a `won`
pipeline stage sends a conversion."""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from sqlalchemy import delete, select
from sqlalchemy.dialects.postgresql import insert

from ventros.kernel.clock import utcnow
from ventros.kernel.ids import new_id
from ventros.platform.crypto import SecretBox
from ventros.platform.uow import UnitOfWork
from ventros.tracking.repository.ads_tables import ad_integrations


class Platform(StrEnum):
    META = "meta"
    GOOGLE = "google"
    TIKTOK = "tiktok"


# Secret names each platform needs; the rest of its settings is plain config.
REQUIRED_SECRETS: dict[Platform, tuple[str, ...]] = {
    Platform.META: ("access_token",),
    Platform.GOOGLE: ("access_token", "developer_token"),
    Platform.TIKTOK: ("access_token",),
}

# Non-secret settings each platform needs (checked on save).
REQUIRED_CONFIG: dict[Platform, tuple[str, ...]] = {
    Platform.META: (),
    Platform.GOOGLE: ("customer_id", "conversion_action_id"),
    Platform.TIKTOK: ("event_source_id",),
}


@dataclass
class Integration:
    """An integration as the workers use it: secrets opened, in memory only."""

    platform: Platform
    secrets: dict[str, str]
    config: dict[str, Any]
    conversion_on_won: bool = False
    won_event_name: str = "Purchase"
    id: uuid.UUID = field(default_factory=new_id)

    @property
    def token(self) -> str:
        return self.secrets["access_token"]


@dataclass(frozen=True)
class IntegrationView:
    """What the API shows: which secrets are set, never their values."""

    platform: Platform
    config: dict[str, Any]
    secrets_set: list[str]
    conversion_on_won: bool
    won_event_name: str


def _context(tenant_id: uuid.UUID, platform: Platform) -> str:
    return f"ad_integration:{tenant_id}:{platform.value}"


async def save_integration(tx: UnitOfWork, box: SecretBox, integration: Integration) -> None:
    now = utcnow()
    sealed = box.seal(
        json.dumps(integration.secrets, sort_keys=True),
        context=_context(tx.tenant_id, integration.platform),
    )
    values = {
        "secrets_sealed": sealed,
        "config": integration.config,
        "conversion_on_won": integration.conversion_on_won,
        "won_event_name": integration.won_event_name,
        "updated_at": now,
    }
    statement = insert(ad_integrations).values(
        id=integration.id,
        tenant_id=tx.tenant_id,
        platform=integration.platform.value,
        created_at=now,
        **values,
    )
    await tx.connection.execute(
        statement.on_conflict_do_update(
            constraint="uq_ad_integrations_tenant_id_platform", set_=values
        )
    )


async def load_integration(
    tx: UnitOfWork, box: SecretBox, platform: Platform
) -> Integration | None:
    row = (
        await tx.connection.execute(
            select(ad_integrations).where(ad_integrations.c.platform == platform.value)
        )
    ).first()
    if row is None:
        return None
    secrets = json.loads(box.open(row.secrets_sealed, context=_context(tx.tenant_id, platform)))
    return Integration(
        platform=platform,
        secrets=dict(secrets),
        config=dict(row.config),
        conversion_on_won=row.conversion_on_won,
        won_event_name=row.won_event_name,
        id=row.id,
    )


async def list_integrations(tx: UnitOfWork, box: SecretBox) -> list[IntegrationView]:
    views = []
    rows = await tx.connection.execute(select(ad_integrations).order_by(ad_integrations.c.platform))
    for row in rows:
        platform = Platform(row.platform)
        secrets = json.loads(box.open(row.secrets_sealed, context=_context(tx.tenant_id, platform)))
        views.append(
            IntegrationView(
                platform=platform,
                config=dict(row.config),
                secrets_set=sorted(secrets),
                conversion_on_won=row.conversion_on_won,
                won_event_name=row.won_event_name,
            )
        )
    return views


async def won_integrations(tx: UnitOfWork) -> dict[Platform, str]:
    """Platforms whose integration sends a conversion on `won`, with the event name."""
    rows = await tx.connection.execute(
        select(ad_integrations.c.platform, ad_integrations.c.won_event_name).where(
            ad_integrations.c.conversion_on_won.is_(True)
        )
    )
    return {Platform(row.platform): row.won_event_name for row in rows}


async def delete_integration(tx: UnitOfWork, platform: Platform) -> bool:
    deleted = await tx.connection.execute(
        delete(ad_integrations)
        .where(ad_integrations.c.platform == platform.value)
        .returning(ad_integrations.c.id)
    )
    return deleted.first() is not None
