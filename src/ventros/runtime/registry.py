"""The process's registries — routers, consumers, Temporal workflows and activities —
joined from every context's `wire(container)`. A new context adds one line to CONTEXTS."""

from __future__ import annotations

import importlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from ventros.platform.consumers import ConsumerRegistry
from ventros.platform.wiring import Wiring

if TYPE_CHECKING:
    from fastapi import APIRouter

    from ventros.platform.bus import QueueSpec
    from ventros.platform.temporal import WorkerParts
    from ventros.runtime.container import Container

# The contexts' wiring modules, in the order their routers are included.
CONTEXTS: tuple[str, ...] = (
    "ventros.identity.wiring",
    "ventros.agents.wiring",
    "ventros.privacy.wiring",
    "ventros.contacts.wiring",
    "ventros.channels.wiring",
    "ventros.conversations.wiring",
    "ventros.pipelines.wiring",
    "ventros.tracking.wiring",
    "ventros.audit.wiring",
    "ventros.webhooks.wiring",
    "ventros.analysis.wiring",
    "ventros.media.wiring",
    "ventros.replies.wiring",
    "ventros.routing.wiring",
)


@dataclass
class Registry:
    routers: list[APIRouter] = field(default_factory=list)
    root_routers: list[APIRouter] = field(default_factory=list)
    consumers: ConsumerRegistry = field(default_factory=ConsumerRegistry)
    worker_parts: list[Callable[[], WorkerParts]] = field(default_factory=list)

    def add(self, wiring: Wiring) -> None:
        self.routers.extend(wiring.routers)
        self.root_routers.extend(wiring.root_routers)
        for consumer in wiring.consumers:
            self.consumers.add(consumer)
        self.worker_parts.extend(wiring.worker_parts)

    def queue_specs(self) -> list[QueueSpec]:
        return self.consumers.queue_specs()

    def build_worker_parts(self) -> list[WorkerParts]:
        return [build() for build in self.worker_parts]


def wire(container: Container, contexts: Sequence[str] = CONTEXTS) -> Registry:
    """Every context's contribution, wired to this container."""
    registry = Registry()
    for name in contexts:
        wiring = importlib.import_module(name).wire(container)
        registry.add(wiring)
        for key, implementation in wiring.provides:
            container.ports.provide(key, implementation)
    return registry
