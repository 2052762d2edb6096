"""Channels' part of the process: the channel routes and WAHA's webhook at the root."""

from __future__ import annotations

from typing import TYPE_CHECKING

from ventros.platform.wiring import Wiring

if TYPE_CHECKING:
    from ventros.runtime.container import Container


def wire(container: Container) -> Wiring:  # noqa: ARG001
    from ventros.channels.api import router, webhook_router

    return Wiring(routers=[router], root_routers=[webhook_router])
