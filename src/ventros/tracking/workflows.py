"""Tracking workflows: `EnrichTrackingWorkflow` (one per tracking, id `enrich-<tracking>`)
and `SendConversionWorkflow` (one per conversion, id `conversion-<conversion>`). Both are
started by consumers (handlers.py), so a redelivered event starts nothing new.

Each runs one activity with a RetryPolicy: the activity raises on throttling and transient
errors (Temporal waits with exponential backoff, or as long as the platform asked) and
returns on success or a final failure. When the retries run out, a second activity records
the failure, so the outcome is always in the database, never a crash loop.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from typing import TYPE_CHECKING, Any, TypeVar

from temporalio import workflow
from temporalio.common import RetryPolicy
from temporalio.exceptions import ActivityError

with workflow.unsafe.imports_passed_through():
    from ventros.platform.temporal import OnceStarter, WorkerParts
    from ventros.tracking.activities import (
        ConversionActivities,
        SendFailureInput,
        SendInput,
        SendResult,
    )
    from ventros.tracking.enrichment import (
        FAILED,
        EnrichFailureInput,
        EnrichInput,
        EnrichmentActivities,
        EnrichResult,
    )

if TYPE_CHECKING:
    from ventros.runtime.container import Container

R = TypeVar("R")

CALL_TIMEOUT = timedelta(minutes=2)  # a few Graph calls (15 s each) and two transactions
REPORT_TIMEOUT = timedelta(seconds=30)
REPORT_RETRY = RetryPolicy(
    initial_interval=timedelta(seconds=1),
    backoff_coefficient=2.0,
    maximum_interval=timedelta(minutes=5),
    maximum_attempts=0,  # until the database is back: the failure must be recorded
)


@dataclass
class Backoff:
    """The retry policy of the calls to the ad platforms (tests shorten it)."""

    initial_interval_seconds: float = 30.0
    maximum_interval_seconds: float = 3600.0
    maximum_attempts: int = 10

    def policy(self) -> RetryPolicy:
        return RetryPolicy(
            initial_interval=timedelta(seconds=self.initial_interval_seconds),
            backoff_coefficient=2.0,
            maximum_interval=timedelta(seconds=self.maximum_interval_seconds),
            maximum_attempts=self.maximum_attempts,
        )


@dataclass
class EnrichWorkflowInput:
    tenant_id: str
    tracking_id: str
    backoff: Backoff

    @property
    def workflow_id(self) -> str:
        return f"enrich-{self.tracking_id}"


@dataclass
class SendWorkflowInput:
    tenant_id: str
    conversion_id: str
    backoff: Backoff

    @property
    def workflow_id(self) -> str:
        return f"conversion-{self.conversion_id}"


async def _call_or_record_failure(
    call: Any,
    arg: object,
    backoff: Backoff,
    *,
    record_failure: Any,
    failure: Callable[[str], object],
    failed: Callable[[str], R],
) -> R:
    """Runs the `call` activity with the backoff policy; when its retries run out, the
    `record_failure` activity stores why (retried until the database takes it) and the
    workflow ends with `failed(cause)`."""
    try:
        result: R = await workflow.execute_activity_method(
            call, arg, start_to_close_timeout=CALL_TIMEOUT, retry_policy=backoff.policy()
        )
        return result
    except ActivityError as error:
        cause = str(error.cause or error)
        await workflow.execute_activity_method(
            record_failure,
            failure(cause),
            start_to_close_timeout=REPORT_TIMEOUT,
            retry_policy=REPORT_RETRY,
        )
        return failed(cause)


@workflow.defn(name="EnrichTrackingWorkflow")
class EnrichTrackingWorkflow:
    @workflow.run
    async def run(self, params: EnrichWorkflowInput) -> EnrichResult:
        return await _call_or_record_failure(
            EnrichmentActivities.enrich,
            EnrichInput(params.tenant_id, params.tracking_id),
            params.backoff,
            record_failure=EnrichmentActivities.record_failure,
            failure=lambda cause: EnrichFailureInput(params.tenant_id, params.tracking_id, cause),
            failed=lambda cause: EnrichResult(FAILED, cause),
        )


@workflow.defn(name="SendConversionWorkflow")
class SendConversionWorkflow:
    @workflow.run
    async def run(self, params: SendWorkflowInput) -> SendResult:
        return await _call_or_record_failure(
            ConversionActivities.send,
            SendInput(params.tenant_id, params.conversion_id),
            params.backoff,
            record_failure=ConversionActivities.record_failure,
            failure=lambda cause: SendFailureInput(params.tenant_id, params.conversion_id, cause),
            failed=lambda cause: SendResult("failed", cause),
        )


start_enrichment = OnceStarter[EnrichWorkflowInput](EnrichTrackingWorkflow.run)


start_conversion = OnceStarter[SendWorkflowInput](SendConversionWorkflow.run)


def worker_parts(container: Container) -> WorkerParts:
    """What the Temporal worker (platform.temporal) runs for tracking."""
    enrichment = EnrichmentActivities.build(container)
    conversions = ConversionActivities.build(container)

    async def close() -> None:
        await enrichment.close()
        await conversions.close()

    return WorkerParts(
        workflows=[EnrichTrackingWorkflow, SendConversionWorkflow],
        activities=[
            enrichment.enrich,
            enrichment.record_failure,
            conversions.send,
            conversions.record_failure,
        ],
        close=close,
    )
