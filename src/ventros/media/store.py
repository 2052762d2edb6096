"""The MediaStore port and its two adapters: a local directory and S3-compatible storage.

Objects are written from a finished local file (the download or upload was spooled to disk
and hashed first) and read back as a stream of chunks: nothing holds a whole file in memory.
Keys are content-addressed (`domain.storage_key`), so writing the same key twice is harmless.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
import tempfile
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any, Protocol

from ventros.platform.settings import Settings

CHUNK = 64 * 1024


class MediaStore(Protocol):
    async def exists(self, key: str) -> bool: ...

    async def put(self, key: str, source: Path, *, mimetype: str) -> None:
        """Stores the file at `source` under `key` (atomically: all or nothing)."""

    def read(self, key: str) -> AsyncIterator[bytes]:
        """The object's bytes in chunks; FileNotFoundError when missing."""

    async def presigned_url(
        self, key: str, *, seconds: int, mimetype: str, filename: str | None
    ) -> str | None:
        """A short-lived direct link, or None when the store has none (local files)."""

    async def aclose(self) -> None: ...


class LocalMediaStore:
    """Files under one directory (`VENTROS_HOME/media` by default)."""

    def __init__(self, root: Path) -> None:
        self.root = root

    def _path(self, key: str) -> Path:
        path = (self.root / key).resolve()
        if self.root.resolve() not in path.parents:
            raise ValueError("media key outside the store")
        return path

    async def exists(self, key: str) -> bool:
        return await asyncio.to_thread(self._path(key).is_file)

    async def put(self, key: str, source: Path, *, mimetype: str) -> None:  # noqa: ARG002
        await asyncio.to_thread(self._put, key, source)

    def _put(self, key: str, source: Path) -> None:
        target = self._path(key)
        target.parent.mkdir(parents=True, exist_ok=True)
        # Copy beside the target, then rename: a crash leaves no half-written object.
        fd, temporary = tempfile.mkstemp(dir=target.parent, prefix=".incoming-")
        try:
            with os.fdopen(fd, "wb") as out, source.open("rb") as src:
                shutil.copyfileobj(src, out, CHUNK)
                out.flush()
                os.fsync(out.fileno())
            os.replace(temporary, target)
        except BaseException:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(temporary)
            raise

    async def read(self, key: str) -> AsyncIterator[bytes]:
        handle = await asyncio.to_thread(self._path(key).open, "rb")
        try:
            while chunk := await asyncio.to_thread(handle.read, CHUNK):
                yield chunk
        finally:
            handle.close()

    async def presigned_url(
        self,
        key: str,  # noqa: ARG002 - the port's signature; the API serves local files itself
        *,
        seconds: int,  # noqa: ARG002
        mimetype: str,  # noqa: ARG002
        filename: str | None,  # noqa: ARG002
    ) -> str | None:
        return None

    async def aclose(self) -> None:
        return None


class S3MediaStore:
    """An S3-compatible bucket through aiobotocore; one client per event loop."""

    def __init__(
        self,
        *,
        bucket: str,
        endpoint_url: str | None,
        region: str,
        access_key_id: str | None,
        secret_access_key: str | None,
    ) -> None:
        self.bucket = bucket
        self._options: dict[str, Any] = {
            "endpoint_url": endpoint_url,
            "region_name": region,
            "aws_access_key_id": access_key_id,
            "aws_secret_access_key": secret_access_key,
        }
        self._client: Any = None
        self._stack: contextlib.AsyncExitStack | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._bucket_ready = False

    async def _s3(self) -> Any:
        loop = asyncio.get_running_loop()
        if self._client is None or self._loop is not loop:
            from aiobotocore.session import get_session  # only deployments on S3 load it

            self._stack = contextlib.AsyncExitStack()
            self._client = await self._stack.enter_async_context(
                get_session().create_client("s3", **self._options)
            )
            self._loop, self._bucket_ready = loop, False
        return self._client

    async def ensure_bucket(self) -> None:
        """Creates the bucket when missing (embedded and test servers start empty)."""
        s3 = await self._s3()
        if self._bucket_ready:
            return
        try:
            await s3.head_bucket(Bucket=self.bucket)
        except Exception as error:
            if _status(error) not in (404, 403):
                raise
            with contextlib.suppress(s3.exceptions.BucketAlreadyOwnedByYou):
                await s3.create_bucket(Bucket=self.bucket)
        self._bucket_ready = True

    async def exists(self, key: str) -> bool:
        s3 = await self._s3()
        try:
            await s3.head_object(Bucket=self.bucket, Key=key)
        except Exception as error:
            if _status(error) == 404:
                return False
            raise
        return True

    async def put(self, key: str, source: Path, *, mimetype: str) -> None:
        await self.ensure_bucket()
        s3 = await self._s3()
        with source.open("rb") as body:  # S3 writes an object whole or not at all
            await s3.put_object(Bucket=self.bucket, Key=key, Body=body, ContentType=mimetype)

    async def read(self, key: str) -> AsyncIterator[bytes]:
        s3 = await self._s3()
        try:
            answer = await s3.get_object(Bucket=self.bucket, Key=key)
        except Exception as error:
            if _status(error) == 404:
                raise FileNotFoundError(key) from error
            raise
        async with answer["Body"] as body:
            while chunk := await body.read(CHUNK):
                yield chunk

    async def presigned_url(
        self, key: str, *, seconds: int, mimetype: str, filename: str | None
    ) -> str | None:
        s3 = await self._s3()
        params = {"Bucket": self.bucket, "Key": key, "ResponseContentType": mimetype}
        if filename:
            params["ResponseContentDisposition"] = content_disposition(filename)
        url: str = await s3.generate_presigned_url("get_object", Params=params, ExpiresIn=seconds)
        return url

    async def aclose(self) -> None:
        if self._stack is not None and self._loop is asyncio.get_running_loop():
            await self._stack.aclose()
        self._client = self._stack = self._loop = None


def _status(error: Exception) -> int | None:
    response = getattr(error, "response", None)
    if not isinstance(response, dict):
        return None
    status = response.get("ResponseMetadata", {}).get("HTTPStatusCode")
    return int(status) if status is not None else None


def content_disposition(filename: str) -> str:
    """`inline` with the name in RFC 5987 form (any language's characters survive)."""
    from urllib.parse import quote

    ascii_name = filename.encode("ascii", "replace").decode().replace('"', "_")
    return f"inline; filename=\"{ascii_name}\"; filename*=UTF-8''{quote(filename)}"


def store_from_settings(settings: Settings) -> MediaStore:
    if settings.media_store == "s3":
        return S3MediaStore(
            bucket=settings.media_s3_bucket,
            endpoint_url=settings.media_s3_endpoint_url,
            region=settings.media_s3_region,
            access_key_id=settings.media_s3_access_key_id,
            secret_access_key=settings.media_s3_secret_access_key,
        )
    return LocalMediaStore(settings.home / "media")
