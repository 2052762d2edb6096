"""Health endpoints. Each dependency registers a check; /health reports all of them."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse
from sqlalchemy import text

from ventros.channels.health import channels_health

if TYPE_CHECKING:
    from ventros.runtime.container import Container


CHECK_TIMEOUT_SECONDS = 3.0


@dataclass(frozen=True)
class CheckResult:
    healthy: bool
    message: str
    critical: bool = True


HealthCheck = Callable[["Container"], Awaitable[CheckResult]]


async def database_check(container: Container) -> CheckResult:
    async with container.database.app.connect() as connection:
        await connection.execute(text("SELECT 1"))
    return CheckResult(True, "reachable")


async def rabbitmq_check(container: Container) -> CheckResult:
    """The bus: without it the outbox keeps events, so the API is degraded, not down."""
    url = container.settings.rabbitmq_url
    if not url:
        return CheckResult(True, "in-process bus", critical=False)
    import aio_pika

    connection = await aio_pika.connect(url)
    await connection.close()
    return CheckResult(True, "reachable", critical=False)


async def temporal_check(container: Container) -> CheckResult:
    """Timers and deliveries wait in Temporal while it is away: degraded, not down."""
    if not container.temporal.configured:
        return CheckResult(False, "not configured", critical=False)
    client = await container.temporal.client()
    await client.service_client.check_health()
    return CheckResult(True, "reachable", critical=False)


DEFAULT_CHECKS: dict[str, HealthCheck] = {
    "database": database_check,
    "rabbitmq": rabbitmq_check,
    "temporal": temporal_check,
}


async def _run(check: HealthCheck, container: Container) -> CheckResult:
    try:
        return await asyncio.wait_for(check(container), CHECK_TIMEOUT_SECONDS)
    except TimeoutError:
        return CheckResult(
            False, f"no answer within {CHECK_TIMEOUT_SECONDS:.0f}s", _critical(check)
        )
    except Exception as error:  # a failing dependency is a report, not a crash
        return CheckResult(False, f"{type(error).__name__}", _critical(check))


def _critical(check: HealthCheck) -> bool:
    # Only the database makes the API unable to serve; the rest degrade it.
    return check is database_check


async def run_checks(container: Container, checks: dict[str, HealthCheck]) -> dict[str, Any]:
    names = list(checks)
    results = await asyncio.gather(*(_run(checks[name], container) for name in names))
    report = {
        name: {"healthy": r.healthy, "message": r.message}
        for name, r in zip(names, results, strict=True)
    }
    if any(not r.healthy and r.critical for r in results):
        status = "unhealthy"
    elif any(not r.healthy for r in results):
        status = "degraded"
    else:
        status = "healthy"
    return {"status": status, "checks": report}


router = APIRouter(tags=["health"])


def _checks(request: Request) -> dict[str, HealthCheck]:
    checks: dict[str, HealthCheck] = request.app.state.health_checks
    return checks


@router.get("/health")
async def health(request: Request) -> JSONResponse:
    """Every dependency's state; 503 when a critical one is down."""
    container = request.app.state.container
    report = await run_checks(container, _checks(request))
    report["channels"] = await _channels(container)
    return JSONResponse(report, status_code=503 if report["status"] == "unhealthy" else 200)


async def _channels(container: Container) -> list[dict[str, Any]] | str:
    """Each channel's WhatsApp health as its watchdog last saw it (a report, not a check:
    one sick phone does not make the API unhealthy)."""
    try:
        async with container.database.system.connect() as connection:
            return await asyncio.wait_for(channels_health(connection), CHECK_TIMEOUT_SECONDS)
    except Exception as error:
        return f"unavailable: {type(error).__name__}"


@router.get("/health/live")
async def live() -> dict[str, str]:
    """The process is up."""
    return {"status": "alive"}


@router.get("/health/ready")
async def ready(request: Request) -> JSONResponse:
    """Ready for traffic: the database answers."""
    report = await run_checks(request.app.state.container, {"database": database_check})
    ok = report["status"] != "unhealthy"
    return JSONResponse({"status": "ready" if ok else "not_ready"}, status_code=200 if ok else 503)
