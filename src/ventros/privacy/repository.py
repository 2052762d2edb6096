"""Reads and erasures of one person's data across every context's tables.

Privacy is cross-cutting: it must reach every table, including ones added later. The
explicit erasures name the columns that hold what a person wrote or is; the sweep then
walks every text, array, JSON and binary column of every tenant table (from
information_schema) and erases the person's identifiers wherever they remain.
"""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import text

from ventros.platform.uow import UnitOfWork

ERASED = "[anonymized]"
ANONYMIZED_NAME = "Anonymized"

# JSON keys whose values identify or quote the person; erased in events and envelopes.
PERSONAL_KEYS = frozenset(
    {
        "name", "phone", "email", "tags", "custom_fields", "profile_picture_url",
        "text", "body", "caption", "media", "url", "filename", "vcard", "vcards",
        "location", "participant", "referral", "wa_id", "chat_id", "from", "to",
        "notifyName", "pushName", "pushname", "author", "landing_url", "source_url",
        "referrer", "click_id", "utm_content", "utm_term", "user_data", "csat_comment",
        "whatsapp_id", "changes", "before", "after",
    }
)  # fmt: skip

# What each export section reads: (table, column that points at the person).
EXPORT_SECTIONS = (
    ("sessions", "sessions", "contact_id"),
    ("messages", "messages", "contact_id"),
    ("trackings", "trackings", "contact_id"),
    ("pipeline_history", "pipeline_stage_history", "contact_id"),
    ("conversions", "tracking_conversions", "contact_id"),
    ("events", "domain_events", "contact_id"),
)


@dataclass(frozen=True)
class Identifiers:
    """What names the person in stored data: erased wherever it appears."""

    substrings: tuple[str, ...]  # phone (E.164, digits, WhatsApp ids), email
    names: tuple[str, ...]  # matched as whole values only, so "Ana" spares "Banana"


def _plain(value: Any) -> Any:
    if isinstance(value, uuid.UUID):
        return str(value)
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, bytes | memoryview):
        return None
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    return value


def scrub(value: Any, ids: Identifiers, *, keys: bool) -> Any:
    """A JSON value with the identifiers (and, with `keys`, personal fields) erased."""
    if isinstance(value, dict):
        return {
            k: (None if keys and k in PERSONAL_KEYS else scrub(v, ids, keys=keys))
            for k, v in value.items()
        }
    if isinstance(value, list):
        return [scrub(v, ids, keys=keys) for v in value]
    if isinstance(value, str):
        if value in ids.names:
            return ERASED
        for needle in ids.substrings:
            value = value.replace(needle, ERASED)
        return value
    return value


def _scrub_bytes(body: bytes, ids: Identifiers, *, keys: bool) -> bytes:
    try:
        return json.dumps(scrub(json.loads(body), ids, keys=keys)).encode()
    except ValueError:
        for needle in ids.substrings:
            body = body.replace(needle.encode(), ERASED.encode())
        for name in ids.names:
            body = body.replace(json.dumps(name).encode(), json.dumps(ERASED).encode())
        return body


