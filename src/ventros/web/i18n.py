"""Gettext catalogs (Babel .po files shipped in the package, compiled when first used, so
there is no build step) and the choice of locale: the user's saved choice, then the
browser's Accept-Language, then pt-BR."""

from __future__ import annotations

import functools
import io
from gettext import GNUTranslations, NullTranslations
from pathlib import Path

from babel import Locale
from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po

LOCALES = ("pt-BR", "en")
DEFAULT_LOCALE = "pt-BR"
CATALOG_DIR = Path(__file__).parent / "locale"


def _folder(locale: str) -> str:
    return locale.replace("-", "_")


@functools.cache
def translations(locale: str) -> NullTranslations:
    path = CATALOG_DIR / _folder(locale) / "LC_MESSAGES" / "messages.po"
    if not path.exists():
        return NullTranslations()
    with path.open("rb") as po:
        catalog = read_po(po, locale=_folder(locale))
    compiled = io.BytesIO()
    write_mo(compiled, catalog)
    compiled.seek(0)
    return GNUTranslations(compiled)


@functools.cache
def babel_locale(locale: str) -> Locale:
    return Locale.parse(_folder(locale))


def supported(locale: str | None) -> str | None:
    if not locale:
        return None
    wanted = locale.strip().lower()
    for candidate in LOCALES:
        if candidate.lower() == wanted or candidate.split("-")[0].lower() == wanted.split("-")[0]:
            return candidate
    return None


def from_accept_language(header: str | None) -> str | None:
    """The first supported language of an Accept-Language header, by its q weights."""
    if not header:
        return None
    weighted: list[tuple[float, int, str]] = []
    for index, part in enumerate(header.split(",")):
        tag, _, params = part.strip().partition(";")
        quality = 1.0
        if params.strip().startswith("q="):
            try:
                quality = float(params.strip()[2:])
            except ValueError:
                quality = 0.0
        weighted.append((-quality, index, tag))
    for _, _, tag in sorted(weighted):
        found = supported(tag)
        if found:
            return found
    return None


def choose(saved: str | None, accept_language: str | None) -> str:
    return supported(saved) or from_accept_language(accept_language) or DEFAULT_LOCALE
