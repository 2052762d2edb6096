"""What contacts need from contexts that depend on contacts: merging moves the rows each
of them owns (sessions, trackings, pipeline positions) in the merge's unit of work."""

from __future__ import annotations

import uuid
from typing import Protocol

from ventros.platform.ports import PortKey
from ventros.platform.uow import UnitOfWork


class ContactRowsMover(Protocol):
    """Moves a context's rows of one contact to another; answers how many moved."""

    async def __call__(
        self, tx: UnitOfWork, *, from_contact_id: uuid.UUID, to_contact_id: uuid.UUID
    ) -> int: ...


MOVE_SESSIONS: PortKey[ContactRowsMover] = PortKey("contacts.move_sessions")
MOVE_TRACKINGS: PortKey[ContactRowsMover] = PortKey("contacts.move_trackings")
MOVE_PIPELINE_POSITIONS: PortKey[ContactRowsMover] = PortKey("contacts.move_pipeline_positions")
