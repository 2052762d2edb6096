"""The composition root: wires real adapters once per process. Tests call it too.

Everything a process shares is built here, once, from the one `Settings` the runtime
read: engines and the unit of work factory, the token service, rate limits, the secret
box, the Temporal connection (client and task queue), the clock, and — on first use — the
WAHA sender and the profile picture source."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from functools import cached_property
from typing import TYPE_CHECKING

from ventros.identity.tokens import TokenService
from ventros.kernel.clock import utcnow
from ventros.kernel.events import Actor
from ventros.platform.crypto import SecretBox
from ventros.platform.db import Database
from ventros.platform.invalidation import TENANT_SETTINGS, Invalidations
from ventros.platform.metrics import Metrics
from ventros.platform.ports import Ports
from ventros.platform.ratelimit import RateLimits
from ventros.platform.settings import Settings
from ventros.platform.temporal import TemporalConnection
from ventros.platform.uow import UnitOfWork

if TYPE_CHECKING:
    from ventros.channels.sender import Sender
    from ventros.channels.waha_client import WahaClient
    from ventros.contacts.profile_picture import PictureSource


@dataclass
class Container:
    settings: Settings
    database: Database
    tokens: TokenService
    rate_limits: RateLimits
    # One registry per container, so tests and several containers never collide.
    metrics: Metrics = field(default_factory=Metrics)
    clock: Callable[[], datetime] = utcnow
    # What contexts provide one another, filled by the runtime's wiring (registry.wire).
    ports: Ports = field(default_factory=Ports)
    # Built once from the settings (the one `SecretBox.from_secret` of the process).
    secret_box: SecretBox = field(init=False)
    temporal: TemporalConnection = field(init=False)
    _waha_clients: list[WahaClient] = field(default_factory=list, init=False, repr=False)

    def __post_init__(self) -> None:
        self.secret_box = SecretBox.from_secret(self.settings.resolved_secret_key())
        self.temporal = TemporalConnection.from_settings(self.settings)

    def uow(self, tenant_id: uuid.UUID, actor: Actor) -> UnitOfWork:
        return UnitOfWork(self.database.app, tenant_id, actor)

    def system_uow(self, tenant_id: uuid.UUID) -> UnitOfWork:
        """For cross-tenant infrastructure (relay, housekeeping): RLS does not apply."""
        return UnitOfWork(self.database.system, tenant_id, Actor.system())

    @cached_property
    def tenant_settings_changes(self) -> Invalidations:
        """This process's listener for tenant settings changes (started on first use)."""
        return Invalidations(self.database.app_dsn(), TENANT_SETTINGS)

    @cached_property
    def waha_sender(self) -> Sender:
        """Outbound WhatsApp: the WAHA client behind the rate limit, retries and breaker."""
        from ventros.channels.sender import Sender, SenderPolicy

        return Sender(
            self._waha_client(), self.rate_limits, SenderPolicy.from_settings(self.settings)
        )

    @cached_property
    def picture_source(self) -> PictureSource:
        """Contacts' WhatsApp profile pictures, through the contact's latest channel."""
        from ventros.contacts.profile_picture import PictureSource

        return PictureSource(
            self.secret_box,
            self._waha_client(),
            self.rate_limits,
            self.settings.waha_profile_picture_per_minute,
        )

    def _waha_client(self) -> WahaClient:
        from ventros.channels.waha_client import WahaClient

        client = WahaClient.create(timeout_seconds=self.settings.waha_timeout_seconds)
        self._waha_clients.append(client)
        return client

    async def aclose(self) -> None:
        if "tenant_settings_changes" in self.__dict__:
            await self.tenant_settings_changes.close()
        for client in self._waha_clients:
            await client.aclose()
        self._waha_clients.clear()
        from ventros.channels.waha_client import WahaClient

        # Clients in process-wide caches no container owns (aiohttp warns of unclosed ones).
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
