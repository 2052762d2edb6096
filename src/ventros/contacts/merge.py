"""MergeContacts, and the duplicate suggestions.

The survivor takes the duplicate's sessions and messages (open sessions on the same
channel collapse into one), trackings, pipeline positions, tags and custom fields (the
survivor's value wins a conflict), and its phone or email when the survivor has none. The
duplicate is soft-deleted and points at the survivor (`merged_into_id`), so its phone
resolves to the survivor from then on: a new WhatsApp message from it lands there. All of
it in ONE unit of work; each context moves its own rows, through the port it provides
(contacts/ports.py) so that contacts imports none of them.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass

from sqlalchemy import text

from ventros.contacts import events
from ventros.contacts.domain import Contact
from ventros.contacts.ports import (
    MOVE_PIPELINE_POSITIONS,
    MOVE_SESSIONS,
    MOVE_TRACKINGS,
    ContactRowsMover,
)
from ventros.contacts.repository import ContactRepository
from ventros.identity.domain import Principal
from ventros.kernel.errors import NotFound, RuleViolation
from ventros.kernel.events import Actor
from ventros.platform.ports import Ports
from ventros.platform.uow import UnitOfWorkFactory


@dataclass(frozen=True)
class MergeOutcome:
    survivor: Contact
    sessions: int
    trackings: int
    pipeline_entries: int


@dataclass(frozen=True)
class RowMovers:
    """The other contexts' moves (ports they provide: contacts imports none of them)."""

    sessions: ContactRowsMover
    trackings: ContactRowsMover
    pipeline_positions: ContactRowsMover

    @classmethod
    def of(cls, ports: Ports) -> RowMovers:
        return cls(
            ports.get(MOVE_SESSIONS), ports.get(MOVE_TRACKINGS), ports.get(MOVE_PIPELINE_POSITIONS)
        )


async def merge_contacts(
    uow: UnitOfWorkFactory,
    principal: Principal,
    survivor_id: uuid.UUID,
    duplicate_id: uuid.UUID,
    *,
    movers: RowMovers,
) -> MergeOutcome:
    if survivor_id == duplicate_id:
        raise RuleViolation("a contact cannot be merged into itself", field="duplicate_id")
    async with uow(principal.tenant_id, Actor.user(principal.user_id)) as tx:
        repository = ContactRepository(tx)
        # Both rows locked, in id order, so two merges of the same pair cannot interleave.
        for contact_id in sorted((survivor_id, duplicate_id)):
            await tx.connection.execute(
                text("SELECT id FROM contacts WHERE id = :id FOR UPDATE"), {"id": contact_id}
            )
        survivor = await repository.get(survivor_id)
        duplicate = await repository.get(duplicate_id)
        if survivor is None:
            raise NotFound("contact not found")
        if duplicate is None:
            raise NotFound("duplicate contact not found")
        moved = {"from_contact_id": duplicate.id, "to_contact_id": survivor.id}
        sessions = await movers.sessions(tx, **moved)
        trackings = await movers.trackings(tx, **moved)
        entries = await movers.pipeline_positions(tx, **moved)
        phone = duplicate.phone if survivor.phone is None else None
        email = duplicate.email if survivor.email is None else None
        duplicate.delete()
        await repository.save(duplicate)
        await repository.mark_merged(duplicate.id, survivor.id)
        survivor.update(
            phone=phone,
            email=email,
            tags=[*survivor.tags, *(t for t in duplicate.tags if t not in survivor.tags)],
            custom_fields={**duplicate.custom_fields, **survivor.custom_fields},
        )
        survivor.record(
            events.CONTACT_MERGED,
            {
                "contact_id": str(survivor.id),
                "duplicate_id": str(duplicate.id),
                "sessions_moved": sessions,
                "trackings_moved": trackings,
                "pipeline_entries_moved": entries,
            },
        )
        await repository.save(survivor)
        await tx.commit()
    return MergeOutcome(survivor, sessions, trackings, entries)


@dataclass(frozen=True)
class DuplicatePair:
    contact_id: uuid.UUID
    duplicate_id: uuid.UUID
    reason: str  # same_phone | same_email | same_name_similar_phone


