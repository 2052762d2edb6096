"""Sessions and messages. Pure: no I/O.

A session is one service conversation between a contact and the business on one channel;
at most one is open per contact and channel. A message belongs to one session.
"""

from __future__ import annotations

import re
import uuid
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any

from ventros.conversations import events
from ventros.kernel.aggregate import AggregateRoot
from ventros.kernel.clock import utcnow
from ventros.kernel.errors import Conflict, PermissionDenied, RuleViolation
from ventros.kernel.ids import new_id

CLOSE_INACTIVITY = "inactivity"
CLOSE_CHANNEL_DELETED = "channel_deleted"
MAX_CLOSE_REASON = 200
CLOSE_TIMEOUT = "timeout"
CLOSE_MERGED = "merged"
CLOSE_NO_REPLY = "no_reply"
MAX_NOTE = 2000
MAX_NOTE_TEXT = 4096
MIN_CSAT = 1
MAX_CSAT = 5


class SessionStatus(StrEnum):
    OPEN = "open"
    CLOSED = "closed"


class Direction(StrEnum):
    INBOUND = "inbound"
    OUTBOUND = "outbound"
    INTERNAL = "internal"  # a private note: stays in Ventros, never sent to WhatsApp


class MessageType(StrEnum):
    TEXT = "text"
    IMAGE = "image"
    AUDIO = "audio"
    VIDEO = "video"
    DOCUMENT = "document"
    LOCATION = "location"
    CONTACT = "contact"
    STICKER = "sticker"
    UNSUPPORTED = "unsupported"  # a kind WhatsApp has that the CRM does not show yet
    NOTE = "note"  # a private note of the team (direction `internal`)


class MessageStatus(StrEnum):
    RECEIVED = "received"  # every inbound message
    SCHEDULED = "scheduled"  # outbound, waiting for its send_at
    PENDING = "pending"
    SENT = "sent"
    DELIVERED = "delivered"
    READ = "read"
    FAILED = "failed"
    INTERNAL = "internal"  # a private note: nothing to send, nothing to deliver


# Outbound status only moves up this order. `failed` beats pending/sent (WhatsApp said
# error) but not delivered/read: a message that reached the phone was not lost.
_RANK = {
    MessageStatus.PENDING: 0,
    MessageStatus.SENT: 1,
    MessageStatus.FAILED: 2,
    MessageStatus.DELIVERED: 3,
    MessageStatus.READ: 4,
}
_STATUS_EVENT = {
    MessageStatus.SENT: events.MESSAGE_SENT,
    MessageStatus.DELIVERED: events.MESSAGE_DELIVERED,
    MessageStatus.READ: events.MESSAGE_READ,
    MessageStatus.FAILED: events.MESSAGE_FAILED,
}


def _iso(at: datetime | None) -> str | None:
    return at.isoformat().replace("+00:00", "Z") if at else None


