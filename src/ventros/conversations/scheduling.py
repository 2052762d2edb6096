"""`ScheduledMessageWorkflow`: sleeps until `send_at`, then sends through the send use case.

The wait is a durable Temporal timer, so restarts of the worker or of the Temporal server
change nothing. The workflow id names the tenant and the scheduled id
(`scheduled-message-<tenant>-<id>`): cancelling needs no table, and another tenant's id is
simply not found. The send activity passes the scheduled id as the message id, so a retried
activity finds the message its first run stored instead of sending twice.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from temporalio import activity, workflow
from temporalio.common import RetryPolicy

with workflow.unsafe.imports_passed_through():
    from ventros.conversations.service.sending import SendMessage, send_message_as
    from ventros.kernel.errors import Conflict, DomainError, NotFound
    from ventros.kernel.events import Actor
    from ventros.platform.crypto import SecretBox
    from ventros.platform.temporal import TemporalConnection, WorkerParts
    from ventros.platform.uow import UnitOfWorkFactory

if TYPE_CHECKING:
    from ventros.runtime.container import Container

SEND_TIMEOUT = timedelta(minutes=1)
SEND_RETRY = RetryPolicy(
    initial_interval=timedelta(seconds=1),
    backoff_coefficient=2.0,
    maximum_interval=timedelta(minutes=1),
    maximum_attempts=0,  # the database may be down for a while: the message must go
)
SENT = "sent"


@dataclass
class ScheduledInput:
    tenant_id: str
    message_id: str
    send_at: str  # ISO 8601 with offset
    command: dict[str, Any] = field(default_factory=dict)
    user_id: str | None = None

    @property
    def workflow_id(self) -> str:
        return workflow_id_of(self.tenant_id, self.message_id)


def workflow_id_of(tenant_id: Any, message_id: Any) -> str:
    return f"scheduled-message-{tenant_id}-{message_id}"


class ScheduledActivities:
    def __init__(self, uow: UnitOfWorkFactory, box: SecretBox) -> None:
        self._uow = uow
        self._box = box

    @classmethod
    def build(cls, container: Container) -> ScheduledActivities:
        return cls(container.uow, container.secret_box)

    @activity.defn(name="scheduled_message_send")
    async def send(self, params: ScheduledInput) -> str:
        """Stores the message `pending` (the sender consumer takes it from there)."""
        actor = Actor.user(uuid.UUID(params.user_id)) if params.user_id else Actor.system()
        try:
            await send_message_as(
                self._uow,
                self._box,
                uuid.UUID(params.tenant_id),
                actor,
                SendMessage.from_json(params.command),
                message_id=uuid.UUID(params.message_id),
            )
        except DomainError as refused:  # outside the window, contact gone: not retried
            activity.logger.warning("scheduled message not sent: %s", refused.detail)
            return f"refused: {refused.detail}"
        return SENT


@workflow.defn(name="ScheduledMessageWorkflow")
class ScheduledMessageWorkflow:
    @workflow.run
    async def run(self, params: ScheduledInput) -> str:
        delay = datetime.fromisoformat(params.send_at) - workflow.now()
        if delay > timedelta(0):
            await workflow.sleep(delay)
        return await workflow.execute_activity_method(
            ScheduledActivities.send,
            params,
            start_to_close_timeout=SEND_TIMEOUT,
            retry_policy=SEND_RETRY,
        )


async def start_scheduled(params: ScheduledInput, *, temporal: TemporalConnection) -> bool:
    return await temporal.start_once(
        ScheduledMessageWorkflow.run, params, workflow_id=params.workflow_id
    )


async def cancel_scheduled(
    tenant_id: uuid.UUID,
    message_id: uuid.UUID,
    *,
    temporal: TemporalConnection,
) -> None:
    """Cancels a scheduled message still waiting; NotFound / Conflict otherwise."""
    from temporalio.client import WorkflowExecutionStatus
    from temporalio.service import RPCError, RPCStatusCode

    client = await temporal.client()
    handle = client.get_workflow_handle(workflow_id_of(tenant_id, message_id))
    try:
        description = await handle.describe()
    except RPCError as error:
        if error.status is RPCStatusCode.NOT_FOUND:
            raise NotFound("scheduled message not found") from error
        raise
    if description.status is not WorkflowExecutionStatus.RUNNING:
        raise Conflict("the scheduled message was already sent or cancelled")
    await handle.cancel()


def worker_parts(container: Container) -> WorkerParts:
    """What the Temporal worker (platform.temporal) runs for scheduled messages."""
    activities = ScheduledActivities.build(container)
    return WorkerParts(workflows=[ScheduledMessageWorkflow], activities=[activities.send])
