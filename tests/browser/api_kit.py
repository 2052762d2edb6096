"""What the browser tests set up through the public API (a bearer token, as any client):
contacts, a pipeline with transition rules, a viewer."""

from __future__ import annotations

import random
import uuid
from dataclasses import dataclass
from typing import Any

import httpx

from tests.browser.conftest import Demo


@dataclass
class Api:
    base_url: str
    token: str

    @classmethod
    def as_admin(cls, demo: Demo) -> Api:
        email, password = demo.logins["admin"]
        answer = httpx.post(
            f"{demo.base_url}/api/v1/auth/login",
            json={"email": email, "password": password},
            timeout=30,
        )
        answer.raise_for_status()
        return cls(demo.base_url, answer.json()["access_token"])

    def call(self, method: str, path: str, body: Any = None, expect: int = 200) -> Any:
        answer = httpx.request(
            method,
            f"{self.base_url}/api/v1{path}",
            json=body,
            headers={"authorization": f"Bearer {self.token}"},
            timeout=30,
        )
        assert answer.status_code == expect, answer.text
        return answer.json() if answer.content else None


def new_phone() -> tuple[str, str]:
    """A São Paulo mobile with its ninth digit, and the same number written without it."""
    subscriber = f"{random.randint(7, 9)}{random.randint(0, 9_999_999):07d}"
    return f"+55 11 9{subscriber[:4]}-{subscriber[4:]}", f"11 {subscriber[:4]}-{subscriber[4:]}"


def a_contact(api: Api, name: str) -> str:
    created = api.call("POST", "/contacts", {"name": name, "phone": new_phone()[0]}, expect=201)
    return str(created["id"])


def a_viewer(api: Api) -> tuple[str, str]:
    email = f"viewer-{uuid.uuid4().hex[:8]}@example.com"
    password = "Leitor-demo-1"
    api.call(
        "POST",
        "/agents",
        {"email": email, "name": "Vitor Leitor", "password": password, "role": "viewer"},
        expect=201,
    )
    return email, password