@dataclass(eq=False)
class Session(AggregateRoot):
    aggregate_type = "session"

    id: uuid.UUID
    tenant_id: uuid.UUID
    contact_id: uuid.UUID
    channel_id: uuid.UUID
    started_at: datetime
    last_activity_at: datetime
    status: SessionStatus = SessionStatus.OPEN
    agent_id: uuid.UUID | None = None
    last_inbound_at: datetime | None = None
    # The first customer message still waiting for a person's reply.
    awaiting_reply_since: datetime | None = None
    first_response_seconds: float | None = None
    # Every person's reply to a waiting customer: how many, and their waits summed.
    reply_count: int = 0
    reply_seconds_total: float = 0.0
    resolution_seconds: float | None = None  # closed_at - started_at
    closed_at: datetime | None = None
    close_reason: str | None = None
    csat_score: int | None = None
    csat_comment: str | None = None
    # The last handoff's note for the agent who received the session (None: no note).
    transfer_note: str | None = None
    # Routing (issue 16): the team serving it, its SLA deadlines in business time (kept
    # for lists and reports; the service workflow recomputes them), the SLA points raised
    # ("first_response.warning", ...), snooze, and what the system sent by itself.
    team_id: uuid.UUID | None = None
    first_response_due_at: datetime | None = None
    resolution_due_at: datetime | None = None
    sla_raised: list[str] = field(default_factory=list)
    snoozed_until: datetime | None = None
    auto_replied_at: datetime | None = None
    follow_up_nudged_at: datetime | None = None
    created_at: datetime = field(default_factory=utcnow)
    updated_at: datetime = field(default_factory=utcnow)

    @classmethod
    def open(
        cls,
        *,
        tenant_id: uuid.UUID,
        contact_id: uuid.UUID,
        channel_id: uuid.UUID,
        at: datetime,
    ) -> Session:
        session = cls(
            id=new_id(),
            tenant_id=tenant_id,
            contact_id=contact_id,
            channel_id=channel_id,
            started_at=at,
            last_activity_at=at,
        )
        session.record(
            events.SESSION_STARTED,
            {
                "session_id": str(session.id),
                "contact_id": str(contact_id),
                "channel_id": str(channel_id),
                "started_at": _iso(at),
            },
        )
        return session

    @property
    def is_open(self) -> bool:
        return self.status is SessionStatus.OPEN

    def idle_deadline(self, timeout_seconds: int) -> datetime:
        """When the inactivity timeout closes the session as things stand. The clock never
        starts before Ventros opened the session: a message delivered late (WAHA retrying
        after an outage, an old timestamp) must not open a session that is already over,
        closed before any agent could see it. A snoozed session idles from its return."""
        return self.idle_from + timedelta(seconds=timeout_seconds)

    @property
    def idle_from(self) -> datetime:
        """Where the inactivity clock starts: the same expression indexes open sessions
        for the timeout sweep (repository/tables.py, `IDLE_FROM`)."""
        return max(self.last_activity_at, self.created_at, self.snoozed_until or self.created_at)

    def is_idle_at(self, at: datetime, timeout_seconds: int) -> bool:
        """True when a message at `at` comes after the inactivity timeout: the session
        should have closed before it (the timeout sweep may not have run yet)."""
        idle_from = max(self.last_activity_at, self.snoozed_until or self.last_activity_at)
        return at - idle_from > timedelta(seconds=timeout_seconds)

    def _touch(self, at: datetime) -> None:
        self.last_activity_at = max(self.last_activity_at, at)
        self.updated_at = utcnow()

    def record_inbound(self, at: datetime) -> None:
        self._touch(at)
        if self.snoozed_until is not None:
            self.unsnooze(reason="customer_wrote")  # the customer brings it back early
        self.last_inbound_at = max(self.last_inbound_at or at, at)
        # A customer writing twice before a reply waits since the FIRST message.
        if self.awaiting_reply_since is None:
            self.awaiting_reply_since = at

    def record_outbound(self, at: datetime, *, by_person: bool) -> None:
        """A reply by a person ends the customer's wait: the first one is the first response
        time, each one counts in the average reply time. Bots and automatic messages do
        not end a wait."""
        self._touch(at)
        waiting = self.awaiting_reply_since
        if not by_person or waiting is None:
            return
        wait = max((at - waiting).total_seconds(), 0.0)
        if self.first_response_seconds is None:
            self.first_response_seconds = wait
        self.reply_count += 1
        self.reply_seconds_total += wait
        self.awaiting_reply_since = None

    @property
    def average_reply_seconds(self) -> float | None:
        return self.reply_seconds_total / self.reply_count if self.reply_count else None

    def close(self, reason: str, *, at: datetime | None = None) -> None:
        if not self.is_open:
            return
        reason = reason.strip()[:MAX_CLOSE_REASON] or "closed"
        self.status = SessionStatus.CLOSED
        self.closed_at = at or utcnow()
        self.close_reason = reason
        self.resolution_seconds = max((self.closed_at - self.started_at).total_seconds(), 0.0)
        self.updated_at = utcnow()
        self.record(
            events.SESSION_CLOSED,
            {
                "session_id": str(self.id),
                "contact_id": str(self.contact_id),
                "channel_id": str(self.channel_id),
                "reason": reason,
                "closed_at": _iso(self.closed_at),
                "agent_id": str(self.agent_id) if self.agent_id else None,
            },
        )

    def _refs(self) -> dict[str, Any]:
        return {
            "session_id": str(self.id),
            "contact_id": str(self.contact_id),
            "channel_id": str(self.channel_id),
        }

    def check_writer(self, user_id: uuid.UUID, *, supervises: bool, doing: str) -> bool:
        """The one rule of every write into a session (send, schedule, close, transfer,
        assign, CSAT): supervisors and admins may act on any session; an agent on their own
        sessions, or on an unassigned open one, which they thereby take. True when the agent
        must take the session first; PermissionDenied when it is someone else's."""
        if supervises or self.agent_id == user_id:
            return False
        if self.agent_id is not None:
            raise PermissionDenied(
                f"agents may {doing} their own sessions or unassigned ones only: "
                "this one is assigned to another agent"
            )
        return self.is_open

    def ensure_open(self, doing: str) -> None:
        if not self.is_open:
            raise Conflict(f"a closed session cannot be {doing}", existing_id=self.id)

    def assign(self, agent_id: uuid.UUID, *, automatic: bool = False) -> bool:
        """Gives the session to an agent; False if it was theirs already."""
        self.ensure_open("assigned")
        if self.agent_id == agent_id:
            return False
        previous, self.agent_id = self.agent_id, agent_id
        self.updated_at = utcnow()
        self.record(
            events.SESSION_AGENT_ASSIGNED,
            {
                **self._refs(),
                "agent_id": str(agent_id),
                "previous_agent_id": str(previous) if previous else None,
                "automatic": automatic,
            },
        )
        return True

    def unassign(self, *, reason: str) -> bool:
        """Takes the session from its agent (back to the waiting queue); False if nobody
        had it or it is closed."""
        if not self.is_open or self.agent_id is None:
            return False
        previous, self.agent_id = self.agent_id, None
        self.updated_at = utcnow()
        self.record(
            events.SESSION_UNASSIGNED,
            {**self._refs(), "previous_agent_id": str(previous), "reason": reason},
        )
        return True

    def transfer_to(self, agent_id: uuid.UUID, *, note: str | None = None) -> None:
        """Hands the session to another agent, with a note for them."""
        self.ensure_open("transferred")
        if self.agent_id == agent_id:
            raise RuleViolation(
                "the session is assigned to this agent already", field="to_agent_id"
            )
        previous, self.agent_id = self.agent_id, agent_id
        self.transfer_note = (note or "").strip()[:MAX_NOTE] or None
        self.updated_at = utcnow()
        self.record(
            events.SESSION_TRANSFERRED,
            {
                **self._refs(),
                "from_agent_id": str(previous) if previous else None,
                "to_agent_id": str(agent_id),
                "note": self.transfer_note,
            },
        )

    def route_to(
        self, team_id: uuid.UUID | None, *, rule_id: uuid.UUID | None, skills: list[str]
    ) -> None:
        """The team a routing rule chose (None: the tenant's common queue)."""
        self.team_id = team_id
        self.updated_at = utcnow()
        self.record(
            events.SESSION_ROUTED,
            {
                **self._refs(),
                "team_id": str(team_id) if team_id else None,
                "rule_id": str(rule_id) if rule_id else None,
                "required_skills": skills,
            },
        )

    def set_sla_deadlines(
        self, first_response_due_at: datetime | None, resolution_due_at: datetime | None
    ) -> bool:
        """Recomputed deadlines (a schedule edit, DST); True when they changed."""
        if (self.first_response_due_at, self.resolution_due_at) == (
            first_response_due_at,
            resolution_due_at,
        ):
            return False
        self.first_response_due_at = first_response_due_at
        self.resolution_due_at = resolution_due_at
        self.updated_at = utcnow()
        return True

    @property
    def first_response_met(self) -> bool:
        return self.first_response_seconds is not None

    def raise_sla(self, kind: str, level: str, *, due_at: datetime, at: datetime) -> bool:
        """`session.sla_warning` / `session.sla_breached` for one target, once each."""
        key = f"{kind}.{level}"
        if key in self.sla_raised:
            return False
        self.sla_raised = [*self.sla_raised, key]
        self.updated_at = utcnow()
        name = events.SESSION_SLA_WARNING if level == "warning" else events.SESSION_SLA_BREACHED
        self.record(
            name,
            {
                **self._refs(),
                "team_id": str(self.team_id) if self.team_id else None,
                "agent_id": str(self.agent_id) if self.agent_id else None,
                "kind": kind,
                "due_at": _iso(due_at),
                "at": _iso(at),
            },
        )
        return True

    @property
    def sla_breached(self) -> bool:
        return any(key.endswith(".breached") for key in self.sla_raised)

    def is_snoozed_at(self, at: datetime) -> bool:
        return self.snoozed_until is not None and self.snoozed_until > at

    def snooze(self, until: datetime, *, now: datetime) -> None:
        """Out of the inbox until `until`, when it comes back by itself."""
        self.ensure_open("snoozed")
        if until <= now:
            raise RuleViolation("until must be in the future", field="until")
        self.snoozed_until = until
        self.updated_at = utcnow()
        self.record(events.SESSION_SNOOZED, {**self._refs(), "until": _iso(until)})

    def unsnooze(self, *, reason: str) -> bool:
        if self.snoozed_until is None:
            return False
        self.snoozed_until = None
        self.updated_at = utcnow()
        self.record(events.SESSION_UNSNOOZED, {**self._refs(), "reason": reason})
        return True

    def record_auto_reply(self, message_id: uuid.UUID, *, at: datetime) -> bool:
        """The outside-hours reply, once per session."""
        if self.auto_replied_at is not None:
            return False
        self.auto_replied_at = at
        self.record(events.SESSION_AUTO_REPLIED, {**self._refs(), "message_id": str(message_id)})
        return True

    def silent_since(self) -> datetime | None:
        """When the customer went quiet after a person's reply: the last activity was ours
        and nobody waits for us (None: the customer spoke last, or nobody answered yet)."""
        if not self.is_open or self.awaiting_reply_since is not None or self.reply_count == 0:
            return None
        if self.last_inbound_at is not None and self.last_inbound_at >= self.last_activity_at:
            return None
        return self.last_activity_at

    def nudged_after_last_inbound(self) -> bool:
        nudged = self.follow_up_nudged_at
        return nudged is not None and (
            self.last_inbound_at is None or nudged > self.last_inbound_at
        )

    def record_follow_up(self, message_id: uuid.UUID, *, at: datetime) -> None:
        self.follow_up_nudged_at = at
        self.updated_at = utcnow()
        self.record(events.SESSION_FOLLOW_UP_SENT, {**self._refs(), "message_id": str(message_id)})

    def record_csat(self, score: int, *, comment: str | None = None) -> None:
        """The customer's rating, 1 to 5, once per session, once it is closed: an open
        conversation has nothing to rate yet."""
        if self.is_open:
            raise Conflict(
                "only a closed session can be rated: close the session first", existing_id=self.id
            )
        if not MIN_CSAT <= score <= MAX_CSAT:
            raise RuleViolation(f"score must be {MIN_CSAT}..{MAX_CSAT}", field="score")
        if self.csat_score is not None:
            raise Conflict("this session has a CSAT score already", existing_id=self.id)
        self.csat_score = score
        self.csat_comment = (comment or "").strip()[:MAX_NOTE] or None
        self.updated_at = utcnow()
        self.record(
            events.SESSION_CSAT_RECORDED,
            {
                **self._refs(),
                "score": score,
                "comment": self.csat_comment,
                "agent_id": str(self.agent_id) if self.agent_id else None,
            },
        )


