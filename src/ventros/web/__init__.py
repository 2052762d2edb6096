"""The web app for agents and supervisors: server-rendered Jinja2 pages, htmx partials and
Server-Sent Events, calling the same use cases as the HTTP API (see UI.md)."""
