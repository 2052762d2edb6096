"""Identifiers: UUIDv7 (time-ordered, good for b-tree indexes and cursors) and typed ids."""

from __future__ import annotations

import os
import threading
import time
import uuid
from typing import NewType

TenantId = NewType("TenantId", uuid.UUID)
UserId = NewType("UserId", uuid.UUID)

_RAND_BITS = 74  # 12 bits rand_a + 62 bits rand_b
_lock = threading.Lock()
_last = (0, 0)


def new_id() -> uuid.UUID:
    """A UUIDv7 (RFC 9562), monotonic within this process.

    Ids minted in the same millisecond are ordered by incrementing the random part,
    so "newest first" lists and cursors never reorder rows created back to back.
    """
    global _last
    with _lock:
        millis = time.time_ns() // 1_000_000
        last_millis, last_rand = _last
        if millis <= last_millis:
            millis, rand = last_millis, last_rand + 1
            if rand >> _RAND_BITS:
                millis, rand = last_millis + 1, _random_bits()
        else:
            rand = _random_bits()
        _last = (millis, rand)
    return _uuid7(millis, rand)


def _random_bits() -> int:
    # Leave headroom so increments within one millisecond rarely overflow.
    return int.from_bytes(os.urandom(10), "big") >> (80 - _RAND_BITS + 1)


def _uuid7(millis: int, rand: int) -> uuid.UUID:
    rand_a = (rand >> 62) & 0xFFF
    rand_b = rand & ((1 << 62) - 1)
    value = (millis & ((1 << 48) - 1)) << 80
    value |= 0x7 << 76
    value |= rand_a << 64
    value |= 0b10 << 62
    value |= rand_b
    return uuid.UUID(int=value)
