"""Every table of every context, registered on one MetaData (for Alembic and tests)."""

from __future__ import annotations

import importlib

from sqlalchemy import MetaData

from ventros.platform.db import metadata

# Modules that define tables. A new context adds its repository (or tables) module here.
TABLE_MODULES = (
    "ventros.platform.outbox",
    "ventros.platform.bus.tables",
    "ventros.identity.repository",
    "ventros.contacts.repository",
    "ventros.channels.repository",
    "ventros.conversations.repository",
    "ventros.pipelines.repository",
    "ventros.tracking.repository",
    "ventros.platform.idempotency",
    "ventros.webhooks.repository",
    "ventros.agents.repository",
    "ventros.tracking.repository.ads_tables",
    "ventros.analysis.repository",
    "ventros.media.repository",
    "ventros.channels.health",
    "ventros.replies.repository",
    "ventros.routing.repository",
)


def load_all_tables() -> MetaData:
    for module in TABLE_MODULES:
        importlib.import_module(module)
    return metadata
