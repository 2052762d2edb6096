"""What agents need from conversations, which depends on agents: an agent's load (their
open sessions), shown with the agent."""

from __future__ import annotations

import uuid
from typing import Protocol

from ventros.platform.ports import PortKey
from ventros.platform.uow import UnitOfWork


class SessionLoad(Protocol):
    async def __call__(self, tx: UnitOfWork, agent_id: uuid.UUID) -> int: ...


SESSION_LOAD: PortKey[SessionLoad] = PortKey("agents.session_load")
