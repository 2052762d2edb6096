"""Reading WAHA's loosely typed JSON: values of the wrong type count as absent."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any


def jid(value: str | None) -> str | None:
    """A chat id in WAHA's public form: `@s.whatsapp.net` becomes `@c.us`, device suffixes
    (`5511...:12@s.whatsapp.net`) go."""
    if not value:
        return None
    user, at, server = value.strip().partition("@")
    if not at:
        return value.strip() or None
    if server == "s.whatsapp.net":
        server = "c.us"
    if server in ("c.us", "lid"):
        user = user.split(":", 1)[0]
    return f"{user}@{server}"


def as_dict(value: object) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def as_str(value: object) -> str | None:
    return value if isinstance(value, str) and value else None


def as_int(value: object) -> int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, float):
        return int(value)
    if isinstance(value, str) and value.strip().isdigit():
        return int(value.strip())
    return None


def as_float(value: object) -> float | None:
    if isinstance(value, bool):
        return None
    try:
        number = float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return None
    return number if number == number and abs(number) != float("inf") else None


def error_text(value: object) -> str | None:
    if value is None or value is False:
        return None
    return value if isinstance(value, str) else str(value)


def from_seconds(value: object) -> datetime | None:
    if isinstance(value, bool) or not isinstance(value, int | float) or value <= 0:
        return None
    try:
        return datetime.fromtimestamp(value, UTC)
    except (OverflowError, OSError, ValueError):
        return None


def from_millis(value: object) -> datetime | None:
    if isinstance(value, bool) or not isinstance(value, int | float) or value <= 0:
        return None
    return from_seconds(value / 1000)
