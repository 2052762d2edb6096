"""Agents: the users who serve conversations — roles, skills, capacity, status."""
