"""Tracking's reactions to events:

- `tracking.created` with a Meta ad id → start its enrichment workflow;
- `contact.pipeline_status_changed` into a `won` stage → a conversion, when an ad
  integration of the tenant says so (`conversion_on_won`);
- `tracking.conversion` with a platform → start its delivery workflow.

Workflow starts are idempotent (ids `enrich-<tracking>`, `conversion-<conversion>`), and the
conversion is deduplicated in the database, so a redelivered event does nothing twice.
"""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable

from ventros.kernel.events import DomainEvent
from ventros.pipelines.events import ContactPipelineStatusChanged
from ventros.platform.consumers import Consumer
from ventros.platform.uow import UnitOfWork
from ventros.tracking import conversions, events
from ventros.tracking.workflows import (
    Backoff,
    EnrichWorkflowInput,
    SendWorkflowInput,
)

EnrichStarter = Callable[[EnrichWorkflowInput], Awaitable[object]]
SendStarter = Callable[[SendWorkflowInput], Awaitable[object]]
META_SOURCES = ("facebook_ads", "instagram_ads")


class WhenTrackingCreatedEnrichIt:
    def __init__(self, start: EnrichStarter, backoff: Backoff | None = None):
        self._start = start
        self._backoff = backoff or Backoff()

    async def __call__(self, event: DomainEvent, tx: UnitOfWork) -> None:  # noqa: ARG002
        data = event.payload
        if not data.get("ad_id") or data.get("source") not in META_SOURCES:
            return
        await self._start(
            EnrichWorkflowInput(str(event.tenant_id), str(data["tracking_id"]), self._backoff)
        )


async def when_contact_won_attribute_conversion(event: DomainEvent, tx: UnitOfWork) -> None:
    changed = ContactPipelineStatusChanged.parse(event)
    if changed.won:
        await conversions.on_won(tx, event.payload)


class WhenConversionAttributedSendIt:
    def __init__(self, start: SendStarter, backoff: Backoff | None = None):
        self._start = start
        self._backoff = backoff or Backoff()

    async def __call__(self, event: DomainEvent, tx: UnitOfWork) -> None:  # noqa: ARG002
        data = event.payload
        if not data.get("platform"):
            return
        conversion_id = uuid.UUID(str(data["conversion_id"]))
        await self._start(
            SendWorkflowInput(str(event.tenant_id), str(conversion_id), self._backoff)
        )


ENRICH = "tracking.enrich"
WON = "tracking.conversion_on_won"
SEND = "tracking.send_conversion"


def consumers(
    enrich: EnrichStarter, send: SendStarter, backoff: Backoff | None = None
) -> list[Consumer]:
    """`enrich` and `send` start the workflows (the wiring binds them to the process's
    Temporal; tests to their own client and task queue)."""
    return [
        Consumer(ENRICH, (events.TRACKING_CREATED,), WhenTrackingCreatedEnrichIt(enrich, backoff)),
        Consumer(WON, (ContactPipelineStatusChanged.NAME,), when_contact_won_attribute_conversion),
        Consumer(
            SEND, (events.TRACKING_CONVERSION,), WhenConversionAttributedSendIt(send, backoff)
        ),
    ]
