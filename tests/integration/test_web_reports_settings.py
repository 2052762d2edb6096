"""The reports and settings screens over HTTP against real PostgreSQL: figures equal to the
API's for the same range, CSV downloads with the same rows, refusals per role, and every
settings form through the API's rules with its errors beside the field."""

from __future__ import annotations

import csv
import io
import re
import uuid
from contextlib import aclosing
from datetime import UTC, datetime, timedelta

import httpx
import pytest
from fastapi import FastAPI

from tests.conftest import TEST_PASSWORD, TenantLogin
from tests.integration.test_web_app import add_user, conversation, logged_in
from ventros.identity.domain import Role
from ventros.runtime.container import Container
from ventros.runtime.http import create_app

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def web_app(container: Container) -> FastAPI:
    return create_app(container)


def cells(html: str, testid: str) -> dict[str, dict[str, str]]:
    """Rows of a report table by their data-key (or stage id): field -> data-value."""
    found: dict[str, dict[str, str]] = {}
    for row in re.finditer(
        rf'<tr data-testid="{testid}" data-(?:key|stage-id)="([^"]*)"(.*?)</tr>', html, re.S
    ):
        values = dict(re.findall(r'data-field="([^"]+)" data-value="([^"]*)"', row.group(2)))
        found[row.group(1)] = values
    return found


def same(shown: str, api: object) -> bool:
    if api is None:
        return shown == ""
    return abs(float(shown) - float(str(api))) < 1e-9


def field_error(html: str, name: str) -> str | None:
    found = re.search(
        rf'data-testid="field-error" data-field="{re.escape(name)}">(.*?)</p>', html, re.S
    )
    return found.group(1) if found else None


async def seeded(client: httpx.AsyncClient, container: Container, tenant: TenantLogin) -> str:
    """Sessions, an ad lead and a pipeline move of this tenant; the pipeline id."""
    await conversation(container, tenant, name="Carla Souza", texts=("Oi", "Tem horário?"))
    await conversation(container, tenant, name="Diego Lima", texts=("Olá",))
    contact = await client.post(
        "/api/v1/contacts",
        json={"name": "Lead Anúncio", "phone": f"+55119{uuid.uuid4().int % 10**8:08d}"},
        headers=tenant.headers,
    )
    assert contact.status_code == 201, contact.text
    contact_id = contact.json()["id"]
    tracked = await client.post(
        "/api/v1/trackings",
        json={"contact_id": contact_id, "source": "facebook_ads", "campaign_id": "=cmd|calc"},
        headers=tenant.headers,
    )
    assert tracked.status_code == 201, tracked.text
    pipeline = await client.post(
        "/api/v1/pipelines",
        json={
            "name": "Vendas",
            "stages": [
                {"name": "Novo", "kind": "open"},
                {"name": "Proposta", "kind": "open"},
                {"name": "Ganho", "kind": "won"},
            ],
        },
        headers=tenant.headers,
    )
    assert pipeline.status_code == 201, pipeline.text
    body = pipeline.json()
    for stage in body["stages"][:2]:
        moved = await client.put(
            f"/api/v1/contacts/{contact_id}/pipeline",
            json={"pipeline_id": body["id"], "stage_id": stage["id"]},
            headers=tenant.headers,
        )
        assert moved.status_code == 200, moved.text
    return str(body["id"])


def today_range() -> dict[str, str]:
    today = datetime.now(UTC).date()
    return {"from": (today - timedelta(days=6)).isoformat(), "to": today.isoformat()}


