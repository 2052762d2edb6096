"""Webhook subscriptions, event patterns, retry policy and signatures: pure rules."""

import hashlib
import hmac
import uuid
from datetime import UTC, datetime, timedelta

import pytest

from ventros.kernel.errors import RuleViolation
from ventros.webhooks import events
from ventros.webhooks.domain import (
    DeliveryPolicy,
    Subscription,
    SubscriptionStatus,
    clean_patterns,
    clean_secret,
    clean_url,
    new_secret,
    pattern_matches,
    redacted_url,
    signature,
    signature_valid,
)

TENANT = uuid.uuid4()


@pytest.mark.parametrize(
    ("pattern", "name", "expected"),
    [
        ("contact.created", "contact.created", True),
        ("contact.created", "contact.updated", False),
        ("message.*", "message.received", True),
        ("message.*", "message.sent", True),
        ("message.*", "contact.created", False),
        ("message.*", "message", False),
        ("*.created", "contact.created", True),
        ("*.created", "contact.deleted", False),
        ("*", "contact.created", True),
        ("*", "webhook.delivery_failed", True),
        ("*.*", "session.csat_recorded", True),
        ("message", "message.received", False),
        ("message.received.extra", "message.received", False),
    ],
)
def test_event_patterns_match_word_by_word(pattern: str, name: str, expected: bool) -> None:
    assert pattern_matches(pattern, name) is expected


def test_patterns_are_cleaned_lower_cased_and_deduplicated() -> None:
    assert clean_patterns([" Message.* ", "message.*", "contact.created"]) == [
        "message.*",
        "contact.created",
    ]


@pytest.mark.parametrize(
    "patterns",
    [
        [],
        [""],
        ["message.**"],
        ["message.#"],
        ["contact..created"],
        ["contact created"],
        ["a" * 200],
    ],
)
def test_malformed_patterns_are_refused(patterns: list[str]) -> None:
    with pytest.raises(RuleViolation):
        clean_patterns(patterns)


def test_at_most_fifty_patterns() -> None:
    with pytest.raises(RuleViolation):
        clean_patterns([f"contact.e{i}" for i in range(51)])


@pytest.mark.parametrize(
    "url",
    [
        "ftp://example.com/x",
        "example.com/hook",
        "https://",
        "http://example.com:99999/",
        "https://example.com/#frag",
        "https://exa mple.com/",
        "https://example.com/" + "a" * 2100,
    ],
)
def test_malformed_urls_are_refused(url: str) -> None:
    with pytest.raises(RuleViolation):
        clean_url(url)


def test_a_url_keeps_its_path_and_query() -> None:
    assert clean_url(" https://hooks.example.com/v/1?token=abc ") == (
        "https://hooks.example.com/v/1?token=abc"
    )


def test_a_redacted_url_loses_credentials_and_query() -> None:
    assert redacted_url("https://user:pw@hooks.example.com:8443/in?token=abc") == (
        "https://hooks.example.com:8443/in"
    )


def test_generated_secrets_are_long_and_unique() -> None:
    first, second = new_secret(), new_secret()
    assert first.startswith("whsec_")
    assert len(first) > 40
    assert first != second


def test_a_short_secret_is_refused() -> None:
    with pytest.raises(RuleViolation):
        clean_secret("short")
    with pytest.raises(RuleViolation):
        clean_secret(" padded-secret-value ")


def test_the_signature_is_an_hmac_sha256_of_the_timestamp_and_body() -> None:
    body = b'{"id":"1"}'
    expected = hmac.new(b"s3cret-s3cret-s3cret", b"1700000000." + body, hashlib.sha256)
    assert signature("s3cret-s3cret-s3cret", body, 1_700_000_000) == (
        f"t=1700000000,v1={expected.hexdigest()}"
    )


def test_a_signature_verifies_only_with_the_same_secret_body_and_a_recent_time() -> None:
    body = b'{"name":"contact.created"}'
    header = signature("secret-one-secret-one", body, 1_700_000_000)
    assert signature_valid("secret-one-secret-one", header, body, now=1_700_000_100)
    assert not signature_valid("secret-two-secret-two", header, body, now=1_700_000_100)
    assert not signature_valid("secret-one-secret-one", header, body + b" ", now=1_700_000_100)
    assert not signature_valid("secret-one-secret-one", header, body, now=1_700_000_301)
    assert not signature_valid("secret-one-secret-one", "v1=abc", body, now=1_700_000_000)


def test_the_default_policy_doubles_from_one_second_capped_at_an_hour() -> None:
    policy = DeliveryPolicy()
    assert [policy.delay(n) for n in range(1, 6)] == [1.0, 2.0, 4.0, 8.0, 16.0]
    assert policy.delay(13) == 3600.0
    assert policy.delay(500) == 3600.0


def test_jitter_only_shortens_a_delay_by_at_most_a_fifth() -> None:
    policy = DeliveryPolicy()
    assert policy.delay(3, 0.999) == pytest.approx(4.0 * 0.8, rel=1e-3)
    assert all(3.2 <= policy.delay(3, f / 10) <= 4.0 for f in range(10))


