"""The service settings screen (teams, routing rules, business hours, SLA policies, canned
replies, labels) over HTTP against real PostgreSQL: each form runs the API's rules, its
refusals come back beside the field with the API's words, what it saves the API reads back,
and only those the API lets manage these get in."""

from __future__ import annotations

import re
from contextlib import aclosing

import httpx
import pytest
from fastapi import FastAPI

from tests.conftest import TenantLogin
from tests.integration.test_web_app import add_user, logged_in
from tests.integration.test_web_reports_settings import field_error
from ventros.identity.domain import Role
from ventros.runtime.container import Container
from ventros.runtime.http import create_app

pytestmark = pytest.mark.integration

PAGE = "/app/settings/service"


@pytest.fixture(scope="module")
def web_app(container: Container) -> FastAPI:
    return create_app(container)


def detail(html: str, name: str) -> str:
    """The use case's own words beside the field `name` (empty when none)."""
    found = field_error(html, name) or ""
    words = re.search(r'<small class="detail">(.*?)</small>', found, re.S)
    return words.group(1) if words else ""


async def a_team(client: httpx.AsyncClient, tenant: TenantLogin, name: str) -> str:
    made = await client.post("/api/v1/teams", json={"name": name}, headers=tenant.headers)
    assert made.status_code == 201, made.text
    return str(made.json()["id"])


async def test_the_screen_is_for_supervisors_and_admins(
    container: Container, web_app: FastAPI, tenant: TenantLogin
) -> None:
    for role, status in ((Role.VIEWER, 403), (Role.AGENT, 403), (Role.SUPERVISOR, 200)):
        user = await add_user(container, tenant, role)
        web, csrf = await logged_in(web_app, user.email)
        async with aclosing(web):
            page = await web.get(PAGE)
            assert page.status_code == status, (role, page.status_code)
            posted = await web.post(f"{PAGE}/teams", data={"csrf_token": csrf, "name": "X"})
            if status == 403:
                assert 'data-testid="error-403"' in page.text
                assert posted.status_code == 403
                inbox = (await web.get("/app/inbox")).text
                assert 'data-testid="nav-service-settings"' not in inbox
            else:
                for hook in ("settings-teams", "settings-rules", "settings-hours", "settings-sla",
                             "settings-canned-form", "settings-label-form"):  # fmt: skip
                    assert f'data-testid="{hook}"' in page.text
                assert posted.status_code == 303  # a supervisor creates teams, as in the API
                assert 'data-testid="nav-service-settings"' in page.text
    web, csrf = await logged_in(web_app, tenant.email)
    async with aclosing(web):
        forged = await web.post(f"{PAGE}/teams", data={"csrf_token": "forged", "name": "Y"})
        assert forged.status_code == 403
        settings = await web.get("/app/settings")
        assert 'data-testid="settings-service-link"' in settings.text


async def test_a_routing_rule_is_checked_like_the_api(
    client: httpx.AsyncClient, web_app: FastAPI, tenant: TenantLogin
) -> None:
    team_id = await a_team(client, tenant, "Vendas")
    web, csrf = await logged_in(web_app, tenant.email)
    async with aclosing(web):
        bad_regex = await web.post(
            f"{PAGE}/rules",
            data={"csrf_token": csrf, "name": "Preços", "team_id": team_id, "pattern": "pre(ço",
                  "keywords": "preço, valor"},
        )  # fmt: skip
        assert bad_regex.status_code == 422
        assert "invalid regular expression" in detail(bad_regex.text, "conditions.pattern")
        assert 'value="pre(ço"' in bad_regex.text  # what was typed stays
        assert 'value="preço, valor"' in bad_regex.text
        no_team = await web.post(
            f"{PAGE}/rules", data={"csrf_token": csrf, "name": "Sem time", "keywords": "oi"}
        )
        assert no_team.status_code == 422
        assert field_error(no_team.text, "team_id")
        unknown_team = await web.post(
            f"{PAGE}/rules",
            data={"csrf_token": csrf, "name": "Fantasma", "keywords": "oi",
                  "team_id": "00000000-0000-4000-8000-000000000000"},
        )  # fmt: skip
        assert unknown_team.status_code == 422
        assert "unknown team" in detail(unknown_team.text, "team_id")
        saved = await web.post(
            f"{PAGE}/rules",
            data={"csrf_token": csrf, "name": "Preços", "team_id": team_id,
                  "keywords": "preço, valor", "hours": "within", "required_skills": "Vendas"},
        )  # fmt: skip
        assert saved.status_code == 303
    rules = (await client.get("/api/v1/routing-rules", headers=tenant.headers)).json()
    rule = next(r for r in rules if r["name"] == "Preços")
    assert rule["team_id"] == team_id
    assert rule["conditions"]["keywords"] == ["preço", "valor"]
    assert rule["conditions"]["hours"] == "within"
    assert rule["required_skills"] == ["vendas"]
    assert not any(r["name"] in ("Sem time", "Fantasma") for r in rules)


