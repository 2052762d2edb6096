"""The Jinja2 environment (autoescaped) and what every page is rendered with: the
locale's gettext, its date and number formats, the signed-in user and the CSRF token."""

from __future__ import annotations

import functools
from datetime import datetime
from pathlib import Path
from typing import Any

from babel.dates import format_date, format_datetime, format_time
from babel.numbers import format_currency
from fastapi import Request
from jinja2 import Environment, FileSystemLoader, select_autoescape
from starlette.responses import HTMLResponse

from ventros.kernel.clock import utcnow
from ventros.web import i18n
from ventros.web.formatting import whatsapp_html

TEMPLATES = Path(__file__).parent / "templates"
TIMEZONE = "America/Sao_Paulo"  # the demo's and most customers'; per-user zones are part 2


@functools.cache
def environment() -> Environment:
    env = Environment(
        loader=FileSystemLoader(TEMPLATES),
        autoescape=select_autoescape(["html"], default=True),
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters["whatsapp"] = whatsapp_html
    env.filters["vcard_name"] = vcard_name
    return env


def vcard_name(card: str) -> str:
    """The display name (FN) of a vCard."""
    for line in card.splitlines():
        key, _, value = line.partition(":")
        if key.split(";")[0].strip().upper() == "FN":
            return value.strip()
    return ""


class Formats:
    """Dates, times and money as the reader's locale writes them."""

    def __init__(self, locale: str) -> None:
        self.locale = i18n.babel_locale(locale)

    def when(self, at: datetime | None) -> str:
        """A time today, a date before."""
        if at is None:
            return ""
        now = utcnow()
        if at.date() == now.date():
            return format_time(at, "short", tzinfo=_zone(), locale=self.locale)
        return format_date(at, "short", locale=self.locale)

    def datetime(self, at: datetime | None) -> str:
        if at is None:
            return ""
        return format_datetime(at, "short", tzinfo=_zone(), locale=self.locale)

    def money(self, cents: int, currency: str = "BRL") -> str:
        return format_currency(cents / 100, currency, locale=self.locale)


@functools.cache
def _zone() -> Any:
    from zoneinfo import ZoneInfo

    return ZoneInfo(TIMEZONE)


def render(
    request: Request,
    template: str,
    context: dict[str, Any],
    *,
    locale: str,
    status_code: int = 200,
    headers: dict[str, str] | None = None,
) -> HTMLResponse:
    translations = i18n.translations(locale)
    values = {
        "request": request,
        "_": translations.gettext,
        "ngettext": translations.ngettext,
        "locale": locale,
        "locales": i18n.LOCALES,
        "fmt": Formats(locale),
        **context,
    }
    html = environment().get_template(template).render(values)
    return HTMLResponse(html, status_code=status_code, headers=headers)