@dataclass(frozen=True)
class MessageContent:
    """What a message says, as plain JSON-ready values."""

    type: MessageType
    text: str | None = None
    caption: str | None = None
    media: dict[str, Any] | None = None  # {url, mimetype, filename, size_bytes, ...}
    location: dict[str, Any] | None = None  # {latitude, longitude, title, address, ...}
    vcards: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        if self.type is MessageType.LOCATION and self.location is None:
            raise RuleViolation("a location message needs a location", field="location")


@dataclass(eq=False)
class Message(AggregateRoot):
    aggregate_type = "message"

    id: uuid.UUID
    tenant_id: uuid.UUID
    channel_id: uuid.UUID
    # None only while a scheduled message waits: it joins a session when it is sent.
    session_id: uuid.UUID | None
    contact_id: uuid.UUID
    direction: Direction
    content: MessageContent
    status: MessageStatus
    created_at: datetime  # when it was written (WhatsApp's time for WhatsApp messages)
    external_id: str | None = None  # WAHA's serialized id
    wa_id: str | None = None  # WhatsApp's bare message id
    chat_id: str | None = None
    participant: str | None = None  # the sender inside a group
    source: str | None = None  # WAHA: "app" (a phone) or "api"
    reply_to: str | None = None
    referral: dict[str, Any] | None = None  # click-to-WhatsApp ad data, as received
    reactions: list[dict[str, Any]] = field(default_factory=list)
    revoked_at: datetime | None = None
    error: str | None = None
    sent_at: datetime | None = None
    delivered_at: datetime | None = None
    read_at: datetime | None = None
    received_at: datetime = field(default_factory=utcnow)
    send_at: datetime | None = None  # a scheduled message's time
    author_id: uuid.UUID | None = None  # the user who wrote a private note

    @classmethod
    def schedule(
        cls,
        *,
        message_id: uuid.UUID,
        tenant_id: uuid.UUID,
        channel_id: uuid.UUID,
        contact_id: uuid.UUID,
        content: MessageContent,
        send_at: datetime,
        now: datetime,
    ) -> Message:
        """An outbound message to send at `send_at`, `scheduled` until then."""
        if send_at <= now:
            raise RuleViolation("send_at must be in the future", field="send_at")
        return cls(
            id=message_id,
            tenant_id=tenant_id,
            channel_id=channel_id,
            session_id=None,
            contact_id=contact_id,
            direction=Direction.OUTBOUND,
            content=content,
            status=MessageStatus.SCHEDULED,
            created_at=now,
            source="api",
            send_at=send_at,
        )

    @classmethod
    def note(
        cls,
        session: Session,
        *,
        author_id: uuid.UUID,
        text: str,
        mentioned: list[uuid.UUID],
        at: datetime,
    ) -> Message:
        """A private note of the team in the session: `internal`, never sent to WhatsApp,
        and no activity of the conversation (it neither answers the customer nor keeps
        the session open). Allowed on closed sessions too: the team may add what it
        learnt afterwards. Each mentioned agent is told with `agent.mentioned`."""
        body = text.strip()
        if not body:
            raise RuleViolation("a note needs text", field="text")
        if len(body) > MAX_NOTE_TEXT:
            raise RuleViolation(f"a note has at most {MAX_NOTE_TEXT} characters", field="text")
        message = cls.in_session(
            session,
            tenant_id=session.tenant_id,
            direction=Direction.INTERNAL,
            content=MessageContent(type=MessageType.NOTE, text=body),
            status=MessageStatus.INTERNAL,
            at=at,
            author_id=author_id,
        )
        facts = {**message._refs(), "author_id": str(author_id)}
        message.record(
            events.SESSION_NOTE_ADDED,
            {**facts, "text": body, "mentioned_agent_ids": [str(a) for a in mentioned]},
        )
        for agent_id in mentioned:
            message.record(events.AGENT_MENTIONED, {**facts, "agent_id": str(agent_id)})
        return message

    @property
    def is_note(self) -> bool:
        return self.direction is Direction.INTERNAL

    @property
    def is_scheduled(self) -> bool:
        return self.status is MessageStatus.SCHEDULED

    def fail_scheduled(self, reason: str, *, at: datetime) -> None:
        """A scheduled message that could not be sent at its time: `failed` with the reason,
        raising `message.failed` (webhooks, the event stream)."""
        if self.is_scheduled:
            self.apply_status(MessageStatus.FAILED, at=at, error=reason)

    @classmethod
    def in_session(
        cls,
        session: Session,
        *,
        tenant_id: uuid.UUID,
        direction: Direction,
        content: MessageContent,
        status: MessageStatus,
        at: datetime,
        message_id: uuid.UUID | None = None,
        **details: Any,
    ) -> Message:
        """A new message of `session`: its channel and contact are the session's."""
        return cls(
            id=message_id or new_id(),
            tenant_id=tenant_id,
            channel_id=session.channel_id,
            session_id=session.id,
            contact_id=session.contact_id,
            direction=direction,
            content=content,
            status=status,
            created_at=at,
            **details,
        )

    @classmethod
    def receive(
        cls,
        *,
        tenant_id: uuid.UUID,
        session: Session,
        content: MessageContent,
        at: datetime,
        external_id: str,
        wa_id: str | None = None,
        chat_id: str | None = None,
        participant: str | None = None,
        source: str | None = None,
        reply_to: str | None = None,
        referral: dict[str, Any] | None = None,
    ) -> Message:
        """A message the contact wrote."""
        message = cls.in_session(
            session,
            tenant_id=tenant_id,
            direction=Direction.INBOUND,
            content=content,
            status=MessageStatus.RECEIVED,
            at=at,
            external_id=external_id,
            wa_id=wa_id,
            chat_id=chat_id,
            participant=participant,
            source=source,
            reply_to=reply_to,
            referral=referral,
        )
        session.record_inbound(at)
        message.record(events.MESSAGE_RECEIVED, message._facts())
        return message

    @classmethod
    def sent_elsewhere(
        cls,
        *,
        tenant_id: uuid.UUID,
        session: Session,
        content: MessageContent,
        at: datetime,
        external_id: str,
        status: MessageStatus,
        wa_id: str | None = None,
        chat_id: str | None = None,
        source: str | None = None,
        reply_to: str | None = None,
    ) -> Message:
        """A message the business sent without Ventros (from the phone, or another WAHA
        client), learnt from WhatsApp: outbound, already on its way."""
        message = cls.in_session(
            session,
            tenant_id=tenant_id,
            direction=Direction.OUTBOUND,
            content=content,
            status=MessageStatus.SENT,
            at=at,
            external_id=external_id,
            wa_id=wa_id,
            chat_id=chat_id,
            source=source,
            reply_to=reply_to,
            sent_at=at,
        )
        # A person typed it on the phone; through the API it may have been a bot.
        session.record_outbound(at, by_person=source != "api")
        message.record(events.MESSAGE_SENT, {**message._facts(), "origin": source or "unknown"})
        if status is not MessageStatus.SENT:
            message.apply_status(status, at=at)
        return message

    def _refs(self) -> dict[str, Any]:
        return {
            "message_id": str(self.id),
            "session_id": str(self.session_id) if self.session_id else None,
            "contact_id": str(self.contact_id),
            "channel_id": str(self.channel_id),
            "external_id": self.external_id,
        }

    def _facts(self) -> dict[str, Any]:
        content = self.content
        return {
            **self._refs(),
            "direction": self.direction.value,
            "type": content.type.value,
            "text": content.text,
            "caption": content.caption,
            "media": content.media,
            "location": content.location,
            "vcards": list(content.vcards),
            "participant": self.participant,
            "referral": self.referral,
            "created_at": _iso(self.created_at),
        }

    @property
    def is_revoked(self) -> bool:
        return self.revoked_at is not None

    def apply_status(
        self, status: MessageStatus, *, at: datetime, error: str | None = None
    ) -> bool:
        """Moves an outbound message's status forward; older news is ignored."""
        if self.direction is Direction.INBOUND or status not in _RANK:
            return False
        if _RANK[status] <= _RANK.get(self.status, -1):
            return False
        self.status = status
        if status is MessageStatus.FAILED:
            self.error = error or "WhatsApp reported an error"
        else:
            self.error = None
            # Reaching a later state implies the earlier ones.
            self.sent_at = self.sent_at or at
            if status in (MessageStatus.DELIVERED, MessageStatus.READ):
                self.delivered_at = self.delivered_at or at
            if status is MessageStatus.READ:
                self.read_at = self.read_at or at
        self.record(
            _STATUS_EVENT[status],
            {**self._refs(), "status": status.value, "at": _iso(at), "error": self.error},
        )
        return True

    def react(self, emoji: str, *, reactor: str, at: datetime | None) -> None:
        """One reaction per person: a new one replaces theirs, an empty one removes it."""
        kept = [r for r in self.reactions if r.get("from") != reactor]
        if emoji:
            kept.append({"emoji": emoji, "from": reactor, "at": _iso(at)})
        if kept == self.reactions:
            return
        self.reactions = kept
        self.record(events.MESSAGE_REACTED, {**self._refs(), "emoji": emoji, "from": reactor})

    def revoke(self, *, at: datetime) -> None:
        if self.is_revoked:
            return
        self.revoked_at = at
        self.record(events.MESSAGE_REVOKED, {**self._refs(), "revoked_at": _iso(at)})


