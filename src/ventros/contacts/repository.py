"""Persistence of contacts."""

from __future__ import annotations

import builtins
import uuid
from dataclasses import dataclass, replace
from typing import Any

from sqlalchemy import (
    Column,
    DateTime,
    Index,
    Integer,
    Row,
    Select,
    Table,
    Text,
    and_,
    any_,
    bindparam,
    func,
    or_,
    select,
    text,
)
from sqlalchemy.dialects.postgresql import ARRAY, JSONB, UUID
from sqlalchemy.exc import IntegrityError

from ventros.contacts.domain import Contact, Email, Phone
from ventros.kernel.errors import Conflict
from ventros.pipelines.repository import contacts_placed
from ventros.platform.db import metadata
from ventros.platform.uow import UnitOfWork

contacts = Table(
    "contacts",
    metadata,
    Column("id", UUID(as_uuid=True), primary_key=True),
    Column("tenant_id", UUID(as_uuid=True), nullable=False),
    Column("name", Text, nullable=False),
    Column("phone", Text),
    Column("email", Text),
    Column("tags", ARRAY(Text), nullable=False, server_default=text("'{}'::text[]")),
    Column("custom_fields", JSONB, nullable=False, server_default=text("'{}'::jsonb")),
    Column("source", Text),
    Column("profile_picture_url", Text),
    Column("kind", Text, nullable=False, server_default=text("'person'")),
    Column("merged_into_id", UUID(as_uuid=True)),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("updated_at", DateTime(timezone=True), nullable=False),
    Column("deleted_at", DateTime(timezone=True)),
    Index(
        "uq_contacts_tenant_id_phone",
        "tenant_id",
        "phone",
        unique=True,
        postgresql_where=text("deleted_at IS NULL AND phone IS NOT NULL"),
    ),
    Index(
        "uq_contacts_tenant_id_email",
        "tenant_id",
        "email",
        unique=True,
        postgresql_where=text("deleted_at IS NULL AND email IS NOT NULL"),
    ),
    Index(
        "ix_contacts_tenant_id_id_live",
        "tenant_id",
        text("id DESC"),
        postgresql_where=text("deleted_at IS NULL"),
    ),
    Index("ix_contacts_tags", "tags", postgresql_using="gin"),
    Index("ix_contacts_tenant_id_source", "tenant_id", "source"),
    # Contacts WhatsApp knows by no phone number (groups, hidden @lid ids).
    Index(
        "ix_contacts_tenant_id_whatsapp_id",
        "tenant_id",
        text("(custom_fields ->> 'whatsapp_id')"),
        postgresql_where=text("deleted_at IS NULL AND custom_fields ? 'whatsapp_id'"),
    ),
)

WHATSAPP_ID_FIELD = "whatsapp_id"


@dataclass(frozen=True)
class ContactFilter:
    q: str | None = None
    tag: str | None = None
    source: str | None = None
    pipeline_id: uuid.UUID | None = None
    stage_id: uuid.UUID | None = None
    # `q` read as a phone number (E.164, with the ninth digit): the exact stored value,
    # so "11 8765-4321" finds +5511987654321. Set by the service, which knows the region.
    phone: str | None = None


def _values(contact: Contact) -> dict[str, Any]:
    return {
        "id": contact.id,
        "tenant_id": contact.tenant_id,
        "name": contact.name,
        "phone": str(contact.phone) if contact.phone else None,
        "email": str(contact.email) if contact.email else None,
        "tags": contact.tags,
        "custom_fields": contact.custom_fields,
        "source": contact.source,
        "profile_picture_url": contact.profile_picture_url,
        "created_at": contact.created_at,
        "updated_at": contact.updated_at,
        "deleted_at": contact.deleted_at,
    }


def _from_row(row: Row[Any]) -> Contact:
    return Contact(
        id=row.id,
        tenant_id=row.tenant_id,
        name=row.name,
        phone=Phone(row.phone) if row.phone else None,
        email=Email(row.email) if row.email else None,
        tags=list(row.tags),
        custom_fields=dict(row.custom_fields),
        source=row.source,
        profile_picture_url=row.profile_picture_url,
        created_at=row.created_at,
        updated_at=row.updated_at,
        deleted_at=row.deleted_at,
    )


# Any unique index (a live contact's phone) turns a row away, not the statement.
_ADD_MANY = text(
    "INSERT INTO contacts (id, tenant_id, name, phone, source, created_at, updated_at)"
    " SELECT r.id, :tenant_id, r.name, r.phone, r.source, r.created_at, r.updated_at"
    " FROM unnest(CAST(:ids AS uuid[]), CAST(:names AS text[]), CAST(:phones AS text[]),"
    " CAST(:sources AS text[]), CAST(:created AS timestamptz[]),"
    " CAST(:updated AS timestamptz[])) AS r(id, name, phone, source, created_at, updated_at)"
    " ON CONFLICT DO NOTHING RETURNING id"
)


