"""`SessionLifecycleWorkflow`: closes a session once it has been idle for the tenant's
`session_timeout_seconds`.

Started when the session opens (handlers/lifecycle.py), id `session-lifecycle-<session>`,
so a redelivered `session.started` starts nothing new. It holds ids only: each round an
activity reads the session's `last_activity_at` and the timeout, and the workflow sleeps on
a durable timer until `last_activity_at + timeout`. On waking it reads again: activity
moved the deadline → sleep again; otherwise a second activity closes the session with
reason `timeout` — re-checking under the row lock, so a message that lands between the read
and the close keeps the session open. The ingest never signals the workflow per message:
the deadline lives in the session row. `new_message` (re-read now) and `close_session`
signals exist for callers that want them. Worker or server restarts replay the history and
carry on. Long-lived sessions continue-as-new every few hundred rounds to bound history.
"""

from __future__ import annotations

import uuid
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
    from ventros.platform.uow import UnitOfWorkFactory

if TYPE_CHECKING:
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
    deadline: float  # unix seconds: last_activity_at + timeout
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
        # A snoozed session idles from its return, not from its last message.
        idle_from = max(session.last_activity_at, session.snoozed_until or session.last_activity_at)
        deadline = idle_from + timedelta(seconds=timeout)
        return SessionState(True, deadline.timestamp(), timeout)

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


def worker_parts(container: Container) -> WorkerParts:
    """What the Temporal worker (platform.temporal) runs for session lifecycles."""
    activities = SessionLifecycleActivities.build(container)
    return WorkerParts(
        workflows=[SessionLifecycleWorkflow],
        activities=[activities.read, activities.close],
    )
