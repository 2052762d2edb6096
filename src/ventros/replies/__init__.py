"""Canned replies: a tenant's (or a team's) saved answers, typed as `/shortcut` in the
composer and filled with the contact's and the agent's details."""
