"""Conversations' reactions that drive the session lifecycle.

* `session.started` → routing to a team (service/routing.py), then automatic assignment
  within the team when the tenant has `auto_assign` on and the team is open; and the
  session's service clock (service_clock.py) when it has hours, an SLA or a follow-up;
* `agent.status_changed` (to available) and `session.closed` → serve the waiting queue;
* `session.labeled` / `session.unlabeled` with a label an SLA policy names → wake the
  session's service clock, which recomputes its deadlines from the session's start.

Inactivity timeouts need no reaction: one workflow sweeps overdue sessions (workflows.py).

Each runs in the consumer's unit of work for the event's tenant (platform.consumers), so
an assignment and the event record commit together; a redelivered event does nothing.
"""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable

import structlog

from ventros.agents.domain import AGENT_STATUS_CHANGED
from ventros.conversations import events
from ventros.conversations.repository import SessionRepository
from ventros.conversations.service import assignment, routing
from ventros.conversations.service_clock import ServiceInput
from ventros.identity.domain import AgentStatus
from ventros.identity.service import tenant_settings
from ventros.kernel.events import DomainEvent
from ventros.platform.consumers import Consumer
from ventros.platform.temporal import TemporalNotConfigured
from ventros.platform.uow import UnitOfWork
from ventros.routing import service as routes

log = structlog.get_logger(__name__)

# Wakes (or starts) a session's service clock; None: no clock (tests of assignment alone).
ServiceWaker = Callable[[ServiceInput], Awaitable[object]]


def _session_id(event: DomainEvent) -> uuid.UUID:
    return uuid.UUID(str(event.payload.get("session_id") or event.aggregate_id))


class WhenSessionStartedRouteAndAssign:
    """Routes the session to a team, assigns it (if the tenant assigns automatically and
    the team is open), and starts its service clock when it has something to wait for."""

    def __init__(self, wake: ServiceWaker | None = None) -> None:
        self._wake = wake

    async def __call__(self, event: DomainEvent, tx: UnitOfWork) -> None:
        started = await routing.route_new_session(tx, _session_id(event))
        if not started.watch or self._wake is None:
            return
        params = ServiceInput(str(event.tenant_id), str(_session_id(event)))
        try:
            await self._wake(params)
        except TemporalNotConfigured:
            log.warning(
                "no Temporal: SLA and follow-ups not scheduled", session_id=params.session_id
            )


when_session_started_assign_agent = WhenSessionStartedRouteAndAssign()


async def when_agent_available_or_session_closed_drain_queue(
    event: DomainEvent, tx: UnitOfWork
) -> None:
    """Someone may have room now: serve the waiting sessions, oldest first."""
    if event.name == AGENT_STATUS_CHANGED:
        if event.payload.get("status") != AgentStatus.AVAILABLE.value:
            return
    else:
        await assignment.dequeue(tx, _session_id(event))
    if (await tenant_settings(tx)).auto_assign:
        await assignment.drain_queue(tx)


class WhenSessionLabeledWakeServiceClock:
    """A label with an SLA policy changes the session's targets: its clock looks again now
    (a label change, not a message: the clock is still never signalled per message)."""

    def __init__(self, wake: ServiceWaker | None) -> None:
        self._wake = wake

    async def __call__(self, event: DomainEvent, tx: UnitOfWork) -> None:
        label = str(event.payload.get("label") or "")
        if self._wake is None or not label or not await routes.label_has_policy(tx, label):
            return
        session = await SessionRepository(tx).get(_session_id(event))
        if session is None or not session.is_open:
            return
        params = ServiceInput(str(event.tenant_id), str(session.id))
        try:
            await self._wake(params)
        except TemporalNotConfigured:
            log.warning("no Temporal: the label's SLA is not scheduled", session_id=str(session.id))


def assign_consumer(wake: ServiceWaker | None = None) -> Consumer:
    return Consumer(
        "conversations.auto_assign",
        (events.SESSION_STARTED,),
        WhenSessionStartedRouteAndAssign(wake),
    )


def sla_label_consumer(wake: ServiceWaker | None) -> Consumer:
    return Consumer(
        "conversations.sla_on_label",
        (events.SESSION_LABELED, events.SESSION_UNLABELED),
        WhenSessionLabeledWakeServiceClock(wake),
    )


ASSIGN = assign_consumer()
DRAIN = Consumer(
    "conversations.drain_assignment_queue",
    (AGENT_STATUS_CHANGED, events.SESSION_CLOSED),
    when_agent_available_or_session_closed_drain_queue,
)


def consumers(wake: ServiceWaker | None = None) -> list[Consumer]:
    return [assign_consumer(wake), DRAIN, sla_label_consumer(wake)]
