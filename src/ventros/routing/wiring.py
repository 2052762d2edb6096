"""Routing's part of the process: its routes. Conversations calls its service."""

from __future__ import annotations

from typing import TYPE_CHECKING

from ventros.platform.wiring import Wiring

if TYPE_CHECKING:
    from ventros.runtime.container import Container


def wire(container: Container) -> Wiring:  # noqa: ARG001
    from ventros.routing.api import router

    return Wiring(routers=[router])
