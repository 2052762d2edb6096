"""/metrics exposes HTTP, database and backbone metrics in Prometheus text format."""

import httpx
import pytest

from tests.conftest import TenantLogin

pytestmark = pytest.mark.integration


async def test_metrics_count_requests_by_route_template(
    client: httpx.AsyncClient, tenant: TenantLogin
) -> None:
    created = await client.post(
        "/api/v1/contacts", json={"name": "Metered"}, headers=tenant.headers
    )
    await client.get(f"/api/v1/contacts/{created.json()['id']}", headers=tenant.headers)

    response = await client.get("/metrics")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain")
    text = response.text
    assert (
        'http_requests_total{method="GET",route="/api/v1/contacts/{contact_id}",status="200"}'
        in text
    )
    assert created.json()["id"] not in text  # raw paths never become labels
    for name in (
        "http_request_duration_seconds_bucket",
        "db_query_duration_seconds_count",
        'db_connection_pool_size{role="ventros_app"}',
        "message_processing_duration_seconds",
        "outbox_lag_seconds",
    ):
        assert name in text, name
