"""Where the database and Temporal are: the configured ones, or the embedded servers of a
running `ventros run` under VENTROS_HOME."""

from __future__ import annotations

from ventros.platform.settings import Settings


class DatabaseUnavailable(RuntimeError):
    pass


def configured_or_running_database_url(settings: Settings) -> str:
    """VENTROS_DATABASE_URL, else the URL of an embedded server already running under home."""
    if settings.database_url:
        return settings.database_url
    from ventros.platform.embedded.postgres import EmbeddedPostgres

    url = EmbeddedPostgres(settings.home / "postgres").running_url()
    if url is None:
        raise DatabaseUnavailable(
            "no database: set VENTROS_DATABASE_URL, or start `ventros run` "
            f"(embedded PostgreSQL under {settings.home})"
        )
    return url


def configured_or_running_temporal_address(settings: Settings) -> str | None:
    """VENTROS_TEMPORAL_ADDRESS, else the embedded server of a running `ventros run` with
    the same home, else None (the Temporal worker idles, workflow starts are skipped)."""
    if settings.temporal_address:
        return settings.temporal_address
    from ventros.platform.embedded.temporal import EmbeddedTemporal

    return EmbeddedTemporal(settings.home / "temporal").running_address()


def resolved(settings: Settings) -> Settings:
    """`settings` with the database and Temporal a process beside `ventros run` finds."""
    return settings.model_copy(
        update={
            "database_url": configured_or_running_database_url(settings),
            "temporal_address": configured_or_running_temporal_address(settings),
        }
    )
