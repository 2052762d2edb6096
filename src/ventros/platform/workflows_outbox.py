"""The outbox driven from Temporal (VENTROS_OUTBOX_DRIVER=temporal), as in the seed design.

`OutboxProcessorWorkflow` polls every second: one activity call claims up to 100 rows,
publishes and marks them with the same code as the LISTEN/NOTIFY relay (`relay_batch`),
retried up to 5 times. The activity takes the relay's advisory lock for its transaction,
so it never runs beside an active LISTEN relay. The workflow continues-as-new to keep its
history short. The LISTEN/NOTIFY relay stays the default: it reacts within milliseconds
instead of a poll period and does not depend on Temporal being up.
"""

from __future__ import annotations

import asyncio
import contextlib
from dataclasses import dataclass
from datetime import timedelta
from typing import TYPE_CHECKING

from temporalio import activity, workflow
from temporalio.common import RetryPolicy
from temporalio.exceptions import ActivityError, ApplicationError

with workflow.unsafe.imports_passed_through():
    import asyncpg
    import structlog

    from ventros.platform.bus import Bus, connect_bus, system_dsn
    from ventros.platform.metrics import Metrics, metrics_for
    from ventros.platform.relay import relay_batch, relay_retry_policy
    from ventros.platform.settings import Settings

if TYPE_CHECKING:
    from collections.abc import Sequence

    from temporalio.client import Client

    from ventros.platform.bus import QueueSpec
    from ventros.runtime.container import Container

OUTBOX_TASK_QUEUE = "ventros-outbox"
OUTBOX_WORKFLOW_ID = "outbox-processor"


@dataclass
class OutboxProcessorInput:
    batch_size: int = 100
    poll_seconds: float = 1.0
    max_attempts: int = 5
    iterations: int = 500  # then continue-as-new


@dataclass
class RelayBatchInput:
    limit: int


@dataclass
class RelayBatchResult:
    claimed: int
    published: int
    failed: int
    locked_out: bool


class OutboxActivities:
    def __init__(self, dsn: str, bus: Bus, settings: Settings, metrics: Metrics) -> None:
        self._dsn = dsn
        self._bus = bus
        self._settings = settings
        self._metrics = metrics
        self._pool: asyncpg.Pool | None = None

    @activity.defn(name="relay_outbox_batch")
    async def relay_outbox_batch(self, params: RelayBatchInput) -> RelayBatchResult:
        if self._pool is None:
            self._pool = await asyncpg.create_pool(self._dsn, min_size=1, max_size=2)
        async with self._pool.acquire() as connection:
            report = await relay_batch(
                connection,
                self._bus,
                limit=params.limit,
                retry=relay_retry_policy(self._settings),
                metrics=self._metrics,
                exclusive=True,
            )
        if report.unavailable:
            raise ApplicationError("bus unavailable; the batch stays in the outbox")
        return RelayBatchResult(report.claimed, report.published, report.failed, report.locked_out)

    async def close(self) -> None:
        if self._pool is not None:
            await self._pool.close()
            self._pool = None


@workflow.defn(name="OutboxProcessorWorkflow")
class OutboxProcessorWorkflow:
    @workflow.run
    async def run(self, params: OutboxProcessorInput) -> None:
        retry = RetryPolicy(
            initial_interval=timedelta(seconds=1),
            backoff_coefficient=2.0,
            maximum_attempts=params.max_attempts,
        )
        for _ in range(params.iterations):
            try:
                result = await workflow.execute_activity_method(
                    OutboxActivities.relay_outbox_batch,
                    RelayBatchInput(params.batch_size),
                    start_to_close_timeout=timedelta(seconds=60),
                    retry_policy=retry,
                )
            except ActivityError:
                # Retries exhausted (bus or database down): the rows are still in the
                # outbox; keep polling rather than end the workflow.
                workflow.logger.warning("outbox batch failed after retries")
                await workflow.sleep(params.poll_seconds)
                continue
            if result.claimed < params.batch_size:
                await workflow.sleep(params.poll_seconds)
        workflow.continue_as_new(params)


async def start_outbox_processor(client: Client, params: OutboxProcessorInput) -> None:
    """Start the singleton workflow, or leave the running one alone."""
    from temporalio.common import WorkflowIDConflictPolicy

    await client.start_workflow(
        OutboxProcessorWorkflow.run,
        params,
        id=OUTBOX_WORKFLOW_ID,
        task_queue=OUTBOX_TASK_QUEUE,
        id_conflict_policy=WorkflowIDConflictPolicy.USE_EXISTING,
    )


async def run_outbox_processor(
    container: Container,
    stop: asyncio.Event,
    *,
    client: Client | None = None,
    queues: Sequence[QueueSpec] = (),
) -> None:
    """Worker for the workflow and its activity, plus the workflow itself, until `stop`."""
    from temporalio.worker import Worker

    log = structlog.get_logger(__name__)
    settings = container.settings
    if client is None:
        if not container.temporal.configured:
            log.error("outbox driver is temporal but VENTROS_TEMPORAL_ADDRESS is not set")
            await stop.wait()
            return
        client = await container.temporal.client()
    bus = await connect_bus(
        settings,
        container.database,
        stop,
        name="ventros-outbox-activities",
        queues=queues,
    )
    if bus is None:
        return
    activities = OutboxActivities(
        system_dsn(container.database), bus, settings, metrics_for(container)
    )
    try:
        async with Worker(
            client,
            task_queue=OUTBOX_TASK_QUEUE,
            workflows=[OutboxProcessorWorkflow],
            activities=[activities.relay_outbox_batch],
        ):
            await start_outbox_processor(client, OutboxProcessorInput())
            log.info("outbox driven by Temporal", workflow_id=OUTBOX_WORKFLOW_ID)
            await stop.wait()
    finally:
        with contextlib.suppress(Exception):
            await activities.close()
        await bus.close()