async def test_overlapping_hours_are_refused_beside_their_day(
    client: httpx.AsyncClient, web_app: FastAPI, tenant: TenantLogin
) -> None:
    team_id = await a_team(client, tenant, "Suporte")
    web, csrf = await logged_in(web_app, tenant.email)
    form = {"csrf_token": csrf, "name": "Comercial", "timezone": "America/Sao_Paulo",
            "team_id": team_id, "holidays": "2026-12-25"}  # fmt: skip
    async with aclosing(web):
        overlap = await web.post(
            f"{PAGE}/hours", data={**form, "weekly.mon": "09:00-13:00, 12:00-18:00"}
        )
        assert overlap.status_code == 422
        assert "must not overlap" in detail(overlap.text, "weekly.mon")
        assert 'value="09:00-13:00, 12:00-18:00"' in overlap.text
        bad_zone = await web.post(
            f"{PAGE}/hours", data={**form, "timezone": "Mars/Olympus", "weekly.mon": "09:00-18:00"}
        )
        assert bad_zone.status_code == 422
        assert "unknown time zone" in detail(bad_zone.text, "timezone")
        bad_day = await web.post(
            f"{PAGE}/hours",
            data={**form, "weekly.mon": "09:00-18:00", "holidays": "25/12/2026"},
        )
        assert bad_day.status_code == 422
        assert field_error(bad_day.text, "holidays")
        saved = await web.post(
            f"{PAGE}/hours",
            data={**form, "weekly.mon": "09:00-12:00, 13:00-18:00", "weekly.sat": "09:00-13:00"},
        )
        assert saved.status_code == 303
    hours = (await client.get("/api/v1/business-hours", headers=tenant.headers)).json()
    schedule = next(h for h in hours if h["name"] == "Comercial")
    assert schedule["weekly"] == {
        "mon": [["09:00", "12:00"], ["13:00", "18:00"]],
        "sat": [["09:00", "13:00"]],
    }
    assert schedule["holidays"] == ["2026-12-25"]
    team = (await client.get(f"/api/v1/teams/{team_id}", headers=tenant.headers)).json()
    assert team["business_hours_id"] == schedule["id"]


