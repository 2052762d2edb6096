"""Persistence of sessions, messages, and message updates that arrived before their message."""

from ventros.conversations.repository.messages import MessageRepository
from ventros.conversations.repository.pending import (
    PendingUpdate,
    PendingUpdateRepository,
    prune_pending_updates,
)
from ventros.conversations.repository.sessions import SessionFilter, SessionRepository
from ventros.conversations.repository.tables import messages, pending_message_updates, sessions

__all__ = [
    "MessageRepository",
    "PendingUpdate",
    "PendingUpdateRepository",
    "SessionFilter",
    "SessionRepository",
    "messages",
    "pending_message_updates",
    "prune_pending_updates",
    "sessions",
]
