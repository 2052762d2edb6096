"""The sender's pure parts: WAHA request bodies, WAHA's answer ids, the circuit breaker."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from ventros.channels.sender import CLOSED, HALF_OPEN, OPEN, CircuitBreaker
from ventros.channels.waha_client import OutgoingContent, build_send, message_id_of

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "waha"


def test_the_session_goes_in_the_body_never_in_the_path() -> None:
    request = build_send("loja", "5511976543210@c.us", OutgoingContent("text", text="Oi"))
    assert request.path == "/api/sendText"
    assert request.body == {"session": "loja", "chatId": "5511976543210@c.us", "text": "Oi"}


def test_a_sticker_goes_out_through_send_image() -> None:
    content = OutgoingContent("sticker", media_url="https://x.example/s.webp")
    request = build_send("default", "1@c.us", content)
    assert request.path == "/api/sendImage"
    assert request.body["file"] == {"mimetype": "image/webp", "url": "https://x.example/s.webp"}


def test_a_voice_note_that_is_not_opus_is_converted_by_waha() -> None:
    content = OutgoingContent("audio", media_url="https://x.example/a.mp3")
    body = build_send("default", "1@c.us", content).body
    assert body["convert"] is True
    assert body["file"]["mimetype"] == "audio/ogg; codecs=opus"


def test_the_noweb_send_answer_gives_the_serialized_id() -> None:
    answer = json.loads((FIXTURES / "send_text.response.json").read_text())
    sent = message_id_of(answer)
    assert sent is not None
    assert sent.serialized == "true_5511976543210@c.us_3EB0A1C47D92E5F38B6A04"
    assert sent.wa_id == "3EB0A1C47D92E5F38B6A04"


@pytest.mark.parametrize(
    "answer",
    [
        {"id": "true_5511976543210@c.us_ABC", "_data": {}},  # GOWS
        {"id": {"_serialized": "true_5511976543210@c.us_ABC", "id": "ABC"}},  # WEBJS
    ],
)
def test_gows_and_webjs_answers_give_the_id_too(answer: object) -> None:
    sent = message_id_of(answer)
    assert sent is not None
    assert (sent.serialized, sent.wa_id) == ("true_5511976543210@c.us_ABC", "ABC")


def test_an_empty_answer_has_no_id() -> None:
    assert message_id_of({}) is None
    assert message_id_of(None) is None


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def test_the_breaker_opens_after_repeated_failures_and_probes_once_later() -> None:
    clock = Clock()
    breaker = CircuitBreaker(3, 30.0, clock)
    for _ in range(3):
        assert breaker.allow()
        breaker.failed()
    assert breaker.state == OPEN
    assert not breaker.allow()
    clock.now = 31.0
    assert breaker.state == HALF_OPEN
    assert breaker.allow()  # the probe
    assert not breaker.allow()  # only one at a time
    breaker.failed()
    assert breaker.state == OPEN  # the probe failed: open again
    clock.now = 62.0
    assert breaker.allow()
    breaker.succeeded()
    assert breaker.state == CLOSED
    assert breaker.allow()


def test_a_success_resets_the_failure_count() -> None:
    breaker = CircuitBreaker(2, 30.0, Clock())
    breaker.failed()
    breaker.succeeded()
    breaker.failed()
    assert breaker.state == CLOSED