class PersonalData:
    def __init__(self, tx: UnitOfWork) -> None:
        self._tx = tx

    async def _rows(self, query: str, **params: Any) -> list[dict[str, Any]]:
        result = await self._tx.connection.execute(
            text(query), {"tenant": self._tx.tenant_id, **params}
        )
        return [dict(row._mapping) for row in result]

    async def _run(self, query: str, **params: Any) -> int:
        result = await self._tx.connection.execute(
            text(query), {"tenant": self._tx.tenant_id, **params}
        )
        return int(result.rowcount or 0)

    # ---------------------------------------------------------------- export

    async def contact_row(self, contact_id: uuid.UUID) -> dict[str, Any] | None:
        rows = await self._rows(
            "SELECT * FROM contacts WHERE tenant_id = :tenant AND id = :id", id=contact_id
        )
        return _plain(rows[0]) if rows else None

    async def export(self, contact_id: uuid.UUID) -> dict[str, list[dict[str, Any]]]:
        sections: dict[str, list[dict[str, Any]]] = {}
        for section, table, column in EXPORT_SECTIONS:
            order = "id" if table != "sessions" else "started_at, id"
            rows = await self._rows(
                f"SELECT * FROM {table} WHERE tenant_id = :tenant AND {column} = :id "  # noqa: S608
                f"ORDER BY {order}",
                id=contact_id,
            )
            sections[section] = [_plain(r) for r in rows]
        sections["pipeline_positions"] = [
            r for r in sections["pipeline_history"] if r.get("exited_at") is None
        ]
        return sections

    # ---------------------------------------------------------------- identifiers

    async def identifiers(self, contact: dict[str, Any]) -> Identifiers:
        """The contact's identifiers, minus any another live contact still holds."""
        found: set[str] = set()
        phone = contact.get("phone")
        if phone:
            digits = "".join(ch for ch in phone if ch.isdigit())
            found |= {phone, digits, f"{digits}@c.us", f"{digits}@s.whatsapp.net"}
        if contact.get("email"):
            found.add(contact["email"])
        whatsapp_id = (contact.get("custom_fields") or {}).get("whatsapp_id")
        if isinstance(whatsapp_id, str) and whatsapp_id:
            found.add(whatsapp_id)
        for row in await self._rows(
            "SELECT DISTINCT wa_id, chat_id FROM messages "
            "WHERE tenant_id = :tenant AND contact_id = :id",
            id=uuid.UUID(contact["id"]),
        ):
            found |= {
                v for v in (row["wa_id"], row["chat_id"]) if v and "@" in v and "@g.us" not in v
            }
        shared = await self._rows(
            "SELECT phone, email FROM contacts WHERE tenant_id = :tenant AND id <> :id "
            "AND deleted_at IS NULL AND (phone = ANY(:ids) OR email = ANY(:ids))",
            id=uuid.UUID(contact["id"]),
            ids=list(found),
        )
        for row in shared:  # a merge survivor keeps its own phone and email
            for value in (row["phone"], row["email"]):
                found.discard(value)
                if value and value.startswith("+"):
                    digits = value[1:]
                    found -= {digits, f"{digits}@c.us", f"{digits}@s.whatsapp.net"}
        substrings = tuple(sorted((v for v in found if len(v) >= 5), key=len, reverse=True))
        name = contact.get("name") or ""
        names = (name,) if name and name != ANONYMIZED_NAME else ()
        return Identifiers(substrings, names)

    # ---------------------------------------------------------------- erasure

    async def erase_contact(self, contact_id: uuid.UUID) -> None:
        await self._run(
            "UPDATE contacts SET name = :anon, phone = NULL, email = NULL, tags = '{}', "
            "custom_fields = '{}'::jsonb, profile_picture_url = NULL, updated_at = now() "
            "WHERE tenant_id = :tenant AND id = :id",
            id=contact_id,
            anon=ANONYMIZED_NAME,
        )

    async def erase_messages(self, contact_id: uuid.UUID) -> int:
        # Media keep their type and size (statistics); the link and file name go.
        return await self._run(
            "UPDATE messages SET text = NULL, caption = NULL, location = NULL, vcards = '{}', "
            "participant = NULL, referral = NULL, wa_id = NULL, chat_id = NULL, "
            "media = CASE WHEN jsonb_typeof(media) IS DISTINCT FROM 'object' THEN media "
            "ELSE media - 'url' - 'filename' - 'file_name' - 'data' - 'preview' END, "
            "reactions = '[]'::jsonb "
            "WHERE tenant_id = :tenant AND contact_id = :id",
            id=contact_id,
        )

    async def erase_sessions(self, contact_id: uuid.UUID) -> None:
        await self._run(
            "UPDATE sessions SET csat_comment = NULL WHERE tenant_id = :tenant "
            "AND contact_id = :id AND csat_comment IS NOT NULL",
            id=contact_id,
        )

    async def erase_trackings(self, contact_id: uuid.UUID) -> int:
        return await self._run(
            "UPDATE trackings SET landing_url = NULL, source_url = NULL, referrer = NULL, "
            "click_id = NULL, utm_content = NULL, utm_term = NULL "
            "WHERE tenant_id = :tenant AND contact_id = :id",
            id=contact_id,
        )

    async def erase_event_payloads(self, contact_id: uuid.UUID, ids: Identifiers) -> None:
        """The person's events keep their names, ids and times; personal fields go."""
        event_ids = [
            r["id"]
            for r in await self._rows(
                "SELECT id FROM domain_events WHERE tenant_id = :tenant AND contact_id = :id",
                id=contact_id,
            )
        ]
        if not event_ids:
            return
        for table, column in (("domain_events", "data"), ("outbox_events", "event")):
            for row in await self._rows(
                f"SELECT id, {column} AS v FROM {table} "  # noqa: S608
                "WHERE tenant_id = :tenant AND id = ANY(:ids)",
                ids=event_ids,
            ):
                await self._run(
                    f"UPDATE {table} SET {column} = CAST(:v AS jsonb) "  # noqa: S608
                    "WHERE tenant_id = :tenant AND id = :id",
                    id=row["id"],
                    v=json.dumps(scrub(row["v"], ids, keys=True)),
                )
        for table in ("bus_deliveries", "dead_letters"):
            for row in await self._rows(
                f"SELECT id, body FROM {table} "  # noqa: S608
                "WHERE tenant_id = :tenant AND message_id = ANY(:ids)",
                ids=[str(i) for i in event_ids],
            ):
                await self._run(
                    f"UPDATE {table} SET body = :v WHERE tenant_id = :tenant AND id = :id",  # noqa: S608
                    id=row["id"],
                    v=_scrub_bytes(bytes(row["body"]), ids, keys=True),
                )

    async def erase_envelopes(self, ids: Identifiers) -> None:
        """Raw WAHA envelopes and pending updates from the person go entirely."""
        if not ids.substrings:
            return
        await self._run(
            "UPDATE inbound_events SET body = '{\"anonymized\": true}'::jsonb "
            "WHERE tenant_id = :tenant AND EXISTS "
            "(SELECT 1 FROM unnest(CAST(:ids AS text[])) n WHERE strpos(body::text, n) > 0)",
            ids=list(ids.substrings),
        )
        await self._run(
            "DELETE FROM pending_message_updates WHERE tenant_id = :tenant AND EXISTS "
            "(SELECT 1 FROM unnest(CAST(:ids AS text[])) n "
            "WHERE strpos(coalesce(wa_id, '') || data::text, n) > 0)",
            ids=list(ids.substrings),
        )

    async def sweep(self, ids: Identifiers) -> int:
        """Erase the identifiers from every text, array, JSON and binary column left."""
        columns = await self._rows(
            "SELECT c.table_name AS t, c.column_name AS c, c.data_type AS d "
            "FROM information_schema.columns c JOIN information_schema.columns k "
            "ON k.table_schema = c.table_schema AND k.table_name = c.table_name "
            "AND k.column_name = 'tenant_id' "
            "WHERE c.table_schema = 'public' AND c.data_type IN "
            "('text', 'character varying', 'jsonb', 'json', 'ARRAY', 'bytea') "
            "ORDER BY c.table_name, c.ordinal_position"
        )
        changed = 0
        needles = list(ids.substrings)
        names = list(ids.names)
        json_names = [json.dumps(n) for n in names]
        for col in columns:
            table, column, kind = col["t"], col["c"], col["d"]
            q = f'"{table}"', f'"{column}"'
            if kind in ("text", "character varying"):
                for needle in needles:
                    changed += await self._run(
                        f"UPDATE {q[0]} SET {q[1]} = replace({q[1]}, :n, :e) "  # noqa: S608
                        f"WHERE tenant_id = :tenant AND strpos({q[1]}, :n) > 0",
                        n=needle,
                        e=ERASED,
                    )
                if names:
                    changed += await self._run(
                        f"UPDATE {q[0]} SET {q[1]} = :e "  # noqa: S608
                        f"WHERE tenant_id = :tenant AND {q[1]} = ANY(:names)",
                        names=names,
                        e=ERASED,
                    )
                continue
            if kind == "bytea":
                match = f"position(convert_to(n, 'UTF8') in {q[1]}) > 0"
            elif kind == "ARRAY":
                match = f"strpos(array_to_string({q[1]}, chr(31)), n) > 0"
            else:
                match = f"strpos({q[1]}::text, n) > 0"
            rows = await self._rows(
                f"SELECT ctid::text AS row_id, {q[1]} AS v FROM {q[0]} "  # noqa: S608
                f"WHERE tenant_id = :tenant AND {q[1]} IS NOT NULL AND EXISTS "
                f"(SELECT 1 FROM unnest(CAST(:needles AS text[])) n WHERE {match})",
                needles=needles + (json_names if kind in ("jsonb", "json", "bytea") else names),
            )
            for row in rows:
                value = row["v"]
                if kind == "bytea":
                    new: Any = _scrub_bytes(bytes(value), ids, keys=False)
                    setter = ":v"
                elif kind == "ARRAY":
                    new = scrub(list(value), ids, keys=False)
                    setter = ":v"
                else:
                    new = json.dumps(scrub(value, ids, keys=False))
                    setter = f"CAST(:v AS {kind})"
                changed += await self._run(
                    f"UPDATE {q[0]} SET {q[1]} = {setter} "  # noqa: S608
                    "WHERE tenant_id = :tenant AND ctid = CAST(:row_id AS tid)",
                    v=new,
                    row_id=row["row_id"],
                )
        return changed

    # ---------------------------------------------------------------- retention

    async def expired_deleted_contacts(self, older_than: datetime, limit: int) -> list[uuid.UUID]:
        rows = await self._rows(
            "SELECT id FROM contacts WHERE tenant_id = :tenant AND deleted_at IS NOT NULL "
            "AND deleted_at < :before AND NOT (name = :anon AND phone IS NULL "
            "AND email IS NULL AND custom_fields = '{}'::jsonb) ORDER BY deleted_at LIMIT :limit",
            before=older_than,
            anon=ANONYMIZED_NAME,
            limit=limit,
        )
        return [r["id"] for r in rows]

    async def tenant_ids(self) -> list[uuid.UUID]:
        result = await self._tx.connection.execute(text("SELECT id FROM tenants ORDER BY id"))
        return [row.id for row in result]