# --------------------------------------------------------------------------- notes, labels

# `@handle` where handle is the part of a user's email before the `@` (ana.souza for
# ana.souza@loja.com.br): unique enough in a team, typed without spaces or accents.
_MENTION = re.compile(r"(?<![\w@.])@([a-z0-9][a-z0-9._+-]*)", re.IGNORECASE)


def mention_handles(text: str) -> list[str]:
    """The handles a note mentions, lower-case, each once, in order (a sentence's final
    dot is not part of the handle)."""
    found = (match.rstrip("._-+").lower() for match in _MENTION.findall(text))
    return list(dict.fromkeys(handle for handle in found if handle))


def handle_of(email: str) -> str:
    return email.partition("@")[0].lower()


MAX_LABEL_NAME = 50
DEFAULT_LABEL_COLOR = "#64748b"
_COLOR = re.compile(r"#[0-9a-f]{6}")


def clean_label_name(name: str) -> str:
    cleaned = " ".join(name.split())
    if not cleaned or len(cleaned) > MAX_LABEL_NAME:
        raise RuleViolation(f"name must be 1-{MAX_LABEL_NAME} characters", field="name")
    return cleaned


def clean_color(color: str) -> str:
    cleaned = color.strip().lower()
    if not _COLOR.fullmatch(cleaned):
        raise RuleViolation("color must be #rrggbb", field="color")
    return cleaned


