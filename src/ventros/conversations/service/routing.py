"""Routing a new session to a team, and the session's service clock (issue 16).

`route_new_session` runs on `session.started` (handlers/lifecycle.py): the tenant's rules
(ventros.routing) pick the team and skills from the channel, the first message, the
contact's tags and source, and the team's business hours; the session keeps its team and
its SLA deadlines. Inside the team's hours it is assigned at once (within the team, by the
usual capacity and fairness); outside them the customer gets the hours' automatic reply,
once, and the session waits unassigned for the opening.

`tick` is what the session's `SessionServiceWorkflow` runs each time its timer fires: it
reads the session and does whatever is due now — assign at the opening, raise
`session.sla_warning` (80 %) / `session.sla_breached` (100 %), bring a snoozed session
back, nudge a silent customer, close as `no_reply` — and answers when it next needs to
look. No message signals the workflow: like the lifecycle, the clock lives in the row.

SLA targets: the strictest of the team's policy and the policies of the session's
conversation labels (routing.domain.strictest_targets); the deadlines always count from
the session's start, so a label put on later (whose `session.labeled` wakes the clock,
handlers/lifecycle.py) recomputes them rather than starting a second clock.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import select

from ventros.channels.waha_client import OutgoingContent
from ventros.contacts.service import contact_in
from ventros.conversations.domain import (
    CLOSE_NO_REPLY,
    Direction,
    MessageContent,
    MessageType,
    Session,
)
from ventros.conversations.repository import MessageRepository, SessionRepository
from ventros.conversations.repository.labels import LabelRepository
from ventros.conversations.repository.tables import messages, session_assignments
from ventros.conversations.service import assignment, sending
from ventros.identity.service import tenant_settings
from ventros.kernel.clock import utcnow
from ventros.kernel.errors import RuleViolation
from ventros.platform.uow import UnitOfWork
from ventros.routing import service as routes
from ventros.routing.domain import Route, SessionFacts, SlaTargets, sla_points

# A schedule or policy edit is picked up within this long (the workflow re-reads).
SLA_RECHECK_SECONDS = 900.0
# A customer's silence is noticed within min(nudge_after, this) of our last reply.
FOLLOW_UP_POLL_SECONDS = 60.0


@dataclass(frozen=True)
class Started:
    """What routing did with a new session; `watch`: its service workflow has work."""

    team_id: uuid.UUID | None
    assigned_to: uuid.UUID | None
    outside_hours: bool
    watch: bool


async def _first_message(tx: UnitOfWork, session_id: uuid.UUID) -> str:
    query = (
        select(messages.c.text, messages.c.caption)
        .where(messages.c.session_id == session_id, messages.c.direction == Direction.INBOUND.value)
        .order_by(messages.c.created_at, messages.c.id)
        .limit(1)
    )
    row = (await tx.connection.execute(query)).first()
    return (row.text or row.caption or "") if row else ""


async def _facts(tx: UnitOfWork, session: Session, at: datetime) -> SessionFacts:
    contact = await contact_in(tx, session.contact_id)
    return SessionFacts(
        channel_id=session.channel_id,
        first_message=await _first_message(tx, session.id),
        tags=tuple(contact.tags) if contact else (),
        source=contact.source if contact else None,
        at=at,
    )


async def _sla_targets(tx: UnitOfWork, session: Session, route: Route) -> SlaTargets | None:
    """The session's targets: its team's and its labels' policies, the strictest of each
    (the labels are read only when some policy names a label)."""
    if not route.has_label_policies:
        return route.sla()
    labels = await LabelRepository(tx).of_session(session.id)
    return route.sla(label.name for label in labels)


def _deadlines(
    session: Session, route: Route, targets: SlaTargets | None
) -> tuple[datetime | None, datetime | None]:
    """Counted from the session's start in the team's business time, whenever they are
    (re)computed: a later label or schedule edit moves them, it never restarts them."""
    if targets is None:
        return None, None
    hours, start = route.hours, session.started_at
    first = (
        hours.add(start, targets.first_response_seconds) if targets.first_response_seconds else None
    )
    resolution = (
        hours.add(start, targets.resolution_seconds) if targets.resolution_seconds else None
    )
    return first, resolution


async def _send_system_text(
    tx: UnitOfWork, session: Session, text: str, now: datetime
) -> uuid.UUID | None:
    """A text from Ventros itself into the session, through the normal outbound path (the
    sender consumer delivers its `message.sending`); None outside the 24 h window or with no
    chat to write to."""
    chat_id, last_inbound = await sending.inbound_facts(tx, session.contact_id, session.channel_id)
    if last_inbound is None or now - last_inbound > sending.WINDOW:
        return None
    if chat_id is None:
        contact = await contact_in(tx, session.contact_id)
        try:
            chat_id = sending.chat_id_of(contact) if contact is not None else None
        except RuleViolation:
            chat_id = None
    if chat_id is None:
        return None
    message = sending.compose(
        tenant_id=session.tenant_id,
        session=session,
        content=MessageContent(type=MessageType.TEXT, text=text),
        chat_id=chat_id,
        at=now,
        outgoing=OutgoingContent(type="text", text=text),
    )
    await MessageRepository(tx).add(message)
    session.record_outbound(now, by_person=False)  # an automatic message ends no wait
    return message.id


async def route_new_session(tx: UnitOfWork, session_id: uuid.UUID) -> Started:
    """Routes and, inside the team's hours, assigns a new session (when the tenant assigns
    automatically); outside them sends the automatic reply once and leaves it waiting."""
    session = await assignment.lock_session(tx, session_id)
    if session is None or not session.is_open:
        return Started(None, None, outside_hours=False, watch=False)
    now = utcnow()
    route = await routes.route(tx, lambda: _facts(tx, session, session.started_at))
    changed = False
    if route.team_id is not None and session.team_id is None:
        session.route_to(route.team_id, rule_id=route.rule_id, skills=list(route.required_skills))
        changed = True
    targets = await _sla_targets(tx, session, route)
    changed = session.set_sla_deadlines(*_deadlines(session, route, targets)) or changed
    if route.team_id is not None or route.required_skills:
        skills = list(route.required_skills)
        await assignment.set_routing(tx, session.id, team_id=route.team_id, skills=skills)
    outside = not route.hours.is_open(now)
    reply = route.hours.outside_hours_reply
    if outside and reply and session.auto_replied_at is None:
        message_id = await _send_system_text(tx, session, reply, now)
        if message_id is not None:
            session.record_auto_reply(message_id, at=now)
            changed = True
    if changed:  # most sessions: no rules, nothing to write
        await SessionRepository(tx).save(session)
    watch = outside or targets is not None or route.follow_up is not None
    if outside or not (await tenant_settings(tx)).auto_assign:
        return Started(route.team_id, None, outside_hours=outside, watch=watch)
    result = await assignment.assign_agent_to_session(tx, session.id)
    return Started(route.team_id, result.agent_id, outside_hours=False, watch=watch)


# --------------------------------------------------------------------------- the clock


class _Wake:
    def __init__(self) -> None:
        self.at: datetime | None = None

    def at_latest(self, when: datetime | None) -> None:
        if when is not None and (self.at is None or when < self.at):
            self.at = when


async def _waits_for_opening(tx: UnitOfWork, session: Session) -> bool:
    """Unassigned and not in the queue: routed outside hours, waiting for the opening."""
    if session.agent_id is not None:
        return False
    query = select(session_assignments.c.queued_at).where(
        session_assignments.c.session_id == session.id
    )
    return (await tx.connection.execute(query)).scalar() is None


async def _opening(
    tx: UnitOfWork, session: Session, route: Route, now: datetime, wake: _Wake
) -> None:
    if not await _waits_for_opening(tx, session) or not (await tenant_settings(tx)).auto_assign:
        return
    if route.hours.is_open(now):
        await SessionRepository(tx).save(session)
        await assignment.assign_agent_to_session(tx, session.id)
        refreshed = await SessionRepository(tx).get(session.id)
        if refreshed is not None:
            session.agent_id = refreshed.agent_id
    else:
        wake.at_latest(route.hours.next_opening(now))


def _sla(
    session: Session, route: Route, targets: SlaTargets | None, now: datetime, wake: _Wake
) -> None:
    if targets is None:
        # No policy applies (any more: a label taken off, a policy deleted). A session
        # already warned or breached keeps the deadlines it was judged by, so the report
        # still counts it among the sessions with an SLA.
        if not session.sla_raised:
            session.set_sla_deadlines(None, None)
        return
    session.set_sla_deadlines(*_deadlines(session, route, targets))
    pending = False
    for point in sla_points(targets, route.hours, session.started_at):
        if point.key in session.sla_raised:
            continue
        if point.kind == "first_response" and session.first_response_met:
            continue
        due = (
            session.first_response_due_at
            if point.kind == "first_response"
            else session.resolution_due_at
        )
        if point.at <= now:
            session.raise_sla(point.kind, point.level, due_at=due or point.at, at=now)
        else:
            wake.at_latest(point.at)
            pending = True
    if pending:  # a schedule edit may bring a point forward
        wake.at_latest(now + timedelta(seconds=SLA_RECHECK_SECONDS))


def _snooze(session: Session, now: datetime, wake: _Wake) -> None:
    if session.snoozed_until is None:
        return
    if session.snoozed_until <= now:
        session.unsnooze(reason="timer")
    else:
        wake.at_latest(session.snoozed_until)


async def _follow_up(
    tx: UnitOfWork, session: Session, route: Route, now: datetime, wake: _Wake
) -> bool:
    """Nudges or closes a silent customer's session; True when it closed it."""
    policy = route.follow_up
    if policy is None or session.is_snoozed_at(now):
        return False
    if session.nudged_after_last_inbound():
        assert session.follow_up_nudged_at is not None
        close_at = session.follow_up_nudged_at + timedelta(seconds=policy.close_after_seconds)
    else:
        silent = session.silent_since()
        if silent is None:
            poll = min(float(policy.nudge_after_seconds), FOLLOW_UP_POLL_SECONDS)
            wake.at_latest(now + timedelta(seconds=poll))
            return False
        nudge_at = silent + timedelta(seconds=policy.nudge_after_seconds)
        if nudge_at > now:
            wake.at_latest(nudge_at)
            return False
        message_id = await _send_system_text(tx, session, policy.nudge_text, now)
        if message_id is not None:
            session.record_follow_up(message_id, at=now)
            wake.at_latest(now + timedelta(seconds=policy.close_after_seconds))
            return False
        # Outside the 24 h window nothing may be sent: the session closes on time anyway.
        close_at = nudge_at + timedelta(seconds=policy.close_after_seconds)
    if close_at > now:
        wake.at_latest(close_at)
        return False
    session.close(CLOSE_NO_REPLY, at=now)
    await assignment.dequeue(tx, session.id)
    return True


async def tick(tx: UnitOfWork, session_id: uuid.UUID) -> datetime | None:
    """Does what is due for the session now; when to look next (None: nothing left)."""
    session = await assignment.lock_session(tx, session_id)
    if session is None or not session.is_open:
        return None
    now = utcnow()
    route = await routes.route_of_team(tx, session.team_id)
    wake = _Wake()
    _snooze(session, now, wake)
    await _opening(tx, session, route, now, wake)
    _sla(session, route, await _sla_targets(tx, session, route), now, wake)
    closed = await _follow_up(tx, session, route, now, wake)
    await SessionRepository(tx).save(session)
    return None if closed else wake.at


async def snooze(tx: UnitOfWork, session: Session, until: datetime) -> None:
    session.snooze(until, now=utcnow())
    await SessionRepository(tx).save(session)
