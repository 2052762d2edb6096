"""Webhooks use cases: subscriptions (admin), and what delivery needs (the fan-out handler
and the Temporal activities)."""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from ventros.identity.domain import Principal
from ventros.kernel.errors import NotFound
from ventros.kernel.events import Actor, DomainEvent
from ventros.kernel.ids import new_id
from ventros.platform.crypto import SecretBox
from ventros.platform.uow import UnitOfWork, UnitOfWorkFactory
from ventros.webhooks.domain import (
    DeliveryAttempt,
    DeliveryPolicy,
    Subscription,
    clean_secret,
    clean_url,
    new_secret,
    short_error,
)
from ventros.webhooks.repository import SubscriptionRepository, load_event

# Raises (a RuleViolation, 422) when the URL may not be a webhook target (ssrf.py).
UrlGuard = Callable[[str], Awaitable[None]]


@dataclass(frozen=True)
class CreateSubscription:
    url: str
    events: list[str]
    secret: str | None = None
    retry_policy: dict[str, Any] | None = None


@dataclass(frozen=True)
class Created:
    subscription: Subscription
    secret: str  # shown once, in the response to the creation


@dataclass(frozen=True)
class Page:
    items: list[Subscription]
    next_before: uuid.UUID | None


@dataclass(frozen=True)
class AttemptPage:
    items: list[DeliveryAttempt]
    next_before: uuid.UUID | None


def _open(uow: UnitOfWorkFactory, principal: Principal) -> UnitOfWork:
    return uow(principal.tenant_id, Actor.user(principal.user_id))


async def create_subscription(
    uow: UnitOfWorkFactory,
    box: SecretBox,
    principal: Principal,
    command: CreateSubscription,
    *,
    guard: UrlGuard,
) -> Created:
    url = clean_url(command.url)
    secret = clean_secret(command.secret) if command.secret is not None else new_secret()
    policy = DeliveryPolicy.from_json(command.retry_policy)
    await guard(url)  # DNS: before the transaction opens
    async with _open(uow, principal) as tx:
        subscription = Subscription.create(
            tenant_id=principal.tenant_id, url=url, events=command.events, policy=policy
        )
        await SubscriptionRepository(tx, box).add(subscription, secret=secret)
        await tx.commit()
    return Created(subscription, secret)


async def _get_live(tx: UnitOfWork, subscription_id: uuid.UUID) -> Subscription:
    subscription = await SubscriptionRepository(tx).get(subscription_id)
    if subscription is None:
        raise NotFound("webhook not found")
    return subscription


async def get_subscription(
    uow: UnitOfWorkFactory, principal: Principal, subscription_id: uuid.UUID
) -> Subscription:
    async with _open(uow, principal) as tx:
        return await _get_live(tx, subscription_id)


async def list_subscriptions(
    uow: UnitOfWorkFactory, principal: Principal, *, limit: int, before: uuid.UUID | None = None
) -> Page:
    async with _open(uow, principal) as tx:
        rows = await SubscriptionRepository(tx).list_live(limit=limit + 1, before=before)
    items = rows[:limit]
    return Page(items, items[-1].id if len(rows) > limit else None)


async def delete_subscription(
    uow: UnitOfWorkFactory, principal: Principal, subscription_id: uuid.UUID
) -> None:
    """Deliveries already under way stop before their next attempt."""
    async with _open(uow, principal) as tx:
        subscription = await _get_live(tx, subscription_id)
        subscription.delete()
        await SubscriptionRepository(tx).save(subscription)
        await tx.commit()


async def set_enabled(
    uow: UnitOfWorkFactory, principal: Principal, subscription_id: uuid.UUID, *, enabled: bool
) -> Subscription:
    async with _open(uow, principal) as tx:
        subscription = await _get_live(tx, subscription_id)
        if enabled:
            subscription.enable()
        else:
            subscription.disable("disabled by an administrator")
        await SubscriptionRepository(tx).save(subscription)
        await tx.commit()
    return subscription


