"""The schema comes only from Alembic, and the models agree with it (`alembic check`)."""

import pytest

from ventros.platform.migrate import check, upgrade

pytestmark = pytest.mark.integration


def test_the_models_and_the_migrations_agree(owner_url: str) -> None:
    check(owner_url)


def test_migrating_twice_is_harmless(owner_url: str) -> None:
    from tests.conftest import make_settings

    upgrade(owner_url, make_settings().role_passwords())
    check(owner_url)
