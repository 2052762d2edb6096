"""A Temporal worker interceptor that counts workflow runs and activity attempts
(temporal_workflow_executions_total, temporal_workflow_latency_seconds,
temporal_activity_executions_total), and the task queue's backlog.

Workflow code runs in Temporal's sandbox and must stay deterministic: the workflow side
only calls an extern function (run outside the sandbox, Temporal's mechanism for such side
effects) when a run ends, skips replays, and measures latency in workflow time (start to
end as the history records them), so a replayed or resumed workflow is not counted twice.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any, cast

from temporalio import activity, workflow
from temporalio.exceptions import is_cancelled_exception
from temporalio.worker import (
    ActivityInboundInterceptor,
    ExecuteActivityInput,
    ExecuteWorkflowInput,
    Interceptor,
    WorkflowInboundInterceptor,
    WorkflowInterceptorClassInput,
)

from ventros.platform.metrics import PROCESS

_FINISHED = "__ventros_workflow_finished"


@dataclass(frozen=True)
class _Finished:
    workflow_type: str
    task_queue: str
    outcome: str
    seconds: float


def _record_workflow(finished: _Finished) -> None:
    PROCESS.temporal_workflow_executions_total.labels(
        finished.workflow_type, finished.task_queue, finished.outcome
    ).inc()
    PROCESS.temporal_workflow_latency_seconds.labels(
        finished.workflow_type, finished.outcome
    ).observe(finished.seconds)


class _WorkflowMetrics(WorkflowInboundInterceptor):
    async def execute_workflow(self, input: ExecuteWorkflowInput) -> Any:
        outcome = "failed"
        try:
            result = await super().execute_workflow(input)
            outcome = "completed"
            return result
        except workflow.ContinueAsNewError:
            outcome = "continued_as_new"
            raise
        except GeneratorExit:
            # The worker dropping a cached workflow (eviction, shutdown) closes its coroutine
            # outside the workflow's event loop: no outcome, and nothing may be asked of it.
            outcome = ""
            raise
        except BaseException as error:
            # Cancellation is how a workflow someone stopped ends; not a failure.
            if is_cancelled_exception(error):
                outcome = "cancelled"
            raise
        finally:
            if outcome and not workflow.unsafe.is_replaying():
                info = workflow.info()
                seconds = (workflow.now() - info.start_time).total_seconds()
                record = cast(Any, workflow.extern_functions()[_FINISHED])
                record(_Finished(info.workflow_type, info.task_queue, outcome, max(seconds, 0.0)))


class _ActivityMetrics(ActivityInboundInterceptor):
    async def execute_activity(self, input: ExecuteActivityInput) -> Any:
        info = activity.info()
        started = time.perf_counter()
        outcome = "failed"
        try:
            result = await super().execute_activity(input)
            outcome = "completed"
            return result
        finally:
            PROCESS.temporal_activity_executions_total.labels(
                info.activity_type, info.task_queue, outcome
            ).inc()
            PROCESS.temporal_activity_duration_seconds.labels(info.activity_type).observe(
                time.perf_counter() - started
            )


class MetricsInterceptor(Interceptor):
    def intercept_activity(self, next: ActivityInboundInterceptor) -> ActivityInboundInterceptor:
        return _ActivityMetrics(next)

    def workflow_interceptor_class(
        self, input: WorkflowInterceptorClassInput
    ) -> type[WorkflowInboundInterceptor]:
        input.unsafe_extern_functions[_FINISHED] = _record_workflow
        return _WorkflowMetrics


async def record_task_queue_backlog(client: Any, task_queue: str) -> None:
    """temporal_task_queue_backlog{task_queue, kind}: the server's approximate backlog of
    workflow and activity tasks waiting for a worker."""
    from temporalio.api.enums.v1 import TaskQueueType
    from temporalio.api.taskqueue.v1 import TaskQueue
    from temporalio.api.workflowservice.v1 import DescribeTaskQueueRequest

    for kind, queue_type in (
        ("workflow", TaskQueueType.TASK_QUEUE_TYPE_WORKFLOW),
        ("activity", TaskQueueType.TASK_QUEUE_TYPE_ACTIVITY),
    ):
        answer = await client.workflow_service.describe_task_queue(
            DescribeTaskQueueRequest(
                namespace=client.namespace,
                task_queue=TaskQueue(name=task_queue),
                task_queue_type=queue_type,
                report_stats=True,
            )
        )
        backlog = answer.stats.approximate_backlog_count if answer.HasField("stats") else 0
        PROCESS.temporal_task_queue_backlog.labels(task_queue, kind).set(backlog)
