"""Wire names of the Analysis context's events."""

MESSAGE_ANALYZED = "message.analyzed"
MESSAGE_TRANSCRIBED = "message.transcribed"
SESSION_NEEDS_ATTENTION = "session.needs_attention"
SESSION_SUMMARIZED = "session.summarized"
