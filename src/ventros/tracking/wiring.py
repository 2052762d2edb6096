"""Tracking's part of the process: routes, the enrichment and conversion consumers on the
container's Temporal, and their workflows."""

from __future__ import annotations

from functools import partial
from typing import TYPE_CHECKING

from ventros.platform.wiring import Wiring

if TYPE_CHECKING:
    from ventros.runtime.container import Container


def wire(container: Container) -> Wiring:
    from ventros.contacts.ports import MOVE_TRACKINGS
    from ventros.tracking import handlers, service, workflows
    from ventros.tracking.api import ads
    from ventros.tracking.api import router as tracking_router

    return Wiring(
        routers=[tracking_router, ads.router],
        consumers=handlers.consumers(
            workflows.start_enrichment.on(container.temporal),
            workflows.start_conversion.on(container.temporal),
        ),
        provides=[(MOVE_TRACKINGS, service.move_contact_trackings)],
        worker_parts=[partial(workflows.worker_parts, container)],
    )
