"""`session.closed` → ask the customer for a rating over WhatsApp (csat.py), when the tenant
has `csat_on_close` on. Runs in the consumer's unit of work: the question (a `pending`
message with `message.sending`, which the WhatsApp sender delivers), the request record and
the event's "handled" mark commit together."""

from __future__ import annotations

import uuid

from ventros.conversations import events
from ventros.conversations.service import csat
from ventros.kernel.events import DomainEvent
from ventros.platform.consumers import Consumer
from ventros.platform.uow import UnitOfWork

CONSUMER_NAME = "conversations.csat_on_close"


async def when_session_closed_ask_csat(event: DomainEvent, tx: UnitOfWork) -> None:
    session_id = uuid.UUID(str(event.payload.get("session_id") or event.aggregate_id))
    await csat.request_on_close(tx, session_id)


CONSUMERS = [Consumer(CONSUMER_NAME, (events.SESSION_CLOSED,), when_session_closed_ask_csat)]
