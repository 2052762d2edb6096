"""The tables of Analysis and their reads and writes (SQLAlchemy Core, under RLS)."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from sqlalchemy import (
    Boolean,
    Column,
    Date,
    DateTime,
    Float,
    Index,
    Integer,
    Table,
    Text,
    select,
    text,
)
from sqlalchemy.dialects.postgresql import ARRAY, JSONB, UUID, insert

from ventros.analysis.domain import Analysis, Sentiment, SessionMood
from ventros.conversations.ports import MessageVerdict
from ventros.kernel.clock import utcnow
from ventros.kernel.events import Actor
from ventros.kernel.ids import new_id
from ventros.platform.db import metadata, text_array_from_json
from ventros.platform.uow import UnitOfWork, UnitOfWorkFactory

message_analyses = Table(
    "message_analyses",
    metadata,
    Column("message_id", UUID(as_uuid=True), primary_key=True),
    Column("tenant_id", UUID(as_uuid=True), nullable=False),
    Column("session_id", UUID(as_uuid=True), nullable=False),
    Column("sentiment", Text, nullable=False),
    Column("score", Float, nullable=False),
    Column("language", Text),
    Column("intents", ARRAY(Text), nullable=False, server_default=text("'{}'::text[]")),
    Column("source", Text, nullable=False),
    Column("transcript", Text),
    Column("analyzed_at", DateTime(timezone=True), nullable=False),
    Index("ix_message_analyses_tenant_session", "tenant_id", "session_id", "analyzed_at"),
)

# The customer's mood in a session (domain.SessionMood), one row per session analysed.
session_moods = Table(
    "session_moods",
    metadata,
    Column("session_id", UUID(as_uuid=True), primary_key=True),
    Column("tenant_id", UUID(as_uuid=True), nullable=False),
    Column("messages", Integer, nullable=False),
    Column("score_sum", Float, nullable=False),
    Column("last_score", Float, nullable=False),
    Column("negative_streak", Integer, nullable=False),
    Column("needs_attention", Boolean, nullable=False),
    Column("attention_reason", Text),
    Column("attention_at", DateTime(timezone=True)),
    Column("updated_at", DateTime(timezone=True), nullable=False),
    Index(
        "ix_session_moods_attention",
        "tenant_id",
        postgresql_where=text("needs_attention"),
    ),
)

intent_rules = Table(
    "intent_rules",
    metadata,
    Column("tenant_id", UUID(as_uuid=True), primary_key=True),
    Column("rules", JSONB, nullable=False),
    Column("updated_at", DateTime(timezone=True), nullable=False),
)

llm_settings = Table(
    "llm_settings",
    metadata,
    Column("tenant_id", UUID(as_uuid=True), primary_key=True),
    Column("enabled", Boolean, nullable=False),
    Column("base_url", Text, nullable=False),
    Column("model", Text, nullable=False),
    Column("transcription_model", Text, nullable=False),
    Column("api_key", Text),  # sealed (platform.crypto.SecretBox)
    Column("daily_budget", Integer, nullable=False),
    Column("timeout_seconds", Float, nullable=False),
    Column("updated_at", DateTime(timezone=True), nullable=False),
)

llm_usage = Table(
    "llm_usage",
    metadata,
    Column("tenant_id", UUID(as_uuid=True), primary_key=True),
    Column("day", Date, primary_key=True),
    Column("requests", Integer, nullable=False),
)

session_summaries = Table(
    "session_summaries",
    metadata,
    Column("id", UUID(as_uuid=True), primary_key=True),
    Column("tenant_id", UUID(as_uuid=True), nullable=False),
    Column("session_id", UUID(as_uuid=True), nullable=False),
    Column("trigger", Text, nullable=False),  # transferred | closed
    Column("text", Text, nullable=False),  # plain text as the model wrote it; never HTML
    Column("model", Text, nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Index("ix_session_summaries_tenant_session", "tenant_id", "session_id", "created_at"),
)


# --------------------------------------------------------------------------- analyses


_SAVE_ANALYSES = text(
    "INSERT INTO message_analyses (message_id, tenant_id, session_id, sentiment, score,"  # noqa: S608 - constant SQL
    " language, intents, source, analyzed_at)"
    " SELECT r.message_id, :tenant_id, r.session_id, r.sentiment, r.score, r.language,"
    f" {text_array_from_json('r.intents')}, r.source,"
    " CAST(:now AS timestamptz)"
    " FROM unnest(CAST(:message_ids AS uuid[]), CAST(:session_ids AS uuid[]),"
    " CAST(:sentiments AS text[]), CAST(:scores AS float8[]), CAST(:languages AS text[]),"
    " CAST(:intents AS text[]), CAST(:sources AS text[]))"
    " AS r(message_id, session_id, sentiment, score, language, intents, source)"
    " ON CONFLICT (message_id) DO NOTHING RETURNING message_id"
)


async def save_analyses(
    tx: UnitOfWork, verdicts: Sequence[tuple[uuid.UUID, uuid.UUID, Analysis]]
) -> set[uuid.UUID]:
    """Stores messages' verdicts (message id, session id, analysis) in one statement; returns
    the message ids stored now (not those stored before: a redelivery)."""
    if not verdicts:
        return set()
    analyses = [analysis for _, _, analysis in verdicts]
    stored = await tx.connection.execute(
        _SAVE_ANALYSES,
        {
            "tenant_id": tx.tenant_id,
            "now": utcnow(),
            "message_ids": [message_id for message_id, _, _ in verdicts],
            "session_ids": [session_id for _, session_id, _ in verdicts],
            "sentiments": [a.sentiment.value for a in analyses],
            "scores": [a.score for a in analyses],
            "languages": [a.language for a in analyses],
            "intents": [json.dumps(list(a.intents)) for a in analyses],
            "sources": [a.source for a in analyses],
        },
    )
    return set(stored.scalars())


async def save_transcript(
    tx: UnitOfWork,
    *,
    message_id: uuid.UUID,
    session_id: uuid.UUID,
    transcript: str,
    analysis: Analysis,
) -> None:
    """A voice note's words and their verdict, on the message's analysis row (whichever
    consumer stores it first: the local one saw no text)."""
    verdict = {
        "sentiment": analysis.sentiment.value,
        "score": analysis.score,
        "language": analysis.language,
        "intents": list(analysis.intents),
        "transcript": transcript,
    }
    await tx.connection.execute(
        insert(message_analyses)
        .values(
            message_id=message_id,
            tenant_id=tx.tenant_id,
            session_id=session_id,
            source="llm",
            analyzed_at=utcnow(),
            **verdict,
        )
        .on_conflict_do_update(index_elements=["message_id"], set_=verdict)
    )


@dataclass(frozen=True)
class StoredAnalysis:
    analysis: Analysis
    transcript: str | None


def _stored(row: Any) -> StoredAnalysis:
    return StoredAnalysis(
        Analysis(
            Sentiment(row.sentiment),
            row.score,
            row.language,
            tuple(row.intents or ()),
            row.source,
        ),
        row.transcript,
    )


async def analyses_of(
    tx: UnitOfWork, message_ids: Iterable[uuid.UUID]
) -> dict[uuid.UUID, StoredAnalysis]:
    ids = list(message_ids)
    if not ids:
        return {}
    rows = await tx.connection.execute(
        select(message_analyses).where(message_analyses.c.message_id.in_(ids))
    )
    return {row.message_id: _stored(row) for row in rows}


async def analyses_for(
    uow: UnitOfWorkFactory, tenant_id: uuid.UUID, message_ids: Iterable[uuid.UUID]
) -> dict[uuid.UUID, StoredAnalysis]:
    """The verdicts of messages the message API shows (its own short read)."""
    ids = list(message_ids)
    if not ids:
        return {}
    async with uow(tenant_id, Actor.system()) as tx:
        return await analyses_of(tx, ids)


async def verdicts_for(
    uow: UnitOfWorkFactory, tenant_id: uuid.UUID, message_ids: Iterable[uuid.UUID]
) -> dict[uuid.UUID, MessageVerdict]:
    """The verdicts the message API shows (conversations' port, provided in `wire`)."""
    return {
        message_id: MessageVerdict(
            sentiment=stored.analysis.sentiment.value,
            score=stored.analysis.score,
            language=stored.analysis.language,
            intents=tuple(stored.analysis.intents),
            transcript=stored.transcript,
        )
        for message_id, stored in (await analyses_for(uow, tenant_id, message_ids)).items()
    }


async def mood_timeline(tx: UnitOfWork, session_id: uuid.UUID) -> list[Any]:
    rows = await tx.connection.execute(
        select(
            message_analyses.c.message_id,
            message_analyses.c.sentiment,
            message_analyses.c.score,
            message_analyses.c.analyzed_at,
        )
        .where(message_analyses.c.session_id == session_id)
        .order_by(message_analyses.c.analyzed_at, message_analyses.c.message_id)
        .limit(1000)
    )
    return list(rows)


# --------------------------------------------------------------------------- moods


async def moods_for_update(
    tx: UnitOfWork, session_ids: Iterable[uuid.UUID]
) -> dict[uuid.UUID, SessionMood]:
    """The sessions' moods, locked (in id order: two batches never wait on each other in a
    cycle); a session with none yet is absent."""
    ids = sorted(set(session_ids))
    if not ids:
        return {}
    rows = await tx.connection.execute(
        select(session_moods)
        .where(session_moods.c.session_id.in_(ids))
        .order_by(session_moods.c.session_id)
        .with_for_update()
    )
    return {
        row.session_id: SessionMood(
            messages=row.messages,
            score_sum=row.score_sum,
            last_score=row.last_score,
            negative_streak=row.negative_streak,
            needs_attention=row.needs_attention,
            attention_reason=row.attention_reason,
        )
        for row in rows
    }


async def get_mood(tx: UnitOfWork, session_id: uuid.UUID) -> Any:
    return (
        await tx.connection.execute(
            select(session_moods).where(session_moods.c.session_id == session_id)
        )
    ).first()


_SAVE_MOODS = text(
    "INSERT INTO session_moods (session_id, tenant_id, messages, score_sum, last_score,"
    " negative_streak, needs_attention, attention_reason, attention_at, updated_at)"
    " SELECT r.session_id, :tenant_id, r.messages, r.score_sum, r.last_score,"
    " r.negative_streak, r.needs_attention, r.attention_reason,"
    " CASE WHEN r.raised THEN CAST(:now AS timestamptz) END, CAST(:now AS timestamptz)"
    " FROM unnest(CAST(:session_ids AS uuid[]), CAST(:messages AS int[]),"
    " CAST(:score_sums AS float8[]), CAST(:last_scores AS float8[]),"
    " CAST(:negative_streaks AS int[]), CAST(:needs_attention AS bool[]),"
    " CAST(:attention_reasons AS text[]), CAST(:raised AS bool[]))"
    " AS r(session_id, messages, score_sum, last_score, negative_streak, needs_attention,"
    " attention_reason, raised)"
    " ON CONFLICT (session_id) DO UPDATE SET messages = excluded.messages,"
    " score_sum = excluded.score_sum, last_score = excluded.last_score,"
    " negative_streak = excluded.negative_streak, needs_attention = excluded.needs_attention,"
    " attention_reason = excluded.attention_reason,"
    " attention_at = coalesce(excluded.attention_at, session_moods.attention_at),"
    " updated_at = excluded.updated_at"
)


async def save_moods(
    tx: UnitOfWork, moods: Mapping[uuid.UUID, SessionMood], *, raised: set[uuid.UUID]
) -> None:
    """Writes the sessions' moods in one statement; `raised`: those flagged just now."""
    if not moods:
        return
    ids = sorted(moods)
    await tx.connection.execute(
        _SAVE_MOODS,
        {
            "tenant_id": tx.tenant_id,
            "now": utcnow(),
            "session_ids": ids,
            "messages": [moods[i].messages for i in ids],
            "score_sums": [moods[i].score_sum for i in ids],
            "last_scores": [moods[i].last_score for i in ids],
            "negative_streaks": [moods[i].negative_streak for i in ids],
            "needs_attention": [moods[i].needs_attention for i in ids],
            "attention_reasons": [moods[i].attention_reason for i in ids],
            "raised": [i in raised for i in ids],
        },
    )


# --------------------------------------------------------------------------- rules


async def intent_overrides(tx: UnitOfWork) -> dict[str, list[str]]:
    row = (
        await tx.connection.execute(
            select(intent_rules.c.rules).where(intent_rules.c.tenant_id == tx.tenant_id)
        )
    ).first()
    return dict(row.rules) if row is not None else {}


async def save_intent_overrides(tx: UnitOfWork, overrides: Mapping[str, Sequence[str]]) -> None:
    rules = {k: list(v) for k, v in overrides.items()}
    await tx.connection.execute(
        insert(intent_rules)
        .values(tenant_id=tx.tenant_id, rules=rules, updated_at=utcnow())
        .on_conflict_do_update(
            index_elements=["tenant_id"], set_={"rules": rules, "updated_at": utcnow()}
        )
    )


# --------------------------------------------------------------------------- LLM


async def get_llm_settings(tx: UnitOfWork) -> Any:
    return (
        await tx.connection.execute(
            select(llm_settings).where(llm_settings.c.tenant_id == tx.tenant_id)
        )
    ).first()


async def save_llm_settings(tx: UnitOfWork, values: Mapping[str, Any]) -> None:
    row = {**values, "updated_at": utcnow()}
    await tx.connection.execute(
        insert(llm_settings)
        .values(tenant_id=tx.tenant_id, **row)
        .on_conflict_do_update(index_elements=["tenant_id"], set_=row)
    )


async def spend_budget(tx: UnitOfWork, day: date, budget: int) -> bool:
    """Counts one request against today's budget; False (nothing counted) when spent.
    One statement, so concurrent workers never overspend."""
    counted = await tx.connection.execute(
        insert(llm_usage)
        .values(tenant_id=tx.tenant_id, day=day, requests=1)
        .on_conflict_do_update(
            index_elements=["tenant_id", "day"],
            set_={"requests": llm_usage.c.requests + 1},
            where=llm_usage.c.requests < budget,
        )
        .returning(llm_usage.c.requests)
    )
    row = counted.first()
    return row is not None and row.requests <= budget


async def save_summary(
    tx: UnitOfWork, *, session_id: uuid.UUID, trigger: str, summary: str, model: str
) -> uuid.UUID:
    summary_id = new_id()
    await tx.connection.execute(
        session_summaries.insert().values(
            id=summary_id,
            tenant_id=tx.tenant_id,
            session_id=session_id,
            trigger=trigger,
            text=summary,
            model=model,
            created_at=utcnow(),
        )
    )
    return summary_id


async def summaries_of(tx: UnitOfWork, session_id: uuid.UUID) -> list[Any]:
    rows = await tx.connection.execute(
        select(session_summaries)
        .where(session_summaries.c.session_id == session_id)
        .order_by(session_summaries.c.created_at.desc())
        .limit(20)
    )
    return list(rows)


async def session_transcript(
    tx: UnitOfWork, session_id: uuid.UUID, *, limit: int = 60
) -> list[tuple[str, str]]:
    """The session's last `limit` text messages, oldest first, as (who, text)."""
    rows = await tx.connection.execute(
        text(
            "SELECT m.direction, COALESCE(m.text, m.caption, a.transcript) AS body"
            " FROM messages m LEFT JOIN message_analyses a ON a.message_id = m.id"
            " WHERE m.session_id = :s AND COALESCE(m.text, m.caption, a.transcript) IS NOT NULL"
            " ORDER BY m.created_at DESC, m.id DESC LIMIT :n"
        ),
        {"s": session_id, "n": limit},
    )
    found = [("customer" if r.direction == "inbound" else "agent", str(r.body)) for r in rows]
    return list(reversed(found))


async def save_llm_intents(
    tx: UnitOfWork,
    *,
    message_id: uuid.UUID,
    session_id: uuid.UUID,
    local: Analysis,
    intents: Sequence[str],
) -> None:
    """The model's intents on a message whose rules matched none (whichever consumer
    stores the row first, the intents end up the model's)."""
    await tx.connection.execute(
        insert(message_analyses)
        .values(
            message_id=message_id,
            tenant_id=tx.tenant_id,
            session_id=session_id,
            sentiment=local.sentiment.value,
            score=local.score,
            language=local.language,
            intents=list(intents),
            source="llm",
            analyzed_at=utcnow(),
        )
        .on_conflict_do_update(
            index_elements=["message_id"], set_={"intents": list(intents), "source": "llm"}
        )
    )


# --------------------------------------------------------------------------- report

MOOD_GROUP_KEYS = {"agent": "agent_id::text", "channel": "channel_id::text"}
_PER_SESSION = """
WITH per_session AS (
    SELECT s.id, s.agent_id, s.channel_id, s.csat_score,
           m.messages, m.score_sum, coalesce(m.needs_attention, false) AS needs_attention,
           (SELECT count(*) FROM message_analyses a WHERE a.session_id = s.id) AS analysed,
           (SELECT count(*) FROM message_analyses a
             WHERE a.session_id = s.id AND a.sentiment = 'negative') AS negatives
      FROM sessions s LEFT JOIN session_moods m ON m.session_id = s.id
     WHERE s.started_at >= :since AND s.started_at < :until
)"""
_MOOD_FIGURES = """
    count(*) AS sessions,
    coalesce(sum(analysed), 0) AS analysed_messages,
    sum(score_sum) / NULLIF(sum(messages), 0) AS average_mood,
    sum(negatives)::float8 / NULLIF(sum(analysed), 0) AS negative_share,
    count(*) FILTER (WHERE needs_attention) AS needs_attention,
    avg(csat_score)::float8 AS csat_average,
    count(csat_score) AS csat_count
"""


_OVERALL_SQL = f"{_PER_SESSION} SELECT {_MOOD_FIGURES} FROM per_session"  # noqa: S608 - constant
_GROUPED_SQL = {
    name: f"{_PER_SESSION} SELECT {key} AS key, {_MOOD_FIGURES}"  # noqa: S608 - constant
    " FROM per_session GROUP BY 1 ORDER BY 1 NULLS LAST"
    for name, key in MOOD_GROUP_KEYS.items()
}
_CORRELATION_SQL = (
    f"{_PER_SESSION} SELECT corr(score_sum / messages, csat_score) AS r, count(*) AS n"  # noqa: S608
    " FROM per_session WHERE messages > 0 AND csat_score IS NOT NULL"
)


@dataclass(frozen=True)
class MoodFigures:
    overall: Any
    groups: list[Any]
    correlation: float | None
    correlated_sessions: int


async def mood_report(
    tx: UnitOfWork, *, since: datetime, until: datetime, group_by: str
) -> MoodFigures:
    params = {"since": since, "until": until}
    run = tx.connection.execute
    overall = (await run(text(_OVERALL_SQL), params)).one()
    groups = await run(text(_GROUPED_SQL[group_by]), params)
    corr = (await run(text(_CORRELATION_SQL), params)).one()
    enough = corr.r is not None and corr.n >= 3
    return MoodFigures(overall, list(groups), float(corr.r) if enough else None, int(corr.n))
