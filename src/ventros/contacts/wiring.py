"""Contacts' part of the process: routes (merge first: its fixed paths come before
`/contacts/{id}`), and the profile picture consumer on the container's picture source."""

from __future__ import annotations

from typing import TYPE_CHECKING

from ventros.platform.wiring import Wiring

if TYPE_CHECKING:
    from ventros.runtime.container import Container


def wire(container: Container) -> Wiring:
    from ventros.contacts import handlers
    from ventros.contacts.api import merge
    from ventros.contacts.api import router as contacts_router
    from ventros.contacts.profile_picture import router as picture_router

    return Wiring(
        routers=[merge.router, contacts_router, picture_router],
        consumers=[handlers.consumer(lambda: container.picture_source)],
    )
