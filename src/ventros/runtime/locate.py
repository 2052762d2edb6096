"""Where the database is: the configured URL, or the embedded server under VENTROS_HOME."""

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
