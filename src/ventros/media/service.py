"""Media use cases: keep an upload, keep a customer's inbound media, read a file back.

Every file is spooled to a temporary file while it is hashed and measured (never whole in
memory), checked against WhatsApp's types and the size limit, then written to the store
under its content key and recorded once per tenant per content.
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import hmac
import os
import tempfile
import time
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import structlog
from tenacity import (
    AsyncRetrying,
    retry_if_exception,
    stop_after_delay,
    wait_random_exponential,
)

from ventros.channels.waha_client import WahaClient, WahaError, WahaTarget
from ventros.conversations import service as conversations
from ventros.identity.domain import Principal
from ventros.kernel.errors import NotFound
from ventros.kernel.events import Actor
from ventros.media import domain
from ventros.media.domain import MediaFile, MediaTooLarge
from ventros.media.repository import MediaRepository
from ventros.media.store import MediaStore
from ventros.platform.uow import UnitOfWork, UnitOfWorkFactory

log = structlog.get_logger(__name__)

HEAD_BYTES = 16  # enough for the magic numbers domain.check_type looks at
WAHA_FILES = "/api/files/"  # where WAHA serves the media it downloaded


@dataclass(frozen=True)
class Spooled:
    """A file written to local disk while it arrived: its SHA-256, size and first bytes."""

    path: Path
    sha256: str
    size_bytes: int
    head: bytes


@contextlib.asynccontextmanager
async def spooled(chunks: AsyncIterator[bytes], *, limit: int) -> AsyncIterator[Spooled]:
    """Writes the chunks to a temporary file (removed afterwards); MediaTooLarge past
    `limit` bytes, as soon as they arrive."""
    fd, name = tempfile.mkstemp(prefix="ventros-media-")
    path = Path(name)
    try:
        digest, size, head = hashlib.sha256(), 0, b""
        with os.fdopen(fd, "wb") as out:
            async for chunk in chunks:
                size += len(chunk)
                if size > limit:
                    raise MediaTooLarge(limit)
                if len(head) < HEAD_BYTES:
                    head += chunk[: HEAD_BYTES - len(head)]
                digest.update(chunk)
                out.write(chunk)
        yield Spooled(path, digest.hexdigest(), size, head)
    finally:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(path)


async def keep(
    tx: UnitOfWork, store: MediaStore, file: Spooled, *, mimetype: str, filename: str | None
) -> MediaFile:
    """Stores the content (unless the store has it) and records it for the tenant. The object
    is written before the row commits: a crash in between leaves an object the retry finds."""
    media = MediaFile.new(
        tenant_id=tx.tenant_id,
        sha256=file.sha256,
        mimetype=mimetype,
        size_bytes=file.size_bytes,
        filename=filename,
    )
    if not await store.exists(media.storage_key):
        await store.put(media.storage_key, file.path, mimetype=mimetype)
    return await MediaRepository(tx).keep(media)


# --------------------------------------------------------------------------- uploads


async def store_upload(
    uow: UnitOfWorkFactory,
    store: MediaStore,
    principal: Principal,
    chunks: AsyncIterator[bytes],
    *,
    filename: str | None,
    mimetype: str | None,
) -> MediaFile:
    """An agent's (or the web app's) upload: WhatsApp's types only (UnsupportedMedia, 422),
    at most 16 MiB (MediaTooLarge, 413). The same content uploaded twice is one file."""
    resolved = domain.resolve_mimetype(mimetype, filename)
    async with spooled(chunks, limit=domain.MAX_BYTES) as file:
        domain.check_type(resolved, filename, file.head)
        async with uow(principal.tenant_id, Actor.user(principal.user_id)) as tx:
            media = await keep(tx, store, file, mimetype=resolved, filename=filename)
            await tx.commit()
    return media


async def get_media(uow: UnitOfWorkFactory, principal: Principal, media_id: uuid.UUID) -> MediaFile:
    """The tenant's file; NotFound for another tenant's (RLS hides it)."""
    async with uow(principal.tenant_id, Actor.user(principal.user_id)) as tx:
        found = await MediaRepository(tx).get(media_id)
    if found is None:
        raise NotFound("media not found")
    return found


async def media_in(tx: UnitOfWork, media_id: uuid.UUID) -> MediaFile | None:
    return await MediaRepository(tx).get(media_id)


# --------------------------------------------------------------------------- signed links


def link_signature(secret: str, tenant_id: uuid.UUID, media_id: uuid.UUID, expires: int) -> str:
    message = f"media:{tenant_id}:{media_id}:{expires}".encode()
    return hmac.new(secret.encode(), message, hashlib.sha256).hexdigest()


def signed_path(secret: str, file: MediaFile, *, seconds: int, now: float | None = None) -> str:
    """A link that works without a login until it expires (WAHA fetches uploads with it)."""
    expires = int((now if now is not None else time.time()) + seconds)
    signature = link_signature(secret, file.tenant_id, file.id, expires)
    return (
        f"/api/v1/media/{file.id}/content?tenant={file.tenant_id}"
        f"&expires={expires}&signature={signature}"
    )


def link_is_valid(
    secret: str, tenant_id: uuid.UUID, media_id: uuid.UUID, expires: int, signature: str
) -> bool:
    if expires < time.time():
        return False
    expected = link_signature(secret, tenant_id, media_id, expires)
    return hmac.compare_digest(expected, signature)


# --------------------------------------------------------------------------- inbound


@dataclass(frozen=True)
class DownloadPolicy:
    budget_seconds: float = 150.0  # within WAHA's WHATSAPP_FILES_LIFETIME (180 s)
    retry_base_seconds: float = 0.5
    retry_max_seconds: float = 10.0


class GiveUp(Exception):
    """The file cannot be kept (gone, refused, too large): the reason to record."""


def waha_file_path(url: str) -> str:
    """The path of WAHA's file link. Only WAHA's `/api/files/` are fetched, and always from
    the channel's own WAHA (the key is never sent to a host a payload names)."""
    parts = urlsplit(url)
    if not parts.path.startswith(WAHA_FILES) or ".." in parts.path:
        raise GiveUp(f"not a WAHA file link: {url[:200]}")
    return parts.path


