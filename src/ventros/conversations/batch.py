"""The writes of one ingest transaction, gathered so a batch of events costs few round trips.

`ConversationBatch` hands out sessions and takes new messages; lookups for a whole batch
are made up front (`prefetch*`), and `flush` stores everything at the end: one write per
touched session, one multi-row insert for the new messages. Updates (acks, reactions,
revokes) go to a message of the batch, else the stored message, else wait in
`pending_message_updates` until their message arrives.

If another transaction stored the same message or opened a session for the same contact
meanwhile, `flush` raises `ConcurrentWrite`: roll back and ingest again (the work then
finds what the other transaction stored).
"""

from __future__ import annotations

import uuid
from collections import defaultdict
from datetime import datetime, timedelta
from typing import Any

from ventros.conversations.domain import CLOSE_INACTIVITY, Message, MessageStatus, Session
from ventros.conversations.repository import (
    MessageRepository,
    PendingUpdateRepository,
    SessionRepository,
)
from ventros.kernel.clock import utcnow
from ventros.kernel.ids import new_id
from ventros.platform.uow import UnitOfWork

UPDATE_STATUS = "status"
UPDATE_REACTION = "reaction"
UPDATE_REVOKE = "revoke"

_SessionKey = tuple[uuid.UUID, uuid.UUID]  # (contact_id, channel_id)


class ConcurrentWrite(Exception):
    """Another transaction stored the same session or message first; retry the work."""


