"""Wire names of the Replies context's events."""

CANNED_REPLY_CREATED = "canned_reply.created"
CANNED_REPLY_UPDATED = "canned_reply.updated"
CANNED_REPLY_DELETED = "canned_reply.deleted"
