"""Embedded servers for the single-machine default: PostgreSQL and the Temporal dev server,
started as child processes of `ventros run` with their data under VENTROS_HOME."""

from __future__ import annotations

from ventros.platform.embedded.postgres import EmbeddedPostgres, PostgresNotFound
from ventros.platform.embedded.temporal import EmbeddedTemporal, TemporalNotFound

__all__ = ["EmbeddedPostgres", "EmbeddedTemporal", "PostgresNotFound", "TemporalNotFound"]
