"""The media rules, without I/O: WhatsApp's types, executables refused, limits, keys."""

from __future__ import annotations

import uuid

import pytest

from ventros.media import domain
from ventros.stand_ins.waha import legacy_id


def test_a_generic_type_is_resolved_from_the_file_name() -> None:
    assert domain.resolve_mimetype("application/octet-stream", "nota.pdf") == "application/pdf"
    assert domain.resolve_mimetype("audio/ogg; codecs=opus", None) == "audio/ogg"
    assert domain.resolve_mimetype(None, None) == "application/octet-stream"


@pytest.mark.parametrize(
    ("mimetype", "filename", "head"),
    [
        ("application/x-msdownload", "setup.exe", b"MZ\x90"),
        ("application/pdf", "nota.pdf", b"MZ\x90"),  # a PE file whatever it claims
        ("image/jpeg", "foto.exe", b"\xff\xd8\xff"),
        ("text/html", "page.html", b"<html>"),
        ("application/x-elf", None, b"\x7fELF"),
    ],
)
def test_what_whatsapp_does_not_take_is_refused(
    mimetype: str, filename: str | None, head: bytes
) -> None:
    with pytest.raises(domain.UnsupportedMedia):
        domain.check_type(mimetype, filename, head)


def test_photos_voice_notes_and_documents_are_accepted() -> None:
    domain.check_type("image/jpeg", "foto.jpg", b"\xff\xd8\xff")
    domain.check_type("audio/ogg", None, b"OggS")
    domain.check_type("application/pdf", "orçamento.pdf", b"%PDF-1.7")


def test_documents_may_be_larger_than_photos() -> None:
    assert domain.size_limit("image/jpeg") == 16 << 20
    assert domain.size_limit("application/pdf") == 100 << 20


def test_the_same_content_has_one_key_per_tenant() -> None:
    tenant, other = uuid.uuid4(), uuid.uuid4()
    digest = "ab" * 32
    assert domain.storage_key(tenant, digest) == domain.storage_key(tenant, digest)
    assert domain.storage_key(tenant, digest) != domain.storage_key(other, digest)


def test_unavailable_media_drops_the_waha_link_and_keeps_the_reason() -> None:
    before = {"url": "http://waha:3000/api/files/default/X.pdf", "mimetype": "application/pdf"}
    after = domain.unavailable_media(before, "WAHA answered 404")
    assert after["url"] is None
    assert (after["status"], after["reason"]) == ("unavailable", "WAHA answered 404")
    assert domain.is_kept(after)
    assert not domain.is_kept(before)


def test_the_simulator_knows_legacy_brazilian_ids() -> None:
    assert legacy_id("5511987651234", {"5511987651234"}) == "551187651234"
    assert legacy_id("5511987651234", set()) == "5511987651234"


@pytest.mark.parametrize(
    ("mimetype", "kind"),
    [
        ("image/png", "image"),
        ("video/mp4", "video"),
        ("audio/ogg; codecs=opus", "audio"),
        ("application/pdf", "document"),
        ("application/vnd.openxmlformats-officedocument.wordprocessingml.document", "document"),
        ("text/plain", "document"),
    ],
)
def test_a_files_type_says_which_message_carries_it(mimetype: str, kind: str) -> None:
    assert domain.message_type(mimetype) == kind
