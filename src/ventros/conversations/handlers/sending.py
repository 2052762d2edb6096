"""The WhatsApp sender consumer: `message.sending` → WAHA → `message.sent` / `message.failed`.

A message is sent only while it is `pending` with no WhatsApp id, and only within its
deadline (VENTROS_WAHA_SEND_DEADLINE_SECONDS from when it was written, 2 minutes by
default): a redelivered event finds it sent or failed and does nothing, and one redelivered
after the deadline fails it instead of sending late.

Two ways to run it:

- **dispatch** (the worker, `CONSUMERS`): in the consumer framework's transaction the
  handler only checks the message and hands it to this process's `SendDispatcher`, then
  returns, so the batch commits at once. The dispatcher calls WAHA outside any database
  transaction: concurrently across chats (up to `per_channel` sends in flight per channel,
  within the channel's rate limit), one at a time and in order within a chat, over kept-alive
  connections; results are recorded in short batched transactions. A message the
  dispatcher holds is not taken again, and once recorded its status keeps it from being
  sent again. If the process dies between handing a message over and recording its
  result, the message stays `pending` without being sent twice, and the ingest
  housekeeping (`fail_abandoned_sends`, every minute) fails it once its deadline has
  passed: at most once, never late, never `pending` forever.
- **inline** (`process_event` in tests, tools): WAHA is called inside the framework's unit
  of work and the outcome commits with the "handled" mark.

Channels (URL, session, sealed API key, rate limit) are read once per `CHANNEL_TTL_SECONDS`
per process, not once per message.
"""

from __future__ import annotations

import asyncio
import dataclasses
import time
import uuid
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from functools import lru_cache
from typing import Any

import structlog
from sqlalchemy import and_, bindparam, delete, select, update
from sqlalchemy.ext.asyncio import AsyncEngine

from ventros.channels import service as channels
from ventros.channels.sender import ChannelTarget, Sender, SendFailed
from ventros.channels.waha_client import (
    OutgoingContent,
    SentId,
    WahaClient,
    WahaError,
    WahaTarget,
)
from ventros.contacts import service as contacts
from ventros.conversations import events
from ventros.conversations.batch import apply_waiting_updates
from ventros.conversations.domain import Direction, Message, MessageStatus
from ventros.conversations.repository import MessageRepository, PendingUpdateRepository, messages
from ventros.conversations.repository.messages import _message_from_row
from ventros.conversations.service import sending
from ventros.kernel.clock import utcnow
from ventros.kernel.events import Actor, DomainEvent
from ventros.media.service import MediaLinks
from ventros.media.store import store_from_settings
from ventros.platform.consumers import Consumer
from ventros.platform.crypto import SecretBox
from ventros.platform.settings import Settings
from ventros.platform.uow import UnitOfWork, UnitOfWorkFactory

log = structlog.get_logger(__name__)

CONSUMER_NAME = "conversations.send_whatsapp"
CHANNEL_TTL_SECONDS = 5.0
STALE_GRACE_SECONDS = 60.0  # past the deadline, before a pending message counts as abandoned
ABANDONED = "not sent: the sender stopped before WAHA answered"
NOT_ON_WHATSAPP = "not_on_whatsapp"  # check-exists: WhatsApp does not know the number


class ChannelTargets:
    """Where each channel's WAHA is (decrypted once), for `ttl_seconds`; a deleted channel
    is remembered as None for as long."""

    def __init__(self, ttl_seconds: float = CHANNEL_TTL_SECONDS) -> None:
        self._ttl = ttl_seconds
        self._entries: dict[uuid.UUID, tuple[float, ChannelTarget | None]] = {}

    async def get(
        self, tx: UnitOfWork, box: SecretBox, channel_id: uuid.UUID
    ) -> ChannelTarget | None:
        now = time.monotonic()
        entry = self._entries.get(channel_id)
        if entry is not None and entry[0] > now:
            return entry[1]
        channel = await channels.channel_for_ingest(tx, box, channel_id)
        target = (
            None
            if channel is None
            else ChannelTarget(
                channel.id,
                WahaTarget(
                    channel.base_url, channel.waha_session, channel.api_key, channel=str(channel.id)
                ),
                channel.rate_limit_per_minute,
            )
        )
        if len(self._entries) > 10_000:
            self._entries.clear()
        self._entries[channel_id] = (now + self._ttl, target)
        return target


@dataclass(frozen=True)
class SendJob:
    tenant_id: uuid.UUID
    message_id: uuid.UUID
    target: ChannelTarget
    chat_id: str
    content: OutgoingContent
    deadline: float  # on the sender's clock


