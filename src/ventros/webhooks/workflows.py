"""`WebhookDeliveryWorkflow`: one event to one subscription, retried with backoff.

Started by the fan-out consumer (handlers.py) with id `webhook-<subscription>-<event>`, so a
redelivered event starts nothing new. The workflow holds ids and the retry policy only: the
secret, URL and body are read by the attempt activity. Each attempt is one activity call;
the waits between attempts are durable timers, so a worker that dies between attempts
changes nothing: another worker (or the same one, restarted) carries on from the history.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from typing import TYPE_CHECKING, Any

from temporalio import workflow
from temporalio.common import RetryPolicy
from temporalio.exceptions import ActivityError

with workflow.unsafe.imports_passed_through():
    from ventros.platform.temporal import OnceStarter, WorkerParts
    from ventros.webhooks.activities import (
        DELIVERED,
        FAILED,
        GONE,
        AttemptInput,
        AttemptResult,
        FailureInput,
        WebhookActivities,
    )
    from ventros.webhooks.domain import DeliveryPolicy

if TYPE_CHECKING:
    from ventros.runtime.container import Container

# Includes the HTTP timeout (VENTROS_WEBHOOKS_TIMEOUT_SECONDS, 10 s) and two short
# database transactions.
ATTEMPT_TIMEOUT = timedelta(minutes=2)
# An attempt that cannot run at all (database down, worker lost) is retried by Temporal a
# few times before it counts as a failed attempt of the delivery's own schedule.
ATTEMPT_RETRY = RetryPolicy(
    initial_interval=timedelta(seconds=1),
    backoff_coefficient=2.0,
    maximum_interval=timedelta(seconds=30),
    maximum_attempts=5,
)
REPORT_TIMEOUT = timedelta(seconds=30)
REPORT_RETRY = RetryPolicy(
    initial_interval=timedelta(seconds=1),
    backoff_coefficient=2.0,
    maximum_interval=timedelta(minutes=5),
    maximum_attempts=0,  # until the database is back: the failure must be reported
)


@dataclass
class DeliveryInput:
    tenant_id: str
    subscription_id: str
    event_id: str
    event_name: str
    initial_interval_seconds: float = 1.0
    max_interval_seconds: float = 3600.0
    max_elapsed_seconds: float = 86_400.0
    max_attempts: int | None = None

    @property
    def workflow_id(self) -> str:
        return workflow_id_of(self.subscription_id, self.event_id)

    def policy(self) -> DeliveryPolicy:
        return DeliveryPolicy(
            initial_interval_seconds=self.initial_interval_seconds,
            max_interval_seconds=self.max_interval_seconds,
            max_elapsed_seconds=self.max_elapsed_seconds,
            max_attempts=self.max_attempts,
        )


@dataclass
class DeliveryResult:
    # DELIVERED; FAILED (webhook.delivery_failed raised); GONE: the subscription was
    # deleted or disabled, or the event purged, before it could be delivered.
    outcome: str
    attempts: int


def workflow_id_of(subscription_id: Any, event_id: Any) -> str:
    return f"webhook-{subscription_id}-{event_id}"


@workflow.defn(name="WebhookDeliveryWorkflow")
class WebhookDeliveryWorkflow:
    @workflow.run
    async def run(self, params: DeliveryInput) -> DeliveryResult:
        policy = params.policy()
        started = workflow.now()
        attempt = 0
        while True:
            attempt += 1
            result = await self._attempt(params, attempt)
            if result.outcome in (DELIVERED, GONE):
                return DeliveryResult(result.outcome, attempt)
            if result.final:
                break
            elapsed = (workflow.now() - started).total_seconds()
            delay = policy.next_delay(attempt, elapsed, workflow.random().random())
            if delay is None:
                break
            await workflow.sleep(timedelta(seconds=delay))
        await workflow.execute_activity_method(
            WebhookActivities.record_failure,
            FailureInput(
                tenant_id=params.tenant_id,
                subscription_id=params.subscription_id,
                event_id=params.event_id,
                event_name=params.event_name,
                attempts=attempt,
                status_code=result.status_code,
                error=result.error,
            ),
            start_to_close_timeout=REPORT_TIMEOUT,
            retry_policy=REPORT_RETRY,
        )
        return DeliveryResult(FAILED, attempt)

    async def _attempt(self, params: DeliveryInput, attempt: int) -> AttemptResult:
        try:
            return await workflow.execute_activity_method(
                WebhookActivities.attempt_delivery,
                AttemptInput(
                    tenant_id=params.tenant_id,
                    subscription_id=params.subscription_id,
                    event_id=params.event_id,
                    event_name=params.event_name,
                    attempt=attempt,
                ),
                start_to_close_timeout=ATTEMPT_TIMEOUT,
                retry_policy=ATTEMPT_RETRY,
            )
        except ActivityError as error:
            cause = error.cause or error
            workflow.logger.warning("webhook attempt could not run: %s", cause)
            return AttemptResult(FAILED, error=f"the attempt could not run: {cause}")


start_delivery = OnceStarter[DeliveryInput](WebhookDeliveryWorkflow.run)


def worker_parts(container: Container) -> WorkerParts:
    """What the Temporal worker (platform.temporal) runs for webhooks."""
    activities = WebhookActivities.build(container)
    return WorkerParts(
        workflows=[WebhookDeliveryWorkflow],
        activities=[activities.attempt_delivery, activities.record_failure],
        close=activities.close,
    )