def _escape_like(value: str) -> str:
    return value.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def _live() -> Any:
    return contacts.c.deleted_at.is_(None)


class ContactRepository:
    def __init__(self, uow: UnitOfWork) -> None:
        self._uow = uow

    async def find_conflict(self, contact: Contact) -> uuid.UUID | None:
        """The id of another live contact with the same phone or email, if any."""
        matches = []
        if contact.phone:
            matches.append(contacts.c.phone == str(contact.phone))
        if contact.email:
            matches.append(contacts.c.email == str(contact.email))
        if not matches:
            return None
        query = (
            select(contacts.c.id)
            .where(_live(), contacts.c.id != contact.id, or_(*matches))
            .limit(1)
        )
        return (await self._uow.connection.execute(query)).scalar()

    async def add(self, contact: Contact) -> None:
        await self._write(contact, contacts.insert().values(**_values(contact)))

    async def save(self, contact: Contact) -> None:
        statement = contacts.update().where(contacts.c.id == contact.id).values(**_values(contact))
        await self._write(contact, statement)

    async def _write(self, contact: Contact, statement: Any) -> None:
        existing = await self.find_conflict(contact) if not contact.is_deleted else None
        if existing is None:
            try:
                async with self._uow.connection.begin_nested():
                    await self._uow.connection.execute(statement)
            except IntegrityError:
                # A concurrent writer took the phone or email between the check and here.
                existing = await self.find_conflict(contact)
                if existing is None:
                    raise
        if existing is not None:
            raise Conflict(
                "a contact with this phone or email already exists", existing_id=existing
            )
        self._uow.track(contact)

    async def get(self, contact_id: uuid.UUID) -> Contact | None:
        query = select(contacts).where(contacts.c.id == contact_id, _live())
        row = (await self._uow.connection.execute(query)).first()
        return self._uow.track(_from_row(row)) if row else None

    async def find_by_phone(self, phone: Phone) -> Contact | None:
        """The live contact with this phone, or the one a contact with it was merged into."""
        query = select(contacts).where(contacts.c.phone == str(phone), _live())
        row = (await self._uow.connection.execute(query)).first()
        if row is None:
            return (await self.merged_survivors([str(phone)])).get(str(phone))
        return self._uow.track(_from_row(row))

    async def merged_into(self, contact_id: uuid.UUID) -> list[uuid.UUID]:
        """The contacts merged into this one, and into those (oldest merge chains too)."""
        absorbed = (
            select(contacts.c.id)
            .where(contacts.c.merged_into_id == contact_id)
            .cte("absorbed", recursive=True)
        )
        absorbed = absorbed.union(
            select(contacts.c.id).where(contacts.c.merged_into_id == absorbed.c.id)
        )
        rows = await self._uow.connection.execute(select(absorbed.c.id))
        return [row.id for row in rows]

    async def merged_survivors(self, phones: list[str]) -> dict[str, Contact]:
        """Phones of contacts merged away, each resolved to the live contact that took them
        (following merges of merges)."""
        found: dict[str, Contact] = {}
        query = (
            select(contacts.c.phone, contacts.c.merged_into_id)
            .where(
                contacts.c.phone
                == any_(bindparam("phones", sorted(set(phones)), type_=ARRAY(Text))),
                contacts.c.merged_into_id.is_not(None),
            )
            .order_by(contacts.c.deleted_at)
        )
        # One query, empty in the usual case (no merged contact had these phones).
        targets = {
            row.phone: row.merged_into_id for row in await self._uow.connection.execute(query)
        }
        for phone, first in targets.items():
            target: uuid.UUID | None = first
            for _ in range(10):
                if target is None:
                    break
                survivor = await self.get(target)
                if survivor is not None:
                    found[phone] = survivor
                    break
                target = (
                    await self._uow.connection.execute(
                        select(contacts.c.merged_into_id).where(contacts.c.id == target)
                    )
                ).scalar()
        return found

    async def mark_merged(self, duplicate_id: uuid.UUID, survivor_id: uuid.UUID) -> None:
        """The duplicate (soft-deleted) points at the contact it was merged into."""
        await self._uow.connection.execute(
            contacts.update()
            .where(contacts.c.id == duplicate_id)
            .values(merged_into_id=survivor_id)
        )

    async def find_by_phones(self, phones: list[Phone]) -> dict[str, Contact]:
        """Live contacts with these phones, by the phone asked for (a phone of a merged
        contact: the contact that took it)."""
        if not phones:
            return {}
        query = select(contacts).where(
            # An array, not an IN list: one statement text whatever the number of phones.
            contacts.c.phone
            == any_(bindparam("phones", sorted({str(p) for p in phones}), type_=ARRAY(Text))),
            _live(),
        )
        rows = await self._uow.connection.execute(query)
        found = {row.phone: self._uow.track(_from_row(row)) for row in rows}
        missing = {str(p) for p in phones} - found.keys()
        if missing:
            # Rare (phones of merged contacts): one more lookup for those only.
            found.update(await self.merged_survivors(sorted(missing)))
        return found

    async def add_many(self, new: list[Contact]) -> set[uuid.UUID]:
        """New contacts (no email: those of a channel) in one statement; returns the ids
        stored. One whose phone a live contact took meanwhile is not stored."""
        if not new:
            return set()
        if any(contact.email is not None for contact in new):
            raise ValueError("add_many takes contacts without an email")
        stored = await self._uow.connection.execute(
            _ADD_MANY,
            {
                "tenant_id": self._uow.tenant_id,
                "ids": [c.id for c in new],
                "names": [c.name for c in new],
                "phones": [str(c.phone) if c.phone else None for c in new],
                "sources": [c.source for c in new],
                "created": [c.created_at for c in new],
                "updated": [c.updated_at for c in new],
            },
        )
        ids = set(stored.scalars())
        for contact in new:
            if contact.id in ids:
                self._uow.track(contact)
        return ids

    async def find_by_whatsapp_id(self, whatsapp_id: str) -> Contact | None:
        query = (
            select(contacts)
            .where(
                contacts.c.custom_fields[WHATSAPP_ID_FIELD].astext == whatsapp_id,
                contacts.c.custom_fields.has_key(WHATSAPP_ID_FIELD),
                _live(),
            )
            .order_by(contacts.c.id)
            .limit(1)
        )
        row = (await self._uow.connection.execute(query)).first()
        return self._uow.track(_from_row(row)) if row else None

    async def many(self, contact_ids: builtins.list[uuid.UUID]) -> builtins.list[Contact]:
        """Live contacts among these ids, in one query (a kanban page's cards)."""
        if not contact_ids:
            return []
        query = select(contacts).where(
            contacts.c.id == any_(bindparam("ids", contact_ids, type_=ARRAY(UUID(as_uuid=True)))),
            _live(),
        )
        return [_from_row(row) for row in await self._uow.connection.execute(query)]

    async def set_kind(self, contact_id: uuid.UUID, kind: str) -> None:
        """`person` (the default) or `group`; not part of the Contact aggregate yet."""
        await self._uow.connection.execute(
            contacts.update().where(contacts.c.id == contact_id).values(kind=kind)
        )

    async def list(
        self, filters: ContactFilter, *, limit: int, before: uuid.UUID | None
    ) -> list[Contact]:
        query: Select[Any] = select(contacts).where(_live())
        if filters.q and not (filters.tag or filters.source or filters.pipeline_id):
            # The page's ids from the search function (migration 0024): under RLS the
            # trigram index is out of reach of the app role's own ILIKE.
            page = func.ventros_search_contacts(
                bindparam("q_pattern", _pattern(filters.q), type_=Text),
                bindparam("q_digits", _digits(filters.q), type_=Text),
                bindparam("q_phone", filters.phone, type_=Text),
                bindparam("q_before", before, type_=UUID(as_uuid=True)),
                bindparam("q_limit", limit, type_=Integer),
            )
            query = query.where(contacts.c.id.in_(select(page.table_valued().column)))
            filters = replace(filters, q=None)
        if before is not None:
            query = query.where(contacts.c.id < before)
        if filters.tag:
            query = query.where(contacts.c.tags.contains([filters.tag]))
        if filters.source:
            query = query.where(contacts.c.source == filters.source)
        if filters.q:
            query = query.where(_matches(filters.q, filters.phone))
        if filters.pipeline_id or filters.stage_id:
            placed = contacts_placed(filters.pipeline_id, filters.stage_id)
            query = query.where(contacts.c.id.in_(placed))
        query = query.order_by(contacts.c.id.desc()).limit(limit)
        rows = await self._uow.connection.execute(query)
        return [_from_row(row) for row in rows]


def _pattern(q: str) -> str:
    return f"%{_escape_like(q.strip())}%"


def _digits(q: str) -> str:
    return "".join(ch for ch in q if ch.isdigit())


def _matches(q: str, phone: str | None = None) -> Any:
    pattern = _pattern(q)
    conditions: list[Any] = [contacts.c.name.ilike(pattern), contacts.c.email.ilike(pattern)]
    if phone:
        conditions.append(contacts.c.phone == phone)
    digits = _digits(q)
    if digits:
        conditions.append(contacts.c.phone.like(f"%{digits}%"))
    return and_(or_(*conditions))
