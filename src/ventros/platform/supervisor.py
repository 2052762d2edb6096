"""`ventros run`: one supervisor for the single-machine default.

Start-up: embedded PostgreSQL and Temporal (unless VENTROS_DATABASE_URL /
VENTROS_TEMPORAL_ADDRESS are set), migrations, the demo tenant, then the HTTP API
(uvicorn, in-process) alongside every registered background service.

Shutdown on SIGINT/SIGTERM, in this order: stop event set and uvicorn told to exit,
background services awaited, container disposed, Temporal stopped, PostgreSQL stopped;
exit code 0. The embedded servers are stopped even when start-up fails half-way.

Background services are registered with one line, e.g. in the module that defines one:

    BACKGROUND_SERVICES.append(run_outbox_relay)

where `async def run_outbox_relay(container: Container, stop: asyncio.Event) -> None`
runs until `stop` is set. A service that raises is logged and restarted with back-off;
the others keep running.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
import socket
import sys
import time
from collections.abc import Awaitable, Callable, Generator
from types import FrameType
from typing import TYPE_CHECKING, Any

import structlog
import uvicorn

from ventros.conversations.worker import run_ingest
from ventros.platform.consumers import run_worker
from ventros.platform.logging import redact_sensitive
from ventros.platform.relay import run_relay
from ventros.platform.settings import Settings
from ventros.platform.temporal import run_temporal_worker
from ventros.privacy.service import run_privacy_retention

if TYPE_CHECKING:
    from fastapi import FastAPI

    from ventros.bootstrap import Container
    from ventros.platform.embedded.temporal import EmbeddedTemporal
    from ventros.stand_ins.demo import DemoWhatsApp

log = structlog.get_logger(__name__)

BackgroundService = Callable[["Container", asyncio.Event], Awaitable[None]]

# Everything that runs beside the API under `ventros run` (outbox relay, event consumers,
# Temporal worker ...). Append to register; each runs until the stop event is set.
BACKGROUND_SERVICES: list[BackgroundService] = []
BACKGROUND_SERVICES.append(run_temporal_worker)  # idles without VENTROS_TEMPORAL_ADDRESS
BACKGROUND_SERVICES.append(run_ingest)  # WAHA webhooks stored by the API -> contacts, messages
BACKGROUND_SERVICES.append(run_relay)  # outbox -> bus (one active, others stand by)
BACKGROUND_SERVICES.append(run_worker)  # bus -> registered consumers
BACKGROUND_SERVICES.append(run_privacy_retention)  # LGPD: purge expired deleted contacts

SERVICE_SHUTDOWN_GRACE_SECONDS = 10.0
SERVICE_INITIAL_BACKOFF_SECONDS = 1.0
SERVICE_MAX_BACKOFF_SECONDS = 30.0
STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM)


# --------------------------------------------------------------------------- logging


def configure_logging(settings: Settings) -> None:
    """structlog and the standard library (uvicorn, alembic ...) to stdout, one line per
    record: JSON when VENTROS_LOG_JSON (default), else key=value text."""
    level = logging.getLevelNamesMapping().get(settings.log_level.upper(), logging.INFO)
    shared: list[structlog.types.Processor] = [
        structlog.contextvars.merge_contextvars,
        structlog.stdlib.add_log_level,
        structlog.stdlib.add_logger_name,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
        redact_sensitive,  # after add_log_level: bodies are masked by level
    ]
    renderer: structlog.types.Processor = (
        structlog.processors.JSONRenderer()
        if settings.log_json
        else structlog.dev.ConsoleRenderer(colors=False)
    )
    structlog.configure(
        processors=[
            structlog.stdlib.filter_by_level,
            *shared,
            structlog.stdlib.PositionalArgumentsFormatter(),
            structlog.processors.StackInfoRenderer(),
            structlog.stdlib.ProcessorFormatter.wrap_for_formatter,
        ],
        logger_factory=structlog.stdlib.LoggerFactory(),
        wrapper_class=structlog.stdlib.BoundLogger,
        cache_logger_on_first_use=True,
    )
    handler = logging.StreamHandler(sys.stdout)
    handler.setFormatter(
        structlog.stdlib.ProcessorFormatter(
            foreign_pre_chain=shared,
            processors=[
                structlog.stdlib.ProcessorFormatter.remove_processors_meta,
                structlog.processors.format_exc_info,
                renderer,
            ],
        )
    )
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    for name in ("uvicorn", "uvicorn.error", "uvicorn.access", "alembic"):
        logger = logging.getLogger(name)
        logger.handlers.clear()
        logger.propagate = True
    logging.getLogger("alembic.runtime.plugins").setLevel(max(level, logging.WARNING))


def _say(line: str) -> None:
    """The few plain lines meant for the person at the terminal (and for scripts)."""
    print(line, flush=True)  # noqa: T201


# --------------------------------------------------------------------------- signals


class _Interrupted(BaseException):
    """A stop signal arrived before the event loop took over signal handling."""


_SignalHandler = Callable[[int, FrameType | None], Any] | int | None


def _install_signal_handler(handler: _SignalHandler) -> dict[signal.Signals, _SignalHandler]:
    """Handle SIGINT and SIGTERM with `handler`; returns the previous handlers."""
    return {sig: signal.signal(sig, handler) for sig in STOP_SIGNALS}


_received: list[int] = []


def _interrupt(signum: int, _frame: FrameType | None) -> None:
    # Remembered too: an exception raised inside a `finally` or `__del__` (logging's lock
    # release, say) is printed and dropped, and start-up would carry on.
    _received.append(signum)
    raise _Interrupted(signum)


def _stop_if_interrupted() -> None:
    if _received:
        raise _Interrupted(_received[0])


def _already_stopping(signum: int, _frame: FrameType | None) -> None:
    log.warning("already stopping", signal=signal.Signals(signum).name)


# --------------------------------------------------------------------------- ventros run


def run_all(settings: Settings) -> None:
    """Run everything until SIGINT/SIGTERM; raises SystemExit(1) if start-up fails."""
    from ventros.platform.embedded.postgres import EmbeddedPostgres
    from ventros.platform.embedded.temporal import EmbeddedTemporal

    configure_logging(settings)
    postgres: EmbeddedPostgres | None = None
    temporal: EmbeddedTemporal | None = None
    exit_code = 0
    started = time.monotonic()
    # Until the event loop takes over, a stop signal unwinds start-up through `finally`.
    previous = _install_signal_handler(_interrupt)
    try:
        temporal_address = settings.temporal_address
        if not temporal_address:
            temporal = EmbeddedTemporal(
                settings.home / "temporal", namespaces=[settings.temporal_namespace]
            )
            # Boots while PostgreSQL starts, migrations run and the app is built.
            temporal_address = temporal.launch()
        database_url = settings.database_url
        if not database_url:
            postgres = EmbeddedPostgres(settings.home / "postgres")
            database_url = postgres.start()
        _stop_if_interrupted()
        from ventros.platform import migrate

        migrate.upgrade(database_url, settings.role_passwords())
        _stop_if_interrupted()
        log.info("migrations applied", seconds=round(time.monotonic() - started, 2))
        os.environ["VENTROS_DATABASE_URL"] = database_url
        os.environ["VENTROS_TEMPORAL_ADDRESS"] = temporal_address
        resolved = settings.model_copy(
            update={"database_url": database_url, "temporal_address": temporal_address}
        )
        _stop_if_interrupted()
        asyncio.run(_serve_all(resolved, temporal))
    except _Interrupted as interrupted:
        log.info("stopped during start-up", signal=signal.Signals(interrupted.args[0]).name)
    except KeyboardInterrupt:
        log.info("stopped during start-up", signal="SIGINT")
    except SystemExit as exiting:  # uvicorn exits this way when it cannot start
        exit_code = exiting.code if isinstance(exiting.code, int) else 1
    except Exception:
        log.exception("ventros run failed")
        exit_code = 1
    finally:
        _install_signal_handler(_already_stopping)
        try:
            if temporal is not None:
                temporal.stop()
            if postgres is not None:
                postgres.stop()
        finally:
            for sig, handler in previous.items():
                signal.signal(sig, handler)
        log.info("stopped", exit_code=exit_code)
    if exit_code:
        raise SystemExit(exit_code)


async def _serve_all(settings: Settings, temporal: EmbeddedTemporal | None) -> None:
    from ventros.api.app import create_app
    from ventros.bootstrap import bootstrap

    assert settings.database_url is not None
    container = bootstrap(settings, database_url=settings.database_url)
    stop = asyncio.Event()
    demo_whatsapp: DemoWhatsApp | None = None
    try:
        if settings.demo:
            await _seed_demo(container, settings)
            if settings.waha_sim_demo:
                demo_whatsapp = await _start_demo_whatsapp(container, settings)
        server = _Server(_uvicorn_config(create_app(container), settings))
        if temporal is not None:
            await temporal.wait_ready()  # background services (Temporal worker) need it
        loop = asyncio.get_running_loop()

        def request_stop(sig: signal.Signals) -> None:
            if stop.is_set():
                log.warning("second stop signal: not waiting for open connections")
                server.force_exit = True
                return
            log.info("stopping", signal=sig.name)
            stop.set()
            server.should_exit = True

        for sig in STOP_SIGNALS:
            loop.add_signal_handler(sig, request_stop, sig)
        if _received:  # a signal whose exception was swallowed before the loop took over
            request_stop(signal.Signals(_received[0]))
        services = [
            asyncio.create_task(_supervise(service, container, stop), name=_name(service))
            for service in BACKGROUND_SERVICES
        ]
        announce = asyncio.create_task(_announce(server, settings, demo_whatsapp))
        try:
            await server.serve()
        finally:
            stop.set()
            announce.cancel()
            await _finish(services)
            for sig in STOP_SIGNALS:
                loop.remove_signal_handler(sig)
            _install_signal_handler(_already_stopping)  # asyncio restored the defaults
    finally:
        if demo_whatsapp is not None:  # after the worker: its last sends are answered
            await demo_whatsapp.stop()
        await container.aclose()


async def _seed_demo(container: Container, settings: Settings) -> None:
    from ventros.identity.service import ensure_demo_tenant

    created = await ensure_demo_tenant(
        container.uow,
        name=settings.demo_tenant_name,
        email=settings.demo_email,
        password=settings.demo_password,
    )
    log.info("demo tenant created" if created else "demo tenant already exists")
    _say(f"Demo login: {settings.demo_email} {settings.demo_password}")


async def _start_demo_whatsapp(container: Container, settings: Settings) -> DemoWhatsApp | None:
    from ventros.stand_ins.demo import DEMO_CHANNEL_NAME, start_demo_whatsapp

    demo = await start_demo_whatsapp(container.uow, settings)
    if demo is not None:
        _say(f"Demo WhatsApp: channel {DEMO_CHANNEL_NAME!r} on the WAHA simulator {demo.url}")
        _say(f'  a customer writes in: ventros waha-sim say --sim-url {demo.url} "Olá!"')
    return demo


async def _announce(
    server: _Server, settings: Settings, demo_whatsapp: DemoWhatsApp | None = None
) -> None:
    await server.ready.wait()
    port = settings.http_port
    for listener in server.servers:
        for sock in listener.sockets:
            port = sock.getsockname()[1]
    _say(f"Ventros is up: http://{settings.http_host}:{port}")
    if demo_whatsapp is not None:
        host = settings.http_host if settings.http_host not in ("0.0.0.0", "::") else "127.0.0.1"  # noqa: S104
        try:
            await demo_whatsapp.api_ready(f"http://{host}:{port}")
        except Exception:
            log.exception("the demo customer could not write in")


def _name(service: BackgroundService) -> str:
    return getattr(service, "__qualname__", None) or repr(service)


async def _supervise(service: BackgroundService, container: Container, stop: asyncio.Event) -> None:
    """Run one service until stop; if it crashes, log and restart it with back-off."""
    name = _name(service)
    delay = SERVICE_INITIAL_BACKOFF_SECONDS
    while not stop.is_set():
        began = time.monotonic()
        try:
            await service(container, stop)
        except asyncio.CancelledError:
            raise
        except Exception:
            if time.monotonic() - began > 60:  # it had been fine for a while
                delay = SERVICE_INITIAL_BACKOFF_SECONDS
            log.exception("background service crashed", service=name, restart_in=delay)
        else:
            if not stop.is_set():
                log.warning("background service returned before shutdown", service=name)
            return
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), delay)
        delay = min(delay * 2, SERVICE_MAX_BACKOFF_SECONDS)


async def _finish(services: list[asyncio.Task[None]]) -> None:
    if not services:
        return
    _done, pending = await asyncio.wait(services, timeout=SERVICE_SHUTDOWN_GRACE_SECONDS)
    for task in pending:
        log.warning("background service did not stop in time; cancelling", service=task.get_name())
        task.cancel()
    await asyncio.gather(*services, return_exceptions=True)


# --------------------------------------------------------------------------- ventros api


def run_api_only(settings: Settings) -> None:
    """The HTTP API alone, on the configured database (or a running `ventros run`'s)."""
    from ventros.platform.runtime import configured_or_running_database_url

    configure_logging(settings)
    database_url = configured_or_running_database_url(settings)
    asyncio.run(_serve_api(settings.model_copy(update={"database_url": database_url})))


async def _serve_api(settings: Settings) -> None:
    from ventros.api.app import create_app
    from ventros.bootstrap import bootstrap

    assert settings.database_url is not None
    container = bootstrap(settings, database_url=settings.database_url)
    try:
        server = _Server(_uvicorn_config(create_app(container), settings))
        loop = asyncio.get_running_loop()

        def request_stop(sig: signal.Signals) -> None:
            log.info("stopping", signal=sig.name)
            server.force_exit = server.should_exit
            server.should_exit = True

        for sig in STOP_SIGNALS:
            loop.add_signal_handler(sig, request_stop, sig)
        try:
            await server.serve()
        finally:
            for sig in STOP_SIGNALS:
                loop.remove_signal_handler(sig)
    finally:
        await container.aclose()


# --------------------------------------------------------------------------- uvicorn


class _Server(uvicorn.Server):
    """uvicorn without its own signal handling: the supervisor decides when to stop (and
    uvicorn would otherwise re-raise the signal after serving, killing the process before
    the embedded servers are stopped)."""

    def __init__(self, config: uvicorn.Config) -> None:
        super().__init__(config)
        self.ready = asyncio.Event()

    @contextlib.contextmanager
    def capture_signals(self) -> Generator[None, None, None]:
        yield

    async def startup(self, sockets: list[socket.socket] | None = None) -> None:
        await super().startup(sockets)
        if self.started:
            self.ready.set()


def _uvicorn_config(app: FastAPI, settings: Settings) -> uvicorn.Config:
    return uvicorn.Config(
        app,
        host=settings.http_host,
        port=settings.http_port,
        log_level=settings.log_level.lower(),
        log_config=None,  # keep configure_logging's handlers
        lifespan="on",
        proxy_headers=True,
        server_header=False,
    )
