"""Pipelines' part of the process: its routes, and the pipeline positions' move on a
contact merge."""

from __future__ import annotations

from typing import TYPE_CHECKING

from ventros.platform.wiring import Wiring

if TYPE_CHECKING:
    from ventros.runtime.container import Container


def wire(container: Container) -> Wiring:  # noqa: ARG001
    from ventros.contacts.ports import MOVE_PIPELINE_POSITIONS
    from ventros.pipelines.api import router
    from ventros.pipelines.service import move_contact_positions

    return Wiring(routers=[router], provides=[(MOVE_PIPELINE_POSITIONS, move_contact_positions)])
