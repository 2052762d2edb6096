"""Wire names of the Pipelines context's events."""

PIPELINE_CREATED = "pipeline.created"
# Raised on the contact (aggregate_type "contact") so it lands on the contact's timeline.
CONTACT_PIPELINE_STATUS_CHANGED = "contact.pipeline_status_changed"
