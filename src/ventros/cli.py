"""The `ventros` command."""

from __future__ import annotations

import asyncio
import json
import os
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, TypeVar

import typer

from ventros.platform.settings import Settings

if TYPE_CHECKING:
    from ventros.platform.bus import Bus, DeadLetter

T = TypeVar("T")

app = typer.Typer(help="Ventros CRM", no_args_is_help=True, add_completion=False)
tenants_app = typer.Typer(help="Manage tenants", no_args_is_help=True)
app.add_typer(tenants_app, name="tenants")


@app.command()
def run() -> None:
    """Run everything under one supervisor: embedded servers unless URLs are set, API,
    relay, consumers and Temporal worker."""
    from ventros.platform.supervisor import run_all

    settings = Settings(demo=_demo_default())
    if settings.demo and "VENTROS_WAHA_ALLOW_PRIVATE" not in os.environ:
        # The demo's WhatsApp is a WAHA simulator on loopback, which channels may reach
        # only with VENTROS_WAHA_ALLOW_PRIVATE: the demo turns it on unless the operator said.
        settings.waha_allow_private = True
    run_all(settings)


def _demo_default() -> bool:
    # `ventros run` seeds the demo tenant unless VENTROS_DEMO says otherwise.
    import os

    return os.environ.get("VENTROS_DEMO", "1").lower() not in ("0", "false", "no", "off")


@app.command()
def api() -> None:
    """Serve the HTTP API only (the database must be reachable)."""
    from ventros.platform.runtime import DatabaseUnavailable
    from ventros.platform.supervisor import run_api_only

    try:
        run_api_only(Settings())
    except DatabaseUnavailable as error:
        typer.echo(f"error: {error}", err=True)
        raise typer.Exit(code=1) from error


@app.command()
def migrate() -> None:
    """Apply database migrations and create the application roles."""
    from ventros.platform.migrate import upgrade
    from ventros.platform.runtime import configured_or_running_database_url

    settings = Settings()
    upgrade(configured_or_running_database_url(settings), settings.role_passwords())
    typer.echo("migrations applied")


@tenants_app.command("create")
def tenants_create(
    name: str = typer.Option(..., help="Tenant name"),
    admin_email: str = typer.Option(..., help="Email of the first admin"),
    admin_password: str = typer.Option(..., help="Password of the first admin"),
) -> None:
    """Create a tenant and its first admin; prints their ids as JSON."""
    from ventros.bootstrap import bootstrap
    from ventros.identity.service import create_tenant
    from ventros.kernel.errors import DomainError
    from ventros.platform.runtime import configured_or_running_database_url

    settings = Settings()

    async def create() -> dict[str, str]:
        container = bootstrap(settings, database_url=configured_or_running_database_url(settings))
        try:
            created = await create_tenant(
                container.uow, name=name, admin_email=admin_email, admin_password=admin_password
            )
        finally:
            await container.aclose()
        return {"tenant_id": str(created.tenant_id), "admin_id": str(created.admin_id)}

    try:
        typer.echo(json.dumps(asyncio.run(create())))
    except DomainError as error:
        typer.echo(f"error: {error.detail}", err=True)
        raise typer.Exit(code=1) from error


# --------------------------------------------------------------------------- event backbone

dlq_app = typer.Typer(help="Dead letters of the bus (RabbitMQ or in-process)", no_args_is_help=True)
app.add_typer(dlq_app, name="dlq")


def _serve_background(name: str) -> None:
    """Run one background service (as `ventros run` does) until SIGINT/SIGTERM."""
    import signal

    from ventros.bootstrap import bootstrap
    from ventros.conversations.worker import run_ingest
    from ventros.platform.consumers import run_worker
    from ventros.platform.relay import run_relay
    from ventros.platform.runtime import configured_or_running_database_url
    from ventros.platform.supervisor import configure_logging
    from ventros.platform.temporal import run_temporal_worker

    service = {
        "relay": run_relay,
        "worker": run_worker,
        "ingest": run_ingest,
        "temporal-worker": run_temporal_worker,
    }[name]
    settings = _with_running_temporal(Settings())
    configure_logging(settings)

    async def serve() -> None:
        container = bootstrap(settings, database_url=configured_or_running_database_url(settings))
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        try:
            await service(container, stop)
        finally:
            await container.aclose()

    asyncio.run(serve())


