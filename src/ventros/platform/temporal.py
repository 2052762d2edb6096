"""Temporal: the client, starting a workflow exactly once, and one worker that runs every
context's workflows and activities.

A context with workflows defines

    def worker_parts(container: Container) -> WorkerParts

returning its workflow classes and its activities (methods of an object built with their
dependencies, STYLE 10), and what to close when the worker stops; its `wire(container)`
hands them to the runtime, whose registry gives them to `run_temporal_worker`. Without a
Temporal address the worker logs and idles, so the rest of the system still runs.

`temporalio` is imported lazily: modules that only register things stay cheap to import.
"""

from __future__ import annotations

import asyncio
import contextlib
import importlib
from collections.abc import Awaitable, Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Generic, Protocol, TypeVar

import structlog

from ventros.platform.settings import Settings

if TYPE_CHECKING:
    from temporalio.client import Client

    from ventros.runtime.container import Container

log = structlog.get_logger(__name__)


class TemporalNotConfigured(RuntimeError):
    """No Temporal address: workflows cannot be started from this process."""


@dataclass
class WorkerParts:
    workflows: Sequence[type] = ()
    activities: Sequence[Callable[..., Any]] = ()
    close: Callable[[], Awaitable[None]] | None = None
    # Called once the worker polls (client, task queue): starts the part's long-running
    # workflows, idempotently, since every worker process calls it.
    start: Callable[[Client, str], Awaitable[None]] | None = None


class TemporalConnection:
    """This process's Temporal: where it is, its namespace and task queue, and one client
    connected on first use. Built once by the runtime's Container from its settings, so a
    `ventros worker` finds the same Temporal as the `ventros run` beside it."""

    def __init__(self, address: str | None, namespace: str, task_queue: str) -> None:
        self.address = address
        self.namespace = namespace
        self.task_queue = task_queue
        self._client: Client | None = None
        self._lock = asyncio.Lock()

    @classmethod
    def from_settings(cls, settings: Settings) -> TemporalConnection:
        return cls(
            settings.temporal_address, settings.temporal_namespace, settings.temporal_task_queue
        )

    @property
    def configured(self) -> bool:
        return bool(self.address)

    async def client(self) -> Client:
        """The client, connected on first use; TemporalNotConfigured without an address."""
        from temporalio.client import Client

        if not self.address:
            raise TemporalNotConfigured("VENTROS_TEMPORAL_ADDRESS is not set")
        async with self._lock:
            if self._client is None:
                from ventros.platform.tracing import temporal_tracing_interceptors

                self._client = await Client.connect(
                    self.address,
                    namespace=self.namespace,
                    interceptors=temporal_tracing_interceptors(),
                )
            return self._client

    async def start_once(self, workflow: Any, arg: Any, *, workflow_id: str) -> bool:
        return await start_workflow_once(
            workflow,
            arg,
            workflow_id=workflow_id,
            client=await self.client(),
            task_queue=self.task_queue,
        )


async def connect(settings: Settings) -> Client:
    return await TemporalConnection.from_settings(settings).client()


async def start_workflow_once(
    workflow: Any,
    arg: Any,
    *,
    workflow_id: str,
    client: Client,
    task_queue: str,
) -> bool:
    """Start `workflow` (its run method) with `arg` unless a workflow with this id runs or
    ran before; True if this call started it. So a redelivered event starts nothing new."""
    from temporalio.common import WorkflowIDReusePolicy
    from temporalio.exceptions import WorkflowAlreadyStartedError

    try:
        await client.start_workflow(
            workflow,
            arg,
            id=workflow_id,
            task_queue=task_queue,
            id_reuse_policy=WorkflowIDReusePolicy.REJECT_DUPLICATE,
        )
    except WorkflowAlreadyStartedError:
        return False
    return True


class _Identified(Protocol):
    @property
    def workflow_id(self) -> str: ...


P = TypeVar("P", bound=_Identified)


