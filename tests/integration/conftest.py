"""Fixtures the integration tests share."""

from collections.abc import Iterator

import pytest

from tests.stand_ins.waha import WahaStandIn


@pytest.fixture
def waha() -> Iterator[WahaStandIn]:
    """A WAHA stand-in on 127.0.0.1 for one test (a module may define its own `waha`)."""
    stand_in = WahaStandIn()
    try:
        yield stand_in
    finally:
        stand_in.close()
