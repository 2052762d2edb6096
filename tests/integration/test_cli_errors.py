"""Every `ventros` command that cannot reach what it needs ends with one sentence saying
what to do, and a non-zero exit code; no traceback."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

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


def test_an_unreachable_rabbitmq_is_one_sentence(tmp_path: Path, owner_url: str) -> None:
    done = _ventros(
        tmp_path,
        "dlq",
        "list",
        VENTROS_DATABASE_URL=owner_url,
        VENTROS_RABBITMQ_URL="amqp://guest:guest@127.0.0.1:1/",
    )
    said = _last_words(done)
    assert said.startswith("error: RabbitMQ is not reachable"), done.stderr
    assert "VENTROS_RABBITMQ_URL" in said


def test_an_unreachable_temporal_is_one_sentence(tmp_path: Path, owner_url: str) -> None:
    done = _ventros(
        tmp_path,
        "temporal-worker",
        VENTROS_DATABASE_URL=owner_url,
        VENTROS_TEMPORAL_ADDRESS="127.0.0.1:1",
    )
    said = _last_words(done)
    assert said.startswith("error: Temporal is not reachable"), done.stderr
    assert "VENTROS_TEMPORAL_ADDRESS" in said


def test_a_bad_setting_is_named(tmp_path: Path) -> None:
    said = _last_words(_ventros(tmp_path, "dlq", "list", VENTROS_HTTP_PORT="eighty"))
    assert said.startswith("error: VENTROS_HTTP_PORT is not valid"), said
