"""Alembic environment: migrations run as the owner role over a synchronous connection."""

from __future__ import annotations

from alembic import context
from sqlalchemy import create_engine, pool

from ventros.runtime.schema import load_all_tables

HAND_MANAGED_INDEXES = {"ix_contacts_search_trgm"}

config = context.config
target_metadata = load_all_tables()


def run_migrations_online() -> None:
    url = config.get_main_option("sqlalchemy.url")
    assert url is not None
    engine = create_engine(url, poolclass=pool.NullPool)
    with engine.connect() as connection:
        context.configure(
            connection=connection,
            target_metadata=target_metadata,
            compare_type=True,
            include_object=_include_object,
        )
        with context.begin_transaction():
            context.run_migrations()
    engine.dispose()


def _include_object(
    _obj: object, name: str | None, type_: str, _reflected: bool, _compare_to: object
) -> bool:
    # Functions, policies and the alembic table itself are managed by hand in migrations,
    # and so is the contacts' trigram index, which exists only where pg_trgm does (0020).
    if type_ == "index" and name in HAND_MANAGED_INDEXES:
        return False
    return not (type_ == "table" and name == "alembic_version")


run_migrations_online()
