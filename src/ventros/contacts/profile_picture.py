"""Profile pictures from WhatsApp: `POST /contacts/{id}/profile-picture/refresh` → 202,
then the picture URL is fetched from the channel's WAHA and stored on the contact
(`contact.profile_picture_updated` when it changed).

The fetch runs after the answer (a background task of the request); WAHA caches
pictures for 24 h and refreshing too often trips its `rate-overlimit`, so calls are
limited per channel (VENTROS_WAHA_PROFILE_PICTURE_PER_MINUTE).
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import TYPE_CHECKING, Annotated

import structlog
from fastapi import APIRouter, BackgroundTasks, Depends, status
from pydantic import BaseModel

from ventros.api.deps import ContainerDep, authorized
from ventros.channels import service as channels
from ventros.channels.waha_client import WahaClient, WahaError, WahaTarget
from ventros.contacts import events
from ventros.contacts.domain import Contact
from ventros.contacts.repository import ContactRepository
from ventros.contacts.service import contact_in
from ventros.conversations.service.sending import latest_channel_of
from ventros.identity.domain import Principal
from ventros.identity.permissions import Permission
from ventros.kernel.clock import utcnow
from ventros.kernel.errors import NotFound
from ventros.kernel.events import Actor
from ventros.platform.crypto import SecretBox
from ventros.platform.ratelimit import RateLimits
from ventros.platform.uow import UnitOfWork, UnitOfWorkFactory

if TYPE_CHECKING:
    from ventros.runtime.container import Container

log = structlog.get_logger(__name__)

router = APIRouter(prefix="/contacts", tags=["contacts"])
Writer = Annotated[Principal, Depends(authorized(Permission.CONTACTS_WRITE))]


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
    return await latest_channel_of(tx, contact_id)


@dataclass(frozen=True)
class Picture:
    url: str | None  # None: the contact hides their picture


@dataclass(frozen=True)
class _Where:
    target: WahaTarget
    chat_id: str
    channel_id: uuid.UUID


@dataclass(frozen=True)
class PictureSource:
    """Pictures come from the WAHA of the contact's latest channel, limited per channel."""

    box: SecretBox
    waha: WahaClient
    rate_limits: RateLimits
    per_minute: int = 30

    async def where_to_ask(self, tx: UnitOfWork, contact: Contact) -> _Where | None:
        channel_id = await _channel_of(tx, contact.id)
        channel = (
            await channels.channel_for_ingest(tx, self.box, channel_id) if channel_id else None
        )
        chat_id = _chat_id(contact)
        if channel is None or chat_id is None:
            log.info("no channel or chat id to fetch a profile picture", contact_id=str(contact.id))
            return None
        target = WahaTarget(
            channel.base_url, channel.waha_session, channel.api_key, channel=str(channel.id)
        )
        return _Where(target, chat_id, channel.id)

    async def ask(self, where: _Where) -> Picture | None:
        """The picture, or None when WAHA cannot tell now (logged, not raised: optional)."""
        verdict = await self.rate_limits.hit_per_minute(
            self.per_minute, "waha-profile-picture", str(where.channel_id)
        )
        if not verdict.allowed:
            log.warning("profile picture fetch over WAHA's rate limit", chat_id=where.chat_id)
            return None
        try:
            return Picture(await self.waha.profile_picture(where.target, where.chat_id))
        except WahaError as error:
            log.warning("profile picture fetch failed", error=error.detail)
            return None

    async def aclose(self) -> None:
        await self.waha.aclose()


def show_picture(contact: Contact, picture: Picture) -> bool:
    """Puts the picture on the contact; True (and an event) when it changed."""
    if contact.profile_picture_url == picture.url:
        return False
    contact.profile_picture_url = picture.url
    contact.updated_at = utcnow()
    contact.record(
        events.CONTACT_PROFILE_PICTURE_UPDATED,
        {"contact_id": str(contact.id), "profile_picture_url": picture.url},
    )
    return True


async def refresh_profile_picture(
    uow: UnitOfWorkFactory, source: PictureSource, tenant_id: uuid.UUID, contact_id: uuid.UUID
) -> str | None:
    """Fetches the contact's picture through WAHA and stores it; returns the URL. WAHA is
    asked outside any transaction (the API already answered 202)."""
    async with uow(tenant_id, Actor.system()) as tx:
        contact = await contact_in(tx, contact_id)
        where = await source.where_to_ask(tx, contact) if contact is not None else None
    picture = await source.ask(where) if where is not None else None
    if picture is None:
        return None
    async with uow(tenant_id, Actor.system()) as tx:
        repository = ContactRepository(tx)
        contact = await repository.get(contact_id)
        if contact is not None and show_picture(contact, picture):
            await repository.save(contact)
            await tx.commit()
    return picture.url


async def _refresh_in_background(
    container: Container, tenant_id: uuid.UUID, cid: uuid.UUID
) -> None:
    try:
        await refresh_profile_picture(container.uow, container.picture_source, tenant_id, cid)
    except Exception:
        log.exception("profile picture refresh failed", contact_id=str(cid))


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
