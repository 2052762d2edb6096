"""`ScheduledMessageWorkflow`: sleeps until `send_at`, then sends through the send use case.

A scheduled message is a message row, `scheduled` from the start (GET /messages/{id},
GET /messages?status=scheduled); at its time it becomes `pending` (then `sent` by the
WhatsApp sender), or `failed` with the reason when it cannot go (outside the 24 h window,
channel deleted, contact anonymised), raising `message.failed`. Cancelling removes it.

The wait is a durable Temporal timer, so restarts of the worker or of the Temporal server
change nothing. The workflow id names the tenant and the scheduled id
(`scheduled-message-<tenant>-<id>`): cancelling needs no table, and another tenant's id is
simply not found. The send activity passes the scheduled id as the message id, so a retried
activity finds the message its first run stored instead of sending twice.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from temporalio import activity, workflow
from temporalio.common import RetryPolicy

with workflow.unsafe.imports_passed_through():
    from ventros.conversations.domain import Message
    from ventros.conversations.service.sending import (
        SendMessage,
        fail_scheduled,
        record_scheduled,
        send_message_as,
    )
    from ventros.conversations.service.sending import cancel_scheduled as remove_scheduled
    from ventros.identity.domain import Principal
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
FAILED = "failed"


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
        """Makes the message `pending` (the sender consumer takes it from there), or `failed`
        with the reason when it cannot be sent now."""
        actor = Actor.user(uuid.UUID(params.user_id)) if params.user_id else Actor.system()
        tenant_id, message_id = uuid.UUID(params.tenant_id), uuid.UUID(params.message_id)
        try:
            await send_message_as(
                self._uow,
                self._box,
                tenant_id,
                actor,
                SendMessage.from_json(params.command),
                message_id=message_id,
            )
        except DomainError as refused:  # outside the window, channel or contact gone
            activity.logger.warning("scheduled message not sent: %s", refused.detail)
            await fail_scheduled(self._uow, tenant_id, message_id, refused.detail)
            return f"{FAILED}: {refused.detail}"
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


async def schedule_message(
    uow: UnitOfWorkFactory,
    principal: Principal,
    box: SecretBox,
    command: SendMessage,
    *,
    send_at: datetime,
    temporal: TemporalConnection,
) -> Message:
    """Stores the `scheduled` message, then starts its workflow; a workflow that cannot
    start leaves no message behind waiting for nothing."""
    message = await record_scheduled(uow, principal, box, command, send_at=send_at)
    params = ScheduledInput(
        tenant_id=str(principal.tenant_id),
        message_id=str(message.id),
        send_at=send_at.isoformat(),
        command=replace(command, channel_id=message.channel_id).to_json(),
        user_id=str(principal.user_id),
    )
    try:
        await start_scheduled(params, temporal=temporal)
    except BaseException:
        await remove_scheduled(uow, principal, message.id)
        raise
    return message


async def cancel_message(
    uow: UnitOfWorkFactory,
    principal: Principal,
    message_id: uuid.UUID,
    *,
    temporal: TemporalConnection,
) -> None:
    """Cancels the workflow of a message still waiting, then removes the message."""
    await cancel_scheduled(principal.tenant_id, message_id, temporal=temporal)
    await remove_scheduled(uow, principal, message_id)


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
