"""The `ventros` command: a thin Typer layer over `ventros.runtime.commands`."""

from __future__ import annotations

import gc
import json
import os
import sys
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any, TypeVar

import typer

from ventros.runtime import commands

if TYPE_CHECKING:
    from ventros.platform.bus import Bus, DeadLetter

T = TypeVar("T")


class _Cli(typer.Typer):
    """Every command ends with one sentence saying what to do when a service it needs is
    unreachable or a setting is wrong (exit code 1), not with a traceback."""

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        try:
            return super().__call__(*args, **kwargs)
        except Exception as error:
            advice = what_to_do(error)
            if advice is None or os.environ.get("VENTROS_DEBUG"):
                raise
            typer.echo(f"error: {advice}", err=True)
            sys.exit(1)
        finally:
            # The interpreter's last garbage collections walk every object still alive:
            # seconds of a Ctrl-C for a server that has just stopped, for nothing.
            gc.freeze()


app = _Cli(help="Ventros CRM", no_args_is_help=True, add_completion=False)
tenants_app = typer.Typer(help="Manage tenants", no_args_is_help=True)
app.add_typer(tenants_app, name="tenants")


@app.command()
def run() -> None:
    """Run everything under one supervisor: embedded servers unless URLs are set, API,
    relay, consumers and Temporal worker."""
    commands.run_everything()


@app.command()
def api() -> None:
    """Serve the HTTP API only (the database must be reachable)."""
    from ventros.runtime.locate import DatabaseUnavailable

    try:
        commands.serve_api()
    except DatabaseUnavailable as error:
        typer.echo(f"error: {error}", err=True)
        raise typer.Exit(code=1) from error


@app.command()
def migrate() -> None:
    """Apply database migrations and create the application roles."""
    commands.migrate()
    typer.echo("migrations applied")


@tenants_app.command("create")
def tenants_create(
    name: str = typer.Option(..., help="Tenant name"),
    admin_email: str = typer.Option(..., help="Email of the first admin"),
    admin_password: str = typer.Option(..., help="Password of the first admin"),
) -> None:
    """Create a tenant and its first admin; prints their ids as JSON."""
    from ventros.kernel.errors import DomainError

    try:
        created = commands.create_tenant(
            name=name, admin_email=admin_email, admin_password=admin_password
        )
    except DomainError as error:
        typer.echo(f"error: {error.detail}", err=True)
        raise typer.Exit(code=1) from error
    typer.echo(json.dumps({"tenant_id": str(created.tenant_id), "admin_id": str(created.admin_id)}))


# --------------------------------------------------------------------------- background roles


@app.command()
def ingest() -> None:
    """Run the WhatsApp ingest: stored WAHA webhooks -> contacts, sessions, messages."""
    commands.serve_role("ingest")


@app.command("temporal-worker")
def temporal_worker() -> None:
    """Run the Temporal worker (session timeouts, scheduled messages, webhooks, ads)."""
    commands.serve_role("temporal-worker")


@app.command()
def relay() -> None:
    """Run the outbox relay: one instance is active, others stand by."""
    commands.serve_role("relay")


@app.command()
def worker() -> None:
    """Run the event consumers."""
    commands.serve_role("worker")


@app.command()
def background() -> None:
    """Run every background role in one process: ingest, relay, consumers, Temporal worker,
    retention (what `ventros run` starts beside its API)."""
    commands.serve_background()


users_app = typer.Typer(help="Manage a tenant's users", no_args_is_help=True)
app.add_typer(users_app, name="users")


@users_app.command("create")
def users_create(
    admin_email: str = typer.Option(..., help="An admin of the tenant, who creates the user"),
    email: str = typer.Option(..., help="The new user's email (their login)"),
    name: str = typer.Option(..., help="The new user's name"),
    password: str = typer.Option(..., help="The new user's password (at least 12 characters)"),
    role: str = typer.Option("agent", help="admin, supervisor, agent or viewer"),
    capacity: int = typer.Option(5, min=1, help="At most this many open sessions at once"),
    skill: list[str] = typer.Option([], help="A skill for skill-based assignment (repeat)"),
) -> None:
    """Create a user of any role in the tenant of `--admin-email`; prints their id as JSON.
    (The API does the same: POST /api/v1/agents, as an admin.)"""
    from ventros.identity.domain import Role
    from ventros.kernel.errors import DomainError

    if role not in {r.value for r in Role}:
        typer.echo(f"error: --role must be one of {', '.join(r.value for r in Role)}.", err=True)
        raise typer.Exit(code=1)
    try:
        created = commands.create_user(
            admin_email=admin_email,
            email=email,
            name=name,
            password=password,
            role=Role(role),
            capacity=capacity,
            skills=tuple(skill),
        )
    except DomainError as error:
        typer.echo(f"error: {error.detail}", err=True)
        raise typer.Exit(code=1) from error
    typer.echo(json.dumps(created))