@dataclass(frozen=True)
class SendResult:
    job: SendJob
    sent: SentId | None
    error: str | None
    at: datetime


@dataclass
class SendDispatcher:
    """Sends handed-over messages outside any transaction and records the outcomes.

    One FIFO lane per (channel, chat): a chat's messages go one after another, in the order
    they were handed over; lanes of a channel run concurrently up to `per_channel`. Results
    are recorded per tenant, up to `record_batch` per transaction.
    """

    sender: Sender
    engine: AsyncEngine
    per_channel: int = 32
    record_batch: int = 256
    record_linger_seconds: float = 0.01
    in_flight: set[uuid.UUID] = field(default_factory=set)
    _lanes: dict[tuple[uuid.UUID, str], deque[SendJob]] = field(default_factory=dict)
    _slots: dict[uuid.UUID, asyncio.Semaphore] = field(default_factory=dict)
    _results: list[SendResult] = field(default_factory=list)
    _tasks: set[asyncio.Task[None]] = field(default_factory=set)
    _recorder: asyncio.Task[None] | None = None
    _wake: asyncio.Event = field(default_factory=asyncio.Event)
    _idle: asyncio.Event = field(default_factory=asyncio.Event)
    _released: asyncio.Event = field(default_factory=asyncio.Event)

    def submit(self, job: SendJob) -> bool:
        """Queues the job; False when this message is held already."""
        if job.message_id in self.in_flight:
            return False
        self.in_flight.add(job.message_id)
        self._idle.clear()
        key = (job.target.channel_id, job.chat_id)
        lane = self._lanes.get(key)
        if lane is not None:
            lane.append(job)
            return True
        self._lanes[key] = deque([job])
        self._spawn(self._run_lane(key))
        return True

    @property
    def held(self) -> int:
        return len(self.in_flight)

    async def room(self, limit: int) -> None:
        """Until fewer than `limit` messages are held."""
        while len(self.in_flight) >= limit:
            self._released.clear()
            await self._released.wait()

    async def drain(self) -> None:
        """Until everything handed over is sent (or failed) and recorded."""
        while self.in_flight:
            self._idle.clear()
            if not self.in_flight:
                break
            await self._idle.wait()

    async def aclose(self) -> None:
        tasks = [*self._tasks, *([self._recorder] if self._recorder else [])]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    def _spawn(self, work: Any) -> None:
        task = asyncio.get_running_loop().create_task(work)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    def _slot(self, channel_id: uuid.UUID) -> asyncio.Semaphore:
        slot = self._slots.get(channel_id)
        if slot is None:
            slot = self._slots[channel_id] = asyncio.Semaphore(self.per_channel)
        return slot

    async def _run_lane(self, key: tuple[uuid.UUID, str]) -> None:
        lane = self._lanes[key]
        try:
            while lane:
                job = lane[0]
                async with self._slot(job.target.channel_id):
                    result = await self._send(job)
                lane.popleft()
                self._results.append(result)
                self._wake.set()
                if self._recorder is None or self._recorder.done():
                    self._recorder = asyncio.get_running_loop().create_task(self._record_loop())
        finally:
            if self._lanes.get(key) is lane and not lane:
                del self._lanes[key]

    async def _send(self, job: SendJob) -> SendResult:
        try:
            sent = await self.sender.send(
                job.target,
                job.chat_id,
                job.content,
                deadline_seconds=job.deadline - self.sender.clock(),
            )
        except SendFailed as failure:
            return SendResult(job, None, failure.error, utcnow())
        except Exception as error:  # never lose the job's outcome
            log.exception("WAHA send crashed", message_id=str(job.message_id))
            return SendResult(job, None, f"send failed: {type(error).__name__}", utcnow())
        return SendResult(job, sent, None, utcnow())

    async def _record_loop(self) -> None:
        delay = 0.1
        while True:
            if not self._results:
                self._wake.clear()
                if not self._results:
                    if not self.in_flight:
                        self._idle.set()
                    try:
                        await asyncio.wait_for(self._wake.wait(), 5.0)
                    except TimeoutError:
                        return
                    continue
            if len(self._results) < self.record_batch and len(self._results) < len(self.in_flight):
                # More outcomes are on their way: a moment's wait records them together
                # (one transaction for many messages, not one each).
                await asyncio.sleep(self.record_linger_seconds)
            batch = self._results[: self.record_batch]
            try:
                await self._record(batch)
            except Exception:
                log.exception("recording WAHA send results failed; retrying", count=len(batch))
                await asyncio.sleep(delay)
                delay = min(delay * 2, 5.0)
                continue
            delay = 0.1
            del self._results[: len(batch)]
            for result in batch:
                self.in_flight.discard(result.job.message_id)
            self._released.set()
            if not self.in_flight:
                self._idle.set()

    async def _record(self, batch: list[SendResult]) -> None:
        by_tenant: dict[uuid.UUID, list[SendResult]] = {}
        for result in batch:
            by_tenant.setdefault(result.job.tenant_id, []).append(result)
        for tenant_id, results in by_tenant.items():
            async with UnitOfWork(self.engine, tenant_id, Actor.system()) as tx:
                await record_results(tx, results)
                await tx.commit()


