"""Analysis: sentiment, language and intents of inbound messages, the customer's mood per
session, attention alerts, and an optional LLM for summaries, replies and voice notes."""
