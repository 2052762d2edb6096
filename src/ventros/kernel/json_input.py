"""Limits on JSON that comes from outside: nesting depth and NUL characters.

PostgreSQL stores neither a NUL in text nor `\\u0000` in JSONB, and Python's recursive
JSON decoder dies (RecursionError) on deep nesting: both are refused at the edge instead
of failing later as a 500. The walk is iterative, so depth itself cannot overflow it.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

MAX_JSON_DEPTH = 64
NUL = "\x00"


class JsonTooDeep(ValueError):
    """The document nests objects and arrays deeper than allowed (or Python can parse)."""

    def __init__(self, limit: int = MAX_JSON_DEPTH) -> None:
        super().__init__(f"JSON nests deeper than {limit} levels")
        self.limit = limit


@dataclass(frozen=True, slots=True)
class NulFound:
    """Where a NUL character sits: the keys and indexes leading to the string."""

    location: tuple[str | int, ...]


def loads_bounded(text: str | bytes, *, max_depth: int = MAX_JSON_DEPTH, **kwargs: Any) -> Any:
    """`json.loads`, with `JsonTooDeep` instead of a RecursionError or a deep document.
    Other decoding errors are json's own ValueError."""
    try:
        document = json.loads(text, **kwargs)
    except RecursionError as error:
        raise JsonTooDeep(max_depth) from error
    check_depth(document, max_depth=max_depth)
    return document


def check_depth(document: Any, *, max_depth: int = MAX_JSON_DEPTH) -> None:
    stack: list[tuple[Any, int]] = [(document, 1)]
    while stack:
        value, depth = stack.pop()
        if isinstance(value, dict | list):
            if depth > max_depth:
                raise JsonTooDeep(max_depth)
            children = value.values() if isinstance(value, dict) else value
            stack.extend((child, depth + 1) for child in children)


def find_nul(document: Any) -> NulFound | None:
    """The first string (value or key) holding a NUL character, if any."""
    stack: list[tuple[Any, tuple[str | int, ...]]] = [(document, ())]
    while stack:
        value, location = stack.pop()
        if isinstance(value, str):
            if NUL in value:
                return NulFound(location)
        elif isinstance(value, dict):
            for key, child in value.items():
                if NUL in key:
                    return NulFound((*location, key))
                stack.append((child, (*location, key)))
        elif isinstance(value, list):
            stack.extend((child, (*location, index)) for index, child in enumerate(value))
    return None
