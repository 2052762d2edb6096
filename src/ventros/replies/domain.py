"""Canned replies and their templates. Pure: no I/O.

A reply's text may hold variables in double braces, filled when an agent uses it:
`{{contact.name}}`, `{{contact.first_name}}`, `{{agent.name}}` and `{{custom.<field>}}`
(one of the contact's custom fields). Saving a reply with any other name is refused, so a
typo is caught by the admin who writes it, not shown to a customer. Rendering never shows
braces: a value the contact does not have renders empty.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from ventros.kernel.aggregate import AggregateRoot
from ventros.kernel.clock import utcnow
from ventros.kernel.errors import RuleViolation
from ventros.kernel.ids import new_id
from ventros.replies import events

MAX_SHORTCUT = 40
MAX_TEXT = 4096
MAX_CUSTOM_KEY = 100
CUSTOM_PREFIX = "custom."
VARIABLES = ("contact.name", "contact.first_name", "agent.name")
# Letters of any alphabet (accents included), digits, `_` and `-`; stored lower-case.
_SHORTCUT = re.compile(r"[\w-]+")
_PLACEHOLDER = re.compile(r"\{\{(.*?)\}\}", re.DOTALL)


def clean_shortcut(raw: str) -> str:
    """`/Obrigado` and `obrigado` are the same shortcut: no slash, lower-case."""
    shortcut = raw.strip().removeprefix("/").strip().lower()
    if not shortcut or len(shortcut) > MAX_SHORTCUT or not _SHORTCUT.fullmatch(shortcut):
        raise RuleViolation(
            f"shortcut must be 1-{MAX_SHORTCUT} letters, digits, '_' or '-' (after the '/')",
            field="shortcut",
        )
    return shortcut


def variables_in(text: str) -> list[str]:
    """The variable names the text uses, in order, spaces inside the braces ignored."""
    return [match.strip() for match in _PLACEHOLDER.findall(text)]


def is_known_variable(name: str) -> bool:
    if name in VARIABLES:
        return True
    key = name.removeprefix(CUSTOM_PREFIX)
    return name.startswith(CUSTOM_PREFIX) and 0 < len(key.strip()) <= MAX_CUSTOM_KEY


def clean_text(text: str) -> str:
    """The reply's text, or RuleViolation naming the first unknown variable."""
    if not text.strip():
        raise RuleViolation("text must not be empty", field="text")
    if len(text) > MAX_TEXT:
        raise RuleViolation(f"text must be at most {MAX_TEXT} characters", field="text")
    for name in variables_in(text):
        if not is_known_variable(name):
            known = ", ".join("{{" + v + "}}" for v in (*VARIABLES, CUSTOM_PREFIX + "<field>"))
            raise RuleViolation(
                f"unknown variable {{{{{name}}}}} in text; use one of {known}", field="text"
            )
    return text


@dataclass(frozen=True)
class RenderContext:
    """What a reply is filled with: the session's contact and the agent using it."""

    contact_name: str | None = None
    agent_name: str | None = None
    custom: Mapping[str, Any] = field(default_factory=dict)

    def value_of(self, name: str) -> str:
        if name == "contact.name":
            return self.contact_name or ""
        if name == "contact.first_name":
            words = (self.contact_name or "").split()
            return words[0] if words else ""
        if name == "agent.name":
            return self.agent_name or ""
        if name.startswith(CUSTOM_PREFIX):
            return self._custom(name.removeprefix(CUSTOM_PREFIX).strip())
        return ""

    def _custom(self, key: str) -> str:
        value = self.custom.get(key)
        if value is None:
            # Field names are typed by people: `Cidade` finds `cidade`.
            folded = {k.casefold(): v for k, v in self.custom.items()}
            value = folded.get(key.casefold())
        if value is None or isinstance(value, dict | list):
            return ""
        if isinstance(value, bool):
            # The customer reads the reply, in the CRM's language (not Python's True).
            return "sim" if value else "não"
        return str(value)


def render(text: str, context: RenderContext) -> str:
    """The text with every `{{variable}}` replaced; missing or unknown ones by nothing."""
    return _PLACEHOLDER.sub(lambda match: context.value_of(match.group(1).strip()), text)


@dataclass(eq=False)
class CannedReply(AggregateRoot):
    aggregate_type = "canned_reply"

    id: uuid.UUID
    tenant_id: uuid.UUID
    shortcut: str
    text: str
    team_id: uuid.UUID | None = None  # None: every agent of the tenant
    media_id: uuid.UUID | None = None  # a file kept by Ventros, sent with the text
    created_by: uuid.UUID | None = None
    created_at: datetime = field(default_factory=utcnow)
    updated_at: datetime = field(default_factory=utcnow)

    @classmethod
    def create(
        cls,
        *,
        tenant_id: uuid.UUID,
        shortcut: str,
        text: str,
        team_id: uuid.UUID | None = None,
        media_id: uuid.UUID | None = None,
        created_by: uuid.UUID | None = None,
    ) -> CannedReply:
        reply = cls(
            id=new_id(),
            tenant_id=tenant_id,
            shortcut=clean_shortcut(shortcut),
            text=clean_text(text),
            team_id=team_id,
            media_id=media_id,
            created_by=created_by,
        )
        reply.record(events.CANNED_REPLY_CREATED, reply._facts())
        return reply

    def _facts(self) -> dict[str, Any]:
        return {
            "canned_reply_id": str(self.id),
            "shortcut": self.shortcut,
            "team_id": str(self.team_id) if self.team_id else None,
            "media_id": str(self.media_id) if self.media_id else None,
        }

    def change(
        self,
        *,
        shortcut: str | None = None,
        text: str | None = None,
        team_id: uuid.UUID | None = None,
        media_id: uuid.UUID | None = None,
        clear: frozenset[str] = frozenset(),
    ) -> None:
        """Changes what is given; `clear` names the optional fields set to none."""
        if shortcut is not None:
            self.shortcut = clean_shortcut(shortcut)
        if text is not None:
            self.text = clean_text(text)
        if team_id is not None or "team_id" in clear:
            self.team_id = team_id
        if media_id is not None or "media_id" in clear:
            self.media_id = media_id
        self.updated_at = utcnow()
        self.record(events.CANNED_REPLY_UPDATED, self._facts())

    def delete(self) -> None:
        self.record(events.CANNED_REPLY_DELETED, self._facts())