async def test_report_figures_and_csv_equal_the_apis(
    client: httpx.AsyncClient, container: Container, web_app: FastAPI, tenant: TenantLogin
) -> None:
    pipeline_id = await seeded(client, container, tenant)
    period = today_range()
    web, _csrf = await logged_in(web_app, tenant.email)
    async with aclosing(web):
        page = await web.get(
            "/app/reports",
            params={**period, "group_by": "day", "attribution_by": "campaign"},
        )
        assert page.status_code == 200, page.text
        html = page.text
        service = (
            await client.get(
                "/api/v1/reports/service", params={**period, "group_by": "day"},
                headers=tenant.headers,
            )
        ).json()  # fmt: skip
        shown = cells(html, "service-row")
        assert set(shown) == {g["key"] for g in service["groups"]}
        assert sum(int(v["sessions"]) for v in shown.values()) == service["overall"]["sessions"]
        for group in service["groups"]:
            for name, value in shown[group["key"]].items():
                assert same(value, group[name]), (name, value, group[name])
        attribution = (
            await client.get(
                "/api/v1/reports/attribution", params={**period, "group_by": "campaign"},
                headers=tenant.headers,
            )
        ).json()  # fmt: skip
        rows = cells(html, "attribution-row")
        assert set(rows) == {i["key"] for i in attribution["items"]} == {"=cmd|calc"}
        for item in attribution["items"]:
            for name, value in rows[item["key"]].items():
                assert same(value, item[name]), (name, value, item[name])
        metrics = (
            await client.get(
                f"/api/v1/pipelines/{pipeline_id}/metrics", params=period, headers=tenant.headers
            )
        ).json()
        stages = cells(html, "funnel-row")
        assert [s["stage_id"] for s in metrics["stages"]] == list(stages)
        for stage in metrics["stages"]:
            for name, value in stages[stage["stage_id"]].items():
                assert same(value, stage[name]), (name, value, stage[name])
        assert 'data-testid="report-chart"' in html

        download = await web.get(
            "/app/reports/attribution.csv", params={**period, "attribution_by": "campaign"}
        )
        assert download.status_code == 200
        assert download.headers["content-type"].startswith("text/csv")
        assert "attachment" in download.headers["content-disposition"]
        lines = list(csv.DictReader(io.StringIO(download.content.decode("utf-8-sig"))))
        # A cell that a spreadsheet would run as a formula is written as text.
        assert [line["key"] for line in lines] == ["'=cmd|calc"]
        assert int(lines[0]["leads"]) == attribution["items"][0]["leads"]
        funnel = await web.get(
            "/app/reports/funnel.csv", params={**period, "pipeline_id": pipeline_id}
        )
        funnel_rows = list(csv.DictReader(io.StringIO(funnel.content.decode("utf-8-sig"))))
        assert [r["stage_id"] for r in funnel_rows] == [s["stage_id"] for s in metrics["stages"]]
        assert [int(r["entered"]) for r in funnel_rows] == [s["entered"] for s in metrics["stages"]]


async def test_bad_dates_show_beside_the_field_and_reports_are_for_readers_not_agents(
    container: Container, web_app: FastAPI, tenant: TenantLogin
) -> None:
    web, _csrf = await logged_in(web_app, tenant.email)
    async with aclosing(web):
        reversed_range = await web.get(
            "/app/reports", params={"from": "2026-05-10", "to": "2026-05-01"}
        )
        assert reversed_range.status_code == 422
        assert field_error(reversed_range.text, "to")
        garbage = await web.get("/app/reports", params={"from": "yesterday"})
        assert garbage.status_code == 422
        assert field_error(garbage.text, "from")
        assert (await web.get("/app/reports.csv")).status_code in (403, 404, 422)
    for role, status in ((Role.VIEWER, 200), (Role.AGENT, 403), (Role.SUPERVISOR, 200)):
        user = await add_user(container, tenant, role)
        web, _csrf = await logged_in(web_app, user.email)
        async with aclosing(web):
            page = await web.get("/app/reports")
            assert page.status_code == status, (role, page.status_code)
            csv_status = (await web.get("/app/reports/service.csv")).status_code
            assert csv_status == status
            if status == 200:
                main = page.text.split('<main id="main"', 1)[1]
                assert 'method="post"' not in main  # nothing to change on a report
            settings = await web.get("/app/settings")
            assert settings.status_code == 403
            assert 'data-testid="error-403"' in settings.text


async def test_tenant_settings_are_checked_like_the_api(
    client: httpx.AsyncClient, web_app: FastAPI, tenant: TenantLogin
) -> None:
    web, csrf = await logged_in(web_app, tenant.email)
    async with aclosing(web):
        page = await web.get("/app/settings")
        assert page.status_code == 200
        for hook in ("settings-tenant", "settings-channels", "settings-agents",
                     "settings-webhooks", "settings-ads"):  # fmt: skip
            assert f'data-testid="{hook}"' in page.text
        refused = await web.post(
            "/app/settings/tenant",
            data={"csrf_token": csrf, "session_timeout_seconds": "0", "rate_limit_per_minute": "x",
                  "csat_question": "Nota?"},
        )  # fmt: skip
        assert refused.status_code == 422
        assert field_error(refused.text, "session_timeout_seconds")
        assert field_error(refused.text, "rate_limit_per_minute")
        assert 'value="x"' in refused.text  # what was typed stays
        saved = await web.post(
            "/app/settings/tenant",
            data={"csrf_token": csrf, "session_timeout_seconds": "900",
                  "rate_limit_per_minute": "250", "auto_assign": "on", "csat_on_close": "on",
                  "csat_question": "De 1 a 5?"},
        )  # fmt: skip
        assert saved.status_code == 303
        forged = await web.post(
            "/app/settings/tenant", data={"csrf_token": "forged", "session_timeout_seconds": "5"}
        )
        assert forged.status_code == 403
    api = (await client.get("/api/v1/settings", headers=tenant.headers)).json()
    assert api["session_timeout_seconds"] == 900
    assert api["rate_limit_per_minute"] == 250
    assert api["auto_assign"] is True
    assert api["csat_on_close"] is True
    assert api["csat_question"] == "De 1 a 5?"


