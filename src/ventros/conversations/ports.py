"""What conversations shows from contexts that depend on it: a message's analysis (the
analysis context reads messages, so conversations cannot import it)."""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Literal, Protocol

from ventros.platform.ports import PortKey
from ventros.platform.uow import UnitOfWorkFactory


@dataclass(frozen=True)
class MessageVerdict:
    """A message's analysis as the message API shows it."""

    sentiment: Literal["positive", "neutral", "negative"]
    score: float
    language: str | None
    intents: tuple[str, ...]
    transcript: str | None


class MessageVerdicts(Protocol):
    async def __call__(
        self, uow: UnitOfWorkFactory, tenant_id: uuid.UUID, message_ids: Iterable[uuid.UUID]
    ) -> dict[uuid.UUID, MessageVerdict]: ...


MESSAGE_VERDICTS: PortKey[MessageVerdicts] = PortKey("conversations.message_verdicts")