def test_the_default_policy_gives_up_after_twenty_four_hours() -> None:
    policy = DeliveryPolicy()
    elapsed, attempt = 0.0, 1
    while (delay := policy.next_delay(attempt, elapsed)) is not None:
        elapsed += delay
        attempt += 1
    assert 23 * 3600 < elapsed <= 24 * 3600
    assert attempt == 35  # 1+2+...+2048 s, then hourly


def test_max_attempts_bounds_the_retries() -> None:
    policy = DeliveryPolicy(initial_interval_seconds=0.1, max_attempts=3)
    assert policy.next_delay(2, 0.1) is not None
    assert policy.next_delay(3, 0.3) is None


@pytest.mark.parametrize(
    "values",
    [
        {"initial_interval_seconds": 0.01},
        {"initial_interval_seconds": 10, "max_interval_seconds": 5},
        {"max_elapsed_seconds": 30 * 86_400},
        {"max_attempts": 0},
    ],
)
def test_out_of_range_policies_are_refused(values: dict[str, float]) -> None:
    with pytest.raises(RuleViolation):
        DeliveryPolicy.from_json(values)


def test_a_policy_round_trips_through_json() -> None:
    policy = DeliveryPolicy(0.5, 10.0, 60.0, 4)
    assert DeliveryPolicy.from_json(policy.to_json()) == policy


def _subscription(*patterns: str) -> Subscription:
    return Subscription.create(
        tenant_id=TENANT, url="https://hooks.example.com/in?token=x", events=list(patterns)
    )


def test_creating_a_subscription_raises_webhook_created_without_secrets() -> None:
    subscription = _subscription("message.*")
    [event] = subscription.pull_events()
    assert event.name == events.WEBHOOK_CREATED
    assert event.payload == {
        "webhook_id": str(subscription.id),
        "url": "https://hooks.example.com/in",
        "events": ["message.*"],
    }


def test_a_subscription_wants_matching_events_but_never_those_about_itself() -> None:
    subscription = _subscription("message.*", "webhook.*")
    other, later = uuid.uuid4(), subscription.created_at + timedelta(seconds=1)
    assert subscription.wants("message.sent", "message", other, later)
    assert not subscription.wants("contact.created", "contact", other, later)
    assert subscription.wants("webhook.delivery_failed", "webhook", other, later)
    assert not subscription.wants("webhook.delivery_failed", "webhook", subscription.id, later)


def test_a_subscription_wants_nothing_that_happened_before_it_was_created() -> None:
    subscription = _subscription("*")
    before = subscription.created_at - timedelta(milliseconds=1)
    assert not subscription.wants("contact.created", "contact", uuid.uuid4(), before)
    assert subscription.wants("contact.created", "contact", uuid.uuid4(), subscription.created_at)


def test_disabled_or_deleted_subscriptions_want_nothing() -> None:
    disabled, deleted = _subscription("*"), _subscription("*")
    disabled.disable("by hand")
    deleted.delete()
    later = disabled.created_at + timedelta(seconds=1)
    assert not disabled.wants("contact.created", "contact", uuid.uuid4(), later)
    assert not deleted.wants("contact.created", "contact", uuid.uuid4(), later)


def test_a_subscription_failing_for_days_is_disabled_with_the_reason() -> None:
    subscription = _subscription("*")
    subscription.pull_events()
    start = datetime(2026, 11, 1, tzinfo=UTC)
    after = timedelta(days=3)
    assert not subscription.attempt_failed(start, "HTTP 500", disable_after=after)
    assert not subscription.attempt_failed(
        start + timedelta(days=2), "HTTP 500", disable_after=after
    )
    assert subscription.is_active
    assert subscription.attempt_failed(
        start + timedelta(days=3, seconds=1), "HTTP 503", disable_after=after
    )
    assert subscription.status is SubscriptionStatus.DISABLED
    assert subscription.disabled_reason is not None
    assert "2026-11-01T00:00:00Z" in subscription.disabled_reason
    assert "HTTP 503" in subscription.disabled_reason
    assert [e.name for e in subscription.pull_events()] == [events.WEBHOOK_DISABLED]


def test_a_success_clears_the_failing_streak() -> None:
    subscription = _subscription("*")
    start = datetime(2026, 11, 1, tzinfo=UTC)
    after = timedelta(days=3)
    subscription.attempt_failed(start, "HTTP 500", disable_after=after)
    subscription.attempt_succeeded(start + timedelta(days=1))
    assert subscription.failing_since is None
    assert not subscription.attempt_failed(start + timedelta(days=4), "x", disable_after=after)
    assert subscription.status is SubscriptionStatus.ACTIVE


def test_enabling_again_forgets_the_failures() -> None:
    subscription = _subscription("*")
    subscription.failing_since = datetime(2026, 11, 1, tzinfo=UTC)
    subscription.disable("failing")
    subscription.enable()
    assert subscription.is_active
    assert subscription.failing_since is None
    assert subscription.disabled_reason is None


def test_a_final_failure_raises_webhook_delivery_failed() -> None:
    subscription = _subscription("*")
    subscription.pull_events()
    event_id = uuid.uuid4()
    subscription.delivery_failed(
        event_id=event_id, event_name="contact.created", attempts=5, status_code=500, error="x"
    )
    [event] = subscription.pull_events()
    assert event.name == events.WEBHOOK_DELIVERY_FAILED
    assert event.aggregate_id == subscription.id
    assert event.payload["event_id"] == str(event_id)
    assert event.payload["attempts"] == 5