async def test_an_admin_adds_a_user_who_can_log_in_then_deactivates_them(
    client: httpx.AsyncClient, web_app: FastAPI, tenant: TenantLogin
) -> None:
    email = f"nova-{uuid.uuid4().hex[:8]}@example.com"
    web, csrf = await logged_in(web_app, tenant.email)
    async with aclosing(web):
        weak = await web.post(
            "/app/settings/agents",
            # Not hex: the email's random part must not contain the password by chance.
            data={"csrf_token": csrf, "name": "Nova", "email": email, "password": "xyz",
                  "role": "agent", "max_concurrent_sessions": "3"},
        )  # fmt: skip
        assert weak.status_code == 422
        assert field_error(weak.text, "password")
        assert "xyz" not in re.sub(r"<(script|style).*?</\1>", "", weak.text.split("<main", 1)[1])
        created = await web.post(
            "/app/settings/agents",
            data={"csrf_token": csrf, "name": "Nova Atendente", "email": email,
                  "password": TEST_PASSWORD, "role": "supervisor",
                  "max_concurrent_sessions": "7", "skills": "vendas, pós-venda"},
        )  # fmt: skip
        assert created.status_code == 303, created.text
        again = await web.post(
            "/app/settings/agents",
            data={"csrf_token": csrf, "name": "Outra", "email": email.upper(),
                  "password": TEST_PASSWORD, "role": "agent"},
        )  # fmt: skip
        assert again.status_code == 422
        assert field_error(again.text, "email")
        agents = (await client.get("/api/v1/agents", headers=tenant.headers)).json()
        made = next(a for a in agents if a["email"] == email)
        assert (made["role"], made["max_concurrent_sessions"]) == ("supervisor", 7)
        assert sorted(made["skills"]) == ["pós-venda", "vendas"]
        theirs, _csrf = await logged_in(web_app, email)
        await theirs.aclose()
        off = await web.post(
            f"/app/settings/agents/{made['id']}/deactivate", data={"csrf_token": csrf}
        )
        assert off.status_code == 303
        refused = await client.post(
            "/api/v1/auth/login", json={"email": email, "password": TEST_PASSWORD}
        )
        assert refused.status_code == 401
        back = await web.post(
            f"/app/settings/agents/{made['id']}/reactivate", data={"csrf_token": csrf}
        )
        assert back.status_code == 303
        again_in = await client.post(
            "/api/v1/auth/login", json={"email": email, "password": TEST_PASSWORD}
        )
        assert again_in.status_code == 200


async def test_webhooks_refuse_private_addresses_beside_the_field_and_show_the_secret_once(
    web_app: FastAPI, tenant: TenantLogin
) -> None:
    web, csrf = await logged_in(web_app, tenant.email)
    async with aclosing(web):
        refused = await web.post(
            "/app/settings/webhooks",
            data={"csrf_token": csrf, "url": "http://127.0.0.1:9/hook", "events": "message.*"},
        )
        assert refused.status_code == 422
        error = field_error(refused.text, "url")
        assert error is not None
        assert "127.0.0.1" in error or "private" in error.lower() or "loopback" in error.lower()
        assert 'value="http://127.0.0.1:9/hook"' in refused.text
        no_events = await web.post(
            "/app/settings/webhooks",
            data={"csrf_token": csrf, "url": "https://example.com/hook", "events": ""},
        )
        assert no_events.status_code == 422
        assert field_error(no_events.text, "events")


async def test_ad_credentials_are_write_only(
    client: httpx.AsyncClient, web_app: FastAPI, tenant: TenantLogin
) -> None:
    token = "EAAB-" + uuid.uuid4().hex
    web, csrf = await logged_in(web_app, tenant.email)
    async with aclosing(web):
        missing = await web.post(
            "/app/settings/ads/google",
            data={"csrf_token": csrf, "access_token": "ya29.x", "config.customer_id": "123"},
        )
        assert missing.status_code == 422
        assert field_error(missing.text, "developer_token") or field_error(
            missing.text, "config.conversion_action_id"
        )
        saved = await web.post(
            "/app/settings/ads/meta",
            data={"csrf_token": csrf, "access_token": token, "config.dataset_id": "998877"},
        )
        assert saved.status_code == 303, saved.text
        page = (await web.get("/app/settings")).text
        assert token not in page
        meta = page.split('data-testid="ads-form-meta"', 1)[1].split("</form>", 1)[0]
        assert 'data-configured="true"' in meta
        assert 'value="998877"' in meta
    # The API answers from the same use case: which tokens are set, never their values.
    listed = (await client.get("/api/v1/ad-integrations", headers=tenant.headers)).json()
    assert listed["items"][0]["secrets_set"] == ["access_token"]
    assert token not in str(listed)
    no_developer = await client.put(
        "/api/v1/ad-integrations/google",
        json={"access_token": "ya29.x",
              "config": {"customer_id": "1", "conversion_action_id": "2"}},
        headers=tenant.headers,
    )  # fmt: skip
    assert no_developer.status_code == 422
