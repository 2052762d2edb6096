"""`ventros run`: one supervisor for the single-machine default.

Start-up: embedded PostgreSQL and Temporal (unless VENTROS_DATABASE_URL /
VENTROS_TEMPORAL_ADDRESS are set), migrations, the demo tenant, then the HTTP API
(uvicorn, in-process) alongside every registered background service — in a child process
of their own (`ventros background`, VENTROS_RUN_BACKGROUND=process, the default) so that
the API keeps a core of its own under load, or in this process (`inline`).

Shutdown on SIGINT/SIGTERM, in this order: stop event set and uvicorn told to exit,
background services awaited, container disposed, Temporal stopped, PostgreSQL stopped;
exit code 0. The embedded servers are stopped even when start-up fails half-way.

The background services are the runtime's roles (`runtime.services.all_background`), each
`async (container, stop) -> None` running until `stop` is set. A service that raises is
logged and restarted with back-off; the others keep running. Values reach the services
through the container built here from the resolved settings, never through os.environ.
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
from collections.abc import Callable, Generator
from types import FrameType
from typing import TYPE_CHECKING, Any

import structlog
import uvicorn

from ventros.platform.banner import Banner
from ventros.platform.logging import redact_sensitive
from ventros.platform.settings import Settings
from ventros.platform.tracing import add_trace_id, configure_tracing
from ventros.runtime.heap import settle_after_startup
from ventros.runtime.services import BackgroundService

if TYPE_CHECKING:
    from fastapi import FastAPI

    from ventros.identity.service import DemoLogin
    from ventros.platform.embedded.postgres import EmbeddedPostgres
    from ventros.platform.embedded.temporal import EmbeddedTemporal
    from ventros.runtime.container import Container
    from ventros.stand_ins.demo import DemoWhatsApp

log = structlog.get_logger(__name__)


SERVICE_SHUTDOWN_GRACE_SECONDS = 10.0
# Ctrl-C must finish within seconds whatever clients do: requests still running after this
# are cancelled (event streams are ended at once, see _end_event_streams).
HTTP_SHUTDOWN_GRACE_SECONDS = 2
SERVICE_INITIAL_BACKOFF_SECONDS = 1.0
SERVICE_MAX_BACKOFF_SECONDS = 30.0
STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM)


# --------------------------------------------------------------------------- logging


def configure_logging(settings: Settings) -> None:
    """structlog and the standard library (uvicorn, alembic ...) to stdout, one line per
    record: JSON when VENTROS_LOG_JSON=true or when stdout is not a terminal (a log
    collector), else human-readable text."""
    level = logging.getLevelNamesMapping().get(settings.log_level.upper(), logging.INFO)
    configure_tracing()  # exports spans only when OTEL_EXPORTER_OTLP_ENDPOINT is set
    shared: list[structlog.types.Processor] = [
        structlog.contextvars.merge_contextvars,
        add_trace_id,
        structlog.stdlib.add_log_level,
        structlog.stdlib.add_logger_name,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
        redact_sensitive,  # after add_log_level: bodies are masked by level
    ]
    terminal = sys.stdout.isatty()
    json_logs = settings.log_json if settings.log_json is not None else not terminal
    renderer: structlog.types.Processor = (
        structlog.processors.JSONRenderer()
        if json_logs
        else structlog.dev.ConsoleRenderer(colors=terminal)
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
    # Remembered, never raised here: an exception raised wherever the signal lands can
    # land inside logging's fork hook, which then never releases logging's lock, and the
    # next thread that logs (the one stopping embedded Temporal) waits forever. Start-up
    # checks at each step (`_stop_if_interrupted`) and the event loop once it takes over.
    _received.append(signum)


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
    # Until the event loop takes over, a stop signal ends start-up at the next step, which
    # unwinds through `finally`.
    previous = _install_signal_handler(_interrupt)
    try:
        temporal_address = settings.temporal_address
        if not temporal_address:
            temporal = EmbeddedTemporal(
                settings.home / "temporal", namespaces=[settings.temporal_namespace]
            )
            # Boots while PostgreSQL starts, migrations run and the app is built.
            temporal_address = temporal.launch()
        _stop_if_interrupted()
        database_url = settings.database_url
        if not database_url:
            postgres = EmbeddedPostgres(settings.home / "postgres")
            database_url = postgres.start()
        _stop_if_interrupted()
        from ventros.platform import migrate

        migrate.upgrade(database_url, settings.role_passwords())
        _stop_if_interrupted()
        log.info("migrations applied", seconds=round(time.monotonic() - started, 2))
        resolved = settings.model_copy(
            update={"database_url": database_url, "temporal_address": temporal_address}
        )
        _stop_if_interrupted()
        asyncio.run(_serve_all(resolved, temporal, embedded_database=postgres is not None))
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
            _stop_embedded_servers(temporal, postgres)
        finally:
            for sig, handler in previous.items():
                signal.signal(sig, handler)
        log.info("stopped", exit_code=exit_code)
    if exit_code:
        raise SystemExit(exit_code)


def _stop_embedded_servers(*servers: EmbeddedTemporal | EmbeddedPostgres | None) -> None:
    """Side by side: each takes a second or two to stop, and Ctrl-C must be quick."""
    from concurrent.futures import ThreadPoolExecutor

    running = [server for server in servers if server is not None]
    with ThreadPoolExecutor(max_workers=max(len(running), 1)) as pool:
        for stopping in [pool.submit(server.stop) for server in running]:
            stopping.result()


async def _serve_all(
    settings: Settings, temporal: EmbeddedTemporal | None, *, embedded_database: bool = False
) -> None:
    from ventros.runtime.container import bootstrap
    from ventros.runtime.http import create_app
    from ventros.runtime.registry import wire
    from ventros.runtime.services import all_background

    assert settings.database_url is not None
    container = bootstrap(settings, database_url=settings.database_url)
    registry = wire(container)
    settle_after_startup()
    stop = asyncio.Event()
    demo_whatsapp: DemoWhatsApp | None = None
    logins: list[DemoLogin] = []
    services: list[asyncio.Task[None]] = []
    if settings.run_background == "process":
        # At once: the child's start-up (imports, consumers, the Temporal worker) overlaps
        # the demo's seeding and Temporal's boot instead of following them.
        services = _start_services({"background": background_process(settings)}, container, stop)
    try:
        if settings.demo:
            logins = await _seed_demo(container, settings)
            if settings.waha_sim_demo:
                demo_whatsapp = await _start_demo_whatsapp(container, settings)
        server = _Server(_uvicorn_config(create_app(container, registry=registry), settings))
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
            _end_event_streams()
            server.should_exit = True

        for sig in STOP_SIGNALS:
            loop.add_signal_handler(sig, request_stop, sig)
        if _received:  # a signal whose exception was swallowed before the loop took over
            request_stop(signal.Signals(_received[0]))
        if not services:
            services = _start_services(all_background(registry), container, stop)
        banner = Banner(
            home=settings.home,
            embedded_database=embedded_database,
            logins=logins,
            simulator_url=demo_whatsapp.url if demo_whatsapp else None,
        )
        announce = asyncio.create_task(_announce(server, settings, banner, demo_whatsapp))
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
        stop.set()  # start-up may have failed with the background process running
        await _finish(services)
        if demo_whatsapp is not None:  # after the worker: its last sends are answered
            await demo_whatsapp.stop()
        await container.aclose()


async def _seed_demo(container: Container, settings: Settings) -> list[DemoLogin]:
    from ventros.identity.service import ensure_demo_tenant

    demo = await ensure_demo_tenant(
        container.uow,
        name=settings.demo_tenant_name,
        email=settings.demo_email,
        password=settings.demo_password,
    )
    log.info("demo tenant created" if demo.created else "demo tenant already exists")
    _say(f"Demo login: {settings.demo_email} {settings.demo_password}")  # scripts read it
    if demo.created:
        await _seed_demo_team(container, settings)
    from ventros.identity.service import DemoLogin
    from ventros.stand_ins.demo_team import DEMO_USERS

    return [*demo.logins, *(DemoLogin(u.role, u.email, u.password) for u in DEMO_USERS)]


async def _seed_demo_team(container: Container, settings: Settings) -> None:
    """The demo's team and history, once; a failure leaves a working, emptier demo."""
    from ventros.identity.service import demo_admin
    from ventros.stand_ins.demo_team import seed_demo_team

    admin = await demo_admin(container.uow, email=settings.demo_email)
    if admin is None:
        return
    try:
        await seed_demo_team(container.uow, admin)
    except Exception:
        log.exception("demo team not seeded")


