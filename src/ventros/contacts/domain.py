"""Contacts: the Phone and Email value objects and the Contact aggregate. Pure: no I/O."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import phonenumbers
from email_validator import EmailNotValidError, validate_email

from ventros.contacts import events
from ventros.kernel.aggregate import AggregateRoot
from ventros.kernel.clock import utcnow
from ventros.kernel.errors import RuleViolation
from ventros.kernel.ids import new_id

MAX_NAME_LENGTH = 200
MAX_TAGS = 50
MAX_TAG_LENGTH = 64
MAX_CUSTOM_FIELDS = 100
MAX_CUSTOM_FIELD_KEY_LENGTH = 64
BRAZIL = 55


@dataclass(frozen=True, slots=True)
class Phone:
    """A phone number in E.164 (`+5511987654321`).

    Brazilian mobiles gained a ninth digit (a leading 9) between 2012 and 2016; WhatsApp
    still reports some accounts by the old 8-digit subscriber number. Both forms are one
    person, so the value always carries the ninth digit.
    """

    e164: str

    @classmethod
    def parse(cls, raw: str, default_region: str = "BR") -> Phone:
        candidate = _strip_whatsapp_suffix(raw)
        number = _parse_number(candidate, default_region)
        number = _with_brazilian_ninth_digit(number)
        if not phonenumbers.is_valid_number(number):
            raise RuleViolation(f"invalid phone number: {raw!r}", field="phone")
        return cls(phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164))

    @property
    def digits(self) -> str:
        return self.e164.lstrip("+")

    def whatsapp_chat_id(self) -> str:
        return f"{self.digits}@c.us"

    def __str__(self) -> str:
        return self.e164


def _strip_whatsapp_suffix(raw: str) -> str:
    text = raw.strip()
    if "@" in text:
        text = text.split("@", 1)[0]
        # A WhatsApp id is always international: digits with the country code.
        if text.isdigit():
            text = "+" + text
    return text


def _parse_number(text: str, default_region: str) -> phonenumbers.PhoneNumber:
    if not text or len(text) > 32:
        raise RuleViolation(f"invalid phone number: {text!r}", field="phone")
    attempts = [text]
    digits = "".join(ch for ch in text if ch.isdigit())
    if not text.startswith("+") and len(digits) > 11:
        # Long digit strings without '+' are international numbers (as WAHA sends them).
        attempts.append("+" + digits)
    for attempt in attempts:
        try:
            number = phonenumbers.parse(attempt, default_region.upper())
        except phonenumbers.NumberParseException:
            continue
        if phonenumbers.is_valid_number(_with_brazilian_ninth_digit(number)):
            return number
    try:
        return phonenumbers.parse(attempts[-1], default_region.upper())
    except phonenumbers.NumberParseException as error:
        raise RuleViolation(f"invalid phone number: {text!r}", field="phone") from error


def _with_brazilian_ninth_digit(number: phonenumbers.PhoneNumber) -> phonenumbers.PhoneNumber:
    if number.country_code != BRAZIL:
        return number
    national = str(number.national_number)
    # Area code (2 digits) + 8-digit subscriber starting 6-9 is a pre-2016 mobile.
    if len(national) == 10 and national[2] in "6789":
        return phonenumbers.PhoneNumber(
            country_code=BRAZIL, national_number=int(national[:2] + "9" + national[2:])
        )
    return number


@dataclass(frozen=True, slots=True)
class Email:
    """An email address, compared case-insensitively (stored lower-case)."""

    address: str

    @classmethod
    def parse(cls, raw: str) -> Email:
        try:
            result = validate_email(raw.strip(), check_deliverability=False)
        except EmailNotValidError as error:
            raise RuleViolation(f"invalid email: {error}", field="email") from error
        return cls(result.normalized.lower())

    def __str__(self) -> str:
        return self.address


def clean_name(name: str) -> str:
    cleaned = " ".join(name.split())
    if not cleaned:
        raise RuleViolation("name must not be empty", field="name")
    if len(cleaned) > MAX_NAME_LENGTH:
        raise RuleViolation(f"name must be at most {MAX_NAME_LENGTH} characters", field="name")
    return cleaned


def clean_tags(tags: list[str]) -> list[str]:
    cleaned: list[str] = []
    for tag in tags:
        value = tag.strip()
        if not value:
            continue
        if len(value) > MAX_TAG_LENGTH:
            raise RuleViolation(f"a tag must be at most {MAX_TAG_LENGTH} characters", field="tags")
        if value not in cleaned:
            cleaned.append(value)
    if len(cleaned) > MAX_TAGS:
        raise RuleViolation(f"at most {MAX_TAGS} tags", field="tags")
    return cleaned


def clean_custom_fields(fields: dict[str, Any]) -> dict[str, Any]:
    if len(fields) > MAX_CUSTOM_FIELDS:
        raise RuleViolation(f"at most {MAX_CUSTOM_FIELDS} custom fields", field="custom_fields")
    for key in fields:
        if not key.strip() or len(key) > MAX_CUSTOM_FIELD_KEY_LENGTH:
            raise RuleViolation(
                f"custom field names must be 1-{MAX_CUSTOM_FIELD_KEY_LENGTH} characters",
                field="custom_fields",
            )
    return dict(fields)


@dataclass(eq=False)
class Contact(AggregateRoot):
    aggregate_type = "contact"

    id: uuid.UUID
    tenant_id: uuid.UUID
    name: str
    phone: Phone | None = None
    email: Email | None = None
    tags: list[str] = field(default_factory=list)
    custom_fields: dict[str, Any] = field(default_factory=dict)
    source: str | None = None
    profile_picture_url: str | None = None
    created_at: datetime = field(default_factory=utcnow)
    updated_at: datetime = field(default_factory=utcnow)
    deleted_at: datetime | None = None

    @classmethod
    def create(
        cls,
        *,
        tenant_id: uuid.UUID,
        name: str,
        phone: Phone | None = None,
        email: Email | None = None,
        tags: list[str] | None = None,
        custom_fields: dict[str, Any] | None = None,
        source: str | None = None,
    ) -> Contact:
        contact = cls(
            id=new_id(),
            tenant_id=tenant_id,
            name=clean_name(name),
            phone=phone,
            email=email,
            tags=clean_tags(tags or []),
            custom_fields=clean_custom_fields(custom_fields or {}),
            source=source,
        )
        contact.record(events.CONTACT_CREATED, contact.snapshot())
        return contact

    @property
    def is_deleted(self) -> bool:
        return self.deleted_at is not None

    def snapshot(self) -> dict[str, Any]:
        return {
            "contact_id": str(self.id),
            "name": self.name,
            "phone": str(self.phone) if self.phone else None,
            "email": str(self.email) if self.email else None,
            "tags": list(self.tags),
            "custom_fields": dict(self.custom_fields),
            "source": self.source,
        }

    def update(
        self,
        *,
        name: str | None = None,
        phone: Phone | None = None,
        email: Email | None = None,
        tags: list[str] | None = None,
        custom_fields: dict[str, Any] | None = None,
        source: str | None = None,
        clear: frozenset[str] = frozenset(),
    ) -> None:
        """Applies the given changes; `clear` names optional fields to empty."""
        before = self.snapshot()
        if name is not None:
            self.name = clean_name(name)
        if phone is not None or "phone" in clear:
            self.phone = phone
        if email is not None or "email" in clear:
            self.email = email
        if tags is not None:
            self.tags = clean_tags(tags)
        if custom_fields is not None:
            self.custom_fields = clean_custom_fields(custom_fields)
        if source is not None or "source" in clear:
            self.source = source
        after = self.snapshot()
        changes = {key: after[key] for key in after if after[key] != before[key]}
        if changes:
            self.updated_at = utcnow()
            self.record(events.CONTACT_UPDATED, {"contact_id": str(self.id), "changes": changes})

    def delete(self) -> None:
        if self.is_deleted:
            return
        self.deleted_at = utcnow()
        self.record(events.CONTACT_DELETED, {"contact_id": str(self.id)})
