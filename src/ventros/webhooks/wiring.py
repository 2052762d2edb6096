"""Webhooks' part of the process: routes, the fan-out consumers on the container's
Temporal, and the delivery workflow."""

from __future__ import annotations

from functools import partial
from typing import TYPE_CHECKING

from ventros.platform.wiring import Wiring

if TYPE_CHECKING:
    from ventros.runtime.container import Container


def wire(container: Container) -> Wiring:
    from ventros.webhooks import handlers, workflows
    from ventros.webhooks.api import router

    return Wiring(
        routers=[router],
        consumers=handlers.consumers(workflows.start_delivery.on(container.temporal)),
        worker_parts=[partial(workflows.worker_parts, container)],
    )