async def _start_demo_whatsapp(container: Container, settings: Settings) -> DemoWhatsApp | None:
    from ventros.stand_ins.demo import DEMO_CHANNEL_NAME, start_demo_whatsapp

    demo = await start_demo_whatsapp(container.uow, settings, container.secret_box)
    if demo is not None:
        _say(f"Demo WhatsApp: channel {DEMO_CHANNEL_NAME!r} on the WAHA simulator {demo.url}")
        _say(f'  a customer writes in: ventros waha-sim say --sim-url {demo.url} "Olá!"')
    return demo


async def _announce(
    server: _Server,
    settings: Settings,
    banner: Banner,
    demo_whatsapp: DemoWhatsApp | None = None,
) -> None:
    await server.ready.wait()
    port = settings.http_port
    for listener in server.servers:
        for sock in listener.sockets:
            port = sock.getsockname()[1]
    for line in banner.lines(f"http://{settings.http_host}:{port}"):
        _say(line)
    if demo_whatsapp is not None:
        host = settings.http_host if settings.http_host not in ("0.0.0.0", "::") else "127.0.0.1"  # noqa: S104
        try:
            await demo_whatsapp.api_ready(f"http://{host}:{port}")
        except Exception:
            log.exception("the demo customer could not write in")


def _name(service: BackgroundService) -> str:
    return getattr(service, "__qualname__", None) or repr(service)


