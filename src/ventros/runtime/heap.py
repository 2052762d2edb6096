"""The garbage collector in a long-running server process.

A full collection walks every tracked object, and almost all of a server's were built at
start-up (modules, the app, the container, the Temporal worker) and live until it exits:
each walk is wasted, and it stops the event loop while it runs. Measured in `ventros run`
at 1,000 msg/s, full collections paused the API process for up to 390 ms (1.8 s in one
10-second run), and the webhook answers' p99 with them. So once a process has started, what
it holds is frozen (`gc.freeze`: never walked again), and young collections run every
10,000 allocations instead of every 700.
"""

from __future__ import annotations

import asyncio
import gc

YOUNG_THRESHOLD = 10_000
# Start-up ends in stages (pools filled, caches warmed, the Temporal worker's first tasks):
# frozen soon after the process starts, then once more when it surely has.
FREEZE_AFTER_SECONDS = (5.0, 30.0)

_settling: set[asyncio.Task[None]] = set()


def settle_after_startup() -> None:
    """Tunes the collector now and freezes the heap in the background (a running loop)."""
    _, older, oldest = gc.get_threshold()
    gc.set_threshold(YOUNG_THRESHOLD, older, oldest)
    task = asyncio.get_running_loop().create_task(_freeze_later(), name="heap-freeze")
    _settling.add(task)
    task.add_done_callback(_settling.discard)


async def _freeze_later() -> None:
    waited = 0.0
    for after in FREEZE_AFTER_SECONDS:
        await asyncio.sleep(after - waited)
        waited = after
        gc.collect()  # garbage now is not frozen with the rest
        gc.freeze()