async def record_results(tx: UnitOfWork, results: list[SendResult]) -> None:
    """Each result onto its message, unless the message moved on meanwhile (a WhatsApp id
    recorded, or no longer `pending` for a failure). A few statements for the whole batch:
    the messages and any `message.any` copies are read at once, the changes written with
    one executemany, and only messages with acks waiting look those up."""
    ids = [r.job.message_id for r in results]
    rows = await tx.connection.execute(select(messages).where(messages.c.id.in_(ids)))
    found = {m.id: tx.track(m) for m in map(_message_from_row, rows)}
    sent_ids = [r.sent.serialized for r in results if r.sent is not None]
    copies: dict[tuple[uuid.UUID, str], Message] = {}
    if sent_ids:
        query = select(messages).where(
            messages.c.channel_id.in_({r.job.target.channel_id for r in results}),
            messages.c.external_id.in_(sent_ids),
        )
        for row in map(_message_from_row, await tx.connection.execute(query)):
            copies[row.channel_id, row.external_id or ""] = row
    changed: list[Message] = []
    now = utcnow()
    for result in results:
        message = found.get(result.job.message_id)
        if message is None or message.external_id:
            continue
        if result.sent is None:
            if message.status is MessageStatus.PENDING:
                message.apply_status(MessageStatus.FAILED, at=result.at, error=result.error)
                changed.append(message)
            continue
        copy = copies.get((message.channel_id, result.sent.serialized))
        if copy is not None and copy.id != message.id:
            await tx.connection.execute(delete(messages).where(messages.c.id == copy.id))
        message.external_id, message.wa_id = result.sent.serialized, result.sent.wa_id
        message.apply_status(MessageStatus.SENT, at=now)
        if copy is not None and copy.id != message.id and copy.status is not MessageStatus.SENT:
            message.apply_status(copy.status, at=copy.delivered_at or now, error=copy.error)
        changed.append(message)
    if not changed:
        return
    await tx.connection.execute(
        update(messages).where(messages.c.id == bindparam("m_id")),
        [
            {
                "m_id": m.id,
                "external_id": m.external_id,
                "wa_id": m.wa_id,
                "status": m.status.value,
                "error": m.error,
                "sent_at": m.sent_at,
                "delivered_at": m.delivered_at,
                "read_at": m.read_at,
            }
            for m in changed
        ],
    )
    await _apply_waiting(tx, [m for m in changed if m.external_id])


async def _apply_waiting(tx: UnitOfWork, sent: list[Message]) -> None:
    """Acks (reactions, revokes) that arrived before the sender learnt these messages' ids."""
    pending = PendingUpdateRepository(tx)
    by_channel: dict[uuid.UUID, list[Message]] = {}
    for message in sent:
        by_channel.setdefault(message.channel_id, []).append(message)
    for channel_id, batch in by_channel.items():
        waiting = await pending.waiting_keys(
            channel_id=channel_id,
            external_ids=[m.external_id for m in batch if m.external_id],
            wa_ids=[m.wa_id for m in batch if m.wa_id],
        )
        for message in batch:
            if message.external_id in waiting or message.wa_id in waiting:
                await apply_waiting_updates(tx, message)


def media_links_for(settings: Settings) -> Callable[[], MediaLinks]:
    """How this process hands kept files to WAHA (built on first use)."""

    @lru_cache(maxsize=1)
    def links() -> MediaLinks:
        return MediaLinks(
            store=store_from_settings(settings),
            secret=settings.resolved_secret_key(),
            public_base_url=settings.public_base_url,
            link_seconds=settings.media_link_seconds,
        )

    return links


