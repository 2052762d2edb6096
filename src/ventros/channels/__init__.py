"""Channels: WhatsApp numbers reached through WAHA, their signed inbound webhook, and the
parsing of WAHA's wire format."""
