"""Analysis' part of the process: its routes, and the consumers of inbound messages (the
local analyzer; the tenant's optional LLM, with the container's secret box)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from ventros.platform.wiring import Wiring

if TYPE_CHECKING:
    from ventros.runtime.container import Container


def wire(container: Container) -> Wiring:
    from ventros.analysis.api import router
    from ventros.analysis.handlers import consumers
    from ventros.analysis.repository import verdicts_for
    from ventros.conversations.ports import MESSAGE_VERDICTS

    return Wiring(
        routers=[router],
        consumers=consumers(container.secret_box),
        provides=[(MESSAGE_VERDICTS, verdicts_for)],
    )
