"""Structured logs never carry credentials, nor message bodies at info level."""

from __future__ import annotations

import io
import json
import logging

import structlog

from ventros.platform.logging import REDACTED, redact_sensitive
from ventros.platform.settings import Settings
from ventros.runtime.supervisor import configure_logging


def test_credentials_are_masked_at_every_level() -> None:
    event = redact_sensitive(
        None,
        "error",
        {
            "event": "login failed with Authorization: Bearer eyJabc.def.ghi",
            "level": "error",
            "password": "hunter2-Secret",
            "access_token": "eyJ0eXAi",
            "api_key": "k-123",
            "webhook_secret": "whsec",
            "headers": {"Authorization": "Bearer abc", "X-Api-Key": "k", "Accept": "json"},
            "url": "https://x.test/?token=abc123&page=2",
        },
    )
    assert event["password"] == REDACTED
    assert event["access_token"] == REDACTED
    assert event["api_key"] == REDACTED
    assert event["webhook_secret"] == REDACTED
    assert event["headers"] == {"Authorization": REDACTED, "X-Api-Key": REDACTED, "Accept": "json"}
    assert "abc123" not in event["url"]
    assert "page=2" in event["url"]
    assert "eyJabc" not in event["event"]


def test_message_bodies_are_masked_at_info_but_kept_at_warning() -> None:
    info = redact_sensitive(
        None,
        "info",
        {
            "event": "message received",
            "level": "info",
            "text": "my card is 4111",
            "payload": {"caption": "photo of me", "body": "hi", "type": "image"},
        },
    )
    assert info["text"] == REDACTED
    assert info["payload"] == {"caption": REDACTED, "body": REDACTED, "type": "image"}
    warning = redact_sensitive(
        None, "warning", {"event": "odd message", "level": "warning", "text": "kept"}
    )
    assert warning["text"] == "kept"


def test_the_configured_pipeline_redacts_what_reaches_stdout() -> None:
    root = logging.getLogger()
    saved_handlers, saved_level = list(root.handlers), root.level
    configure_logging(Settings(secret_key="s" * 40, log_json=True, log_level="DEBUG"))
    stream = io.StringIO()
    handler = root.handlers[-1]
    assert isinstance(handler, logging.StreamHandler)
    handler.setStream(stream)
    try:
        structlog.get_logger("ventros.test").info(
            "inbound", text="the body", password="pw-1", phone_count=1
        )
        line = json.loads(stream.getvalue().strip().splitlines()[-1])
    finally:
        structlog.reset_defaults()
        root.handlers[:] = saved_handlers
        root.setLevel(saved_level)
    assert line["text"] == REDACTED
    assert line["password"] == REDACTED
    assert line["phone_count"] == 1
