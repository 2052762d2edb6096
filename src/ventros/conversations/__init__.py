"""Conversations: sessions (one service conversation with a contact on a channel) and their
messages, and the ingest of WhatsApp events into them."""
