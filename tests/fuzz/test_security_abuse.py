"""Abuse cases for the security items of issue 19, run over every route of /openapi.json or
generated inputs, so each fix stays in place as routes are added:

8  a deactivated user's token opens no route; a demoted one acts with the new role at once;
9  no private address, in any spelling, becomes a channel's WAHA base_url;
10 the app role's login lookup never lists users or hashes;
11 a NUL in any query parameter or JSON body, or JSON nested too deep, is never a 500;
12 no IPv6 spelling of an inside IPv4 address counts as public.
"""

from __future__ import annotations

import ipaddress
import random
import re
import uuid
from collections.abc import AsyncIterator
from typing import Any

import asyncpg
import httpx
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tests.conftest import TEST_PASSWORD, TenantLogin, login, make_settings, new_tenant
from tests.integration.test_agent_standing import bearer, create_user
from ventros.identity.service import create_tenant
from ventros.kernel.json_input import MAX_JSON_DEPTH
from ventros.platform.db import role_url
from ventros.platform.settings import APP_ROLE
from ventros.runtime.container import Container, bootstrap
from ventros.runtime.http import create_app
from ventros.webhooks.ssrf import is_public

pytestmark = pytest.mark.integration

SKIPPED = re.compile(r"(/stream$|^/webhooks/waha/|^/health|^/metrics|^/openapi)")
NIL = "00000000-0000-0000-0000-000000000000"


async def _operations(client: httpx.AsyncClient) -> list[tuple[str, str, dict[str, Any]]]:
    schema = (await client.get("/openapi.json")).json()
    found = []
    for path, methods in schema["paths"].items():
        if SKIPPED.search(path) or not path.startswith("/api/v1"):
            continue
        for method, operation in methods.items():
            found.append((method.upper(), re.sub(r"\{[^}]+\}", NIL, path), operation))
    assert len(found) > 40, len(found)
    return found


# --------------------------------------------------------------------------------- item 8


# Routes that take no login at all: a token, even a dead one, changes nothing there.
NO_LOGIN = {
    "/api/v1/auth/login",
    "/api/v1/media/00000000-0000-0000-0000-000000000000/content",  # WAHA's signed link
}


async def test_a_deactivated_users_token_opens_no_route(
    client: httpx.AsyncClient, container: Container
) -> None:
    # A tenant of its own whose limit lets every route through: each request still counts
    # against the tenant's rate limit, and there are more routes than the default allows.
    tenant = await new_tenant(container, client)
    roomy = await client.patch(
        "/api/v1/settings", json={"rate_limit_per_minute": 10_000}, headers=tenant.headers
    )
    assert roomy.status_code == 200, roomy.text
    user = await create_user(client, tenant, "supervisor")
    headers = await bearer(client, user)
    gone = await client.post(f"/api/v1/agents/{user['id']}/deactivate", headers=tenant.headers)
    assert gone.status_code == 200, gone.text
    for method, path, _ in await _operations(client):
        if path in NO_LOGIN:
            continue
        answer = await client.request(method, path, json={}, headers=headers)
        assert answer.status_code == 401, (method, path, answer.status_code)


@pytest.mark.parametrize(
    ("role", "allowed"),
    [("admin", 201), ("supervisor", 403), ("agent", 403), ("viewer", 403)],
)
async def test_a_role_change_applies_to_the_next_request_for_every_role(
    client: httpx.AsyncClient, tenant: TenantLogin, role: str, allowed: int
) -> None:
    user = await create_user(client, tenant, "admin")
    headers = await bearer(client, user)
    changed = await client.patch(
        f"/api/v1/agents/{user['id']}", json={"role": role}, headers=tenant.headers
    )
    assert changed.status_code == 200, changed.text
    body = {"url": "https://93.184.215.14/h", "events": ["contact.created"]}
    answer = await client.post("/api/v1/webhooks", json=body, headers=headers)
    assert answer.status_code == allowed, (role, answer.text)


# --------------------------------------------------------------------------------- item 9

INSIDE_NETS = (
    "127.0.0.0/8",
    "10.0.0.0/8",
    "172.16.0.0/12",
    "192.168.0.0/16",
    "169.254.0.0/16",
    "100.64.0.0/10",
)
_INSIDE_V4 = st.one_of(*(st.ip_addresses(v=4, network=n) for n in INSIDE_NETS))


