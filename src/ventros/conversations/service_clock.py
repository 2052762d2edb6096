"""`SessionServiceWorkflow`: the session's service clock — the opening of its team's
business hours, its SLA points, its snooze, its follow-up (conversations/service/routing.py).

A workflow per session that needs one (id `session-service-<session>`), started on
`session.started` when the session has something to wait for, and by a snooze. It holds
ids only: each round one activity (`tick`) does what is due now and answers the next
moment to look; the workflow sleeps on a durable timer until then. Nothing signals it per
message: what it needs is read from the session row when the timer fires. A `wake`
signal (sent with the start, so a snooze reaches a running clock or starts a new one)
makes it look now. Worker and server restarts replay the history and carry on.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from temporalio import activity, workflow
from temporalio.common import RetryPolicy

with workflow.unsafe.imports_passed_through():
    import structlog

    from ventros.conversations.domain import Session
    from ventros.conversations.service import lifecycle, routing
    from ventros.identity.domain import Principal
    from ventros.kernel.events import Actor
    from ventros.platform.temporal import TemporalConnection, TemporalNotConfigured, WorkerParts
    from ventros.platform.uow import UnitOfWorkFactory

log = structlog.get_logger(__name__)

if TYPE_CHECKING:
    from temporalio.client import Client

    from ventros.runtime.container import Container

ACTIVITY_TIMEOUT = timedelta(seconds=30)
ACTIVITY_RETRY = RetryPolicy(
    initial_interval=timedelta(seconds=1),
    backoff_coefficient=2.0,
    maximum_interval=timedelta(minutes=1),
    maximum_attempts=0,  # until the database is back
)
SLACK_SECONDS = 0.05  # wake a little after the moment, so the database clock agrees
ROUNDS_PER_RUN = 500
DONE = "done"


@dataclass
class ServiceInput:
    tenant_id: str
    session_id: str

    @property
    def workflow_id(self) -> str:
        return workflow_id_of(self.session_id)


@dataclass
class NextLook:
    at: float | None  # unix seconds; None: nothing left to wait for


def workflow_id_of(session_id: object) -> str:
    return f"session-service-{session_id}"


class SessionServiceActivities:
    def __init__(self, uow: UnitOfWorkFactory) -> None:
        self._uow = uow

    @classmethod
    def build(cls, container: Container) -> SessionServiceActivities:
        return cls(container.uow)

    @activity.defn(name="session_service_tick")
    async def tick(self, params: ServiceInput) -> NextLook:
        """Does what is due for the session now; when to look again."""
        async with self._uow(uuid.UUID(params.tenant_id), Actor.system()) as tx:
            at = await routing.tick(tx, uuid.UUID(params.session_id))
            await tx.commit()
        return NextLook(at.timestamp() if at is not None else None)


@workflow.defn(name="SessionServiceWorkflow")
class SessionServiceWorkflow:
    def __init__(self) -> None:
        self._woken = False

    @workflow.run
    async def run(self, params: ServiceInput) -> str:
        for _ in range(ROUNDS_PER_RUN):
            self._woken = False
            look = await workflow.execute_activity_method(
                SessionServiceActivities.tick,
                params,
                start_to_close_timeout=ACTIVITY_TIMEOUT,
                retry_policy=ACTIVITY_RETRY,
            )
            if look.at is None and not self._woken:
                return DONE
            if look.at is None:
                continue
            wait = look.at - workflow.now().timestamp()
            if wait <= 0:
                continue
            try:
                await workflow.wait_condition(
                    lambda: self._woken, timeout=timedelta(seconds=wait + SLACK_SECONDS)
                )
            except TimeoutError:
                pass
        workflow.continue_as_new(params)

    @workflow.signal
    def wake(self) -> None:
        """Look now (a snooze, a routing change): not sent per message."""
        self._woken = True


async def wake_service(params: ServiceInput, *, client: Client, task_queue: str) -> None:
    """Signal-with-start: wakes the session's running clock, or starts a new one (also
    after an earlier one finished), so a redelivered event is harmless."""
    from temporalio.common import WorkflowIDReusePolicy

    await client.start_workflow(
        SessionServiceWorkflow.run,
        params,
        id=params.workflow_id,
        task_queue=task_queue,
        start_signal="wake",
        id_reuse_policy=WorkflowIDReusePolicy.ALLOW_DUPLICATE,
    )


def waker(temporal: TemporalConnection) -> Any:
    """`wake_service` bound to the process's Temporal (what the wiring hands out)."""

    async def wake(params: ServiceInput) -> None:
        await wake_service(params, client=await temporal.client(), task_queue=temporal.task_queue)

    return wake


async def snooze_session(
    uow: UnitOfWorkFactory,
    principal: Principal,
    session_id: uuid.UUID,
    *,
    until: datetime,
    temporal: TemporalConnection,
) -> Session:
    """SnoozeSession (the API's and the web app's): stores the snooze, then wakes the
    session's clock so it brings the session back at `until`. Without Temporal the inbox
    still hides it only until then; `session.unsnoozed` is not raised."""
    session = await lifecycle.snooze_session(uow, principal, session_id, until=until)
    try:
        await waker(temporal)(ServiceInput(str(principal.tenant_id), str(session_id)))
    except TemporalNotConfigured:
        log.warning("no Temporal: the snooze's return is not announced", session_id=str(session_id))
    return session


def worker_parts(container: Container) -> WorkerParts:
    """What the Temporal worker runs for session service clocks."""
    activities = SessionServiceActivities.build(container)
    return WorkerParts(workflows=[SessionServiceWorkflow], activities=[activities.tick])
