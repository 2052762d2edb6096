"""Webhooks' reaction to every domain event: one delivery workflow per subscription that
wants it.

The fan-out runs in the consumer's unit of work for the event's tenant, so row-level
security limits it to that tenant's subscriptions. Starting a workflow is idempotent (its
id is `webhook-<subscription>-<event>`), so if the transaction fails after some starts, the
redelivered event starts only the missing ones.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from ventros.kernel.events import DomainEvent
from ventros.platform.bus import CONTACT_EVENTS
from ventros.platform.bus.topology import CONTACT_WEBHOOK, DOMAIN_EVENTS_ALL
from ventros.platform.consumers import Consumer
from ventros.platform.uow import UnitOfWork
from ventros.webhooks import service
from ventros.webhooks.workflows import DeliveryInput

# Starts one delivery (idempotently): the wiring binds it to the process's Temporal; tests
# to their own client and task queue.
DeliveryStarter = Callable[[DeliveryInput], Awaitable[object]]


class WhenAnyEventStartWebhookDeliveries:
    def __init__(self, start: DeliveryStarter) -> None:
        self._start = start

    async def __call__(self, event: DomainEvent, tx: UnitOfWork) -> None:
        for subscription in await service.subscriptions_for(tx, event):
            policy = subscription.policy
            await self._start(
                DeliveryInput(
                    tenant_id=str(event.tenant_id),
                    subscription_id=str(subscription.id),
                    event_id=str(event.id),
                    event_name=event.name,
                    initial_interval_seconds=policy.initial_interval_seconds,
                    max_interval_seconds=policy.max_interval_seconds,
                    max_elapsed_seconds=policy.max_elapsed_seconds,
                    max_attempts=policy.max_attempts,
                )
            )


CONSUMER_NAME = "webhooks.start_deliveries"
CONTACT_CONSUMER_NAME = "webhooks.start_contact_deliveries"


def consumer(start: DeliveryStarter) -> Consumer:
    """The fan-out of every event but contact ones, from `domain.events.all`."""
    return Consumer(
        CONSUMER_NAME,
        ("#",),
        WhenAnyEventStartWebhookDeliveries(start),
        queue=DOMAIN_EVENTS_ALL,
        excluding=("contact.#",),
    )


def contact_consumer(start: DeliveryStarter) -> Consumer:
    """The fan-out of contact events, from their own queue, so that a flood of message
    events never holds up the webhooks of a new or changed contact."""
    return Consumer(
        CONTACT_CONSUMER_NAME,
        ("contact.#",),
        WhenAnyEventStartWebhookDeliveries(start),
        queue=CONTACT_WEBHOOK,
        exchange=CONTACT_EVENTS,
    )


def consumers(start: DeliveryStarter) -> list[Consumer]:
    return [consumer(start), contact_consumer(start)]