class WhenMessageSendingSendThroughWaha:
    def __init__(
        self,
        build: Callable[[], tuple[Sender, SecretBox]],
        *,
        media_links: Callable[[], MediaLinks] | None = None,
        dispatch: bool = False,
        per_channel: int = 32,
        max_held: int = 2_000,
    ) -> None:
        self._build = build
        self._media_links = media_links  # None: never sends kept files (tests)
        self.dispatch = dispatch
        self.per_channel = per_channel
        self.max_held = max_held
        self.targets = ChannelTargets()
        self._known_chats: dict[tuple[uuid.UUID, uuid.UUID], str] = {}
        self._dispatchers: dict[tuple[int, int], SendDispatcher] = {}

    async def drain(self) -> None:
        """At shutdown (the worker calls it once the bus stopped delivering): until every
        message handed over is sent and recorded, so none is left `pending` after WAHA
        took it."""
        for dispatcher in list(self._dispatchers.values()):
            await dispatcher.drain()

    def dispatcher(self, engine: AsyncEngine) -> SendDispatcher:
        """This event loop's dispatcher for the database behind `engine`."""
        key = (id(asyncio.get_running_loop()), id(engine))
        found = self._dispatchers.get(key)
        if found is None:
            sender, _ = self._build()
            found = SendDispatcher(sender, engine, per_channel=self.per_channel)
            self._dispatchers = {key: found}  # an older loop's dispatcher is gone with it
        return found

    async def __call__(self, event: DomainEvent, tx: UnitOfWork) -> None:
        sender, box = self._build()
        message_id = uuid.UUID(str(event.payload["message_id"]))
        dispatcher = self.dispatcher(tx.connection.engine) if self.dispatch else None
        if dispatcher is not None:
            if message_id in dispatcher.in_flight:
                return  # handed over before (a batch retried after a rollback)
        repository = MessageRepository(tx)
        message = await repository.get(message_id)
        if message is None or message.status is not MessageStatus.PENDING or message.external_id:
            return  # gone, or handled before
        now = utcnow()
        target = await self.targets.get(tx, box, message.channel_id)
        if target is None:
            message.apply_status(MessageStatus.FAILED, at=now, error="the channel was deleted")
            await repository.save_state(message)
            return
        elapsed = (now - message.created_at).total_seconds()
        remaining = sender.policy.deadline_seconds - elapsed
        if remaining <= 0:
            message.apply_status(MessageStatus.FAILED, at=now, error="not sent before the deadline")
            await repository.save_state(message)
            return
        chat_id = await self._whatsapp_chat(
            tx, sender.client, target, message, message.chat_id or str(event.payload["chat_id"])
        )
        if chat_id is None:
            message.apply_status(MessageStatus.FAILED, at=now, error=NOT_ON_WHATSAPP)
            await repository.save_state(message)
            return
        content = OutgoingContent(**_content(event.payload))
        if content.media_id:
            if self._media_links is None:
                raise RuntimeError("the sender was wired without media links")
            file = await self._media_links().waha_file(tx, uuid.UUID(content.media_id))
            if file is None:
                message.apply_status(MessageStatus.FAILED, at=now, error="the file to send is gone")
                await repository.save_state(message)
                return
            content = dataclasses.replace(content, media_file=file)
        if dispatcher is not None:
            await dispatcher.room(self.max_held)  # back-pressure on the bus
            job = SendJob(
                tx.tenant_id, message.id, target, chat_id, content, sender.clock() + remaining
            )
            dispatcher.submit(job)
            return
        try:
            sent = await sender.send(target, chat_id, content, deadline_seconds=remaining)
        except SendFailed as failure:
            message.apply_status(MessageStatus.FAILED, at=utcnow(), error=failure.error)
            await repository.save_state(message)
            return
        await record_sent(tx, message, sent)

    async def _whatsapp_chat(
        self,
        tx: UnitOfWork,
        client: WahaClient,
        target: ChannelTarget,
        message: Message,
        chat_id: str,
    ) -> str | None:
        """Where the message goes; None when WhatsApp does not know the number.

        A contact who wrote in, or whose number WhatsApp was asked about before, has a chat
        id WhatsApp gave. Otherwise `check-exists` is asked before the first message: a
        Brazilian number registered before the ninth digit answers its 12-digit id, kept on
        the contact and used from then on."""
        if not chat_id.endswith("@c.us"):
            return chat_id  # groups, @lid: ids WhatsApp gave
        key = (message.channel_id, message.contact_id)
        if key in self._known_chats:
            return self._known_chats[key]
        known = await _chat_whatsapp_gave(tx, message)
        if known is None:
            try:
                known = await client.check_exists(target.waha, chat_id.split("@", 1)[0])
            except WahaError as error:
                log.warning("check-exists failed; sending as is", error=error.detail)
                return chat_id
            if known is None:
                return None
            await contacts.remember_whatsapp_id(tx, message.contact_id, known)
        if known != chat_id:
            await tx.connection.execute(
                update(messages).where(messages.c.id == message.id).values(chat_id=known)
            )
            message.chat_id = known
        if len(self._known_chats) > 100_000:
            self._known_chats.clear()
        self._known_chats[key] = known
        return known


