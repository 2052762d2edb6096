"""Fixtures the integration tests share."""

from collections.abc import AsyncIterator, Iterator

import pytest

from tests.stand_ins.waha import WahaStandIn
from ventros.channels.waha_client import WahaClient


@pytest.fixture
def waha() -> Iterator[WahaStandIn]:
    """A WAHA stand-in on 127.0.0.1 for one test (a module may define its own `waha`)."""
    stand_in = WahaStandIn()
    try:
        yield stand_in
    finally:
        stand_in.close()


@pytest.fixture
async def waha_client() -> AsyncIterator[WahaClient]:
    """Ventros's WAHA client with a short timeout, closed after the test."""
    client = WahaClient.create(timeout_seconds=2.0)
    try:
        yield client
    finally:
        await client.aclose()