async def list_attempts(
    uow: UnitOfWorkFactory,
    principal: Principal,
    subscription_id: uuid.UUID,
    *,
    limit: int,
    before: uuid.UUID | None = None,
) -> AttemptPage:
    async with _open(uow, principal) as tx:
        repository = SubscriptionRepository(tx)
        await _get_live(tx, subscription_id)
        rows = await repository.attempts(subscription_id, limit=limit + 1, before=before)
    items = rows[:limit]
    return AttemptPage(items, items[-1].id if len(rows) > limit else None)


# --------------------------------------------------------------------------- for delivery
# These run inside a unit of work the caller opened for the event's tenant.


async def subscriptions_for(tx: UnitOfWork, event: DomainEvent) -> list[Subscription]:
    """The tenant's active subscriptions that want this event (read once per transaction:
    the fan-out consumer sees every event)."""
    active: list[Subscription] | None = tx.memo.get(_ACTIVE_SUBSCRIPTIONS)
    if active is None:
        active = tx.memo[_ACTIVE_SUBSCRIPTIONS] = await SubscriptionRepository(tx).active()
    return [
        s
        for s in active
        if s.wants(event.name, event.aggregate_type, event.aggregate_id, event.occurred_at)
    ]


_ACTIVE_SUBSCRIPTIONS = "webhooks.active_subscriptions"


@dataclass(frozen=True)
class PreparedDelivery:
    """What one attempt sends: the secret stays in the activity, never in workflow history."""

    url: str
    secret: str
    event: DomainEvent


async def prepare_delivery(
    tx: UnitOfWork, box: SecretBox, subscription_id: uuid.UUID, event_id: uuid.UUID
) -> PreparedDelivery | None:
    """None when there is nothing (more) to deliver: the subscription was deleted or
    disabled, or the event is gone (e.g. purged)."""
    repository = SubscriptionRepository(tx, box)
    subscription = await repository.get(subscription_id)
    if subscription is None or not subscription.is_active:
        return None
    event = await load_event(tx, event_id)
    secret = await repository.secret_of(subscription_id)
    if event is None or secret is None:
        return None
    return PreparedDelivery(subscription.url, secret, event)


@dataclass(frozen=True)
class AttemptOutcome:
    event_id: uuid.UUID
    event_name: str
    attempt: int
    status_code: int | None
    error: str | None
    duration_ms: int
    at: datetime


async def record_attempt(
    tx: UnitOfWork,
    subscription_id: uuid.UUID,
    outcome: AttemptOutcome,
    *,
    disable_after: timedelta,
) -> bool:
    """Stores the attempt and updates the subscription's health; True when this attempt
    disabled the subscription (it had failed for `disable_after`)."""
    repository = SubscriptionRepository(tx)
    attempt = DeliveryAttempt(
        id=new_id(),
        subscription_id=subscription_id,
        event_id=outcome.event_id,
        event_name=outcome.event_name,
        attempt=outcome.attempt,
        status_code=outcome.status_code,
        error=short_error(outcome.error),
        duration_ms=outcome.duration_ms,
        at=outcome.at,
    )
    await repository.add_attempt(attempt)
    subscription = await repository.get(subscription_id, for_update=True)
    if subscription is None:
        return False
    disabled = False
    if attempt.succeeded:
        subscription.attempt_succeeded(outcome.at)
    else:
        disabled = subscription.attempt_failed(
            outcome.at, attempt.error, disable_after=disable_after
        )
    await repository.save(subscription)
    return disabled


async def record_final_failure(
    tx: UnitOfWork,
    subscription_id: uuid.UUID,
    *,
    event_id: uuid.UUID,
    event_name: str,
    attempts: int,
    status_code: int | None,
    error: str | None,
) -> bool:
    """Raises `webhook.delivery_failed` once per subscription and event; False when it
    was raised before or the subscription is gone."""
    repository = SubscriptionRepository(tx)
    subscription = await repository.get(subscription_id)
    if subscription is None:
        return False
    if not await repository.claim_final_failure(subscription_id, event_id):
        return False
    subscription.delivery_failed(
        event_id=event_id,
        event_name=event_name,
        attempts=attempts,
        status_code=status_code,
        error=error,
    )
    return True
