"""Wire names of the Channels context's events."""

CHANNEL_CREATED = "channel.created"
CHANNEL_UPDATED = "channel.updated"
CHANNEL_STATUS_CHANGED = "channel.status_changed"
CHANNEL_DELETED = "channel.deleted"
