"""What agents need from conversations, which depends on agents: an agent's load (their
open sessions), shown with the agent, and putting a deactivated agent's sessions back in
the queue."""

from __future__ import annotations

import uuid
from typing import Protocol

from ventros.platform.ports import PortKey
from ventros.platform.uow import UnitOfWork


class SessionLoad(Protocol):
    async def __call__(self, tx: UnitOfWork, agent_id: uuid.UUID) -> int: ...


SESSION_LOAD: PortKey[SessionLoad] = PortKey("agents.session_load")


class RequeueSessions(Protocol):
    """Puts an agent's open sessions back in the waiting queue; their ids."""

    async def __call__(
        self, tx: UnitOfWork, agent_id: uuid.UUID, *, reason: str
    ) -> list[uuid.UUID]: ...


REQUEUE_SESSIONS: PortKey[RequeueSessions] = PortKey("agents.requeue_sessions")
