"""Every string the web app shows is translated in both catalogs (pt-BR first, English
complete): a string missing from one would show in the wrong language."""

from __future__ import annotations

from pathlib import Path

import pytest
from babel.messages.catalog import Catalog
from babel.messages.extract import extract_from_dir
from babel.messages.pofile import read_po

WEB = Path(__file__).resolve().parents[2] / "src" / "ventros" / "web"
KEYWORDS = {"_": None, "gettext": None, "ngettext": (1, 2)}
METHODS = [("**/templates/**.html", "jinja2"), ("**.py", "python")]
OPTIONS = {"**/templates/**.html": {"trim_blocks": "true", "lstrip_blocks": "true"}}


def shown_strings() -> set[str]:
    found = extract_from_dir(str(WEB), METHODS, keywords=KEYWORDS, options_map=OPTIONS)
    return {m[0] if isinstance(m, tuple) else m for _f, _l, m, _c, _x in found}


@pytest.mark.parametrize("locale", ["pt_BR", "en"])
def test_every_shown_string_is_translated(locale: str) -> None:
    with (WEB / "locale" / locale / "LC_MESSAGES" / "messages.po").open("rb") as po:
        catalog = read_po(po, locale=locale)
    untranslated = sorted(text for text in shown_strings() if not translated(catalog, text))
    assert untranslated == []


def translated(catalog: Catalog, text: str) -> bool:
    message = catalog.get(text)
    if message is None:
        return False
    forms = message.string if isinstance(message.string, tuple) else (message.string,)
    return all(forms)


def test_a_missing_string_is_noticed() -> None:
    assert not translated(Catalog(locale="en"), "Not in any catalog")