async def _supervise(
    service: BackgroundService,
    container: Container,
    stop: asyncio.Event,
    *,
    name: str | None = None,
) -> None:
    """Run one service until stop; if it crashes, log and restart it with back-off."""
    name = name or _name(service)
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


def background_process(settings: Settings) -> BackgroundService:
    """Every background role in a child process (`ventros background`) on the settings this
    process resolved (its embedded database and Temporal). The child is the supervised
    service: if it dies it is started again with back-off, like a crashed role. It runs in a
    session of its own (Ctrl-C reaches it only through us, once) and gets SIGTERM if we
    die without stopping it."""

    async def run(_container: Container, stop: asyncio.Event) -> None:
        env = _background_env(settings)
        env["VENTROS_PARENT_PID"] = str(os.getpid())
        child = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "ventros.cli", "background", env=env, start_new_session=True
        )
        try:
            stopping = asyncio.create_task(stop.wait())
            exited = asyncio.create_task(child.wait())
            await asyncio.wait({stopping, exited}, return_when=asyncio.FIRST_COMPLETED)
            stopping.cancel()
            if not stop.is_set():
                raise RuntimeError(f"the background process exited with {child.returncode}")
            child.terminate()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(child.wait(), SERVICE_SHUTDOWN_GRACE_SECONDS)
        finally:
            if child.returncode is None:  # cancelled, or deaf to SIGTERM
                child.kill()
                await child.wait()

    return run


def _background_env(settings: Settings) -> dict[str, str]:
    """The child's environment: ours, plus what this process resolved or decided itself."""
    env = dict(os.environ)
    env.update(
        VENTROS_HOME=str(settings.home),
        VENTROS_DEMO="false",
        VENTROS_WAHA_ALLOW_PRIVATE=str(settings.waha_allow_private).lower(),
    )
    if settings.database_url:
        env["VENTROS_DATABASE_URL"] = settings.database_url
    if settings.temporal_address:
        env["VENTROS_TEMPORAL_ADDRESS"] = settings.temporal_address
    return env


async def _temporal_reachable(container: Container, stop: asyncio.Event) -> None:
    """Waits for the configured Temporal (`ventros run` starts us while its embedded server
    boots), so that no role starts only to fail and be restarted."""
    if not container.temporal.configured:
        return
    while not stop.is_set():
        try:
            await container.temporal.client()
            return
        except Exception:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), 0.25)


def _stop_with_parent(stop: asyncio.Event) -> None:
    """In `ventros run`'s child: SIGTERM when the parent dies (Linux), and stop at once if
    it died before we asked."""
    parent = os.environ.get("VENTROS_PARENT_PID")
    if not parent:
        return
    if sys.platform.startswith("linux"):
        import ctypes

        pr_set_pdeathsig = 1
        ctypes.CDLL(None).prctl(pr_set_pdeathsig, signal.SIGTERM)
    if os.getppid() != int(parent):
        stop.set()


async def run_background(settings: Settings) -> None:
    """`ventros background`: what `ventros run` runs beside its API, in one process, until
    SIGINT/SIGTERM."""
    from ventros.platform.metrics import serve_metrics
    from ventros.runtime.container import bootstrap
    from ventros.runtime.registry import wire
    from ventros.runtime.services import all_background

    assert settings.database_url is not None
    container = bootstrap(settings, database_url=settings.database_url)
    try:
        serve_metrics(container.metrics, settings.metrics_port)
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in STOP_SIGNALS:
            loop.add_signal_handler(sig, stop.set)
        _stop_with_parent(stop)
        await _temporal_reachable(container, stop)
        services = _start_services(all_background(wire(container)), container, stop)
        settle_after_startup()
        await stop.wait()
        await _finish(services)
    finally:
        await container.aclose()


def _start_services(
    services: dict[str, BackgroundService], container: Container, stop: asyncio.Event
) -> list[asyncio.Task[None]]:
    return [
        asyncio.create_task(_supervise(service, container, stop, name=name), name=name)
        for name, service in services.items()
    ]


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
    from ventros.runtime.locate import configured_or_running_database_url

    configure_logging(settings)
    database_url = configured_or_running_database_url(settings)
    asyncio.run(_serve_api(settings.model_copy(update={"database_url": database_url})))


async def _serve_api(settings: Settings) -> None:
    from ventros.runtime.container import bootstrap
    from ventros.runtime.http import create_app

    assert settings.database_url is not None
    container = bootstrap(settings, database_url=settings.database_url)
    try:
        server = _Server(_uvicorn_config(create_app(container), settings))
        settle_after_startup()
        loop = asyncio.get_running_loop()

        def request_stop(sig: signal.Signals) -> None:
            log.info("stopping", signal=sig.name)
            _end_event_streams()
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


def _end_event_streams() -> None:
    """Server-Sent Event streams never end on their own, and uvicorn waits for open
    connections: sse-starlette learns of the shutdown through uvicorn's own signal
    handler, which the supervisor replaces, so it is told here."""
    from sse_starlette.sse import AppStatus

    AppStatus.should_exit = True


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
        access_log=settings.access_log,
        timeout_graceful_shutdown=HTTP_SHUTDOWN_GRACE_SECONDS,
    )
