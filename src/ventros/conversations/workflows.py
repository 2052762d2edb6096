"""Session inactivity timeouts: `SessionTimeoutsWorkflow`, one per task queue, closes every
session that has been idle for its tenant's `session_timeout_seconds`.

Each round an activity asks PostgreSQL for the open sessions whose inactivity clock ran out
(`Session.idle_from` + the tenant's timeout, on a partial index, every tenant at once) and
closes them with reason `timeout` — re-checking under the row lock, so a message that lands
meanwhile keeps its session open — then the workflow sleeps a second on a durable timer.
Nothing is signalled per message and nothing is started per session: the deadline lives in
the session row, and a session closes within about a second of it. The worker starts the
workflow when it starts (id `session-timeouts-<task queue>`, the running one reused);
worker or server restarts replay the history and carry on; it continues-as-new every few
hundred rounds to bound its history.

Why not a workflow per session (`SessionLifecycleWorkflow`, below, the first design): each
cost the Temporal dev server about 20 ms of CPU to start, run its activity and arm its timer,
and the worker 8 ms to instantiate — a click-to-WhatsApp campaign of 200 new customers a
second needed more than this machine's two cores for timers alone (bench/RESULTS.md, issue
18). The per-session workflow stays registered so runs started before the change finish.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from typing import TYPE_CHECKING

from temporalio import activity, workflow
from temporalio.common import RetryPolicy

with workflow.unsafe.imports_passed_through():
    import ventros.conversations.service.lifecycle as lifecycle
    from ventros.conversations.repository import SessionRepository
    from ventros.identity.service import tenant_settings
    from ventros.kernel.events import Actor
    from ventros.platform.temporal import OnceStarter, WorkerParts
    from ventros.platform.uow import UnitOfWork, UnitOfWorkFactory

if TYPE_CHECKING:
    from temporalio.client import Client

    from ventros.runtime.container import Container

ACTIVITY_TIMEOUT = timedelta(seconds=30)
ACTIVITY_RETRY = RetryPolicy(
    initial_interval=timedelta(seconds=1),
    backoff_coefficient=2.0,
    maximum_interval=timedelta(minutes=1),
    maximum_attempts=0,  # until the database is back: a session must not stay open forever
)
# Timers fire a little after the deadline, so the database clock agrees it has passed.
SLACK_SECONDS = 0.05
ROUNDS_PER_RUN = 500

DONE_TIMEOUT = "timeout"
DONE_CLOSED = "closed"  # closed by someone else (agent, merge, channel deleted)
DONE_SIGNALLED = "closed_by_signal"


@dataclass
class LifecycleInput:
    tenant_id: str
    session_id: str

    @property
    def workflow_id(self) -> str:
        return workflow_id_of(self.session_id)


@dataclass
class SessionState:
    open: bool
    deadline: float  # unix seconds: Session.idle_deadline
    timeout_seconds: int


@dataclass
class CloseInput:
    tenant_id: str
    session_id: str
    reason: str | None  # None: close for inactivity, if still idle
    timeout_seconds: int = 0


def workflow_id_of(session_id: object) -> str:
    return f"session-lifecycle-{session_id}"


class SessionLifecycleActivities:
    def __init__(self, uow: UnitOfWorkFactory) -> None:
        self._uow = uow

    @classmethod
    def build(cls, container: Container) -> SessionLifecycleActivities:
        return cls(container.uow)

    @activity.defn(name="session_lifecycle_read")
    async def read(self, params: LifecycleInput) -> SessionState:
        """Whether the session is open, and when it times out as things stand."""
        async with self._uow(uuid.UUID(params.tenant_id), Actor.system()) as tx:
            session = await SessionRepository(tx).get(uuid.UUID(params.session_id))
            settings = await tenant_settings(tx)
        timeout = settings.session_timeout_seconds
        if session is None or not session.is_open:
            return SessionState(False, 0.0, timeout)
        return SessionState(True, session.idle_deadline(timeout).timestamp(), timeout)

    @activity.defn(name="session_lifecycle_close")
    async def close(self, params: CloseInput) -> bool:
        """Closes the session (reason `timeout` only if it is still idle); True if closed."""
        async with self._uow(uuid.UUID(params.tenant_id), Actor.system()) as tx:
            session_id = uuid.UUID(params.session_id)
            if params.reason is None:
                closed = await lifecycle.close_if_idle(
                    tx, session_id, timeout_seconds=params.timeout_seconds
                )
            else:
                closed = await lifecycle.close_by_system(tx, session_id, params.reason)
            await tx.commit()
        return closed


@workflow.defn(name="SessionLifecycleWorkflow")
class SessionLifecycleWorkflow:
    def __init__(self) -> None:
        self._nudged = False
        self._close_reason: str | None = None

    @workflow.run
    async def run(self, params: LifecycleInput) -> str:
        for _ in range(ROUNDS_PER_RUN):
            if self._close_reason is not None:
                await self._close(params, self._close_reason, 0)
                return DONE_SIGNALLED
            state = await workflow.execute_activity_method(
                SessionLifecycleActivities.read,
                params,
                start_to_close_timeout=ACTIVITY_TIMEOUT,
                retry_policy=ACTIVITY_RETRY,
            )
            if not state.open:
                return DONE_CLOSED
            wait = state.deadline - workflow.now().timestamp()
            if wait <= 0:
                if await self._close(params, None, state.timeout_seconds):
                    return DONE_TIMEOUT
                continue  # a message moved the deadline meanwhile
            self._nudged = False
            try:
                await workflow.wait_condition(
                    lambda: self._nudged or self._close_reason is not None,
                    timeout=timedelta(seconds=wait + SLACK_SECONDS),
                )
            except TimeoutError:
                pass
        workflow.continue_as_new(params)

    async def _close(
        self, params: LifecycleInput, reason: str | None, timeout_seconds: int
    ) -> bool:
        return await workflow.execute_activity_method(
            SessionLifecycleActivities.close,
            CloseInput(params.tenant_id, params.session_id, reason, timeout_seconds),
            start_to_close_timeout=ACTIVITY_TIMEOUT,
            retry_policy=ACTIVITY_RETRY,
        )

    @workflow.signal
    def new_message(self) -> None:
        """Re-read the session now (optional: the deadline is read from the session)."""
        self._nudged = True

    @workflow.signal
    def close_session(self, reason: str) -> None:
        self._close_reason = reason or lifecycle.CLOSE_BY_AGENT


start_lifecycle = OnceStarter[LifecycleInput](SessionLifecycleWorkflow.run)

SWEEP_EVERY = timedelta(seconds=1)
SWEEP_LIMIT = 500  # sessions closed per round; a full round sweeps again at once


class SessionTimeoutActivities:
    def __init__(
        self, system_uow: Callable[[uuid.UUID], UnitOfWork], uow: UnitOfWorkFactory
    ) -> None:
        self._system_uow = system_uow
        self._uow = uow

    @activity.defn(name="session_timeouts_sweep")
    async def sweep(self) -> int:
        """Closes the sessions past their timeout; how many were due."""
        return await lifecycle.close_overdue_sessions(
            self._system_uow, self._uow, limit=SWEEP_LIMIT
        )


@workflow.defn(name="SessionTimeoutsWorkflow")
class SessionTimeoutsWorkflow:
    @workflow.run
    async def run(self) -> None:
        for _ in range(ROUNDS_PER_RUN):
            due = await workflow.execute_activity_method(
                SessionTimeoutActivities.sweep,
                start_to_close_timeout=ACTIVITY_TIMEOUT,
                retry_policy=ACTIVITY_RETRY,
            )
            if due < SWEEP_LIMIT:
                await workflow.sleep(SWEEP_EVERY)
        workflow.continue_as_new()


def timeouts_workflow_id(task_queue: str) -> str:
    return f"session-timeouts-{task_queue}"


async def start_session_timeouts(client: Client, task_queue: str) -> None:
    """Starts the sweep on this queue unless it runs already (every worker calls this)."""
    from temporalio.common import WorkflowIDConflictPolicy

    await client.start_workflow(
        SessionTimeoutsWorkflow.run,
        id=timeouts_workflow_id(task_queue),
        task_queue=task_queue,
        id_conflict_policy=WorkflowIDConflictPolicy.USE_EXISTING,
    )


def worker_parts(container: Container) -> WorkerParts:
    """What the Temporal worker (platform.temporal) runs for session timeouts."""
    lifecycle_activities = SessionLifecycleActivities.build(container)
    timeouts = SessionTimeoutActivities(container.system_uow, container.uow)
    return WorkerParts(
        workflows=[SessionTimeoutsWorkflow, SessionLifecycleWorkflow],
        activities=[lifecycle_activities.read, lifecycle_activities.close, timeouts.sweep],
        start=start_session_timeouts,
    )
