"""Conversations' reactions that drive the session lifecycle.

* `session.started` → start the session's `SessionLifecycleWorkflow` (idempotent by id);
* `session.started` → automatic assignment, when the tenant has `auto_assign` on;
* `agent.status_changed` (to available) and `session.closed` → serve the waiting queue.

Each runs in the consumer's unit of work for the event's tenant (platform.consumers), so
an assignment and the event record commit together; a redelivered event does nothing.
"""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable

import structlog

from ventros.agents.domain import AGENT_STATUS_CHANGED
from ventros.conversations import events
from ventros.conversations.service import assignment
from ventros.conversations.workflows import LifecycleInput
from ventros.identity.domain import AgentStatus
from ventros.identity.service import tenant_settings
from ventros.kernel.events import DomainEvent
from ventros.platform.consumers import Consumer
from ventros.platform.temporal import TemporalNotConfigured
from ventros.platform.uow import UnitOfWork

log = structlog.get_logger(__name__)

# Starts one lifecycle workflow (idempotently): the wiring binds it to the process's
# Temporal; tests to their own client and task queue.
LifecycleStarter = Callable[[LifecycleInput], Awaitable[object]]


def _session_id(event: DomainEvent) -> uuid.UUID:
    return uuid.UUID(str(event.payload.get("session_id") or event.aggregate_id))


class WhenSessionStartedStartLifecycle:
    def __init__(self, start: LifecycleStarter) -> None:
        self._start = start

    async def __call__(self, event: DomainEvent, tx: UnitOfWork) -> None:  # noqa: ARG002
        params = LifecycleInput(str(event.tenant_id), str(_session_id(event)))
        try:
            await self._start(params)
        except TemporalNotConfigured:
            # Without Temporal the ingest still closes stale sessions on their next message.
            log.warning("no Temporal: session timeout not scheduled", session_id=params.session_id)


async def when_session_started_assign_agent(event: DomainEvent, tx: UnitOfWork) -> None:
    """AssignAgentToSession, if the tenant assigns automatically."""
    if not (await tenant_settings(tx)).auto_assign:
        return
    await assignment.assign_agent_to_session(tx, _session_id(event))


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


def lifecycle_consumer(start: LifecycleStarter) -> Consumer:
    return Consumer(
        "conversations.start_session_lifecycle",
        (events.SESSION_STARTED,),
        WhenSessionStartedStartLifecycle(start),
    )


ASSIGN = Consumer(
    "conversations.auto_assign", (events.SESSION_STARTED,), when_session_started_assign_agent
)
DRAIN = Consumer(
    "conversations.drain_assignment_queue",
    (AGENT_STATUS_CHANGED, events.SESSION_CLOSED),
    when_agent_available_or_session_closed_drain_queue,
)


def consumers(start: LifecycleStarter) -> list[Consumer]:
    return [lifecycle_consumer(start), ASSIGN, DRAIN]
