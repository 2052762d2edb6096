"""WAHA calls are measured per channel and operation; failures counted by kind."""

from __future__ import annotations

import uuid

import pytest
from prometheus_client.parser import text_string_to_metric_families

from tests.stand_ins.waha import WahaStandIn
from ventros.channels.waha_client import WahaClient, WahaError, WahaTarget
from ventros.platform.metrics import Metrics


def sample(name: str, **labels: str) -> float:
    text = Metrics().render().decode()
    for family in text_string_to_metric_families(text):
        for found in family.samples:
            if found.name == name and labels.items() <= found.labels.items():
                return found.value
    return 0.0


async def test_waha_calls_and_their_failures_are_counted_per_channel(
    waha: WahaStandIn, waha_client: WahaClient
) -> None:
    channel = str(uuid.uuid4())  # a label of its own: the counts start at zero
    target = WahaTarget(waha.base_url, "default", waha.api_key, channel=channel)

    assert await waha_client.profile_picture(target, "5511976543210@c.us")
    waha.fail(times=1, status=503)
    with pytest.raises(WahaError):
        await waha_client.profile_picture(target, "5511976543210@c.us")

    picture = {"channel": channel, "operation": "profile_picture"}
    assert sample("waha_request_duration_seconds_count", **picture) == 2
    assert sample("waha_request_duration_seconds_sum", **picture) > 0
    assert sample("waha_request_errors_total", **picture, kind="5xx") == 1
    assert sample("waha_request_errors_total", **picture, kind="timeout") == 0
