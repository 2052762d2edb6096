"""The composition root: wires real adapters once per process. Tests call it too."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field

from ventros.identity.tokens import TokenService
from ventros.kernel.events import Actor
from ventros.platform.db import Database
from ventros.platform.metrics import Metrics
from ventros.platform.ratelimit import RateLimits
from ventros.platform.settings import Settings
from ventros.platform.uow import UnitOfWork


@dataclass
class Container:
    settings: Settings
    database: Database
    tokens: TokenService
    rate_limits: RateLimits
    # One registry per container, so tests and several containers never collide.
    metrics: Metrics = field(default_factory=Metrics)

    def uow(self, tenant_id: uuid.UUID, actor: Actor) -> UnitOfWork:
        return UnitOfWork(self.database.app, tenant_id, actor)

    def system_uow(self, tenant_id: uuid.UUID) -> UnitOfWork:
        """For cross-tenant infrastructure (relay, housekeeping): RLS does not apply."""
        return UnitOfWork(self.database.system, tenant_id, Actor.system())

    async def aclose(self) -> None:
        from ventros.channels.waha_client import WahaClient

        # Shared WAHA clients (the sender's, the profile pictures') outlive any one use.
        await WahaClient.close_all()
        await self.database.dispose()


def bootstrap(settings: Settings, *, database_url: str) -> Container:
    """`database_url` is the owner URL; engines connect as the application roles."""
    return Container(
        settings=settings,
        database=Database.from_settings(settings, database_url),
        tokens=TokenService(
            secret_key=settings.resolved_secret_key(),
            ttl_seconds=settings.jwt_ttl_seconds,
            previous_secret_key=settings.jwt_previous_secret_key,
        ),
        rate_limits=RateLimits(settings.redis_url),
    )
