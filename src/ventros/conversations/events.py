"""Wire names of the Conversations context's events."""

SESSION_STARTED = "session.started"
SESSION_CLOSED = "session.closed"
SESSION_AGENT_ASSIGNED = "session.agent_assigned"
SESSION_MESSAGE_ADDED = "session.message_added"
SESSION_TRANSFERRED = "session.transferred"
SESSION_CSAT_RECORDED = "session.csat_recorded"

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