async def _chat_whatsapp_gave(tx: UnitOfWork, message: Message) -> str | None:
    """The chat id the contact wrote from on the channel, or the one check-exists answered."""
    contact = await contacts.contact_in(tx, message.contact_id)
    if contact is None:
        return None
    verified = sending.verified_chat_id(contact)
    if verified is not None:
        return verified
    known, _ = await sending.inbound_facts(tx, message.contact_id, message.channel_id)
    return known if known and known.endswith("@c.us") else None


async def fail_abandoned_sends(
    uow: UnitOfWorkFactory, system: AsyncEngine, *, deadline_seconds: float
) -> int:
    """Fails outbound messages left `pending` past their deadline: the worker that took
    them died before recording WAHA's answer. No sender sends after a message's deadline,
    so these are never sent late, and the agent sees why instead of `pending` forever.
    Runs with the ingest housekeeping, for every tenant; returns how many it failed."""
    cutoff = utcnow() - timedelta(seconds=deadline_seconds + STALE_GRACE_SECONDS)
    unsent = and_(
        messages.c.status == MessageStatus.PENDING.value,
        messages.c.direction == Direction.OUTBOUND.value,
        messages.c.external_id.is_(None),
        messages.c.created_at < cutoff,
    )
    async with system.connect() as connection:
        query = select(messages.c.tenant_id, messages.c.id).where(unsent).limit(1000)
        found = list(await connection.execute(query))
    by_tenant: dict[uuid.UUID, list[uuid.UUID]] = {}
    for tenant_id, message_id in found:
        by_tenant.setdefault(tenant_id, []).append(message_id)
    failed = 0
    for tenant_id, ids in by_tenant.items():
        async with uow(tenant_id, Actor.system()) as tx:
            repository = MessageRepository(tx)
            for message_id in ids:
                message = await repository.get(message_id)
                if message is not None and message.status is MessageStatus.PENDING:
                    message.apply_status(MessageStatus.FAILED, at=utcnow(), error=ABANDONED)
                    await repository.save_state(message)
                    failed += 1
            await tx.commit()
    return failed


def _content(payload: dict[str, Any]) -> dict[str, Any]:
    fields = OutgoingContent.__dataclass_fields__
    return {k: v for k, v in dict(payload["content"]).items() if k in fields}


async def record_sent(tx: UnitOfWork, message: Message, sent: SentId) -> None:
    """Stores WhatsApp's id on the message, marks it sent, and applies the acks that came
    first. If WAHA's `message.any` copy of it was ingested before (as a message sent from
    elsewhere), the copy's news moves onto this message and the copy goes."""
    repository = MessageRepository(tx)
    copy = await repository.find_by_external_id(
        channel_id=message.channel_id, external_id=sent.serialized
    )
    if copy is not None and copy.id != message.id:
        await tx.connection.execute(delete(messages).where(messages.c.id == copy.id))
    await tx.connection.execute(
        update(messages)
        .where(messages.c.id == message.id)
        .values(external_id=sent.serialized, wa_id=sent.wa_id)
    )
    message.external_id, message.wa_id = sent.serialized, sent.wa_id
    now = utcnow()
    message.apply_status(MessageStatus.SENT, at=now)
    if copy is not None and copy.id != message.id and copy.status is not MessageStatus.SENT:
        message.apply_status(copy.status, at=copy.delivered_at or now, error=copy.error)
    await repository.save_state(message)
    await apply_waiting_updates(tx, message)


def consumers(
    build: Callable[[], tuple[Sender, SecretBox]], media_links: Callable[[], MediaLinks]
) -> list[Consumer]:
    """`build` gives the process's WAHA sender and secret box (the container's)."""
    return [
        Consumer(
            CONSUMER_NAME,
            (events.MESSAGE_SENDING,),
            WhenMessageSendingSendThroughWaha(build, media_links=media_links, dispatch=True),
        )
    ]
