"""A server process freezes what it built at start-up, so full collections stop walking it."""

from __future__ import annotations

import asyncio
import gc

import pytest

from ventros.runtime import heap


async def test_a_started_process_freezes_its_heap_and_collects_young_objects_less_often(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    threshold = gc.get_threshold()
    monkeypatch.setattr(heap, "FREEZE_AFTER_SECONDS", (0.01, 0.02))
    gc.unfreeze()
    try:
        heap.settle_after_startup()
        assert gc.get_threshold()[0] == heap.YOUNG_THRESHOLD
        assert gc.get_freeze_count() == 0  # not before start-up has had its moment
        await asyncio.gather(*heap._settling)
        assert gc.get_freeze_count() > 1000
    finally:
        gc.unfreeze()
        gc.set_threshold(*threshold)
