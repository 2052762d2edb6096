"""Routing: teams of agents, the tenant's ordered routing rules, business hours, SLA
policies and follow-up settings. Conversations asks it where a new session goes and how
its clocks run; routing knows nothing of sessions."""
