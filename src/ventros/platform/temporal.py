"""Temporal: the client, starting a workflow exactly once, and one worker that runs every
context's workflows and activities.

A context with workflows adds its module to `WORKER_MODULES` (one line) and defines there

    def worker_parts(container: Container) -> WorkerParts

returning its workflow classes and its activities (methods of an object built with their
dependencies, STYLE 10), and what to close when the worker stops. The worker runs as a
background service (`run_temporal_worker`) under `ventros run`; without a Temporal
address it logs and idles, so the rest of the system still runs.

`temporalio` is imported lazily: modules that only register things stay cheap to import.
"""

from __future__ import annotations

import asyncio
import importlib
from collections.abc import Awaitable, Callable, Iterable, Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from typing import TYPE_CHECKING, Any, Generic, Protocol, TypeVar

import structlog

from ventros.platform.settings import Settings

if TYPE_CHECKING:
    from temporalio.client import Client

    from ventros.bootstrap import Container

log = structlog.get_logger(__name__)

# Modules with a `worker_parts(container) -> WorkerParts` function. One line per context.
WORKER_MODULES: tuple[str, ...] = (
    "ventros.webhooks.workflows",
    "ventros.conversations.scheduling",
    "ventros.conversations.workflows",
    "ventros.tracking.workflows",
    "ventros.channels.workflows",
)


class TemporalNotConfigured(RuntimeError):
    """No VENTROS_TEMPORAL_ADDRESS: workflows cannot be started from this process."""


@dataclass
class WorkerParts:
    workflows: Sequence[type] = ()
    activities: Sequence[Callable[..., Any]] = ()
    close: Callable[[], Awaitable[None]] | None = None


@dataclass
class _Clients:
    """The process's clients, connected on first use, one per address and namespace."""

    clients: dict[tuple[str, str], Client] = field(default_factory=dict)
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)


@lru_cache(maxsize=1)
def _process_settings() -> Settings:
    # `ventros run` exports the embedded server's address as VENTROS_TEMPORAL_ADDRESS.
    return Settings()


@lru_cache(maxsize=1)
def _clients() -> _Clients:
    return _Clients()


async def connect(settings: Settings) -> Client:
    from temporalio.client import Client

    if not settings.temporal_address:
        raise TemporalNotConfigured("VENTROS_TEMPORAL_ADDRESS is not set")
    return await Client.connect(settings.temporal_address, namespace=settings.temporal_namespace)


async def shared_client(settings: Settings | None = None) -> Client:
    """This process's client for `settings` (default: from the environment)."""
    settings = settings or _process_settings()
    if not settings.temporal_address:
        raise TemporalNotConfigured("VENTROS_TEMPORAL_ADDRESS is not set")
    key = (settings.temporal_address, settings.temporal_namespace)
    cache = _clients()
    async with cache.lock:
        if key not in cache.clients:
            cache.clients[key] = await connect(settings)
        return cache.clients[key]


async def start_workflow_once(
    workflow: Any,
    arg: Any,
    *,
    workflow_id: str,
    client: Client | None = None,
    task_queue: str | None = None,
) -> bool:
    """Start `workflow` (its run method) with `arg` unless a workflow with this id runs or
    ran before; True if this call started it. So a redelivered event starts nothing new."""
    from temporalio.common import WorkflowIDReusePolicy
    from temporalio.exceptions import WorkflowAlreadyStartedError

    if client is None or task_queue is None:
        settings = _process_settings()
        client = client or await shared_client(settings)
        task_queue = task_queue or settings.temporal_task_queue
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
    """`await start(params)` starts the workflow (its run method) under `params.workflow_id`
    unless it was started before: what a consumer calls, so a redelivered event starts
    nothing new. `client` and `task_queue` default to this process's."""

    def __init__(self, run: Callable[[Any, P], Awaitable[Any]]) -> None:
        self._run = run

    async def __call__(
        self, params: P, *, client: Client | None = None, task_queue: str | None = None
    ) -> bool:
        return await start_workflow_once(
            self._run, params, workflow_id=params.workflow_id, client=client, task_queue=task_queue
        )


def load_worker_parts(
    container: Container, modules: Iterable[str] | None = None
) -> list[WorkerParts]:
    parts = []
    for name in WORKER_MODULES if modules is None else modules:
        module = importlib.import_module(name)
        parts.append(module.worker_parts(container))
    return parts


async def run_temporal_worker(
    container: Container,
    stop: asyncio.Event,
    *,
    client: Client | None = None,
    modules: Iterable[str] | None = None,
    task_queue: str | None = None,
) -> None:
    """Every registered workflow and activity on one task queue, until `stop`."""
    from temporalio.worker import Worker

    settings = container.settings
    if client is None:
        if not settings.temporal_address:
            log.warning("VENTROS_TEMPORAL_ADDRESS is not set: the Temporal worker idles")
            await stop.wait()
            return
        client = await connect(settings)
    parts = load_worker_parts(container, modules)
    queue = task_queue or settings.temporal_task_queue
    try:
        workflows = [w for p in parts for w in p.workflows]
        activities = [a for p in parts for a in p.activities]
        if not workflows and not activities:
            log.info("no Temporal workflows registered; the worker idles")
            await stop.wait()
            return
        async with Worker(client, task_queue=queue, workflows=workflows, activities=activities):
            log.info(
                "Temporal worker running",
                task_queue=queue,
                workflows=[w.__name__ for w in workflows],
            )
            await stop.wait()
    finally:
        for part in parts:
            if part.close is not None:
                try:
                    await part.close()
                except Exception:
                    log.exception("closing a Temporal worker part failed")
