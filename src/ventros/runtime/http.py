"""The HTTP application of a process: the API over every context's routers."""

from __future__ import annotations

from typing import TYPE_CHECKING

from ventros.api import app as api_app
from ventros.runtime.registry import Registry, wire

if TYPE_CHECKING:
    from fastapi import FastAPI

    from ventros.api.health import HealthCheck
    from ventros.runtime.container import Container


def create_app(
    container: Container,
    *,
    registry: Registry | None = None,
    extra_checks: dict[str, HealthCheck] | None = None,
) -> FastAPI:
    registry = registry if registry is not None else wire(container)
    return api_app.create_app(
        container,
        routers=registry.routers,
        root_routers=registry.root_routers,
        extra_checks=extra_checks,
    )
