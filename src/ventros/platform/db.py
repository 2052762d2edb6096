"""Engines and schema metadata. The app connects as a role that row-level security applies to."""

from __future__ import annotations

from collections.abc import Collection, Sequence
from dataclasses import dataclass, field

from sqlalchemy import MetaData, Table
from sqlalchemy.dialects import postgresql
from sqlalchemy.engine import URL, make_url
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

from ventros.platform.settings import APP_ROLE, SYSTEM_ROLE, Settings

NAMING_CONVENTION = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

metadata = MetaData(naming_convention=NAMING_CONVENTION)

_POSTGRESQL = postgresql.dialect()  # type: ignore[no-untyped-call]


def unnest_arrays(table: Table, names: Sequence[str], *, as_json: Collection[str] = ()) -> str:
    """The arguments of an `unnest(...)` that carries many rows of `table` in one statement
    whose text does not depend on how many (executemany would run a statement per row; a
    VALUES list is a new statement for each batch size): one array parameter per column,
    named after it, of the column's type. Columns in `as_json` travel as JSON text: jsonb
    ones as SQLAlchemy's JSON type sends them, arrays as a JSON array of strings (unnest
    would flatten an array of arrays; `text_array_from_json` reads them back)."""
    return ", ".join(f"CAST(:{name} AS {_element(table, name, as_json)}[])" for name in names)


def _element(table: Table, name: str, as_json: Collection[str]) -> str:
    return "text" if name in as_json else str(table.c[name].type.compile(dialect=_POSTGRESQL))


def text_array_from_json(expression: str) -> str:
    """The text[] of a JSON array of strings (an array column sent by `unnest_arrays`)."""
    return f"ARRAY(SELECT jsonb_array_elements_text(CAST({expression} AS jsonb)))"


def asyncpg_url(url: str | URL) -> URL:
    parsed = make_url(url) if isinstance(url, str) else url
    return parsed.set(drivername="postgresql+asyncpg")


def sync_url(url: str | URL) -> URL:
    parsed = make_url(url) if isinstance(url, str) else url
    return parsed.set(drivername="postgresql+psycopg")


def role_url(owner_url: str, role: str, password: str) -> URL:
    """The same server and database as the owner URL, as another role."""
    return asyncpg_url(owner_url).set(username=role, password=password)


class SystemRoleUnavailable(RuntimeError):
    """The process was not given the system role's password."""


@dataclass
class Database:
    """The engines of one process: `app` (RLS applies) and `system` (cross-tenant work)."""

    owner_url: str
    password: str  # APP_ROLE's
    system_password: str | None = None  # SYSTEM_ROLE's; None: this process has no system role
    pool_size: int = 10
    max_overflow: int = 10
    pre_ping: bool = False
    recycle_seconds: int = 1800
    _engines: dict[str, AsyncEngine] = field(default_factory=dict)

    @classmethod
    def from_settings(cls, settings: Settings, owner_url: str) -> Database:
        return cls(
            owner_url=owner_url,
            password=settings.resolved_app_password(),
            system_password=settings.resolved_system_password(),
            pool_size=settings.db_pool_size,
            max_overflow=settings.db_max_overflow,
            pre_ping=settings.db_pool_pre_ping,
            recycle_seconds=settings.db_pool_recycle_seconds,
        )

    @property
    def app(self) -> AsyncEngine:
        return self._engine(APP_ROLE)

    @property
    def system(self) -> AsyncEngine:
        return self._engine(SYSTEM_ROLE)

    @property
    def engines(self) -> dict[str, AsyncEngine]:
        return self._engines

    def _engine(self, role: str) -> AsyncEngine:
        if role not in self._engines:
            self._engines[role] = create_async_engine(
                role_url(self.owner_url, role, self._password_of(role)),
                pool_size=self.pool_size,
                max_overflow=self.max_overflow,
                pool_pre_ping=self.pre_ping,
                pool_recycle=self.recycle_seconds,
            )
        return self._engines[role]

    def _password_of(self, role: str) -> str:
        if role != SYSTEM_ROLE:
            return self.password
        if self.system_password is None:
            raise SystemRoleUnavailable(
                "this process needs the system database role: set "
                "VENTROS_SYSTEM_DATABASE_PASSWORD (relay and worker processes only)"
            )
        return self.system_password

    def system_dsn(self) -> str:
        """A libpq URL of the system role (BYPASSRLS), for raw asyncpg connections."""
        url = role_url(self.owner_url, SYSTEM_ROLE, self._password_of(SYSTEM_ROLE))
        return url.set(drivername="postgresql").render_as_string(hide_password=False)

    def app_dsn(self) -> str:
        """A libpq URL of the application role, for raw asyncpg connections (LISTEN)."""
        url = role_url(self.owner_url, APP_ROLE, self.password).set(drivername="postgresql")
        return url.render_as_string(hide_password=False)

    async def dispose(self) -> None:
        for engine in self._engines.values():
            await engine.dispose()
        self._engines.clear()
