"""CSAT over WhatsApp: a rating question when a session closes, the customer's 1-5 answer.

When a session closes and the tenant has `csat_on_close` on, `request_on_close` (run by the
`session.closed` consumer, handlers/csat.py) writes the question into the closed session as
an outbound text, through `sending.compose` (so the WhatsApp sender delivers it like any
other message) — but only inside the 24 h window (the customer wrote in the last 24 hours);
otherwise, or when the session was merged, its channel deleted, or it is rated already, it
records the request as `skipped` with the reason. The request remembers the agent assigned
at close.

The ingest routes a customer's next message through `answer`: a lone 1-5 (`5`, `5!`,
`4 estrelas`, `3️⃣`) while a request is pending and the contact has no open session on that
channel becomes the closed session's CSAT (`session.csat_recorded`, with that agent), and
the message is stored in the closed session. Anything else is an ordinary message: it opens
a new session, and the request stays unanswered (a newer request supersedes it).
"""

from __future__ import annotations

import re
import uuid
from datetime import datetime, timedelta

from sqlalchemy import select, update
from sqlalchemy.dialects.postgresql import insert

from ventros.channels.waha_client import OutgoingContent
from ventros.contacts.service import contact_in
from ventros.conversations.domain import (
    CLOSE_CHANNEL_DELETED,
    CLOSE_MERGED,
    MessageContent,
    MessageType,
    Session,
)
from ventros.conversations.repository import MessageRepository, SessionRepository
from ventros.conversations.repository.tables import session_csat_requests
from ventros.conversations.service import sending
from ventros.identity.service import tenant_settings
from ventros.kernel.clock import utcnow
from ventros.kernel.errors import RuleViolation
from ventros.platform.uow import UnitOfWork

ANSWER_WINDOW = timedelta(hours=24)  # how long a question waits for its answer

PENDING = "pending"
ANSWERED = "answered"
SKIPPED = "skipped"
SUPERSEDED = "superseded"

SKIP_OUTSIDE_WINDOW = "outside_24h_window"
SKIP_NO_CUSTOMER_MESSAGE = "no_customer_message"
SKIP_MERGED = "session_merged"
SKIP_CHANNEL_DELETED = "channel_deleted"
SKIP_RATED = "already_rated"
SKIP_NO_CHAT = "no_whatsapp_chat"

CSAT_REQUESTED = "session.csat_requested"
CSAT_SKIPPED = "session.csat_skipped"

_RATING = re.compile(
    r"^\s*(?:nota\s*)?([1-5])\s*(?:\ufe0f?\u20e3)?\s*(?:estrelas?|stars?|⭐+)?\s*[.!]*\s*$",
    re.IGNORECASE,
)


def parse_rating(text: str | None) -> int | None:
    """The 1-5 score a reply is, or None when it is something else."""
    if not text or len(text) > 40:
        return None
    found = _RATING.match(text)
    return int(found.group(1)) if found else None


def _refs(session: Session) -> dict[str, object]:
    return {
        "session_id": str(session.id),
        "contact_id": str(session.contact_id),
        "channel_id": str(session.channel_id),
        "agent_id": str(session.agent_id) if session.agent_id else None,
    }


async def _record(
    tx: UnitOfWork,
    session: Session,
    *,
    status: str,
    at: datetime,
    reason: str | None = None,
    message_id: uuid.UUID | None = None,
) -> bool:
    """The request row (once per session); False if there was one already."""
    statement = (
        insert(session_csat_requests)
        .values(
            session_id=session.id,
            tenant_id=session.tenant_id,
            contact_id=session.contact_id,
            channel_id=session.channel_id,
            agent_id=session.agent_id,
            status=status,
            reason=reason,
            message_id=message_id,
            requested_at=at,
        )
        .on_conflict_do_nothing(index_elements=[session_csat_requests.c.session_id])
        .returning(session_csat_requests.c.session_id)
    )
    return (await tx.connection.execute(statement)).first() is not None


async def _skip(tx: UnitOfWork, session: Session, reason: str, at: datetime) -> str:
    if await _record(tx, session, status=SKIPPED, at=at, reason=reason):
        session.record(CSAT_SKIPPED, {**_refs(session), "reason": reason})
        await SessionRepository(tx).save(session)
    return f"{SKIPPED}: {reason}"