class ConversationBatch:
    def __init__(self, tx: UnitOfWork, *, timeout_seconds: int) -> None:
        self._tx = tx
        self._timeout = timeout_seconds
        self._sessions = SessionRepository(tx)
        self._messages = MessageRepository(tx)
        self._pending = PendingUpdateRepository(tx)
        # None: known to have no open session.
        self._open: dict[_SessionKey, Session | None] = {}
        self._new_sessions: dict[uuid.UUID, Session] = {}
        self._changed_sessions: dict[uuid.UUID, Session] = {}
        self._new_messages: list[Message] = []
        self._by_external_id: dict[tuple[uuid.UUID, str], Message] = {}
        self._by_wa_id: dict[tuple[uuid.UUID, str], list[Message]] = defaultdict(list)
        self._stored: dict[uuid.UUID, set[str]] = defaultdict(set)
        self._prefetched: set[uuid.UUID] = set()
        self._waiting: dict[uuid.UUID, set[str]] = defaultdict(set)

    # ----------------------------------------------------------------------- lookups

    async def prefetch(
        self, channel_id: uuid.UUID, *, external_ids: list[str], wa_ids: list[str]
    ) -> None:
        """Which of a batch's messages are stored already, and which have updates waiting."""
        self._stored[channel_id] |= await self._messages.existing_external_ids(
            channel_id=channel_id, external_ids=external_ids
        )
        self._waiting[channel_id] |= await self._pending.waiting_keys(
            channel_id=channel_id, external_ids=external_ids, wa_ids=wa_ids
        )
        self._prefetched.add(channel_id)

    async def prefetch_sessions(self, channel_id: uuid.UUID, contact_ids: list[uuid.UUID]) -> None:
        wanted = [c for c in contact_ids if (c, channel_id) not in self._open]
        found = await self._sessions.find_open_many(channel_id=channel_id, contact_ids=wanted)
        for contact_id in wanted:
            self._open[(contact_id, channel_id)] = found.get(contact_id)

    def knows_no_session(self, contact_id: uuid.UUID, channel_id: uuid.UUID) -> None:
        """A contact created in this transaction has no session to look up."""
        self._open.setdefault((contact_id, channel_id), None)

    async def is_stored(self, channel_id: uuid.UUID, external_id: str) -> bool:
        """Stored before, or added to this batch."""
        if external_id in self._stored[channel_id]:
            return True
        if channel_id in self._prefetched:
            return False
        return await self._messages.exists(channel_id=channel_id, external_id=external_id)

    # ----------------------------------------------------------------------- sessions

    async def session_for(
        self, *, contact_id: uuid.UUID, channel_id: uuid.UUID, at: datetime
    ) -> Session:
        """The contact's open session on the channel, else a new one; one idle past the
        tenant's timeout is closed first. The session is saved at `flush`."""
        key = (contact_id, channel_id)
        if key not in self._open:
            self._open[key] = await self._sessions.find_open(
                contact_id=contact_id, channel_id=channel_id
            )
        current = self._open[key]
        if current is not None and not current.is_idle_at(at, self._timeout):
            self._touched(current)
            return current
        if current is not None:
            current.close(
                CLOSE_INACTIVITY, at=current.last_activity_at + timedelta(seconds=self._timeout)
            )
            self._touched(current)
        session = Session.open(
            tenant_id=self._tx.tenant_id, contact_id=contact_id, channel_id=channel_id, at=at
        )
        self._open[key] = session
        self._new_sessions[session.id] = session
        return session

    async def has_open_session(self, *, contact_id: uuid.UUID, channel_id: uuid.UUID) -> bool:
        """Whether the contact has an open session on the channel (in this batch or stored)."""
        key = (contact_id, channel_id)
        if key not in self._open:
            self._open[key] = await self._sessions.find_open(
                contact_id=contact_id, channel_id=channel_id
            )
        return self._open[key] is not None

    def _touched(self, session: Session) -> None:
        if session.id not in self._new_sessions:
            self._changed_sessions[session.id] = session

    # ----------------------------------------------------------------------- messages

    async def add_message(self, message: Message) -> None:
        """A new message, inserted at `flush`; updates that came before it apply first."""
        waiting = self._waiting[message.channel_id]
        if message.external_id in waiting or message.wa_id in waiting:
            await apply_waiting_updates(self._tx, message, stored=False)
        self._new_messages.append(message)
        if message.external_id:
            self._by_external_id[(message.channel_id, message.external_id)] = message
            self._stored[message.channel_id].add(message.external_id)
        if message.wa_id:
            self._by_wa_id[(message.channel_id, message.wa_id)].append(message)

    async def update_status(
        self,
        *,
        channel_id: uuid.UUID,
        external_id: str,
        status: MessageStatus,
        at: datetime,
        error: str | None = None,
    ) -> bool:
        """Applies an ack; kept for later when its message is not stored yet. True if applied."""
        data = {"status": status.value, "at": at.isoformat(), "error": error}
        return await self._update(channel_id, UPDATE_STATUS, data, external_id=external_id)

    async def react(
        self, *, channel_id: uuid.UUID, external_id: str, emoji: str, reactor: str, at: datetime
    ) -> bool:
        data = {"emoji": emoji, "reactor": reactor, "at": at.isoformat()}
        return await self._update(channel_id, UPDATE_REACTION, data, external_id=external_id)

    async def revoke(
        self, *, channel_id: uuid.UUID, wa_id: str, chat_id: str | None, at: datetime
    ) -> bool:
        data = {"chat_id": chat_id, "at": at.isoformat()}
        return await self._update(channel_id, UPDATE_REVOKE, data, wa_id=wa_id)

    async def _update(
        self,
        channel_id: uuid.UUID,
        kind: str,
        data: dict[str, Any],
        *,
        external_id: str | None = None,
        wa_id: str | None = None,
    ) -> bool:
        unsaved = self._unsaved(channel_id, external_id, wa_id, data.get("chat_id"))
        if unsaved is not None:
            apply_update(unsaved, kind, data)  # goes in with the insert
            return True
        if external_id is not None:
            stored = await self._messages.find_by_external_id(
                channel_id=channel_id, external_id=external_id
            )
        else:
            assert wa_id is not None
            stored = await self._messages.find_by_wa_id(
                channel_id=channel_id, wa_id=wa_id, chat_id=data.get("chat_id")
            )
        if stored is not None:
            if apply_update(stored, kind, data):
                await self._messages.save_state(stored)
            return True
        await self._pending.add(
            update_id=new_id(),
            channel_id=channel_id,
            kind=kind,
            data=data,
            created_at=utcnow(),
            external_id=external_id,
            wa_id=wa_id,
        )
        self._waiting[channel_id].add(external_id or wa_id or "")
        return False

    def _unsaved(
        self,
        channel_id: uuid.UUID,
        external_id: str | None,
        wa_id: str | None,
        chat_id: str | None,
    ) -> Message | None:
        if external_id is not None:
            return self._by_external_id.get((channel_id, external_id))
        for message in self._by_wa_id.get((channel_id, wa_id or ""), []):
            if chat_id is None or message.chat_id in (None, chat_id):
                return message
        return None

    # ----------------------------------------------------------------------- flush

    async def flush(self) -> None:
        # Idle sessions close before their successors open (one open per contact).
        await self._sessions.save_many(list(self._changed_sessions.values()))
        if not await self._sessions.add_many(list(self._new_sessions.values())):
            raise ConcurrentWrite("another open session of one of these contacts was created")
        if not await self._messages.add_many(self._new_messages):
            raise ConcurrentWrite("one of these messages was stored by another transaction")
        self._new_sessions, self._changed_sessions, self._new_messages = {}, {}, []


async def apply_waiting_updates(tx: UnitOfWork, message: Message, *, stored: bool = True) -> bool:
    """Applies (and removes) the updates that arrived for a message before it did; saved
    when the message is `stored` already. For whoever learns a message's WhatsApp id (the
    ingest, the sender)."""
    updates = await PendingUpdateRepository(tx).take(
        channel_id=message.channel_id, external_id=message.external_id, wa_id=message.wa_id
    )
    changed = False
    for update in updates:
        changed |= apply_update(message, update.kind, update.data)
    if changed and stored:
        await MessageRepository(tx).save_state(message)
    return changed


def apply_update(message: Message, kind: str, data: dict[str, Any]) -> bool:
    """True when the message changed."""
    at = datetime.fromisoformat(data["at"]) if data.get("at") else message.created_at
    before = (message.status, list(message.reactions), message.revoked_at)
    if kind == UPDATE_STATUS:
        message.apply_status(MessageStatus(data["status"]), at=at, error=data.get("error"))
    elif kind == UPDATE_REACTION:
        message.react(str(data["emoji"]), reactor=str(data["reactor"]), at=at)
    elif kind == UPDATE_REVOKE:
        chat_id = data.get("chat_id")
        if not chat_id or not message.chat_id or chat_id == message.chat_id:
            message.revoke(at=at)
    return before != (message.status, message.reactions, message.revoked_at)
