"""Conversations' reactions to events, one module per concern; the context's wiring lists them."""