async def test_members_sla_replies_and_labels(
    client: httpx.AsyncClient, container: Container, web_app: FastAPI, tenant: TenantLogin
) -> None:
    team_id = await a_team(client, tenant, "Financeiro")
    agent = await add_user(container, tenant, Role.AGENT)
    web, csrf = await logged_in(web_app, tenant.email)
    async with aclosing(web):
        added = await web.post(
            f"{PAGE}/teams/{team_id}/members", data={"csrf_token": csrf, "user_id": str(agent.id)}
        )
        assert added.status_code == 303
        stranger = await web.post(
            f"{PAGE}/teams/{team_id}/members",
            data={"csrf_token": csrf, "user_id": "00000000-0000-4000-8000-000000000000"},
        )
        assert stranger.status_code == 422
        assert "unknown agents" in detail(stranger.text, "members")
        team = (await client.get(f"/api/v1/teams/{team_id}", headers=tenant.headers)).json()
        assert team["members"] == [str(agent.id)]
        removed = await web.post(
            f"{PAGE}/teams/{team_id}/members/{agent.id}/remove", data={"csrf_token": csrf}
        )
        assert removed.status_code == 303
        team = (await client.get(f"/api/v1/teams/{team_id}", headers=tenant.headers)).json()
        assert team["members"] == []

        no_target = await web.post(
            f"{PAGE}/sla", data={"csrf_token": csrf, "name": "Rápido", "team_id": team_id}
        )
        assert no_target.status_code == 422
        assert field_error(no_target.text, "first_response_seconds")
        negative = await web.post(
            f"{PAGE}/sla",
            data={"csrf_token": csrf, "name": "Rápido", "team_id": team_id,
                  "first_response_seconds": "0"},
        )  # fmt: skip
        assert negative.status_code == 422
        assert "1" in (field_error(negative.text, "first_response_seconds") or "")
        sla = await web.post(
            f"{PAGE}/sla",
            data={"csrf_token": csrf, "name": "Rápido", "team_id": team_id,
                  "first_response_seconds": "300", "resolution_seconds": "7200"},
        )  # fmt: skip
        assert sla.status_code == 303

        unknown = await web.post(
            f"{PAGE}/replies",
            data={"csrf_token": csrf, "shortcut": "/oi", "text": "Olá {{contato.nome}}!"},
        )
        assert unknown.status_code == 422
        assert "unknown variable {{contato.nome}}" in detail(unknown.text, "text")
        reply = await web.post(
            f"{PAGE}/replies",
            data={"csrf_token": csrf, "shortcut": "/oi-fin", "team_id": team_id,
                  "text": "Olá {{contact.first_name}}!"},
        )  # fmt: skip
        assert reply.status_code == 303
        again = await web.post(
            f"{PAGE}/replies",
            data={"csrf_token": csrf, "shortcut": "oi-fin", "team_id": team_id, "text": "De novo"},
        )
        assert again.status_code == 422
        assert "exists already" in detail(again.text, "shortcut")

        label = await web.post(
            f"{PAGE}/labels", data={"csrf_token": csrf, "name": "Cobrança", "color": "#aa3300"}
        )
        assert label.status_code == 303
        bad_colour = await web.post(
            f"{PAGE}/labels", data={"csrf_token": csrf, "name": "Outra", "color": "vermelho"}
        )
        assert bad_colour.status_code == 422
        assert "#rrggbb" in detail(bad_colour.text, "color")

        page = (await web.get(PAGE)).text
        for shown in ("Cobrança", "/oi-fin", "Rápido", "Financeiro"):
            assert shown in page

    policies = (await client.get("/api/v1/sla-policies", headers=tenant.headers)).json()
    policy = next(p for p in policies if p["name"] == "Rápido")
    assert (policy["team_id"], policy["first_response_seconds"]) == (team_id, 300)
    assert policy["resolution_seconds"] == 7200
    replies = (await client.get("/api/v1/canned-replies", headers=tenant.headers)).json()
    assert [r["text"] for r in replies["items"] if r["shortcut"] == "oi-fin"] == [
        "Olá {{contact.first_name}}!"
    ]
    labels = (await client.get("/api/v1/labels", headers=tenant.headers)).json()
    cobranca = next(x for x in labels if x["name"] == "Cobrança")
    assert cobranca["color"] == "#aa3300"

    web, csrf = await logged_in(web_app, tenant.email)
    async with aclosing(web):
        gone = await web.post(f"{PAGE}/labels/{cobranca['id']}/delete", data={"csrf_token": csrf})
        assert gone.status_code == 303
        twice = await web.post(f"{PAGE}/labels/{cobranca['id']}/delete", data={"csrf_token": csrf})
        assert twice.status_code == 422
        assert field_error(twice.text, "form")
    labels = (await client.get("/api/v1/labels", headers=tenant.headers)).json()
    assert all(x["name"] != "Cobrança" for x in labels)
