"""The transfer note reaches the agent who receives the session: it is on the session."""

from __future__ import annotations

import httpx
import pytest

from tests.conftest import TenantLogin
from tests.integration.test_sessions_assignment import _user_login, open_session
from ventros.runtime.container import Container

pytestmark = pytest.mark.integration


async def test_the_last_transfer_note_is_on_the_session(
    container: Container, client: httpx.AsyncClient, tenant: TenantLogin
) -> None:
    alice, alice_h = await _user_login(client, tenant, "agent")
    bob, bob_h = await _user_login(client, tenant, "agent")
    session = await open_session(container, tenant)
    url = f"/api/v1/sessions/{session.id}"
    assigned = await client.post(f"{url}/assign", json={"agent_id": alice}, headers=tenant.headers)
    assert assigned.status_code == 200, assigned.text
    assert assigned.json()["transfer_note"] is None

    transferred = await client.post(
        f"{url}/transfer",
        json={"to_agent_id": bob, "note": "  speaks Spanish; wants the blue one  "},
        headers=alice_h,
    )
    assert transferred.status_code == 200, transferred.text
    assert transferred.json()["transfer_note"] == "speaks Spanish; wants the blue one"

    # Bob, who received it, reads the note on the session and in the list.
    fetched = await client.get(url, headers=bob_h)
    assert fetched.status_code == 200, fetched.text
    assert fetched.json()["transfer_note"] == "speaks Spanish; wants the blue one"
    listed = await client.get("/api/v1/sessions", headers=bob_h)
    [mine] = [s for s in listed.json()["items"] if s["id"] == str(session.id)]
    assert mine["transfer_note"] == "speaks Spanish; wants the blue one"

    # A transfer without a note replaces the old one: it was for the previous agent.
    back = await client.post(f"{url}/transfer", json={"to_agent_id": alice}, headers=bob_h)
    assert back.status_code == 200, back.text
    assert back.json()["transfer_note"] is None
