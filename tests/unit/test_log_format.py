"""Logs are JSON for collectors (not a terminal, or asked for) and text for people."""

from __future__ import annotations

import io
import json
import logging

import pytest
import structlog

from ventros.platform.settings import Settings
from ventros.runtime.supervisor import configure_logging


class _Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def _log_once(monkeypatch: pytest.MonkeyPatch, stdout: io.StringIO, log_json: bool | None) -> str:
    root = logging.getLogger()
    saved_handlers, saved_level = list(root.handlers), root.level
    monkeypatch.setattr("sys.stdout", stdout)
    try:
        configure_logging(Settings(secret_key="s" * 40, log_json=log_json))
        structlog.get_logger("ventros.test").info("contact created", contacts=1)
    finally:
        structlog.reset_defaults()
        root.handlers[:] = saved_handlers
        root.setLevel(saved_level)
    return stdout.getvalue().strip().splitlines()[-1]


def test_not_a_terminal_gets_json(monkeypatch: pytest.MonkeyPatch) -> None:
    line = json.loads(_log_once(monkeypatch, io.StringIO(), None))
    assert line["event"] == "contact created"
    assert line["contacts"] == 1


def test_a_terminal_gets_readable_text(monkeypatch: pytest.MonkeyPatch) -> None:
    line = _log_once(monkeypatch, _Terminal(), None)
    assert "contact created" in line
    assert "contacts" in line
    with pytest.raises(json.JSONDecodeError):
        json.loads(line)


def test_json_when_asked_even_on_a_terminal(monkeypatch: pytest.MonkeyPatch) -> None:
    assert json.loads(_log_once(monkeypatch, _Terminal(), True))["event"] == "contact created"


def test_the_api_logs_no_line_per_request_unless_asked() -> None:
    from fastapi import FastAPI

    from ventros.runtime.supervisor import _uvicorn_config

    app = FastAPI()
    assert _uvicorn_config(app, Settings(secret_key="s" * 40)).access_log is False
    asked = Settings(secret_key="s" * 40, access_log=True)
    assert _uvicorn_config(app, asked).access_log is True
