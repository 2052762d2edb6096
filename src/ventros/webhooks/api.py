"""HTTP routes of outbound webhook subscriptions (admin only)."""

from __future__ import annotations

import functools
import uuid
from typing import Annotated

from fastapi import APIRouter, Depends, Request, Response, status

from ventros.api.deps import ContainerDep, Uow, authorized
from ventros.api.pagination import Cursor, Limit, Page, decode_cursor, encode_cursor
from ventros.identity.domain import Principal
from ventros.identity.permissions import Permission
from ventros.platform.crypto import SecretBox
from ventros.webhooks import service, ssrf
from ventros.webhooks.schemas import (
    DeliveryRead,
    WebhookCreate,
    WebhookCreated,
    WebhookRead,
    WebhookUpdate,
)

router = APIRouter(prefix="/webhooks", tags=["outbound webhooks"])

Manager = Annotated[Principal, Depends(authorized(Permission.WEBHOOKS_MANAGE))]


def get_secret_box(request: Request, container: ContainerDep) -> SecretBox:
    box: SecretBox | None = getattr(request.app.state, "secret_box", None)
    if box is None:
        box = container.secret_box
        request.app.state.secret_box = box
    return box


Box = Annotated[SecretBox, Depends(get_secret_box)]


@router.post("", status_code=status.HTTP_201_CREATED, response_model=WebhookCreated)
async def create_webhook(
    body: WebhookCreate, principal: Manager, uow: Uow, box: Box, container: ContainerDep
) -> WebhookCreated:
    """Subscribe a URL to events; the signing secret is in this response only."""
    command = service.CreateSubscription(
        url=body.url,
        events=body.events,
        secret=body.secret,
        retry_policy=body.retry_policy.model_dump() if body.retry_policy else None,
    )
    guard = functools.partial(
        ssrf.ensure_allowed, allow_private=container.settings.webhooks_allow_private
    )
    created = await service.create_subscription(uow, box, principal, command, guard=guard)
    return WebhookCreated.with_secret(created.subscription, created.secret)


@router.get("", response_model=Page[WebhookRead])
async def list_webhooks(
    principal: Manager, uow: Uow, limit: Limit = 50, cursor: Cursor = None
) -> Page[WebhookRead]:
    """The tenant's webhooks, newest first."""
    page = await service.list_subscriptions(
        uow, principal, limit=limit, before=decode_cursor(cursor)
    )
    return Page(
        items=[WebhookRead.of(s) for s in page.items], next_cursor=encode_cursor(page.next_before)
    )


@router.get("/{webhook_id}", response_model=WebhookRead)
async def get_webhook(webhook_id: uuid.UUID, principal: Manager, uow: Uow) -> WebhookRead:
    """One webhook, with why it is disabled if it is."""
    return WebhookRead.of(await service.get_subscription(uow, principal, webhook_id))


@router.patch("/{webhook_id}", response_model=WebhookRead)
async def update_webhook(
    webhook_id: uuid.UUID, body: WebhookUpdate, principal: Manager, uow: Uow
) -> WebhookRead:
    """Disable a webhook, or enable a disabled one again."""
    subscription = await service.set_enabled(uow, principal, webhook_id, enabled=body.enabled)
    return WebhookRead.of(subscription)


@router.delete("/{webhook_id}", status_code=status.HTTP_204_NO_CONTENT)
async def delete_webhook(webhook_id: uuid.UUID, principal: Manager, uow: Uow) -> Response:
    """Delete a webhook; deliveries under way stop before their next attempt."""
    await service.delete_subscription(uow, principal, webhook_id)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.get("/{webhook_id}/deliveries", response_model=Page[DeliveryRead])
async def list_deliveries(
    webhook_id: uuid.UUID,
    principal: Manager,
    uow: Uow,
    limit: Limit = 50,
    cursor: Cursor = None,
) -> Page[DeliveryRead]:
    """Every delivery attempt of the webhook, newest first."""
    page = await service.list_attempts(
        uow, principal, webhook_id, limit=limit, before=decode_cursor(cursor)
    )
    return Page(
        items=[DeliveryRead.of(a) for a in page.items], next_cursor=encode_cursor(page.next_before)
    )
