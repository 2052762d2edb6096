"""Every `ventros` command that cannot reach what it needs ends with one sentence saying
what to do, and a non-zero exit code; no traceback. And `ventros users create`."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import uuid
from pathlib import Path

import httpx
import pytest

from tests.conftest import TEST_PASSWORD, TEST_SECRET, TenantLogin, login

pytestmark = pytest.mark.integration


def _ventros(home: Path, *args: str, **settings: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("VENTROS_")}
    env.update(VENTROS_HOME=str(home), VENTROS_LOG_JSON="false", **settings)
    return subprocess.run(
        [sys.executable, "-m", "ventros.cli", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=90,
        check=False,
    )


def _last_words(done: subprocess.CompletedProcess[str]) -> str:
    output = done.stdout + done.stderr
    assert done.returncode != 0, output
    assert "Traceback" not in output, output
    return done.stderr.strip().splitlines()[-1]


def test_without_a_database_dlq_list_says_to_start_ventros_or_set_the_url(tmp_path: Path) -> None:
    said = _last_words(_ventros(tmp_path, "dlq", "list"))
    assert said.startswith("error: no database"), said
    assert "VENTROS_DATABASE_URL" in said
    assert "ventros run" in said


@pytest.mark.parametrize(
    "command", [("dlq", "list"), ("migrate",), ("tenants", "create", "--name", "N",
     "--admin-email", "a@example.com", "--admin-password", "a-long-password")]
)  # fmt: skip
def test_an_unreachable_database_is_one_sentence(tmp_path: Path, command: tuple[str, ...]) -> None:
    done = _ventros(
        tmp_path, *command, VENTROS_DATABASE_URL="postgresql://postgres@127.0.0.1:1/ventros"
    )
    said = _last_words(done)
    assert said.startswith("error: the database is not reachable"), done.stderr
    assert "VENTROS_DATABASE_URL" in said


@pytest.mark.parametrize(
    ("command", "setting", "value", "sentence"),
    [
        (("dlq", "list"), "VENTROS_RABBITMQ_URL", "amqp://guest:guest@127.0.0.1:1/",
         "error: RabbitMQ is not reachable"),
        (("temporal-worker",), "VENTROS_TEMPORAL_ADDRESS", "127.0.0.1:1",
         "error: Temporal is not reachable"),
    ],
)  # fmt: skip
def test_an_unreachable_service_is_one_sentence_naming_its_setting(
    tmp_path: Path,
    owner_url: str,
    command: tuple[str, ...],
    setting: str,
    value: str,
    sentence: str,
) -> None:
    done = _ventros(tmp_path, *command, VENTROS_DATABASE_URL=owner_url, **{setting: value})
    said = _last_words(done)
    assert said.startswith(sentence), done.stderr
    assert setting in said


def test_a_bad_setting_is_named(tmp_path: Path) -> None:
    said = _last_words(_ventros(tmp_path, "dlq", "list", VENTROS_HTTP_PORT="eighty"))
    assert said.startswith("error: VENTROS_HTTP_PORT is not valid"), said


async def test_users_of_every_role_are_created_from_the_command_line(
    tmp_path: Path, owner_url: str, client: httpx.AsyncClient, tenant: TenantLogin
) -> None:
    for role in ("supervisor", "agent", "viewer", "admin"):
        email = f"cli-{role}-{uuid.uuid4().hex[:8]}@example.com"
        done = _ventros(
            tmp_path, "users", "create", "--admin-email", tenant.email, "--email", email,
            "--name", role.title(), "--password", TEST_PASSWORD, "--role", role,
            VENTROS_DATABASE_URL=owner_url, VENTROS_SECRET_KEY=TEST_SECRET,
        )  # fmt: skip
        assert done.returncode == 0, done.stdout + done.stderr
        created = json.loads(done.stdout.strip().splitlines()[-1])
        assert created["tenant_id"] == str(tenant.tenant_id)
        token = await login(client, email)
        me = await client.get("/api/v1/me", headers={"Authorization": f"Bearer {token}"})
        assert me.json()["role"] == role
        assert me.json()["id"] == created["id"]


def test_an_unknown_admin_email_is_one_sentence(tmp_path: Path, owner_url: str) -> None:
    done = _ventros(
        tmp_path, "users", "create", "--admin-email", "nobody@example.com", "--email",
        "x@example.com", "--name", "X", "--password", TEST_PASSWORD,
        VENTROS_DATABASE_URL=owner_url, VENTROS_SECRET_KEY=TEST_SECRET,
    )  # fmt: skip
    said = _last_words(done)
    assert said == "error: no user has the email nobody@example.com; give a tenant admin's"
