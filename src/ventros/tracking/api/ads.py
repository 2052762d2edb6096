"""HTTP routes of conversions (`/trackings/{id}/conversions`) and of the tenant's ad-platform
integrations (`/ad-integrations`, admin only; tokens are write-only)."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Response, status
from pydantic import BaseModel, ConfigDict, Field

from ventros.api.deps import ContainerDep, Uow, authorized
from ventros.identity.domain import Principal
from ventros.identity.permissions import Permission
from ventros.kernel.errors import NotFound
from ventros.kernel.events import Actor
from ventros.platform.crypto import SecretBox
from ventros.tracking import conversions, service
from ventros.tracking.integrations import (
    Platform,
    delete_integration,
)

router = APIRouter(tags=["tracking"])

Reader = Annotated[Principal, Depends(authorized(Permission.TRACKINGS_READ))]
Writer = Annotated[Principal, Depends(authorized(Permission.TRACKINGS_WRITE))]
Admin = Annotated[Principal, Depends(authorized(Permission.SETTINGS_MANAGE))]


class ConversionCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    event_name: str = Field(min_length=1, max_length=50, examples=["Purchase", "Lead"])
    value_cents: int | None = Field(default=None, ge=0, le=10**13)
    currency: str | None = Field(default=None, min_length=3, max_length=3)
    order_id: str | None = Field(
        default=None, max_length=100, description="tells several conversions of a name apart"
    )


class ConversionRead(BaseModel):
    id: uuid.UUID
    tracking_id: uuid.UUID
    event_name: str
    value_cents: int | None
    currency: str | None
    platform: str | None
    status: str = Field(description="pending | sent | failed | skipped")
    duplicate: bool = False


class DeliveryRead(ConversionRead):
    attempts: int
    error: str | None
    event_id: str
    occurred_at: datetime
    sent_at: datetime | None
    request: Any = None
    response: Any = None


class IntegrationWrite(BaseModel):
    model_config = ConfigDict(extra="forbid")

    access_token: str = Field(min_length=1, max_length=4096)
    developer_token: str | None = Field(default=None, max_length=512)
    config: dict[str, str] = Field(
        default_factory=dict,
        description="meta: dataset_id, waba_id, partner_agent?, test_event_code?; google: "
        "customer_id, conversion_action_id, login_customer_id?; tiktok: event_source_id, "
        "event_source?",
    )
    conversion_on_won: bool = False
    won_event_name: str = Field(default="Purchase", min_length=1, max_length=50)


class IntegrationRead(BaseModel):
    platform: Platform
    config: dict[str, Any]
    secrets_set: list[str]
    conversion_on_won: bool
    won_event_name: str


class IntegrationList(BaseModel):
    items: list[IntegrationRead]


def _box(container: ContainerDep) -> SecretBox:
    return container.secret_box


Box = Annotated[SecretBox, Depends(_box)]


@router.post(
    "/trackings/{tracking_id}/conversions",
    status_code=status.HTTP_202_ACCEPTED,
    response_model=ConversionRead,
)
async def create_conversion(
    tracking_id: uuid.UUID, body: ConversionCreate, principal: Writer, uow: Uow
) -> ConversionRead:
    """Attribute a conversion to the tracking; it is sent to the platform that brought the
    lead. The same event (and order id) of a tracking is recorded and sent only once."""
    key = f"{tracking_id}:{body.event_name}" + (f":{body.order_id}" if body.order_id else "")
    async with uow(principal.tenant_id, Actor.user(principal.user_id)) as tx:
        tracking = await conversions.get_tracking(tx, tracking_id)
        done = await conversions.attribute(
            tx,
            tracking,
            event_name=body.event_name,
            value_cents=body.value_cents,
            currency=body.currency,
            dedup_key=key,
        )
        await tx.commit()
    return ConversionRead(
        id=done.id,
        tracking_id=done.tracking_id,
        event_name=done.event_name,
        value_cents=done.value_cents,
        currency=done.currency,
        platform=done.platform.value if done.platform else None,
        status=done.status,
        duplicate=not done.created,
    )


@router.get("/trackings/{tracking_id}/conversions", response_model=list[DeliveryRead])
async def list_conversions(
    tracking_id: uuid.UUID, principal: Reader, uow: Uow
) -> list[DeliveryRead]:
    """The tracking's conversions with their delivery records."""
    async with uow(principal.tenant_id, Actor.user(principal.user_id)) as tx:
        await conversions.get_tracking(tx, tracking_id)
        rows = await conversions.list_deliveries(tx, tracking_id)
    return [
        DeliveryRead(
            id=r.id,
            tracking_id=r.tracking_id,
            event_name=r.event_name,
            value_cents=r.value_cents,
            currency=r.currency,
            platform=r.platform,
            status=r.status,
            attempts=r.attempts,
            error=r.error,
            event_id=r.event_id,
            occurred_at=r.occurred_at,
            sent_at=r.sent_at,
            request=r.request,
            response=r.response,
        )
        for r in rows
    ]


@router.put("/ad-integrations/{platform}", response_model=IntegrationRead)
async def put_integration(
    platform: Platform, body: IntegrationWrite, principal: Admin, uow: Uow, box: Box
) -> IntegrationRead:
    """Create or replace the tenant's integration with an ad platform (admin)."""
    command = service.ConnectAdPlatform(
        platform=platform,
        access_token=body.access_token,
        developer_token=body.developer_token,
        config=dict(body.config),
        conversion_on_won=body.conversion_on_won,
        won_event_name=body.won_event_name,
    )
    view = await service.connect_ad_platform(uow, box, principal, command)
    return IntegrationRead(
        platform=view.platform,
        config=view.config,
        secrets_set=view.secrets_set,
        conversion_on_won=view.conversion_on_won,
        won_event_name=view.won_event_name,
    )


@router.get("/ad-integrations", response_model=IntegrationList)
async def get_integrations(principal: Admin, uow: Uow, box: Box) -> IntegrationList:
    """The tenant's ad integrations; secrets are never shown, only which are set."""
    views = await service.ad_platforms(uow, box, principal)
    return IntegrationList(
        items=[
            IntegrationRead(
                platform=v.platform,
                config=v.config,
                secrets_set=v.secrets_set,
                conversion_on_won=v.conversion_on_won,
                won_event_name=v.won_event_name,
            )
            for v in views
        ]
    )


@router.delete("/ad-integrations/{platform}", status_code=status.HTTP_204_NO_CONTENT)
async def remove_integration(platform: Platform, principal: Admin, uow: Uow) -> Response:
    async with uow(principal.tenant_id, Actor.user(principal.user_id)) as tx:
        if not await delete_integration(tx, platform):
            raise NotFound("integration not found")
        await tx.commit()
    return Response(status_code=status.HTTP_204_NO_CONTENT)
