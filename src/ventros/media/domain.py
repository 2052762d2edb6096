"""Media files kept by Ventros: what WhatsApp accepts, the limits, and a file's identity.

Pure: no I/O. A file is stored once per tenant per content (its SHA-256), under a key
derived from both, so the same photo sent twice, or a download retried after a crash,
ends in one stored object and one row.
"""

from __future__ import annotations

import mimetypes
import re
import uuid
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from ventros.kernel.clock import utcnow
from ventros.kernel.errors import RuleViolation
from ventros.kernel.ids import new_id

MAX_BYTES = 16 << 20  # WhatsApp's limit for media other than documents; uploads keep to it
MAX_DOCUMENT_BYTES = 100 << 20  # WhatsApp accepts documents up to 100 MB inbound
MAX_FILENAME = 255

# What WhatsApp sends and accepts (Cloud API's supported media list, which WAHA's engines
# follow): images, audio (voice notes are OGG/Opus), video, stickers and documents.
ACCEPTED: frozenset[str] = frozenset(
    {
        "image/jpeg",
        "image/png",
        "image/webp",
        "audio/aac",
        "audio/amr",
        "audio/mpeg",
        "audio/mp4",
        "audio/ogg",
        "audio/opus",
        "video/mp4",
        "video/3gpp",
        "application/pdf",
        "text/plain",
        "text/csv",
        "application/msword",
        "application/vnd.ms-excel",
        "application/vnd.ms-powerpoint",
        "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
        "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
        "application/vnd.openxmlformats-officedocument.presentationml.presentation",
        "application/zip",
    }
)
# Executables are refused whatever type they claim (a Windows PE starts with "MZ", an ELF
# with 0x7F "ELF").
_EXECUTABLE_MAGIC = (b"MZ", b"\x7fELF")
_EXECUTABLE_SUFFIX = re.compile(r"\.(exe|dll|com|bat|cmd|msi|scr|ps1|sh|jar|apk|app)$", re.I)
_UNSAFE_NAME = re.compile(r"[\x00-\x1f/\\]+")

UNAVAILABLE = "unavailable"
STORED = "stored"


class UnsupportedMedia(RuleViolation):
    """A type WhatsApp does not take (422)."""


class MediaTooLarge(Exception):
    """Over the size limit (413)."""

    def __init__(self, limit: int) -> None:
        super().__init__(f"the file is larger than {limit} bytes")
        self.limit = limit


def base_mimetype(raw: str | None) -> str:
    """`audio/ogg; codecs=opus` → `audio/ogg`; lower-case, '' when missing."""
    return (raw or "").split(";", 1)[0].strip().lower()


def resolve_mimetype(declared: str | None, filename: str | None) -> str:
    """The declared type, or the one the file name says when the declared one is generic."""
    mimetype = base_mimetype(declared)
    if mimetype in ("", "application/octet-stream") and filename:
        guessed, _ = mimetypes.guess_type(filename)
        mimetype = base_mimetype(guessed) or mimetype
    return mimetype or "application/octet-stream"


def check_type(mimetype: str, filename: str | None, head: bytes) -> None:
    """Raises UnsupportedMedia unless WhatsApp accepts this file."""
    if filename and _EXECUTABLE_SUFFIX.search(filename):
        raise UnsupportedMedia("executable files are not accepted", field="file")
    if head.startswith(_EXECUTABLE_MAGIC):
        raise UnsupportedMedia("executable files are not accepted", field="file")
    if mimetype not in ACCEPTED:
        raise UnsupportedMedia(f"WhatsApp does not accept {mimetype!r} files", field="file")


def message_type(mimetype: str) -> str:
    """The kind of WhatsApp message that carries a file of this type."""
    kind = base_mimetype(mimetype).split("/", 1)[0]
    return kind if kind in ("image", "video", "audio") else "document"


def size_limit(mimetype: str) -> int:
    """Inbound: documents may be larger than photos, audio and video."""
    kind = mimetype.split("/", 1)[0]
    return MAX_BYTES if kind in ("image", "audio", "video") else MAX_DOCUMENT_BYTES


def clean_filename(raw: str | None) -> str | None:
    if not raw:
        return None
    name = _UNSAFE_NAME.sub("_", raw).strip().strip(".") or None
    return name[-MAX_FILENAME:] if name else None


def storage_key(tenant_id: uuid.UUID, sha256: str) -> str:
    """Content-addressed per tenant: one object per tenant per content."""
    return f"{tenant_id}/{sha256[:2]}/{sha256}"


@dataclass
class MediaFile:
    id: uuid.UUID
    tenant_id: uuid.UUID
    sha256: str
    mimetype: str
    size_bytes: int
    filename: str | None
    storage_key: str
    created_at: datetime = field(default_factory=utcnow)

    @classmethod
    def new(
        cls,
        *,
        tenant_id: uuid.UUID,
        sha256: str,
        mimetype: str,
        size_bytes: int,
        filename: str | None,
    ) -> MediaFile:
        return cls(
            id=new_id(),
            tenant_id=tenant_id,
            sha256=sha256,
            mimetype=mimetype,
            size_bytes=size_bytes,
            filename=clean_filename(filename),
            storage_key=storage_key(tenant_id, sha256),
        )

    @property
    def path(self) -> str:
        """Where the API serves it (relative to the API root)."""
        return f"/api/v1/media/{self.id}"

    def message_media(self, *, filename: str | None = None) -> dict[str, Any]:
        """What a message's `media` says once the file is kept by Ventros."""
        return {
            "url": self.path,
            "media_id": str(self.id),
            "mimetype": self.mimetype,
            "filename": filename or self.filename,
            "size_bytes": self.size_bytes,
            "status": STORED,
        }


def kept_media(before: dict[str, Any] | None, file: MediaFile) -> dict[str, Any]:
    """A message's media once Ventros keeps the file: what WAHA said (duration, voice ...)
    with the link to Ventros in place of WAHA's."""
    return {**(before or {}), **file.message_media(filename=(before or {}).get("filename"))}


def unavailable_media(before: dict[str, Any] | None, reason: str) -> dict[str, Any]:
    """A message's media that could not be kept: no link (WAHA's would break), the reason."""
    reason = reason[:500]
    return {**(before or {}), "url": None, "status": UNAVAILABLE, "reason": reason, "error": reason}


def is_kept(media: dict[str, Any] | None) -> bool:
    """True once the media is stored or given up: nothing more to download."""
    return bool(media) and (media or {}).get("status") in (STORED, UNAVAILABLE)
