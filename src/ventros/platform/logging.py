"""Log hygiene: a structlog processor that keeps secrets and message bodies out of logs.

Tokens, passwords, API keys, secrets and Authorization headers are always masked.
Message bodies (`text`, `body`, `caption` ...) are masked at info level and below, so a
debug session may opt in by raising nothing but the level of the one record it needs.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, MutableMapping
from typing import Any

REDACTED = "[redacted]"

# Keys whose values are credentials, matched on the normalised key (lowercase, no -/_).
_SECRET_KEY = re.compile(
    r"(pass(word|wd)?|secret|token|apikey|authorization|cookie|credential|privatekey|"
    r"signature|sealed|session(id|key))",
)
# Keys whose values are what people wrote: message bodies and attachments' text.
_BODY_KEYS = frozenset(
    {"text", "body", "caption", "content", "message", "vcard", "vcards", "comment", "csatcomment"}
)
# Credentials inside free text: "Bearer eyJ...", "password=...", "api_key: ...".
_INLINE_SECRET = re.compile(
    r"(?i)(bearer\s+)[A-Za-z0-9._~+/=-]+|"
    r"((?:pass(?:word)?|secret|token|api[_-]?key)\s*[=:]\s*)[^\s,;&]+"
)
# Levels at which message bodies are masked (structlog's `method_name`).
_BODY_LEVELS = frozenset({"debug", "info", "msg", "log", "notset"})
_MAX_DEPTH = 6


def _normal(key: str) -> str:
    return key.lower().replace("_", "").replace("-", "")


def _mask_inline(value: str) -> str:
    return _INLINE_SECRET.sub(lambda m: (m.group(1) or m.group(2) or "") + REDACTED, value)


def _redact(value: Any, *, bodies: bool, depth: int = 0) -> Any:
    if depth > _MAX_DEPTH:
        return value
    if isinstance(value, Mapping):
        out: dict[Any, Any] = {}
        for key, item in value.items():
            name = _normal(str(key))
            if _SECRET_KEY.search(name) or (bodies and name in _BODY_KEYS):
                out[key] = REDACTED if item not in (None, "") else item
            else:
                out[key] = _redact(item, bodies=bodies, depth=depth + 1)
        return out
    if isinstance(value, list | tuple):
        return type(value)(_redact(item, bodies=bodies, depth=depth + 1) for item in value)
    if isinstance(value, str):
        return _mask_inline(value)
    return value


def redact_sensitive(
    _logger: Any, method_name: str, event_dict: MutableMapping[str, Any]
) -> MutableMapping[str, Any]:
    """structlog processor: mask credentials always, message bodies at info and below."""
    level = str(event_dict.get("level", method_name)).lower()
    bodies = level in _BODY_LEVELS or method_name in _BODY_LEVELS
    for key in list(event_dict):
        value = event_dict[key]
        name = _normal(str(key))
        if key == "event":
            if isinstance(value, str):
                event_dict[key] = _mask_inline(value)
            continue
        if _SECRET_KEY.search(name) or (bodies and name in _BODY_KEYS):
            if value not in (None, ""):
                event_dict[key] = REDACTED
        else:
            event_dict[key] = _redact(value, bodies=bodies)
    return event_dict
