"""Wire names of the Webhooks context's events (aggregate_type `webhook`)."""

WEBHOOK_CREATED = "webhook.created"
WEBHOOK_DELETED = "webhook.deleted"
# Failing for days: the subscription stops receiving events until an admin enables it.
WEBHOOK_DISABLED = "webhook.disabled"
WEBHOOK_ENABLED = "webhook.enabled"
# One event could not be delivered to one subscription: the last attempt failed.
WEBHOOK_DELIVERY_FAILED = "webhook.delivery_failed"