class OnceStarter(Generic[P]):
    """`await start(params, client=..., task_queue=...)` starts the workflow (its run
    method) under `params.workflow_id` unless it was started before: what a consumer calls,
    so a redelivered event starts nothing new. `on(temporal)` binds it to a connection
    (what a context's wiring hands its consumers)."""

    def __init__(self, run: Callable[[Any, P], Awaitable[Any]]) -> None:
        self._run = run

    async def __call__(self, params: P, *, client: Client, task_queue: str) -> bool:
        return await start_workflow_once(
            self._run, params, workflow_id=params.workflow_id, client=client, task_queue=task_queue
        )

    def on(self, temporal: TemporalConnection) -> Callable[[P], Awaitable[bool]]:
        async def start(params: P) -> bool:
            return await temporal.start_once(self._run, params, workflow_id=params.workflow_id)

        return start


def worker_interceptors(client: Client) -> list[Any]:
    """Metrics always; OpenTelemetry spans when tracing is on (OTEL_EXPORTER_OTLP_ENDPOINT),
    unless the client has them already (a worker takes its client's interceptors too)."""
    from ventros.platform.temporal_metrics import MetricsInterceptor
    from ventros.platform.tracing import temporal_tracing_interceptors

    has_tracing = any(
        type(i).__name__ == "TracingInterceptor" for i in client.config()["interceptors"]
    )
    tracing = [] if has_tracing else temporal_tracing_interceptors()
    return [MetricsInterceptor(), *tracing]


async def _watch_backlog(client: Client, queue: str, stop: asyncio.Event, every: float) -> None:
    """Until `stop`: the task queue's backlog into temporal_task_queue_backlog."""
    from ventros.platform.temporal_metrics import record_task_queue_backlog

    while not stop.is_set():
        try:
            await record_task_queue_backlog(client, queue)
        except Exception as error:  # an older server without stats: the gauge stays unset
            log.debug("could not read the task queue backlog", error=repr(error))
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), every)


def load_worker_parts(container: Container, modules: Iterable[str]) -> list[WorkerParts]:
    """The parts named by modules with a `worker_parts(container)` function (tests)."""
    parts = []
    for name in modules:
        module = importlib.import_module(name)
        parts.append(module.worker_parts(container))
    return parts


def workflow_runner() -> Any:
    """The sandbox with Ventros's own modules passed through.

    By default the sandbox re-imports a workflow's module and its parent packages for
    every workflow it instantiates (each new session, each replay after a cache eviction):
    about 8 ms of CPU per instance here, 0.5 ms passed through (`bench/workflow_sandbox.py`)
    — at 200 new customers a second, with a lifecycle and a service clock each, the default
    took most of a core. The determinism guard the sandbox gives stays where it catches mistakes:
    the replay tests (`tests/unit/test_workflow_replay.py`) run every recorded history
    through the default, strict sandbox."""
    from temporalio.worker.workflow_sandbox import SandboxedWorkflowRunner, SandboxRestrictions

    return SandboxedWorkflowRunner(
        restrictions=SandboxRestrictions.default.with_passthrough_modules("ventros")
    )


async def run_temporal_worker(
    container: Container,
    stop: asyncio.Event,
    *,
    client: Client | None = None,
    parts: Sequence[WorkerParts] = (),
    modules: Iterable[str] = (),
    task_queue: str | None = None,
) -> None:
    """The given workflows and activities (`parts`, from the runtime's registry, or those
    of `modules`) on one task queue, until `stop`."""
    from temporalio.worker import Worker

    temporal = container.temporal
    if client is None:
        if not temporal.configured:
            log.warning("VENTROS_TEMPORAL_ADDRESS is not set: the Temporal worker idles")
            await stop.wait()
            return
        client = await temporal.client()
    parts = [*parts, *load_worker_parts(container, modules)]
    queue = task_queue or temporal.task_queue
    try:
        workflows = [w for p in parts for w in p.workflows]
        activities = [a for p in parts for a in p.activities]
        if not workflows and not activities:
            log.info("no Temporal workflows registered; the worker idles")
            await stop.wait()
            return
        async with Worker(
            client,
            task_queue=queue,
            workflows=workflows,
            activities=activities,
            interceptors=worker_interceptors(client),
            workflow_runner=workflow_runner(),
        ):
            for part in parts:
                if part.start is not None:
                    await part.start(client, queue)
            log.info(
                "Temporal worker running",
                task_queue=queue,
                workflows=[w.__name__ for w in workflows],
            )
            await _watch_backlog(client, queue, stop, container.settings.metrics_interval_seconds)
    finally:
        for part in parts:
            if part.close is not None:
                try:
                    await part.close()
                except Exception:
                    log.exception("closing a Temporal worker part failed")