# Same phone after the ninth-digit rule is already one stored value (Phone normalises it),
# so live contacts can only share a phone when one of them predates the rule or was
# written raw; the queries compare the last 8 digits, which is what the rule leaves equal.
_DUPLICATES_SQL = text(
    """
    WITH live AS (
        SELECT id, lower(name) AS name, email, phone,
               right(regexp_replace(coalesce(phone, ''), '\\D', '', 'g'), 8) AS tail,
               left(regexp_replace(coalesce(phone, ''), '\\D', '', 'g'), 4) AS head
        FROM contacts WHERE deleted_at IS NULL
    )
    SELECT a.id AS a, b.id AS b,
           CASE WHEN a.email IS NOT NULL AND lower(a.email) = lower(b.email) THEN 'same_email'
                WHEN a.tail <> '' AND a.tail = b.tail AND a.head = b.head THEN 'same_phone'
                ELSE 'same_name_similar_phone' END AS reason
    FROM live a JOIN live b ON a.id < b.id
    WHERE (a.email IS NOT NULL AND lower(a.email) = lower(b.email))
       OR (a.tail <> '' AND length(a.tail) = 8 AND a.tail = b.tail AND a.head = b.head)
       OR (a.name = b.name AND a.tail <> '' AND b.tail <> ''
           AND right(a.tail, 6) = right(b.tail, 6))
    ORDER BY a.id DESC, b.id DESC
    LIMIT :limit
    """
)


async def suggest_duplicates(
    uow: UnitOfWorkFactory, principal: Principal, *, limit: int = 50
) -> list[DuplicatePair]:
    async with uow(principal.tenant_id, Actor.user(principal.user_id)) as tx:
        rows = await tx.connection.execute(_DUPLICATES_SQL, {"limit": limit})
        return [DuplicatePair(row.a, row.b, row.reason) for row in rows]


# The same three rules as above, anchored on one contact (its page's suggestions). Each
# rule starts with a test the indexes answer (the email's unique index, the trigram index
# of migration 0020 for LIKE / ILIKE), so one page does not read every contact.
_DUPLICATES_OF_SQL = text(
    """
    SELECT id,
           CASE WHEN email = :email THEN 'same_email'
                WHEN length(CAST(:tail AS text)) = 8
                     AND right(regexp_replace(coalesce(phone, ''), '\\D', '', 'g'), 8) = :tail
                     AND left(regexp_replace(coalesce(phone, ''), '\\D', '', 'g'), 4) = :head
                THEN 'same_phone'
                ELSE 'same_name_similar_phone' END AS reason
    FROM contacts
    WHERE deleted_at IS NULL AND id <> :contact_id AND (
        email = :email
        OR (length(CAST(:tail AS text)) = 8 AND phone LIKE :phone_like
            AND right(regexp_replace(phone, '\\D', '', 'g'), 8) = :tail
            AND left(regexp_replace(phone, '\\D', '', 'g'), 4) = :head)
        OR (length(CAST(:tail AS text)) >= 6 AND name ILIKE :name_like AND lower(name) = :name
            AND right(regexp_replace(coalesce(phone, ''), '\\D', '', 'g'), 6)
                = right(CAST(:tail AS text), 6))
    )
    ORDER BY id DESC
    LIMIT :limit
    """
)


def _like_exactly(value: str) -> str:
    return value.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


async def duplicates_of(
    uow: UnitOfWorkFactory, principal: Principal, contact_id: uuid.UUID, *, limit: int = 10
) -> list[DuplicatePair]:
    """Live contacts that look like this one, with the reason (its page's suggestions)."""
    async with uow(principal.tenant_id, Actor.user(principal.user_id)) as tx:
        me = await ContactRepository(tx).get(contact_id)
        if me is None:
            raise NotFound("contact not found")
        digits = "".join(ch for ch in str(me.phone or "") if ch.isdigit())
        tail, head = digits[-8:], digits[:4]
        values = {
            "contact_id": contact_id,
            "email": str(me.email) if me.email else None,
            "tail": tail,
            "head": head,
            "phone_like": f"%{head}%{tail}",
            "name": me.name.lower(),
            "name_like": _like_exactly(me.name),
            "limit": limit,
        }
        rows = await tx.connection.execute(_DUPLICATES_OF_SQL, values)
        return [DuplicatePair(contact_id, row.id, row.reason) for row in rows]