@dataclass(eq=False)
class Label(AggregateRoot):
    """A tag of conversations (sessions), from the tenant's catalogue: `vip`, `complaint`,
    `orçamento`. Distinct from a contact's tags, which describe the person."""

    aggregate_type = "label"

    id: uuid.UUID
    tenant_id: uuid.UUID
    name: str
    color: str = DEFAULT_LABEL_COLOR
    created_at: datetime = field(default_factory=utcnow)
    updated_at: datetime = field(default_factory=utcnow)

    @classmethod
    def create(cls, *, tenant_id: uuid.UUID, name: str, color: str | None = None) -> Label:
        label = cls(
            id=new_id(),
            tenant_id=tenant_id,
            name=clean_label_name(name),
            color=clean_color(color or DEFAULT_LABEL_COLOR),
        )
        label.record(events.LABEL_CREATED, label._facts())
        return label

    def _facts(self) -> dict[str, Any]:
        return {"label_id": str(self.id), "name": self.name, "color": self.color}

    def change(self, *, name: str | None = None, color: str | None = None) -> None:
        if name is not None:
            self.name = clean_label_name(name)
        if color is not None:
            self.color = clean_color(color)
        self.updated_at = utcnow()
        self.record(events.LABEL_UPDATED, self._facts())

    def delete(self) -> None:
        self.record(events.LABEL_DELETED, self._facts())


def label_session(session: Session, label: Label) -> None:
    """Records `session.labeled` on the session (the link itself is a row of its own)."""
    session.record(
        events.SESSION_LABELED,
        {**session._refs(), "label_id": str(label.id), "label": label.name},
    )


def unlabel_session(session: Session, label: Label) -> None:
    session.record(
        events.SESSION_UNLABELED,
        {**session._refs(), "label_id": str(label.id), "label": label.name},
    )