def _with_running_temporal(settings: Settings) -> Settings:
    """Like the database: without VENTROS_TEMPORAL_ADDRESS, the embedded server of a
    running `ventros run` with the same home."""
    if settings.temporal_address:
        return settings
    from ventros.platform.embedded.temporal import EmbeddedTemporal

    address = EmbeddedTemporal(settings.home / "temporal").running_address()
    return settings.model_copy(update={"temporal_address": address}) if address else settings


@app.command()
def ingest() -> None:
    """Run the WhatsApp ingest: stored WAHA webhooks -> contacts, sessions, messages."""
    _serve_background("ingest")


@app.command("temporal-worker")
def temporal_worker() -> None:
    """Run the Temporal worker (session timeouts, scheduled messages, webhooks, ads)."""
    _serve_background("temporal-worker")


@app.command()
def relay() -> None:
    """Run the outbox relay: one instance is active, others stand by."""
    _serve_background("relay")


@app.command()
def worker() -> None:
    """Run the event consumers."""
    _serve_background("worker")


def _with_bus(action: Callable[[Bus], Awaitable[T]]) -> T:
    from ventros.bootstrap import bootstrap
    from ventros.platform.bus import BusUnavailable, build_bus
    from ventros.platform.consumers import load_consumers
    from ventros.platform.runtime import configured_or_running_database_url

    settings = Settings()

    async def run() -> T:
        container = bootstrap(settings, database_url=configured_or_running_database_url(settings))
        bus = build_bus(settings, container.database, name="ventros-dlq")
        try:
            await bus.start(load_consumers().queue_specs())
            return await action(bus)
        finally:
            await bus.close()
            await container.aclose()

    try:
        return asyncio.run(run())
    except BusUnavailable as error:
        typer.echo(f"error: {error}", err=True)
        raise typer.Exit(code=1) from error


@dlq_app.command("list")
def dlq_list(
    queue: str | None = typer.Option(None, help="Only this queue's dead letters"),
    limit: int = typer.Option(50, min=1, help="At most this many"),
    as_json: bool = typer.Option(False, "--json", help="One JSON object per line"),
) -> None:
    """Show dead letters, oldest first, with the error that killed them."""

    async def fetch(bus: Bus) -> list[DeadLetter]:
        return await bus.dead_letters(queue, limit)

    letters = _with_bus(fetch)
    for letter in letters:
        if as_json:
            typer.echo(
                json.dumps(
                    {
                        "queue": letter.queue,
                        "message_id": letter.message_id,
                        "routing_key": letter.routing_key,
                        "attempts": letter.attempts,
                        "failed_at": letter.failed_at.isoformat() if letter.failed_at else None,
                        "error": letter.error,
                        "headers": dict(letter.headers),
                        "body": letter.body.decode("utf-8", "replace"),
                    }
                )
            )
        else:
            typer.echo(
                f"{letter.queue}  {letter.message_id}  {letter.routing_key}  "
                f"attempts={letter.attempts}  {letter.error}"
            )
    if not as_json:
        typer.echo(f"{len(letters)} dead letter(s)")


@dlq_app.command("replay")
def dlq_replay(
    queue: str | None = typer.Option(None, help="Only this queue's dead letters"),
    message_id: list[str] = typer.Option([], "--id", help="Only these message ids"),
) -> None:
    """Put dead letters back into their queue for another round of deliveries."""

    async def replay(bus: Bus) -> int:
        return await bus.replay_dead_letters(queue, message_id)

    typer.echo(f"replayed {_with_bus(replay)} dead letter(s)")


@dlq_app.command("purge")
def dlq_purge(
    queue: str | None = typer.Option(None, help="Only this queue's dead letters"),
    yes: bool = typer.Option(False, "--yes", help="Do not ask for confirmation"),
) -> None:
    """Delete dead letters for good."""
    if not yes:
        typer.confirm(f"Delete the dead letters of {queue or 'every queue'}?", abort=True)

    async def purge(bus: Bus) -> int:
        return await bus.purge_dead_letters(queue)

    typer.echo(f"purged {_with_bus(purge)} dead letter(s)")


