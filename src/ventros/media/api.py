"""HTTP routes of media: upload a file, read one back (authorised, or by a signed link)."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from typing import Annotated, Any

from fastapi import APIRouter, Depends, File, Query, Request, UploadFile, status
from fastapi.responses import RedirectResponse, Response, StreamingResponse
from pydantic import BaseModel
from starlette.datastructures import UploadFile as AnyUpload

from ventros.api.deps import ContainerDep, Uow, authorized
from ventros.api.errors import problem
from ventros.identity.domain import Principal
from ventros.identity.permissions import Permission
from ventros.kernel.events import Actor
from ventros.media import service
from ventros.media.domain import MediaFile, MediaTooLarge
from ventros.media.store import CHUNK, MediaStore, content_disposition, store_from_settings

router = APIRouter(prefix="/media", tags=["media"])

Reader = Annotated[Principal, Depends(authorized(Permission.MESSAGES_READ))]
Uploader = Annotated[Principal, Depends(authorized(Permission.MESSAGES_SEND))]


async def get_media_store(request: Request, container: ContainerDep) -> MediaStore:
    """The app's media store (made on first use, from the container's settings)."""
    store: MediaStore | None = getattr(request.app.state, "media_store", None)
    if store is None:
        store = store_from_settings(container.settings)
        request.app.state.media_store = store
    return store


Store = Annotated[MediaStore, Depends(get_media_store)]


class MediaRead(BaseModel):
    id: uuid.UUID
    url: str
    mimetype: str
    filename: str | None
    size_bytes: int

    @classmethod
    def of(cls, file: MediaFile) -> MediaRead:
        return cls(
            id=file.id,
            url=file.path,
            mimetype=file.mimetype,
            filename=file.filename,
            size_bytes=file.size_bytes,
        )


async def upload_chunks(upload: AnyUpload) -> AsyncIterator[bytes]:
    """An upload's bytes, a chunk at a time (never whole in memory); FastAPI's or a form's
    parsed by Starlette (the web composer's)."""
    while chunk := await upload.read(CHUNK):
        yield chunk


@router.post(
    "",
    status_code=status.HTTP_201_CREATED,
    response_model=MediaRead,
    responses={
        413: {"description": "over 16 MiB"},
        422: {"description": "not a type WhatsApp takes"},
    },
)
async def upload_media(
    principal: Uploader,
    uow: Uow,
    store: Store,
    file: Annotated[UploadFile, File(description="the file (multipart field `file`)")],
) -> Any:
    """Keep a file to send over WhatsApp (16 MiB at most; WhatsApp's image, audio, video and
    document types). The same content uploaded twice answers the same id."""
    try:
        kept = await service.store_upload(
            uow,
            store,
            principal,
            upload_chunks(file),
            filename=file.filename,
            mimetype=file.content_type,
        )
    except MediaTooLarge as error:
        return problem(413, str(error))
    finally:
        await file.close()
    return MediaRead.of(kept)


def _stream(store: MediaStore, file: MediaFile) -> StreamingResponse:
    headers = {"Cache-Control": "private, max-age=300", "X-Content-Type-Options": "nosniff"}
    if file.filename:
        headers["Content-Disposition"] = content_disposition(file.filename)
    headers["Content-Length"] = str(file.size_bytes)
    return StreamingResponse(
        service.read_chunks(store, file), media_type=file.mimetype, headers=headers
    )


async def file_response(store: MediaStore, file: MediaFile, *, presign_seconds: int) -> Response:
    """The file's bytes (local store), or a short-lived redirect to them (S3); the web app
    answers its pages' media with it too."""
    link = await store.presigned_url(
        file.storage_key, seconds=presign_seconds, mimetype=file.mimetype, filename=file.filename
    )
    if link is not None:
        return RedirectResponse(link, status_code=status.HTTP_307_TEMPORARY_REDIRECT)
    return _stream(store, file)


@router.get("/{media_id}", response_model=None)
async def read_media(
    media_id: uuid.UUID, principal: Reader, uow: Uow, store: Store, container: ContainerDep
) -> Response:
    """The file's bytes (local store), or a short-lived redirect to them (S3)."""
    file = await service.get_media(uow, principal, media_id)
    seconds = container.settings.media_presign_seconds
    return await file_response(store, file, presign_seconds=seconds)


@router.get("/{media_id}/content", response_model=None)
async def read_media_by_link(
    media_id: uuid.UUID,
    uow: Uow,
    store: Store,
    container: ContainerDep,
    tenant: Annotated[uuid.UUID, Query()],
    expires: Annotated[int, Query()],
    signature: Annotated[str, Query(max_length=128)],
) -> Response:
    """The file by a signed, expiring link (what WAHA fetches to send an upload)."""
    secret = container.settings.resolved_secret_key()
    if not service.link_is_valid(secret, tenant, media_id, expires, signature):
        return problem(403, "the link is invalid or has expired")
    async with uow(tenant, Actor.system()) as tx:
        file = await service.media_in(tx, media_id)
    if file is None:
        return problem(404, "media not found")
    return _stream(store, file)
