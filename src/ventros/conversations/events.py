"""Wire names of the Conversations context's events."""

SESSION_STARTED = "session.started"
SESSION_CLOSED = "session.closed"
SESSION_AGENT_ASSIGNED = "session.agent_assigned"
SESSION_MESSAGE_ADDED = "session.message_added"
SESSION_TRANSFERRED = "session.transferred"
SESSION_UNASSIGNED = "session.unassigned"
SESSION_CSAT_RECORDED = "session.csat_recorded"
SESSION_NOTE_ADDED = "session.note_added"  # a private note (never sent to WhatsApp)
SESSION_LABELED = "session.labeled"
SESSION_UNLABELED = "session.unlabeled"
AGENT_MENTIONED = "agent.mentioned"  # a private note @mentioned the agent
LABEL_CREATED = "label.created"
LABEL_UPDATED = "label.updated"
LABEL_DELETED = "label.deleted"

MESSAGE_RECEIVED = "message.received"
MESSAGE_SENDING = "message.sending"
MESSAGE_SENT = "message.sent"
MESSAGE_DELIVERED = "message.delivered"
MESSAGE_READ = "message.read"
MESSAGE_FAILED = "message.failed"
MESSAGE_SCHEDULED = "message.scheduled"
MESSAGE_REACTED = "message.reacted"
MESSAGE_REVOKED = "message.revoked"
MESSAGE_MEDIA_UPDATED = "message.media_updated"  # kept by Ventros, or unavailable

# Routing, SLA, snooze and follow-ups (issue 16).
SESSION_ROUTED = "session.routed"
SESSION_AUTO_REPLIED = "session.auto_replied"
SESSION_SLA_WARNING = "session.sla_warning"
SESSION_SLA_BREACHED = "session.sla_breached"
SESSION_SNOOZED = "session.snoozed"
SESSION_UNSNOOZED = "session.unsnoozed"
SESSION_FOLLOW_UP_SENT = "session.follow_up_sent"