# --------------------------------------------------------------------------- WAHA simulator

waha_sim_app = typer.Typer(
    help="WAHA simulator: WAHA's API and signed webhooks, locally (demos, tests, benchmarks)",
    invoke_without_command=True,
)
app.add_typer(waha_sim_app, name="waha-sim")


@waha_sim_app.callback()
def waha_sim(
    ctx: typer.Context,
    host: str = typer.Option("127.0.0.1", help="Address to listen on"),
    port: int = typer.Option(3000, help="Port to listen on (WAHA's default is 3000)"),
    api_key: str = typer.Option("waha-sim-api-key", help="X-Api-Key the sends must carry"),
    webhook_url: str | None = typer.Option(
        None, help="Where webhooks go, e.g. http://127.0.0.1:8000/webhooks/waha/<channel id>"
    ),
    webhook_secret: str | None = typer.Option(None, help="HMAC key of the webhooks"),
    session: str = typer.Option("default", help="WAHA session name"),
    acks: bool = typer.Option(True, help="Post message.ack (sent, delivered) after each send"),
    read_acks: bool = typer.Option(False, help="Also post the read ack"),
    ack_delay: float = typer.Option(0.05, help="Seconds between a send and each ack"),
) -> None:
    """Serve the simulator (or run a subcommand: `say`)."""
    if ctx.invoked_subcommand is not None:
        return
    from ventros.stand_ins.waha import WahaSimulator, serve

    simulator = WahaSimulator(
        api_key=api_key or None,
        webhook_url=webhook_url,
        webhook_secret=webhook_secret,
        sessions=(session,),
        acks=acks,
        read_acks=read_acks,
        ack_delay_seconds=ack_delay,
    )
    serve(simulator, host=host, port=port)


@waha_sim_app.command("say")
def waha_sim_say(
    text: str = typer.Argument(..., help="What the customer writes"),
    sender: str = typer.Option("5511976543210", "--from", help="The customer's phone or chat id"),
    push_name: str | None = typer.Option("Mariana Costa", help="The customer's WhatsApp name"),
    sim_url: str = typer.Option("http://127.0.0.1:3000", help="A running simulator"),
    to_url: str | None = typer.Option(
        None,
        help="Post straight to this webhook URL (http://…/webhooks/waha/<channel id>), "
        "no simulator needed",
    ),
    secret: str | None = typer.Option(None, help="HMAC key when posting straight to --to-url"),
    session: str = typer.Option("default", help="WAHA session name (with --to-url)"),
) -> None:
    """Play a customer writing in: a signed `message` webhook, like WAHA's."""
    import httpx

    from ventros.stand_ins.waha import (
        chat_id_of,
        customer_payload,
        encode,
        envelope,
        webhook_headers,
    )

    try:
        if to_url:
            payload = customer_payload(chat_id_of(sender), text, push_name=push_name)
            body = encode(envelope("message", session, payload))
            answer = httpx.post(
                to_url, content=body, headers=webhook_headers(body, secret), timeout=30
            )
            typer.echo(f"{answer.status_code} {answer.text}")
            if answer.status_code >= 300:
                raise typer.Exit(code=1)
            return
        answer = httpx.post(
            f"{sim_url.rstrip('/')}/_sim/customer-message",
            json={"from": sender, "body": text, "push_name": push_name},
            timeout=30,
        )
    except httpx.HTTPError as error:
        typer.echo(f"error: {to_url or sim_url} is not reachable ({error})", err=True)
        raise typer.Exit(code=1) from error
    except ValueError as error:
        typer.echo(f"error: {error}", err=True)
        raise typer.Exit(code=1) from error
    typer.echo(answer.text)
    if answer.status_code >= 400 or (answer.json().get("webhook_status") or 500) >= 300:
        raise typer.Exit(code=1)


if __name__ == "__main__":
    app()
