"""The `ventros` command."""

from __future__ import annotations

import asyncio
import json

import typer

from ventros.platform.settings import Settings

app = typer.Typer(help="Ventros CRM", no_args_is_help=True, add_completion=False)
tenants_app = typer.Typer(help="Manage tenants", no_args_is_help=True)
app.add_typer(tenants_app, name="tenants")


@app.command()
def run() -> None:
    """Run everything under one supervisor: embedded servers unless URLs are set, API,
    relay, consumers and Temporal worker."""
    from ventros.platform.supervisor import run_all

    run_all(Settings(demo=_demo_default()))


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
    upgrade(configured_or_running_database_url(settings), settings.resolved_app_password())
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


if __name__ == "__main__":
    app()
