"""Diagnosis, not a result: CPU to instantiate each Ventros workflow in Temporal's sandbox.

    .venv/bin/python bench/workflow_sandbox.py [--instances 200]

A worker instantiates a workflow for every run it starts and for every replay after its
cache evicted the run, so this cost is paid per new session (lifecycle and service clock)
and per webhook delivery. Compares the SDK's default sandbox with the worker's
(`ventros.platform.temporal.workflow_runner`, Ventros's modules passed through).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import time

import temporalio.workflow
from temporalio.worker.workflow_sandbox import SandboxedWorkflowRunner

from ventros.channels.workflows import ChannelWatchdogWorkflow
from ventros.conversations.scheduling import ScheduledMessageWorkflow
from ventros.conversations.service_clock import SessionServiceWorkflow
from ventros.conversations.workflows import SessionLifecycleWorkflow
from ventros.platform.temporal import workflow_runner
from ventros.platform.workflows_outbox import OutboxProcessorWorkflow
from ventros.tracking.workflows import EnrichTrackingWorkflow, SendConversionWorkflow
from ventros.webhooks.workflows import WebhookDeliveryWorkflow

WORKFLOWS = [
    SessionLifecycleWorkflow,
    SessionServiceWorkflow,
    WebhookDeliveryWorkflow,
    ScheduledMessageWorkflow,
    SendConversionWorkflow,
    EnrichTrackingWorkflow,
    ChannelWatchdogWorkflow,
    OutboxProcessorWorkflow,
]


def ms_per_instance(runner: SandboxedWorkflowRunner, workflow: type, instances: int) -> float:
    definition = temporalio.workflow._Definition.must_from_class(workflow)
    runner.prepare_workflow(definition)  # first import: not what a running worker pays
    started = time.process_time()
    for _ in range(instances):
        runner.prepare_workflow(definition)  # builds an instance, as a new run does
    return (time.process_time() - started) / instances * 1000


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--instances", type=int, default=200)
    args = parser.parse_args()
    load = " ".join(f"{x:.2f}" for x in os.getloadavg())
    print(f"load average at start {load}; CPU ms per workflow instance")
    print("| workflow | SDK default sandbox | Ventros worker |\n|---|---|---|")
    for workflow in WORKFLOWS:
        strict = ms_per_instance(SandboxedWorkflowRunner(), workflow, args.instances)
        ours = ms_per_instance(workflow_runner(), workflow, args.instances)
        print(f"| {workflow.__name__} | {strict:.2f} | {ours:.2f} |")


if __name__ == "__main__":
    asyncio.run(main())  # instances bind to the running loop
