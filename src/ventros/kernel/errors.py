"""Domain errors. They know nothing of HTTP; `ventros.api.errors` maps them once."""

from __future__ import annotations

import uuid
from typing import Any


class DomainError(Exception):
    """Base of every expected failure of a use case."""

    def __init__(self, detail: str) -> None:
        super().__init__(detail)
        self.detail = detail


class NotFound(DomainError):
    """The thing does not exist, is soft-deleted, or belongs to another tenant."""


class Conflict(DomainError):
    """The change collides with an existing thing (a duplicate, a second CSAT, ...)."""

    def __init__(self, detail: str, *, existing_id: uuid.UUID | None = None) -> None:
        super().__init__(detail)
        self.existing_id = existing_id


class RuleViolation(DomainError):
    """Input is well-formed but breaks a business rule (invalid phone, forbidden move...)."""

    def __init__(self, detail: str, *, field: str | None = None) -> None:
        super().__init__(detail)
        self.field = field


class NotAuthenticated(DomainError):
    """No valid credentials."""


class PermissionDenied(DomainError):
    """Authenticated, but the role does not allow this."""


class TooManyRequests(DomainError):
    def __init__(self, detail: str, *, retry_after_seconds: int) -> None:
        super().__init__(detail)
        self.retry_after_seconds = retry_after_seconds


def describe(error: DomainError) -> dict[str, Any]:
    return {"type": type(error).__name__, "detail": error.detail}