async def download_inbound(
    tx: UnitOfWork,
    store: MediaStore,
    client: WahaClient,
    target: WahaTarget,
    media: dict[str, Any],
    policy: DownloadPolicy,
) -> MediaFile:
    """Copies a customer's media from WAHA, retrying timeouts, connection errors and 5xx
    within the policy's budget; GiveUp with the reason when it cannot be kept."""
    path = waha_file_path(str(media.get("url") or ""))

    def retryable(error: BaseException) -> bool:
        return isinstance(error, WahaError) and error.retryable

    retrying = AsyncRetrying(
        retry=retry_if_exception(retryable),
        stop=stop_after_delay(policy.budget_seconds),
        wait=wait_random_exponential(
            multiplier=policy.retry_base_seconds, max=policy.retry_max_seconds
        ),
        reraise=True,
    )
    try:
        async for attempt in retrying:
            with attempt:
                return await _download_once(tx, store, client, target, path, media)
    except WahaError as error:
        raise GiveUp(f"could not download from WAHA: {error.detail}") from error
    except MediaTooLarge as error:
        raise GiveUp(f"larger than {error.limit} bytes") from error
    except domain.UnsupportedMedia as error:
        raise GiveUp(str(error)) from error
    raise GiveUp("not downloaded")  # pragma: no cover - tenacity returns or raises


async def _download_once(
    tx: UnitOfWork,
    store: MediaStore,
    client: WahaClient,
    target: WahaTarget,
    path: str,
    media: dict[str, Any],
) -> MediaFile:
    async with client.file(target, path) as answer:
        mimetype = domain.resolve_mimetype(
            media.get("mimetype") or answer.mimetype, media.get("filename") or path
        )
        limit = domain.size_limit(mimetype)
        if answer.length is not None and answer.length > limit:
            raise MediaTooLarge(limit)
        async with spooled(answer.chunks, limit=limit) as file:
            domain.check_type(mimetype, media.get("filename"), file.head)
            return await keep(tx, store, file, mimetype=mimetype, filename=media.get("filename"))


async def keep_inbound_media(
    tx: UnitOfWork,
    store: MediaStore,
    client: WahaClient,
    target: WahaTarget | None,
    message_id: uuid.UUID,
    policy: DownloadPolicy,
) -> str:
    """The message's media, kept by Ventros or marked unavailable with the reason; the
    outcome (`stored`, `unavailable`, or `skipped` when there is nothing to do)."""
    media = await conversations.message_media(tx, message_id)
    if media is None or domain.is_kept(media) or not media.get("url"):
        return "skipped"
    try:
        if target is None:
            raise GiveUp("the channel was deleted before the file was copied")
        file = await download_inbound(tx, store, client, target, media, policy)
    except GiveUp as reason:
        log.warning("inbound media unavailable", message_id=str(message_id), reason=str(reason))
        await conversations.replace_message_media(
            tx, message_id, domain.unavailable_media(media, str(reason))
        )
        return domain.UNAVAILABLE
    await conversations.replace_message_media(tx, message_id, domain.kept_media(media, file))
    return domain.STORED


def read_chunks(store: MediaStore, file: MediaFile) -> AsyncIterator[bytes]:
    return store.read(file.storage_key)


# --------------------------------------------------------------------------- sending


@dataclass(frozen=True)
class MediaLinks:
    """How the sender hands WAHA a kept file: a signed, expiring link to Ventros when WAHA
    can reach it (`public_base_url`), else the bytes themselves (WAHA's `file.data`)."""

    store: MediaStore
    secret: str
    public_base_url: str | None = None
    link_seconds: int = 600

    async def waha_file(self, tx: UnitOfWork, media_id: uuid.UUID) -> dict[str, Any] | None:
        """WAHA's `file` object for the tenant's file; None when there is no such file."""
        found = await media_in(tx, media_id)
        if found is None:
            return None
        file: dict[str, Any] = {"mimetype": found.mimetype}
        if found.filename:
            file["filename"] = found.filename
        if self.public_base_url:
            path = signed_path(self.secret, found, seconds=self.link_seconds)
            file["url"] = self.public_base_url.rstrip("/") + path
            return file
        encoded = bytearray()
        async for chunk in self.store.read(found.storage_key):
            encoded += chunk
        file["data"] = base64.b64encode(bytes(encoded)).decode("ascii")
        return file
