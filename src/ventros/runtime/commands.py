"""What each `ventros` command runs; `cli.py` is the Typer layer over these.

The settings are read here, once per process (`load_settings`), and everything else gets
them — or the container built from them — by argument."""

from __future__ import annotations

import asyncio
import os
import signal
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, TypeVar

from ventros.platform.settings import Settings

if TYPE_CHECKING:
    from ventros.identity.domain import Role
    from ventros.identity.service import CreatedTenant
    from ventros.platform.bus import Bus
    from ventros.runtime.container import Container

T = TypeVar("T")

ROLES = ("relay", "worker", "ingest", "temporal-worker")


def load_settings(**overrides: object) -> Settings:
    """The process's settings, from the environment (prefix VENTROS_)."""
    return Settings(**overrides)  # type: ignore[arg-type]


def demo_default() -> bool:
    """`ventros run` seeds the demo tenant unless VENTROS_DEMO says otherwise."""
    return os.environ.get("VENTROS_DEMO", "1").lower() not in ("0", "false", "no", "off")


def run_everything() -> None:
    """`ventros run`: embedded servers unless configured, API and every background role."""
    from ventros.runtime.supervisor import run_all

    settings = load_settings(demo=demo_default())
    if settings.demo and "VENTROS_WAHA_ALLOW_PRIVATE" not in os.environ:
        # The demo's WhatsApp is a WAHA simulator on loopback, which channels may reach
        # only with VENTROS_WAHA_ALLOW_PRIVATE: the demo turns it on unless the operator said.
        settings.waha_allow_private = True
    run_all(settings)


def serve_api() -> None:
    """`ventros api`: the HTTP API alone. Raises DatabaseUnavailable."""
    from ventros.runtime.supervisor import run_api_only

    run_api_only(load_settings())


def migrate() -> None:
    from ventros.platform.migrate import upgrade
    from ventros.runtime.locate import configured_or_running_database_url

    settings = load_settings()
    upgrade(configured_or_running_database_url(settings), settings.role_passwords())


async def _with_container(settings: Settings, action: Callable[[Container], Awaitable[T]]) -> T:
    from ventros.runtime.container import bootstrap

    assert settings.database_url is not None
    container = bootstrap(settings, database_url=settings.database_url)
    try:
        return await action(container)
    finally:
        await container.aclose()


def create_tenant(*, name: str, admin_email: str, admin_password: str) -> CreatedTenant:
    from ventros.identity.service import create_tenant as create
    from ventros.runtime.locate import resolved

    async def action(container: Container) -> CreatedTenant:
        return await create(
            container.uow, name=name, admin_email=admin_email, admin_password=admin_password
        )

    return asyncio.run(_with_container(resolved(load_settings()), action))


def create_user(
    *,
    admin_email: str,
    email: str,
    name: str,
    password: str,
    role: Role,
    capacity: int,
    skills: tuple[str, ...],
) -> dict[str, str]:
    """A user of any role, created by an admin of the tenant (as POST /api/v1/agents)."""
    from ventros.identity.permissions import Permission, require
    from ventros.identity.service import RegisterUser, acting_user, register_user
    from ventros.kernel.errors import NotFound
    from ventros.runtime.locate import resolved

    async def action(container: Container) -> dict[str, str]:
        admin = await acting_user(container.uow, email=admin_email)
        if admin is None:
            raise NotFound(f"no user has the email {admin_email}; give a tenant admin's")
        require(admin, Permission.USERS_CREATE)
        user = await register_user(
            container.uow, admin, RegisterUser(email, name, password, role, capacity, skills)
        )
        return {"id": str(user.id), "tenant_id": str(admin.tenant_id), "role": role.value}

    return asyncio.run(_with_container(resolved(load_settings()), action))


def serve_role(name: str) -> None:
    """One background role (as `ventros run` runs it) until SIGINT/SIGTERM, on the
    configured database and Temporal or those of a running `ventros run`."""
    from ventros.runtime.heap import settle_after_startup
    from ventros.runtime.locate import resolved
    from ventros.runtime.registry import wire
    from ventros.runtime.services import roles
    from ventros.runtime.supervisor import configure_logging

    settings = resolved(load_settings())
    configure_logging(settings)

    async def serve(container: Container) -> None:
        from ventros.platform.metrics import serve_metrics

        serve_metrics(container.metrics, settings.metrics_port)  # VENTROS_METRICS_PORT
        service = roles(wire(container))[name]
        settle_after_startup()
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        await service(container, stop)

    asyncio.run(_with_container(settings, serve))


def serve_background() -> None:
    """`ventros background`: every background role together (what `ventros run` starts
    beside its API), on the configured database and Temporal or a running `ventros run`'s."""
    from ventros.runtime.locate import resolved
    from ventros.runtime.supervisor import configure_logging, run_background

    settings = resolved(load_settings())
    configure_logging(settings)
    if settings.background_nice and hasattr(os, "nice"):
        os.nice(settings.background_nice)
    asyncio.run(run_background(settings))


def with_bus(action: Callable[[Bus], Awaitable[T]]) -> T:
    """`action` on the bus, its queues declared (the dead-letter commands). Raises
    BusUnavailable."""
    from ventros.platform.bus import build_bus
    from ventros.runtime.locate import resolved
    from ventros.runtime.registry import wire

    async def run(container: Container) -> T:
        bus = build_bus(container.settings, container.database, name="ventros-dlq")
        try:
            await bus.start(wire(container).queue_specs())
            return await action(bus)
        finally:
            await bus.close()

    return asyncio.run(_with_container(resolved(load_settings()), run))
