"""Profile pictures from WhatsApp: `POST /contacts/{id}/profile-picture/refresh` → 202,
then the picture URL is fetched from the channel's WAHA and stored on the contact
(`contact.profile_picture_updated` when it changed).

The fetch runs after the answer (a background task of the request); WAHA caches
pictures for 24 h and refreshing too often trips its `rate-overlimit`, so calls are
limited per channel (VENTROS_WAHA_PROFILE_PICTURE_PER_MINUTE).
"""

from __future__ import annotations

import uuid
from typing import Annotated

import structlog
from fastapi import APIRouter, BackgroundTasks, Depends, status
from pydantic import BaseModel

from ventros.api.deps import ContainerDep, authorized
from ventros.bootstrap import Container
from ventros.channels import service as channels
from ventros.channels.waha_client import WahaClient, WahaError, WahaTarget
from ventros.contacts import events
from ventros.contacts.domain import Contact
from ventros.contacts.repository import ContactRepository
from ventros.identity.domain import Principal
from ventros.identity.permissions import Permission
from ventros.kernel.clock import utcnow
from ventros.kernel.errors import NotFound
from ventros.kernel.events import Actor
from ventros.platform.crypto import SecretBox
from ventros.platform.ratelimit import RateLimits
from ventros.platform.uow import UnitOfWork, UnitOfWorkFactory

log = structlog.get_logger(__name__)

router = APIRouter(prefix="/contacts", tags=["contacts"])
Writer = Annotated[Principal, Depends(authorized(Permission.CONTACTS_WRITE))]


async def contact_in(tx: UnitOfWork, contact_id: uuid.UUID) -> Contact | None:
    """The live contact inside an open unit of work (for other contexts' use cases)."""
    return await ContactRepository(tx).get(contact_id)


class RefreshAccepted(BaseModel):
    contact_id: uuid.UUID
    status: str = "accepted"


def _chat_id(contact: Contact) -> str | None:
    if contact.phone is not None:
        return contact.phone.whatsapp_chat_id()
    whatsapp_id = contact.custom_fields.get("whatsapp_id")
    return whatsapp_id if isinstance(whatsapp_id, str) and whatsapp_id else None


async def _channel_of(tx: UnitOfWork, contact_id: uuid.UUID) -> uuid.UUID | None:
    """The channel of the contact's latest message (Conversations knows)."""
    from ventros.conversations.sending import latest_channel_of  # it imports this module

    return await latest_channel_of(tx, contact_id)


async def refresh_profile_picture(
    uow: UnitOfWorkFactory,
    box: SecretBox,
    waha: WahaClient,
    rate_limits: RateLimits,
    tenant_id: uuid.UUID,
    contact_id: uuid.UUID,
    *,
    per_minute: int = 30,
) -> str | None:
    """Fetches the contact's picture through WAHA and stores it; returns the URL. Logged,
    not raised, when WAHA cannot tell (the API already answered 202)."""
    async with uow(tenant_id, Actor.system()) as tx:
        contact = await contact_in(tx, contact_id)
        channel_id = await _channel_of(tx, contact_id) if contact is not None else None
        channel = await channels.channel_for_ingest(tx, box, channel_id) if channel_id else None
    chat_id = _chat_id(contact) if contact is not None else None
    if contact is None or channel is None or chat_id is None:
        log.info("no channel or chat id to fetch a profile picture", contact_id=str(contact_id))
        return None
    verdict = await rate_limits.hit_per_minute(per_minute, "waha-profile-picture", str(channel.id))
    if not verdict.allowed:
        log.warning("profile picture refresh over WAHA's rate limit", contact_id=str(contact_id))
        return None
    target = WahaTarget(channel.base_url, channel.waha_session, channel.api_key)
    try:
        url = await waha.profile_picture(target, chat_id)
    except WahaError as error:
        log.warning("profile picture fetch failed", contact_id=str(contact_id), error=error.detail)
        return None
    async with uow(tenant_id, Actor.system()) as tx:
        repository = ContactRepository(tx)
        contact = await repository.get(contact_id)
        if contact is None or contact.profile_picture_url == url:
            return url
        contact.profile_picture_url = url
        contact.updated_at = utcnow()
        contact.record(
            events.CONTACT_PROFILE_PICTURE_UPDATED,
            {"contact_id": str(contact.id), "profile_picture_url": url},
        )
        await repository.save(contact)
        await tx.commit()
    return url


async def _refresh_in_background(
    container: Container, tenant_id: uuid.UUID, cid: uuid.UUID
) -> None:
    settings = container.settings
    waha = WahaClient.create(timeout_seconds=settings.waha_timeout_seconds)
    try:
        await refresh_profile_picture(
            container.uow,
            SecretBox.from_secret(settings.resolved_secret_key()),
            waha,
            container.rate_limits,
            tenant_id,
            cid,
            per_minute=settings.waha_profile_picture_per_minute,
        )
    except Exception:
        log.exception("profile picture refresh failed", contact_id=str(cid))
    finally:
        await waha.aclose()


@router.post(
    "/{contact_id}/profile-picture/refresh",
    status_code=status.HTTP_202_ACCEPTED,
    response_model=RefreshAccepted,
)
async def refresh(
    contact_id: uuid.UUID,
    principal: Writer,
    container: ContainerDep,
    background: BackgroundTasks,
) -> RefreshAccepted:
    """Fetch the contact's WhatsApp profile picture (it lands on `profile_picture_url`)."""
    async with container.uow(principal.tenant_id, Actor.user(principal.user_id)) as tx:
        if await contact_in(tx, contact_id) is None:
            raise NotFound("contact not found")
    background.add_task(_refresh_in_background, container, principal.tenant_id, contact_id)
    return RefreshAccepted(contact_id=contact_id)
