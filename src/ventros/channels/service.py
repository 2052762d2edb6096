"""Channels use cases: CRUD, the signed WAHA webhook, and what the ingest worker needs."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any, ParamSpec, TypeVar

from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncConnection

from ventros.channels import waha
from ventros.channels.domain import DEFAULT_RATE_LIMIT, DEFAULT_WAHA_SESSION, Channel, InboundEvent
from ventros.channels.intake import InboundIntake
from ventros.channels.repository import (
    ChannelRepository,
    InboundEventRepository,
    NewInboundEvent,
    WebhookChannel,
    find_webhook_channel,
    prune_processed_events,
    tenants_with_pending_events,
)
from ventros.identity.domain import Principal
from ventros.kernel.clock import utcnow
from ventros.kernel.errors import DomainError, NotAuthenticated, NotFound, RuleViolation
from ventros.kernel.events import Actor
from ventros.kernel.ids import new_id
from ventros.kernel.json_input import JsonTooDeep, loads_bounded
from ventros.kernel.tracing import current_traceparent
from ventros.platform.crypto import SecretBox
from ventros.platform.uow import UnitOfWork, UnitOfWorkFactory

P = ParamSpec("P")
R = TypeVar("R")

NO_TENANT = uuid.UUID(int=0)
# Above this size, hashing and JSON parsing leave the event loop for a thread.
_OFFLOAD_BYTES = 256 * 1024
# PostgreSQL's jsonb refuses \u0000 in strings (SQLSTATE 22P05): not storable, so refused.
_UNTRANSLATABLE_CHARACTER = "22P05"


class WebhookBodyNotJson(DomainError):
    """The (authentic) webhook body is not JSON."""


class WebhookChannelCache:
    """Channels the webhook looked up recently (id → tenant and secret), kept `ttl_seconds`:
    a delivery then costs one transaction, not two. A change made through this process
    forgets the entry at once; other processes see it within `ttl_seconds`.

    Deliveries that miss together share one lookup: when an entry expires under load, the
    hundreds of deliveries in flight would otherwise each open a transaction for the same
    row, all at once."""

    def __init__(self, ttl_seconds: float = 5.0, max_entries: int = 10_000) -> None:
        self._ttl = ttl_seconds
        self._max = max_entries
        self._entries: dict[uuid.UUID, tuple[float, WebhookChannel]] = {}
        self._lookups: dict[uuid.UUID, asyncio.Future[WebhookChannel | None]] = {}

    def get(self, channel_id: uuid.UUID) -> WebhookChannel | None:
        entry = self._entries.get(channel_id)
        if entry is None or entry[0] < time.monotonic():
            return None
        return entry[1]

    async def get_or_look_up(
        self,
        channel_id: uuid.UUID,
        look_up: Callable[[uuid.UUID], Awaitable[WebhookChannel | None]],
    ) -> WebhookChannel | None:
        channel = self.get(channel_id)
        if channel is not None:
            return channel
        lookup = self._lookups.get(channel_id)
        if lookup is None:
            lookup = asyncio.ensure_future(look_up(channel_id))
            self._lookups[channel_id] = lookup
            lookup.add_done_callback(lambda done: self._looked_up(channel_id, done))
        # A caller that goes away (client disconnect) leaves the lookup to the others.
        return await asyncio.shield(lookup)

    def _looked_up(
        self, channel_id: uuid.UUID, lookup: asyncio.Future[WebhookChannel | None]
    ) -> None:
        if self._lookups.get(channel_id) is not lookup:
            return  # forgotten meanwhile: what it read may be stale
        del self._lookups[channel_id]
        if not lookup.cancelled() and lookup.exception() is None:
            channel = lookup.result()
            if channel is not None:
                self._remember(channel)

    def _remember(self, channel: WebhookChannel) -> None:
        if len(self._entries) >= self._max:
            self._entries.clear()
        self._entries[channel.id] = (time.monotonic() + self._ttl, channel)

    def forget(self, channel_id: uuid.UUID) -> None:
        self._entries.pop(channel_id, None)
        self._lookups.pop(channel_id, None)


@dataclass(frozen=True)
class CreateChannel:
    name: str
    base_url: str
    webhook_secret: str
    api_key: str | None = None
    waha_session: str = DEFAULT_WAHA_SESSION
    enforce_24h_window: bool = False
    rate_limit_per_minute: int = DEFAULT_RATE_LIMIT
    ingest_groups: bool = False


@dataclass(frozen=True)
class Page:
    items: list[Channel]
    next_before: uuid.UUID | None


@dataclass(frozen=True)
class AcceptedWebhook:
    inbound_event_id: uuid.UUID
    event: str
    duplicate: bool


def _open(uow: UnitOfWorkFactory, principal: Principal) -> UnitOfWork:
    return uow(principal.tenant_id, Actor.user(principal.user_id))


async def create_channel(
    uow: UnitOfWorkFactory, box: SecretBox, principal: Principal, command: CreateChannel
) -> Channel:
    channel = Channel.create(
        tenant_id=principal.tenant_id,
        name=command.name,
        base_url=command.base_url,
        webhook_secret=command.webhook_secret,
        api_key=command.api_key,
        waha_session=command.waha_session,
        enforce_24h_window=command.enforce_24h_window,
        rate_limit_per_minute=command.rate_limit_per_minute,
        ingest_groups=command.ingest_groups,
    )
    async with _open(uow, principal) as tx:
        await ChannelRepository(tx, box).add(channel)
        await tx.commit()
    return channel


async def _get_live(tx: UnitOfWork, box: SecretBox, channel_id: uuid.UUID) -> Channel:
    channel = await ChannelRepository(tx, box).get(channel_id)
    if channel is None:
        raise NotFound("channel not found")
    return channel


async def get_channel(
    uow: UnitOfWorkFactory, box: SecretBox, principal: Principal, channel_id: uuid.UUID
) -> Channel:
    async with _open(uow, principal) as tx:
        return await _get_live(tx, box, channel_id)


async def list_channels(
    uow: UnitOfWorkFactory,
    box: SecretBox,
    principal: Principal,
    *,
    limit: int,
    before: uuid.UUID | None = None,
) -> Page:
    async with _open(uow, principal) as tx:
        rows = await ChannelRepository(tx, box).list(limit=limit + 1, before=before)
    items = rows[:limit]
    return Page(items, items[-1].id if len(rows) > limit else None)


async def update_channel(
    uow: UnitOfWorkFactory,
    box: SecretBox,
    principal: Principal,
    channel_id: uuid.UUID,
    fields: dict[str, Any],
    *,
    cache: WebhookChannelCache | None = None,
) -> Channel:
    """Only the fields present change; `api_key: None` removes the key."""
    async with _open(uow, principal) as tx:
        channel = await _get_live(tx, box, channel_id)
        channel.update(
            name=fields.get("name"),
            base_url=fields.get("base_url"),
            waha_session=fields.get("waha_session"),
            api_key=fields.get("api_key"),
            webhook_secret=fields.get("webhook_secret"),
            enforce_24h_window=fields.get("enforce_24h_window"),
            rate_limit_per_minute=fields.get("rate_limit_per_minute"),
            ingest_groups=fields.get("ingest_groups"),
            clear_api_key="api_key" in fields and fields["api_key"] is None,
        )
        await ChannelRepository(tx, box).save(channel)
        await tx.commit()
    if cache is not None:
        cache.forget(channel_id)
    return channel


async def delete_channel(
    uow: UnitOfWorkFactory,
    box: SecretBox,
    principal: Principal,
    channel_id: uuid.UUID,
    *,
    cache: WebhookChannelCache | None = None,
) -> None:
    """Soft delete: the webhook answers 404 from now on; messages stay. Open sessions are
    closed by Conversations when it sees `channel.deleted`."""
    async with _open(uow, principal) as tx:
        channel = await _get_live(tx, box, channel_id)
        channel.delete()
        await ChannelRepository(tx, box).save(channel)
        await tx.commit()
    if cache is not None:
        cache.forget(channel_id)


# --------------------------------------------------------------------------- webhook


async def accept_waha_webhook(
    uow: UnitOfWorkFactory,
    box: SecretBox,
    *,
    channel_id: str,
    body: bytes,
    signature: str | None,
    algorithm: str | None,
    intake: InboundIntake,
    cache: WebhookChannelCache | None = None,
) -> AcceptedWebhook:
    """Authenticates a WAHA delivery and stores it durably; a repeat is accepted, not stored.

    Checks in order: the channel exists (404), the signature (401) — before the body is
    even parsed —, JSON (400), the envelope's shape (422). The `intake` stores it in a group
    commit with others arriving meanwhile.
    """
    channel = await _webhook_channel(uow, box, channel_id, cache)
    if algorithm is not None and algorithm.strip().lower() != waha.SIGNATURE_ALGORITHM:
        raise NotAuthenticated("unsupported X-Webhook-Hmac-Algorithm; expected sha512")
    if not signature:
        raise NotAuthenticated("missing X-Webhook-Hmac")
    if not await _offloaded(
        len(body), waha.signature_matches, channel.webhook_secret, body, signature
    ):
        raise NotAuthenticated("X-Webhook-Hmac does not match the body")
    raw_json, data = await _offloaded(len(body), _decode_json, body)
    try:
        envelope = waha.parse_envelope(data)
    except waha.InvalidEnvelope as error:
        raise RuleViolation(f"not a WAHA webhook envelope: {error}", field="body") from error
    event_id = new_id()
    try:
        stored = await intake.store(
            NewInboundEvent(
                id=event_id,
                tenant_id=channel.tenant_id,
                channel_id=channel.id,
                event_key=waha.dedupe_key(envelope, body),
                event=envelope.event,
                raw_json=raw_json,
                traceparent=current_traceparent(),
            )
        )
    except DBAPIError as error:
        if _sqlstate(error) == _UNTRANSLATABLE_CHARACTER:
            raise RuleViolation("the envelope contains a NUL character", field="body") from error
        raise
    return AcceptedWebhook(event_id, envelope.event, duplicate=not stored)


async def _webhook_channel(
    uow: UnitOfWorkFactory, box: SecretBox, channel_id: str, cache: WebhookChannelCache | None
) -> WebhookChannel:
    try:
        channel_uuid = uuid.UUID(channel_id)
    except ValueError as error:
        raise NotFound("channel not found") from error

    async def look_up(channel_uuid: uuid.UUID) -> WebhookChannel | None:
        async with uow(NO_TENANT, Actor.system()) as tx:
            return await find_webhook_channel(tx, box, channel_uuid)

    if cache is None:
        channel = await look_up(channel_uuid)
    else:
        channel = await cache.get_or_look_up(channel_uuid, look_up)
    if channel is None:
        raise NotFound("channel not found")
    return channel


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


def _decode_json(body: bytes) -> tuple[str, Any]:
    try:
        text = body.decode("utf-8")
        return text, loads_bounded(text, parse_constant=_reject_constant)
    except JsonTooDeep as error:
        # WAHA's envelopes nest a few levels; a deeper one is not WAHA's.
        raise WebhookBodyNotJson(f"the body is not a WAHA envelope: {error}") from error
    except (UnicodeDecodeError, ValueError) as error:
        raise WebhookBodyNotJson("the body is not valid JSON") from error


async def _offloaded(size: int, function: Callable[P, R], *args: P.args, **kw: P.kwargs) -> R:
    if size > _OFFLOAD_BYTES:
        return await asyncio.to_thread(function, *args, **kw)
    return function(*args, **kw)


def _sqlstate(error: DBAPIError) -> str | None:
    for candidate in (error.orig, getattr(error.orig, "__cause__", None)):
        code = getattr(candidate, "sqlstate", None) or getattr(candidate, "pgcode", None)
        if isinstance(code, str):
            return code
    return None


# --------------------------------------------------------------------------- for ingest
# Called by the ingest worker (Conversations) inside its own unit of work.


async def channel_for_ingest(
    tx: UnitOfWork, box: SecretBox, channel_id: uuid.UUID
) -> Channel | None:
    """The live channel, or None once it is deleted."""
    return await ChannelRepository(tx, box).get(channel_id)


async def apply_session_status(
    tx: UnitOfWork, box: SecretBox, channel: Channel, status: str, *, at: datetime | None
) -> bool:
    """Records WAHA's session status on the channel; True when it changed."""
    changed = channel.change_status(status, at=at or utcnow())
    await ChannelRepository(tx, box).save_status(channel)
    return changed


async def claim_inbound_events(tx: UnitOfWork, *, limit: int) -> list[InboundEvent]:
    return await InboundEventRepository(tx).claim(limit=limit)


async def claim_inbound_event(tx: UnitOfWork, event_id: uuid.UUID) -> InboundEvent | None:
    return await InboundEventRepository(tx).claim_one(event_id)


async def finish_inbound_events(tx: UnitOfWork, outcomes: dict[uuid.UUID, str]) -> None:
    await InboundEventRepository(tx).mark_processed(outcomes, at=utcnow())


async def fail_inbound_event(
    tx: UnitOfWork, event_id: uuid.UUID, *, error: str, retry_at: datetime, give_up: bool
) -> None:
    await InboundEventRepository(tx).record_failure(
        event_id, error=error, retry_at=retry_at, give_up=give_up
    )


async def pending_inbound_tenants(
    system: AsyncConnection, *, limit: int, after: uuid.UUID | None = None
) -> list[uuid.UUID]:
    return await tenants_with_pending_events(system, limit=limit, after=after)


async def prune_inbound_events(system: AsyncConnection, *, older_than: datetime) -> int:
    return await prune_processed_events(system, older_than=older_than)
