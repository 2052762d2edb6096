"""Rules WhatsApp events are held to once parsed: ack order, reactions, session timeouts,
channel status and sealed secrets. Pure domain, no I/O."""

import uuid
from datetime import UTC, datetime, timedelta

import pytest

from ventros.channels.domain import STATUS_UNKNOWN, Channel
from ventros.conversations.domain import (
    Direction,
    Message,
    MessageContent,
    MessageStatus,
    MessageType,
    Session,
)
from ventros.kernel.errors import RuleViolation
from ventros.platform.crypto import SecretBox, SecretUnreadable

T0 = datetime(2026, 7, 21, 12, 0, tzinfo=UTC)
TENANT = uuid.uuid4()


def _session() -> Session:
    return Session.open(tenant_id=TENANT, contact_id=uuid.uuid4(), channel_id=uuid.uuid4(), at=T0)


def _outbound(status: MessageStatus = MessageStatus.SENT) -> Message:
    return Message.sent_elsewhere(
        tenant_id=TENANT,
        session=_session(),
        content=MessageContent(type=MessageType.TEXT, text="oi"),
        at=T0,
        external_id="true_5511976543210@c.us_X",
        status=status,
    )


def test_acks_only_move_an_outbound_message_forward() -> None:
    message = _outbound()
    message.pull_events()
    assert message.apply_status(MessageStatus.READ, at=T0 + timedelta(seconds=5))
    assert not message.apply_status(MessageStatus.DELIVERED, at=T0 + timedelta(seconds=9))
    assert not message.apply_status(MessageStatus.FAILED, at=T0 + timedelta(seconds=9))
    assert message.status is MessageStatus.READ
    # Read implies delivered, at the read time when no delivery ack came first.
    assert message.delivered_at == message.read_at == T0 + timedelta(seconds=5)
    assert [e.name for e in message.pull_events()] == ["message.read"]


def test_an_error_ack_fails_a_sent_message_but_a_later_delivery_wins() -> None:
    message = _outbound()
    assert message.apply_status(MessageStatus.FAILED, at=T0)
    assert message.status is MessageStatus.FAILED
    assert message.error
    assert message.apply_status(MessageStatus.DELIVERED, at=T0)
    assert message.status is MessageStatus.DELIVERED
    assert message.error is None


def test_an_inbound_message_keeps_status_received() -> None:
    session = _session()
    message = Message.receive(
        tenant_id=TENANT,
        session=session,
        content=MessageContent(type=MessageType.TEXT, text="olá"),
        at=T0,
        external_id="false_5511976543210@c.us_Y",
    )
    assert message.direction is Direction.INBOUND
    assert not message.apply_status(MessageStatus.READ, at=T0)
    assert message.status is MessageStatus.RECEIVED
    assert [e.name for e in message.pull_events()] == ["message.received"]


def test_one_reaction_per_person_and_an_empty_one_removes_it() -> None:
    message = _outbound()
    message.react("❤️", reactor="a@c.us", at=T0)
    message.react("👍", reactor="a@c.us", at=T0)
    message.react("😂", reactor="b@c.us", at=T0)
    assert [(r["emoji"], r["from"]) for r in message.reactions] == [
        ("👍", "a@c.us"),
        ("😂", "b@c.us"),
    ]
    message.react("", reactor="a@c.us", at=T0)
    assert [r["from"] for r in message.reactions] == ["b@c.us"]


def test_a_session_idle_past_the_timeout_is_due_to_close() -> None:
    session = _session()
    assert not session.is_idle_at(T0 + timedelta(minutes=30), 1800)
    assert session.is_idle_at(T0 + timedelta(minutes=31), 1800)
    # A late, older message does not count as idleness.
    assert not session.is_idle_at(T0 - timedelta(hours=5), 1800)


def test_a_session_opened_for_a_late_message_gets_its_whole_timeout() -> None:
    late = _session()  # the customer's message is T0; Ventros opens the session now
    late.created_at = T0 + timedelta(hours=3)
    assert late.idle_deadline(1800) == T0 + timedelta(hours=3, minutes=30)
    on_time = _session()
    on_time.created_at = T0
    on_time.record_inbound(T0 + timedelta(minutes=10))
    assert on_time.idle_deadline(1800) == T0 + timedelta(minutes=40)


def test_first_response_counts_from_the_first_waiting_customer_message() -> None:
    session = _session()
    session.record_outbound(T0, by_person=True)  # the business wrote first: nobody waited
    assert session.first_response_seconds is None
    session.record_inbound(T0 + timedelta(seconds=10))
    session.record_inbound(T0 + timedelta(seconds=20))
    session.record_outbound(T0 + timedelta(seconds=30), by_person=False)  # a bot
    assert session.first_response_seconds is None
    session.record_outbound(T0 + timedelta(seconds=70), by_person=True)
    assert session.first_response_seconds == 60
    session.record_inbound(T0 + timedelta(seconds=80))
    session.record_outbound(T0 + timedelta(seconds=200), by_person=True)
    assert session.first_response_seconds == 60


def _channel() -> Channel:
    return Channel.create(
        tenant_id=TENANT, name="Loja", base_url="http://waha:3000/", webhook_secret="s3cret"
    )


def test_a_channel_keeps_the_newest_status_waha_reported() -> None:
    channel = _channel()
    assert channel.base_url == "http://waha:3000"
    assert channel.status == STATUS_UNKNOWN
    assert channel.change_status("WORKING", at=T0)
    assert not channel.change_status("STARTING", at=T0 - timedelta(seconds=1))
    assert channel.status == "working"
    assert channel.change_status("FAILED", at=T0 + timedelta(seconds=1))
    names = [e.name for e in channel.pull_events()]
    assert names == ["channel.created", "channel.status_changed", "channel.status_changed"]


def test_channel_events_never_carry_secrets() -> None:
    channel = _channel()
    channel.update(webhook_secret="n3w-secret", api_key="key-1", name="Loja 2")
    for event in channel.pull_events():
        text = repr(event.payload)
        assert "s3cret" not in text
        assert "n3w-secret" not in text
        assert "key-1" not in text
    assert channel.webhook_secret == "n3w-secret"


@pytest.mark.parametrize("url", ["ftp://waha", "waha:3000", "http://", "http://waha/?a=1"])
def test_a_channel_needs_an_http_base_url(url: str) -> None:
    with pytest.raises(RuleViolation):
        Channel.create(tenant_id=TENANT, name="x", base_url=url, webhook_secret="s")


def test_a_sealed_secret_opens_only_with_its_key_and_context() -> None:
    box = SecretBox.from_secret("key-one")
    sealed = box.seal("api-key-value", context="channel:1:api_key")
    assert "api-key-value" not in sealed
    assert box.open(sealed, context="channel:1:api_key") == "api-key-value"
    with pytest.raises(SecretUnreadable):
        box.open(sealed, context="channel:2:api_key")
    with pytest.raises(SecretUnreadable):
        SecretBox.from_secret("key-two").open(sealed, context="channel:1:api_key")
    with pytest.raises(SecretUnreadable):
        box.open("garbage", context="channel:1:api_key")
