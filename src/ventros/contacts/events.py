"""Wire names of the Contacts context's events."""

CONTACT_CREATED = "contact.created"
CONTACT_UPDATED = "contact.updated"
CONTACT_DELETED = "contact.deleted"
CONTACT_MERGED = "contact.merged"
# contact.pipeline_status_changed is Pipelines' (pipelines.events), raised on the contact.
CONTACT_PROFILE_PICTURE_UPDATED = "contact.profile_picture_updated"
