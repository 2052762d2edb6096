"""docs/api.md cannot drift from the API: it lists every endpoint of `/openapi.json`,
lists none that does not exist, and names every event the code raises."""

from __future__ import annotations

import importlib
import re
from pathlib import Path

import pytest

from tests.conftest import make_settings
from ventros.runtime.container import bootstrap
from ventros.runtime.http import create_app

GUIDE = Path(__file__).resolve().parents[2] / "docs" / "api.md"
METHODS = ("GET", "POST", "PUT", "PATCH", "DELETE")
# An endpoint in the guide: `METHOD /path` in backticks (a query string may follow).
MENTION = re.compile(r"`(" + "|".join(METHODS) + r") (/[^`?\s]*)")
EVENT_MODULES = (
    "contacts",
    "conversations",
    "channels",
    "pipelines",
    "tracking",
    "webhooks",
    "agents",
    "identity",
    "replies",
)


def _shape(path: str) -> str:
    """Path parameters compare by position, not by name."""
    return re.sub(r"\{[^}]*\}", "{}", path.rstrip("/") or "/")


def _served() -> dict[tuple[str, str], str]:
    app = create_app(bootstrap(make_settings(), database_url="postgresql://docs@127.0.0.1:1/x"))
    return {
        (method.upper(), _shape(path)): f"{method.upper()} {path}"
        for path, operations in app.openapi()["paths"].items()
        for method in operations
        if method.upper() in METHODS
    }


def _documented() -> dict[tuple[str, str], str]:
    return {
        (method, _shape(path)): f"{method} {path}"
        for method, path in MENTION.findall(GUIDE.read_text(encoding="utf-8"))
    }


@pytest.fixture(scope="module")
def served() -> dict[tuple[str, str], str]:
    return _served()


def test_every_endpoint_served_is_in_the_guide(served: dict[tuple[str, str], str]) -> None:
    missing = sorted(served[key] for key in served.keys() - _documented().keys())
    assert not missing, (
        "docs/api.md does not describe these endpoints of /openapi.json; add a line "
        "`METHOD /path` for each:\n  " + "\n  ".join(missing)
    )


def test_every_endpoint_in_the_guide_is_served(served: dict[tuple[str, str], str]) -> None:
    documented = _documented()
    unknown = sorted(documented[key] for key in documented.keys() - served.keys())
    assert not unknown, (
        "docs/api.md describes endpoints that /openapi.json does not have (removed or "
        "renamed?):\n  " + "\n  ".join(unknown)
    )


def test_every_event_name_is_in_the_guide() -> None:
    text = GUIDE.read_text(encoding="utf-8")
    names = set()
    for context in EVENT_MODULES:
        try:
            module = importlib.import_module(f"ventros.{context}.events")
        except ModuleNotFoundError:
            continue
        names |= {
            value
            for key, value in vars(module).items()
            if key.isupper() and isinstance(value, str) and re.fullmatch(r"[a-z_]+\.[a-z_]+", value)
        }
    assert names, "no event names found"
    missing = sorted(name for name in names if name not in text)
    assert not missing, f"docs/api.md does not name these events: {missing}"


def test_the_guide_says_how_errors_pages_limits_keys_webhooks_and_streams_work() -> None:
    text = GUIDE.read_text(encoding="utf-8")
    for topic in (
        "application/problem+json",
        "next_cursor",
        "Retry-After",
        "Idempotency-Key",
        "X-Ventros-Signature",
        "Last-Event-ID",
    ):
        assert topic in text, topic
