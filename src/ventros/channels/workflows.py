"""`ChannelWatchdogWorkflow`: one per channel, it watches the WhatsApp session.

Every `poll_seconds` an activity asks WAHA for the session status and reads the channel's
flow (age of its last event, outbound messages left unacknowledged since). `health.diagnose`
decides: FAILED, or WORKING but silent while sends go unacknowledged, is `channel.unhealthy`
with the reason, and the WAHA session is restarted once; still unhealthy at the next look
is `channel.down`; events flowing again clear it (`channel.recovered`). The record
(`channel_health`) feeds /health and /metrics. Started when a channel is created (id
`channel-watchdog-<channel>`); it ends when the channel is deleted.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING

from temporalio import activity, workflow
from temporalio.common import RetryPolicy

with workflow.unsafe.imports_passed_through():
    import ventros.channels.health as health
    import ventros.channels.service as service
    from ventros.channels.waha_client import WahaClient, WahaError, WahaTarget
    from ventros.kernel.events import Actor
    from ventros.platform.crypto import SecretBox
    from ventros.platform.temporal import OnceStarter, WorkerParts
    from ventros.platform.uow import UnitOfWorkFactory

if TYPE_CHECKING:
    from ventros.runtime.container import Container

ACTIVITY_TIMEOUT = timedelta(seconds=30)
ACTIVITY_RETRY = RetryPolicy(
    initial_interval=timedelta(seconds=1), maximum_interval=timedelta(seconds=30)
)
ROUNDS_PER_RUN = 200
UNREACHABLE = "UNREACHABLE"  # WAHA did not answer: not working


@dataclass
class WatchdogInput:
    tenant_id: str
    channel_id: str
    silence_seconds: float = 600.0
    poll_seconds: float = 30.0
    ack_grace_seconds: float = 10.0

    @property
    def workflow_id(self) -> str:
        return f"channel-watchdog-{self.channel_id}"


@dataclass
class Look:
    deleted: bool
    waha_status: str = UNREACHABLE
    last_event_at: float | None = None  # unix seconds
    unacknowledged: int = 0


@dataclass
class HealthInput:
    tenant_id: str
    channel_id: str
    health: str
    reason: str | None
    waha_status: str
    last_event_at: float | None
    restarted: bool


class WatchdogActivities:
    def __init__(self, uow: UnitOfWorkFactory, box: SecretBox, client: WahaClient) -> None:
        self._uow, self._box, self._client = uow, box, client

    @classmethod
    def build(cls, container: Container) -> WatchdogActivities:
        settings = container.settings
        return cls(
            container.uow,
            container.secret_box,
            WahaClient.create(timeout_seconds=settings.waha_timeout_seconds),
        )

    async def _target(self, params: WatchdogInput) -> WahaTarget | None:
        async with self._uow(uuid.UUID(params.tenant_id), Actor.system()) as tx:
            channel = await service.channel_for_ingest(tx, self._box, uuid.UUID(params.channel_id))
        if channel is None:
            return None
        return WahaTarget(channel.base_url, channel.waha_session, channel.api_key)

    @activity.defn(name="channel_watchdog_look")
    async def look(self, params: WatchdogInput) -> Look:
        target = await self._target(params)
        if target is None:
            return Look(deleted=True)
        try:
            info = await self._client.session_info(target)
            status = str(info.get("status") or "UNKNOWN").upper()
        except WahaError:
            status = UNREACHABLE
        async with self._uow(uuid.UUID(params.tenant_id), Actor.system()) as tx:
            last, unacked = await health.observe_flow(
                tx, uuid.UUID(params.channel_id), ack_grace_seconds=params.ack_grace_seconds
            )
        return Look(False, status, last.timestamp() if last else None, unacked)

    @activity.defn(name="channel_watchdog_record")
    async def record(self, params: HealthInput) -> str | None:
        last = datetime.fromtimestamp(params.last_event_at, UTC) if params.last_event_at else None
        async with self._uow(uuid.UUID(params.tenant_id), Actor.system()) as tx:
            raised = await health.record_health(
                tx,
                uuid.UUID(params.channel_id),
                health=params.health,
                reason=params.reason,
                waha_status=params.waha_status,
                last_event_at=last,
                restarted=params.restarted,
            )
            await tx.commit()
        return raised

    @activity.defn(name="channel_watchdog_restart")
    async def restart(self, params: WatchdogInput) -> bool:
        target = await self._target(params)
        if target is None:
            return False
        try:
            await self._client.session_action(target, "restart")
        except WahaError as error:
            activity.logger.warning("restart of the WAHA session failed: %s", error.detail)
            return False
        return True

    async def aclose(self) -> None:
        await self._client.aclose()


@workflow.defn(name="ChannelWatchdogWorkflow")
class ChannelWatchdogWorkflow:
    @workflow.run
    async def run(self, params: WatchdogInput) -> str:
        restarted = False
        for _ in range(ROUNDS_PER_RUN):
            look = await workflow.execute_activity_method(
                WatchdogActivities.look,
                params,
                start_to_close_timeout=ACTIVITY_TIMEOUT,
                retry_policy=ACTIVITY_RETRY,
            )
            if look.deleted:
                return "channel deleted"
            now = workflow.now().timestamp()
            age = None if look.last_event_at is None else max(now - look.last_event_at, 0.0)
            reason = health.diagnose(
                health.Observation(look.waha_status, age, look.unacknowledged),
                silence_seconds=params.silence_seconds,
            )
            if reason is None:
                state, restarted = health.HEALTHY, False
            elif not restarted:
                state = health.UNHEALTHY
            else:
                state = health.DOWN
            await workflow.execute_activity_method(
                WatchdogActivities.record,
                HealthInput(
                    params.tenant_id,
                    params.channel_id,
                    state,
                    reason,
                    look.waha_status,
                    look.last_event_at,
                    restarted,
                ),
                start_to_close_timeout=ACTIVITY_TIMEOUT,
                retry_policy=ACTIVITY_RETRY,
            )
            if state == health.UNHEALTHY:
                # Once: a restart fixes most silent sessions; if not, the next look says down.
                restarted = True
                await workflow.execute_activity_method(
                    WatchdogActivities.restart,
                    params,
                    start_to_close_timeout=ACTIVITY_TIMEOUT,
                    retry_policy=ACTIVITY_RETRY,
                )
            await workflow.sleep(timedelta(seconds=params.poll_seconds))
        workflow.continue_as_new(params)


start_watchdog = OnceStarter[WatchdogInput](ChannelWatchdogWorkflow.run)


def worker_parts(container: Container) -> WorkerParts:
    """What the Temporal worker (platform.temporal) runs for channel watchdogs."""
    activities = WatchdogActivities.build(container)
    return WorkerParts(
        workflows=[ChannelWatchdogWorkflow],
        activities=[activities.look, activities.record, activities.restart],
        close=activities.aclose,
    )
