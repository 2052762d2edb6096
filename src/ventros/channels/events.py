"""Wire names of the Channels context's events."""

CHANNEL_CREATED = "channel.created"
CHANNEL_UPDATED = "channel.updated"
CHANNEL_STATUS_CHANGED = "channel.status_changed"
CHANNEL_DELETED = "channel.deleted"
CHANNEL_UNHEALTHY = "channel.unhealthy"  # the watchdog: FAILED, or connected but silent
CHANNEL_DOWN = "channel.down"  # still unhealthy after one restart of the WAHA session
CHANNEL_RECOVERED = "channel.recovered"  # events flow again