async def request_on_close(tx: UnitOfWork, session_id: uuid.UUID) -> str:
    """Asks the customer of a closed session for a rating, or records why not. Returns what
    it did. Idempotent: a session is asked at most once."""
    settings = await tenant_settings(tx)
    if not settings.csat_on_close:
        return "off"
    question = settings.csat_question
    session = await SessionRepository(tx).get(session_id)
    if session is None or session.is_open:
        return "not closed"
    existing = await tx.connection.execute(
        select(session_csat_requests.c.status).where(
            session_csat_requests.c.session_id == session_id
        )
    )
    if existing.first() is not None:
        return "done before"
    now = utcnow()
    if session.csat_score is not None:
        return await _skip(tx, session, SKIP_RATED, now)
    if session.close_reason == CLOSE_MERGED:
        return await _skip(tx, session, SKIP_MERGED, now)
    if session.close_reason == CLOSE_CHANNEL_DELETED:
        return await _skip(tx, session, SKIP_CHANNEL_DELETED, now)
    chat_id, last_inbound = await sending.inbound_facts(tx, session.contact_id, session.channel_id)
    if last_inbound is None:
        return await _skip(tx, session, SKIP_NO_CUSTOMER_MESSAGE, now)
    if now - last_inbound > sending.WINDOW:
        return await _skip(tx, session, SKIP_OUTSIDE_WINDOW, now)
    if chat_id is None:
        contact = await contact_in(tx, session.contact_id)
        try:
            chat_id = sending.chat_id_of(contact) if contact is not None else None
        except RuleViolation:
            chat_id = None
    if chat_id is None:
        return await _skip(tx, session, SKIP_NO_CHAT, now)
    message = sending.compose(
        tenant_id=session.tenant_id,
        session=session,
        content=MessageContent(type=MessageType.TEXT, text=question),
        chat_id=chat_id,
        at=now,
        outgoing=OutgoingContent(type="text", text=question),
    )
    # An older question still waiting is no longer the one an answer is for.
    await tx.connection.execute(
        update(session_csat_requests)
        .where(
            session_csat_requests.c.contact_id == session.contact_id,
            session_csat_requests.c.channel_id == session.channel_id,
            session_csat_requests.c.status == PENDING,
        )
        .values(status=SUPERSEDED)
    )
    await _record(tx, session, status=PENDING, at=now, message_id=message.id)
    await MessageRepository(tx).add(message)
    session.record(CSAT_REQUESTED, {**_refs(session), "message_id": str(message.id)})
    await SessionRepository(tx).save(session)
    return PENDING


async def answer(
    tx: UnitOfWork, *, contact_id: uuid.UUID, channel_id: uuid.UUID, score: int, at: datetime
) -> Session | None:
    """Records `score` as the CSAT of the session whose question is pending for this contact
    on this channel (asked within ANSWER_WINDOW before `at`); returns that closed session,
    or None when no question waits (the reply is then an ordinary message). The caller
    checks that the contact has no open session on the channel."""
    query = (
        select(session_csat_requests.c.session_id)
        .where(
            session_csat_requests.c.contact_id == contact_id,
            session_csat_requests.c.channel_id == channel_id,
            session_csat_requests.c.status == PENDING,
            session_csat_requests.c.requested_at > at - ANSWER_WINDOW,
        )
        .order_by(session_csat_requests.c.requested_at.desc())
        .limit(1)
        .with_for_update()
    )
    session_id = (await tx.connection.execute(query)).scalar()
    if session_id is None:
        return None
    repo = SessionRepository(tx)
    session = await repo.get(session_id)
    if session is None or session.is_open or session.csat_score is not None:
        return None
    session.record_csat(score)  # `session.csat_recorded`, with the agent assigned at close
    await repo.save(session)
    await tx.connection.execute(
        update(session_csat_requests)
        .where(session_csat_requests.c.session_id == session_id)
        .values(status=ANSWERED, score=score, answered_at=at)
    )
    return session
