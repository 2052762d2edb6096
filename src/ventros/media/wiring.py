"""Media's part of the process: uploads and kept files, and the consumer that copies a
customer's media from WAHA before WAHA deletes it."""

from __future__ import annotations

from typing import TYPE_CHECKING

from ventros.platform.wiring import Wiring

if TYPE_CHECKING:
    from ventros.runtime.container import Container


def wire(container: Container) -> Wiring:
    from ventros.media.api import router
    from ventros.media.handlers import consumers, deps_for

    return Wiring(
        routers=[router],
        consumers=consumers(deps_for(container.settings, container.secret_box)),
    )
