"""Media's reactions: a customer's photo, voice note or document is copied from WAHA as soon
as it is ingested (`message.received`), before WAHA deletes its copy.

The download runs inside the consumer's transaction: the message's new `media` and the
"handled" mark commit together. A worker killed mid-download leaves the event unhandled
and the message pointing nowhere new; the redelivered event downloads again, and the
content-addressed store and the (tenant, sha256) row keep the file once.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass
from functools import lru_cache

from ventros.channels import service as channels
from ventros.channels.waha_client import WahaClient, WahaTarget
from ventros.conversations.events import MESSAGE_RECEIVED
from ventros.kernel.events import DomainEvent
from ventros.media import service
from ventros.media.service import DownloadPolicy
from ventros.media.store import MediaStore, store_from_settings
from ventros.platform.consumers import Consumer
from ventros.platform.crypto import SecretBox
from ventros.platform.settings import Settings
from ventros.platform.uow import UnitOfWork

CONSUMER_NAME = "media.keep_inbound"


@dataclass(frozen=True)
class MediaDeps:
    store: MediaStore
    client: WahaClient
    box: SecretBox
    policy: DownloadPolicy


def deps_for(settings: Settings, box: SecretBox) -> Callable[[], MediaDeps]:
    """The store and WAHA client of this process, built on first use (in the worker)."""

    @lru_cache(maxsize=1)
    def deps() -> MediaDeps:
        return MediaDeps(
            store=store_from_settings(settings),
            client=WahaClient.create(timeout_seconds=settings.media_download_timeout_seconds),
            box=box,
            policy=DownloadPolicy(budget_seconds=settings.media_download_budget_seconds),
        )

    return deps


class WhenMessageReceivedKeepMedia:
    def __init__(self, deps: Callable[[], MediaDeps]) -> None:
        self._deps = deps

    async def __call__(self, event: DomainEvent, tx: UnitOfWork) -> None:
        media = event.payload.get("media")
        if not isinstance(media, dict) or not media.get("url"):
            return
        deps = self._deps()
        channel = await channels.channel_for_ingest(
            tx, deps.box, uuid.UUID(str(event.payload["channel_id"]))
        )
        target = (
            WahaTarget(channel.base_url, channel.waha_session, channel.api_key)
            if channel is not None
            else None
        )
        await service.keep_inbound_media(
            tx,
            deps.store,
            deps.client,
            target,
            uuid.UUID(str(event.payload["message_id"])),
            deps.policy,
        )


def consumers(deps: Callable[[], MediaDeps]) -> list[Consumer]:
    return [Consumer(CONSUMER_NAME, (MESSAGE_RECEIVED,), WhenMessageReceivedKeepMedia(deps))]