def _spellings(v4: ipaddress.IPv4Address) -> list[str]:
    n = int(v4)
    return [
        str(v4),
        str(ipaddress.IPv6Address((0xFFFF << 32) | n)),  # ::ffff:a.b.c.d
        str(ipaddress.IPv6Address((0x0064FF9B << 96) | n)),  # 64:ff9b::/96
        str(ipaddress.IPv6Address((0x0064FF9B0001 << 80) | n)),  # 64:ff9b:1::/48, /96 layout
        str(ipaddress.IPv6Address(n)),  # ::a.b.c.d
        str(ipaddress.IPv6Address((0xFFFF << 48) | n)),  # ::ffff:0:a.b.c.d
        str(ipaddress.IPv6Address((0x2002 << 112) | (n << 80))),  # 6to4
    ]


@pytest.fixture
async def strict_app(owner_url: str) -> AsyncIterator[tuple[httpx.AsyncClient, dict[str, str]]]:
    container = bootstrap(make_settings(waha_allow_private=False), database_url=owner_url)
    transport = httpx.ASGITransport(app=create_app(container))
    email = f"abuse-{uuid.uuid4().hex[:8]}@example.com"
    await create_tenant(
        container.uow, name="Abuse", admin_email=email, admin_password=TEST_PASSWORD
    )
    try:
        async with httpx.AsyncClient(transport=transport, base_url="http://ventros.test") as http:
            yield http, {"Authorization": f"Bearer {await login(http, email)}"}
    finally:
        await container.aclose()


async def test_no_spelling_of_an_inside_address_becomes_a_channel_base_url(
    strict_app: tuple[httpx.AsyncClient, dict[str, str]],
) -> None:
    client, headers = strict_app
    rng = random.Random(19)
    nets = [ipaddress.IPv4Network(n) for n in INSIDE_NETS]
    picks = [n[rng.randrange(n.num_addresses)] for n in nets]
    for v4 in picks:
        for host in _spellings(v4):
            literal = f"[{host}]" if ":" in host else host
            body = {
                "name": "X",
                "type": "waha",
                "base_url": f"http://{literal}:3000",
                "webhook_secret": "s3cret-s3cret",
            }
            answer = await client.post("/api/v1/channels", json=body, headers=headers)
            assert answer.status_code == 422, (host, answer.text)


# -------------------------------------------------------------------------------- item 10


async def test_the_app_role_cannot_list_logins_with_any_probe(
    owner_url: str, container: Container, tenant: TenantLogin, other_tenant: TenantLogin
) -> None:
    app = await asyncpg.connect(
        role_url(owner_url, APP_ROLE, container.database.password)
        .set(drivername="postgresql")
        .render_as_string(hide_password=False)
    )
    rng = random.Random(19)
    alphabet = "%_*?.@[]\\-azAZ ^$|'\""
    probes = {"".join(rng.choices(alphabet, k=rng.randint(0, 12))) for _ in range(60)}
    probes |= {"%", "_%", ".*", "%@%", tenant.email.replace("admin", "%")}
    try:
        for probe in probes:
            rows = await app.fetch("SELECT email FROM ventros_find_login($1)", probe)
            assert [r["email"] for r in rows] in ([], [probe.lower()]), probe
        total = await app.fetchval("SELECT count(*) FROM users")
        assert total == 0  # RLS without a tenant: nothing
    finally:
        await app.close()


# -------------------------------------------------------------------------------- item 11


async def test_a_nul_or_deep_json_is_never_a_500_on_any_route(
    client: httpx.AsyncClient, tenant: TenantLogin
) -> None:
    deep = "[" * (MAX_JSON_DEPTH + 1) + "]" * (MAX_JSON_DEPTH + 1)
    for method, path, operation in await _operations(client):
        names = [p["name"] for p in operation.get("parameters", []) if p["in"] == "query"]
        for name in names:
            answer = await client.request(
                method, path, params={name: "a\x00b"}, headers=tenant.headers
            )
            assert answer.status_code == 422, (method, path, name, answer.status_code)
        if "requestBody" not in operation:
            continue
        nul = await client.request(method, path, json={"x\x00": "\x00"}, headers=tenant.headers)
        assert nul.status_code == 422, (method, path, nul.status_code)
        nested = await client.request(
            method,
            path,
            content=deep,
            headers={**tenant.headers, "Content-Type": "application/json"},
        )
        assert nested.status_code == 400, (method, path, nested.status_code)


# -------------------------------------------------------------------------------- item 12


@given(v4=_INSIDE_V4)
@settings(max_examples=200, deadline=None)
def test_no_ipv6_spelling_of_an_inside_ipv4_is_public(v4: ipaddress.IPv4Address) -> None:
    for spelling in _spellings(ipaddress.IPv4Address(str(v4))):
        assert not is_public(ipaddress.ip_address(spelling)), spelling
