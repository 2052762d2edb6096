"""What one bounded context contributes to a process, returned by its `wire(container)`
(in the context's `wiring.py`); the runtime's registry joins them.

Routers are included in the order given, contexts in the runtime's order: a router whose
fixed paths (`/contacts/duplicates`) would be taken by another's parameter
(`/contacts/{id}`) comes first."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from fastapi import APIRouter

    from ventros.platform.consumers import Consumer
    from ventros.platform.ports import PortKey
    from ventros.platform.temporal import WorkerParts


@dataclass(frozen=True)
class Wiring:
    routers: Sequence[APIRouter] = ()  # under /api/v1
    root_routers: Sequence[APIRouter] = ()  # at the root (WAHA's signed webhooks)
    consumers: Sequence[Consumer] = ()
    # Built only by the process that runs the Temporal worker (they hold clients).
    worker_parts: Sequence[Callable[[], WorkerParts]] = ()
    # Ports this context provides to contexts it depends on (platform/ports.py).
    provides: Sequence[tuple[PortKey[Any], Any]] = ()
