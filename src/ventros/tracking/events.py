"""Wire names of the Tracking context's events."""

TRACKING_CREATED = "tracking.created"
TRACKING_ENRICHED = "tracking.enriched"
TRACKING_CONVERSION = "tracking.conversion"
