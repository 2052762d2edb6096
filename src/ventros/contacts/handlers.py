"""Contacts' reactions to events: a new contact's WhatsApp profile picture.

The consumer reads `contact.events.enrichment` (every contact event, through the
`contact.events` exchange) and reacts to `contact.created` only. WAHA is asked inside the
event's unit of work, so the picture and the "handled" mark commit together; the call is
bounded by the WAHA timeout and the per-channel limit, and a failure is logged and left
(pictures are optional: `POST /contacts/{id}/profile-picture/refresh` asks again).
"""

from __future__ import annotations

import uuid
from collections.abc import Callable

from ventros.contacts import events
from ventros.contacts.profile_picture import PictureSource, show_picture
from ventros.contacts.repository import ContactRepository
from ventros.kernel.events import DomainEvent
from ventros.platform.bus import CONTACT_EVENTS
from ventros.platform.bus.topology import CONTACT_ENRICHMENT
from ventros.platform.consumers import Consumer
from ventros.platform.uow import UnitOfWork

CONSUMER_NAME = "contacts.fetch_profile_picture"


class WhenContactCreatedFetchProfilePicture:
    def __init__(self, source: Callable[[], PictureSource]) -> None:
        self._source = source

    async def __call__(self, event: DomainEvent, tx: UnitOfWork) -> None:
        repository = ContactRepository(tx)
        contact = await repository.get(uuid.UUID(str(event.aggregate_id)))
        if contact is None or contact.profile_picture_url is not None:
            return  # deleted since, or a picture is already known
        source = self._source()
        where = await source.where_to_ask(tx, contact)
        picture = await source.ask(where) if where is not None else None
        if picture is not None and show_picture(contact, picture):
            await repository.save(contact)


def consumer(source: Callable[[], PictureSource]) -> Consumer:
    """`source` gives the process's picture source (the container's, built on first use)."""
    return Consumer(
        CONSUMER_NAME,
        (events.CONTACT_CREATED,),
        WhenContactCreatedFetchProfilePicture(source),
        queue=CONTACT_ENRICHMENT,
        exchange=CONTACT_EVENTS,
    )