# --------------------------------------------------------------------------- event backbone

dlq_app = typer.Typer(help="Dead letters of the bus (RabbitMQ or in-process)", no_args_is_help=True)
app.add_typer(dlq_app, name="dlq")


def _with_bus(action: Callable[[Bus], Awaitable[T]]) -> T:
    return commands.with_bus(action)


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
    files_lifetime: float = typer.Option(
        180.0, help="Seconds customers' files stay downloadable (WHATSAPP_FILES_LIFETIME)"
    ),
    pair: int = typer.Option(
        0, help="Start unpaired and play a phone pairing with this many QR codes, then WORKING"
    ),
    qr_seconds: float = typer.Option(20.0, help="Seconds each QR code lasts while pairing"),
    legacy_number: list[str] = typer.Option(
        [], help="A number WhatsApp knows by its 12-digit id (check-exists); repeatable"
    ),
    unknown_number: list[str] = typer.Option(
        [], help="A number not on WhatsApp (check-exists); repeatable"
    ),
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
        files_lifetime_seconds=files_lifetime,
        legacy_numbers=set(legacy_number),
        unknown_numbers=set(unknown_number),
    )
    serve(simulator, host=host, port=port, pair_rotations=pair, pair_rotate_seconds=qr_seconds)


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


# --------------------------------------------------------------------------- failures


def what_to_do(error: BaseException) -> str | None:
    """One sentence for the failures a user can fix (None: a bug, keep the traceback)."""
    from pydantic import ValidationError

    from ventros.runtime.locate import DatabaseUnavailable

    chain = _causes(error)
    for cause in chain:
        if isinstance(cause, ValidationError) and cause.title == "Settings":
            first = cause.errors()[0]
            name = "VENTROS_" + "_".join(str(part) for part in first["loc"]).upper()
            return f"{name} is not valid ({first['msg']}); fix it in the environment or .env."
        if isinstance(cause, DatabaseUnavailable):
            return f"{cause}."
    unreachable = [c for c in chain if isinstance(c, OSError | ConnectionError | TimeoutError)]
    if _involves(chain, "temporalio"):
        return (
            "Temporal is not reachable: start `ventros run` (embedded Temporal), "
            "or check VENTROS_TEMPORAL_ADDRESS."
        )
    if _involves(chain, "aiormq", "aio_pika", "pamqp"):
        return (
            "RabbitMQ is not reachable: start it, or check VENTROS_RABBITMQ_URL "
            "(unset, the in-process bus of `ventros run` is used)."
        )
    if _involves(chain, "asyncpg", "sqlalchemy", "psycopg"):
        names = {type(c).__name__ for c in chain}
        if names & {"InvalidPasswordError", "InvalidAuthorizationSpecificationError"}:
            return (
                "the database refused the login: check the user and password in "
                "VENTROS_DATABASE_URL (and VENTROS_APP_DATABASE_PASSWORD)."
            )
        if names & {"UndefinedTableError", "InvalidCatalogNameError"}:
            return (
                "the database has no Ventros tables (or does not exist): create it and run "
                "`.venv/bin/ventros migrate`."
            )
        refused = any(
            type(c).__name__ == "OperationalError" and "connect" in str(c).lower() for c in chain
        )  # psycopg (migrations) says it this way
        if unreachable or refused or names & {"CannotConnectNowError"}:
            return (
                "the database is not reachable: start `ventros run` (embedded PostgreSQL), "
                "or check VENTROS_DATABASE_URL and that PostgreSQL is running."
            )
    return None


def _involves(chain: list[BaseException], *packages: str) -> bool:
    """Whether one of the errors comes from, or passed through, one of these packages."""
    import traceback

    for cause in chain:
        if type(cause).__module__.split(".")[0] in packages:
            return True
        for frame in traceback.extract_tb(cause.__traceback__):
            if any(f"/{package}/" in frame.filename for package in packages):
                return True
    return False


def _causes(error: BaseException) -> list[BaseException]:
    """The error, what caused it, and the members of exception groups, depth first."""
    found: list[BaseException] = []
    pending = [error]
    while pending:
        current = pending.pop()
        if current in found:
            continue
        found.append(current)
        if isinstance(current, BaseExceptionGroup):
            pending.extend(current.exceptions)
        pending.extend(c for c in (current.__cause__, current.__context__) if c is not None)
    return found


if __name__ == "__main__":
    app()
