"""Today's workflow code replays the recorded histories of the long-lived workflows
(tests/fixtures/temporal/, recorded by tests/integration/record_workflow_histories.py):
a change that would break a running session lifecycle, timeout sweep, scheduled message or
webhook delivery fails here, and must go through `workflow.patched` instead."""

from __future__ import annotations

from pathlib import Path

import pytest
from temporalio import workflow
from temporalio.client import WorkflowHistory
from temporalio.worker import Replayer

from ventros.conversations.scheduling import ScheduledMessageWorkflow
from ventros.conversations.service_clock import SessionServiceWorkflow
from ventros.conversations.workflows import (
    LifecycleInput,
    SessionLifecycleWorkflow,
    SessionTimeoutsWorkflow,
)
from ventros.webhooks.workflows import WebhookDeliveryWorkflow

HISTORIES = Path(__file__).resolve().parent.parent / "fixtures" / "temporal"
WORKFLOWS = {
    "session_lifecycle_timeout": SessionLifecycleWorkflow,
    "scheduled_message_sent": ScheduledMessageWorkflow,
    "webhook_delivery_second_attempt": WebhookDeliveryWorkflow,
    "session_service_clock": SessionServiceWorkflow,
    "session_timeouts_sweep": SessionTimeoutsWorkflow,
}


def test_every_long_lived_workflow_has_a_recorded_history() -> None:
    assert {p.stem for p in HISTORIES.glob("*.json")} == set(WORKFLOWS)


@pytest.mark.parametrize("name", sorted(WORKFLOWS))
async def test_todays_code_replays_the_recorded_history(name: str) -> None:
    history = WorkflowHistory.from_json(name, (HISTORIES / f"{name}.json").read_text())
    result = await Replayer(workflows=[WORKFLOWS[name]]).replay_workflow(history)
    assert result.replay_failure is None


@workflow.defn(name="SessionLifecycleWorkflow", sandboxed=False)
class ChangedLifecycle:
    """The lifecycle changed without `workflow.patched`: a timer where its history has an
    activity."""

    @workflow.run
    async def run(self, params: LifecycleInput) -> str:
        await workflow.sleep(1)
        return "changed"


async def test_a_changed_workflow_fails_the_replay() -> None:
    """The check has teeth: a changed workflow does not replay the lifecycle's history."""
    text = (HISTORIES / "session_lifecycle_timeout.json").read_text()
    history = WorkflowHistory.from_json("changed", text)
    replayer = Replayer(workflows=[ChangedLifecycle])
    result = await replayer.replay_workflow(history, raise_on_replay_failure=False)
    assert result.replay_failure is not None
