"""The `media_files` table: one row per tenant per stored content (RLS by tenant)."""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy import BigInteger, Column, DateTime, Index, Table, Text, select
from sqlalchemy.dialects.postgresql import UUID, insert

from ventros.media.domain import MediaFile
from ventros.platform.db import metadata
from ventros.platform.uow import UnitOfWork

media_files = Table(
    "media_files",
    metadata,
    Column("id", UUID(as_uuid=True), primary_key=True),
    Column("tenant_id", UUID(as_uuid=True), nullable=False),
    Column("sha256", Text, nullable=False),
    Column("mimetype", Text, nullable=False),
    Column("size_bytes", BigInteger, nullable=False),
    Column("filename", Text),
    Column("storage_key", Text, nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Index("uq_media_files_tenant_id_sha256", "tenant_id", "sha256", unique=True),
)


def _row(file: MediaFile) -> dict[str, Any]:
    return {
        "id": file.id,
        "tenant_id": file.tenant_id,
        "sha256": file.sha256,
        "mimetype": file.mimetype,
        "size_bytes": file.size_bytes,
        "filename": file.filename,
        "storage_key": file.storage_key,
        "created_at": file.created_at,
    }


def _file(row: Any) -> MediaFile:
    return MediaFile(
        id=row.id,
        tenant_id=row.tenant_id,
        sha256=row.sha256,
        mimetype=row.mimetype,
        size_bytes=row.size_bytes,
        filename=row.filename,
        storage_key=row.storage_key,
        created_at=row.created_at,
    )


class MediaRepository:
    def __init__(self, tx: UnitOfWork) -> None:
        self.connection = tx.connection

    async def get(self, media_id: uuid.UUID) -> MediaFile | None:
        """The tenant's file (RLS hides other tenants': they are not found)."""
        row = (
            await self.connection.execute(select(media_files).where(media_files.c.id == media_id))
        ).first()
        return _file(row) if row is not None else None

    async def keep(self, file: MediaFile) -> MediaFile:
        """Adds the file, or returns the tenant's row for the same content (stored once)."""
        await self.connection.execute(
            insert(media_files)
            .values(**_row(file))
            .on_conflict_do_nothing(index_elements=["tenant_id", "sha256"])
        )
        row = (
            await self.connection.execute(
                select(media_files).where(
                    media_files.c.tenant_id == file.tenant_id,
                    media_files.c.sha256 == file.sha256,
                )
            )
        ).one()
        return _file(row)
