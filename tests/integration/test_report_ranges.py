"""Every report names its date range the same way (issue 19, item 7): query `from`/`to`,
response fields `from`/`to`, and the OpenAPI document says so."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from tests.conftest import TenantLogin

pytestmark = pytest.mark.integration

RANGE = {"from": "2026-01-01", "to": "2026-01-31"}


def _reports(spec: dict[str, Any]) -> list[str]:
    return sorted(
        path
        for path in spec["paths"]
        if path.startswith("/api/v1/reports/") or (path.endswith("/metrics") and "{" in path)
    )


def _schema(spec: dict[str, Any], ref: dict[str, Any]) -> dict[str, Any]:
    name = ref["$ref"].rsplit("/", 1)[-1]
    schema: dict[str, Any] = spec["components"]["schemas"][name]
    return schema


async def test_every_report_answers_from_and_to(
    client: httpx.AsyncClient, tenant: TenantLogin
) -> None:
    for path in ("/api/v1/reports/service", "/api/v1/reports/attribution"):
        response = await client.get(path, params=RANGE, headers=tenant.headers)
        assert response.status_code == 200, (path, response.text)
        body = response.json()
        assert body["from"].startswith("2026-01-01T00:00:00"), path
        assert body["to"].startswith("2026-02-01T00:00:00"), path  # `to` as a date: all of it
        assert not {"from_", "since", "until"} & set(body), path


async def test_a_wrong_bound_is_named_the_same_way_everywhere(
    client: httpx.AsyncClient, tenant: TenantLogin
) -> None:
    for path in ("/api/v1/reports/service", "/api/v1/reports/attribution"):
        response = await client.get(
            path, params={"from": "2026-02-01", "to": "2026-01-01"}, headers=tenant.headers
        )
        assert response.status_code == 422, (path, response.text)
        assert "'from'" in response.json()["detail"], path


async def test_the_openapi_document_gives_every_report_from_and_to(
    client: httpx.AsyncClient,
) -> None:
    spec = (await client.get("/openapi.json")).json()
    paths = _reports(spec)
    assert "/api/v1/reports/service" in paths
    assert "/api/v1/reports/attribution" in paths
    for path in paths:
        operation = spec["paths"][path]["get"]
        names = {p["name"] for p in operation.get("parameters", []) if p["in"] == "query"}
        assert {"from", "to"} <= names, path
        assert not {"from_", "since", "until"} & names, path
        body = operation["responses"]["200"]["content"]["application/json"]["schema"]
        properties = _schema(spec, body)["properties"]
        assert {"from", "to"} <= set(properties), path
        assert not {"from_", "since", "until"} & set(properties), path
