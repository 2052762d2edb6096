"""Conversations' part of the process: routes, the consumers (channel deleted, WhatsApp
sending on the container's sender, routing and assignment, CSAT), and the session
timeouts, service clock and scheduled message workflows."""

from __future__ import annotations

from functools import partial
from typing import TYPE_CHECKING

from ventros.platform.wiring import Wiring

if TYPE_CHECKING:
    from ventros.runtime.container import Container


def wire(container: Container) -> Wiring:
    from ventros.agents.ports import REQUEUE_SESSIONS, SESSION_LOAD
    from ventros.contacts.ports import MOVE_SESSIONS
    from ventros.conversations import reports, scheduling, service_clock, workflows
    from ventros.conversations.api import labels_and_notes, router, session_actions
    from ventros.conversations.handlers import channels, csat, lifecycle, sending
    from ventros.conversations.service import assignment
    from ventros.conversations.service.lifecycle import move_contact_sessions

    return Wiring(
        routers=[router, session_actions.router, labels_and_notes.router, reports.router],
        consumers=[
            *channels.CONSUMERS,
            *sending.consumers(
                lambda: (container.waha_sender, container.secret_box),
                sending.media_links_for(container.settings),
            ),
            *lifecycle.consumers(service_clock.waker(container.temporal)),
            *csat.CONSUMERS,
        ],
        provides=[
            (SESSION_LOAD, assignment.load_of),
            (REQUEUE_SESSIONS, assignment.requeue_sessions_of),
            (MOVE_SESSIONS, move_contact_sessions),
        ],
        worker_parts=[
            partial(scheduling.worker_parts, container),
            partial(workflows.worker_parts, container),
            partial(service_clock.worker_parts, container),
        ],
    )
