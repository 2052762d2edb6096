"""HTTP routes of Analysis: intent rules and the LLM provider (tenant settings), a
session's mood, summaries and a suggested reply, and the mood report."""

from __future__ import annotations

import uuid
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends
from sqlalchemy import text

from ventros.analysis import repository, service
from ventros.analysis.domain import DEFAULT_INTENT_RULES
from ventros.analysis.llm import LlmClient
from ventros.analysis.schemas import (
    IntentRulesRead,
    IntentRulesWrite,
    LlmSettingsRead,
    LlmSettingsWrite,
    MoodGroup,
    MoodPoint,
    MoodReport,
    SessionMoodRead,
    SuggestedReply,
    SummaryRead,
)
from ventros.api.deps import ContainerDep, Uow, authorized
from ventros.api.time_range import Since, Until, date_range
from ventros.identity.domain import Principal
from ventros.identity.permissions import Permission
from ventros.kernel.errors import NotFound
from ventros.kernel.events import Actor
from ventros.platform.crypto import SecretBox
from ventros.platform.uow import UnitOfWork, UnitOfWorkFactory
from ventros.webhooks import ssrf

router = APIRouter(tags=["analysis"])

SettingsReader = Annotated[Principal, Depends(authorized(Permission.SETTINGS_READ))]
SettingsManager = Annotated[Principal, Depends(authorized(Permission.SETTINGS_MANAGE))]
SessionReader = Annotated[Principal, Depends(authorized(Permission.SESSIONS_READ))]
MessageSender = Annotated[Principal, Depends(authorized(Permission.MESSAGES_SEND))]
ReportReader = Annotated[Principal, Depends(authorized(Permission.REPORTS_READ))]


def _open(uow: UnitOfWorkFactory, principal: Principal) -> UnitOfWork:
    return uow(principal.tenant_id, Actor.user(principal.user_id))


def _box(container: ContainerDep) -> SecretBox:
    return container.secret_box


def _llm_client(container: ContainerDep) -> LlmClient:
    """One client per container (kept-alive connections, one breaker per endpoint)."""
    client = getattr(container, "llm_client", None)
    if not isinstance(client, LlmClient):
        client = LlmClient(metrics=container.metrics)
        container.llm_client = client  # type: ignore[attr-defined]
    return client


async def _session_exists(tx: UnitOfWork, session_id: uuid.UUID) -> None:
    found = await tx.connection.execute(
        text("SELECT 1 FROM sessions WHERE id = :id"), {"id": session_id}
    )
    if found.first() is None:
        raise NotFound("session not found")


# --------------------------------------------------------------------------- settings


def _rules_read(overrides: dict[str, list[str]]) -> IntentRulesRead:
    effective = {k: list(v) for k, v in DEFAULT_INTENT_RULES.items()}
    effective.update(overrides)
    return IntentRulesRead(overrides=overrides, effective=effective)


@router.get("/analysis/intent-rules", response_model=IntentRulesRead)
async def get_intent_rules(principal: SettingsReader, uow: Uow) -> IntentRulesRead:
    """The tenant's intent keywords: its overrides and the rules in effect."""
    async with _open(uow, principal) as tx:
        return _rules_read(await repository.intent_overrides(tx))


@router.put("/analysis/intent-rules", response_model=IntentRulesRead)
async def put_intent_rules(
    body: IntentRulesWrite, principal: SettingsManager, uow: Uow
) -> IntentRulesRead:
    """Replaces the tenant's overrides (built-in intents keep their defaults unless named)."""
    async with _open(uow, principal) as tx:
        await service.set_intent_rules(tx, body.rules)
        await tx.commit()
    return _rules_read(body.rules)


_OFF: dict[str, Any] = {
    "enabled": False,
    "base_url": "",
    "model": "",
    "transcription_model": "whisper-1",
    "api_key": None,
    "daily_budget": service.DEFAULT_BUDGET,
    "timeout_seconds": service.DEFAULT_TIMEOUT_SECONDS,
}


class _Off:
    def __getattr__(self, name: str) -> Any:
        return _OFF[name]


@router.get("/analysis/llm", response_model=LlmSettingsRead)
async def get_llm_settings(principal: SettingsReader, uow: Uow) -> LlmSettingsRead:
    """The tenant's LLM provider (off by default); the key is never returned."""
    async with _open(uow, principal) as tx:
        row = await repository.get_llm_settings(tx)
    return LlmSettingsRead.of(row if row is not None else _Off())


@router.put("/analysis/llm", response_model=LlmSettingsRead)
async def put_llm_settings(
    body: LlmSettingsWrite, principal: SettingsManager, uow: Uow, container: ContainerDep
) -> LlmSettingsRead:
    """Sets the tenant's OpenAI-compatible provider: URL, model, key (sealed), daily
    request budget, timeout. Fields left out keep their value."""
    changes = body.model_dump(exclude={"api_key"}, exclude_none=True)
    if "base_url" in changes:
        changes["base_url"] = str(body.base_url).rstrip("/")
        # The worker posts conversations there: not to this network's own services.
        await ssrf.ensure_allowed(
            changes["base_url"], allow_private=container.settings.llm_allow_private
        )
    async with _open(uow, principal) as tx:
        row = await service.save_llm_settings(tx, _box(container), changes, api_key=body.api_key)
        await tx.commit()
    return LlmSettingsRead.of(row)


# --------------------------------------------------------------------------- sessions


@router.get("/sessions/{session_id}/mood", response_model=SessionMoodRead)
async def get_session_mood(
    session_id: uuid.UUID, principal: SessionReader, uow: Uow
) -> SessionMoodRead:
    """The customer's mood over the session: each analysed message's score, the average,
    and whether (and why) the session needs attention."""
    async with _open(uow, principal) as tx:
        await _session_exists(tx, session_id)
        mood, timeline = await service.mood_of(tx, session_id)
    return SessionMoodRead(
        session_id=session_id,
        messages=mood.messages if mood else 0,
        average=round(mood.score_sum / mood.messages, 4) if mood and mood.messages else 0.0,
        last_score=mood.last_score if mood else None,
        needs_attention=bool(mood and mood.needs_attention),
        attention_reason=mood.attention_reason if mood else None,
        attention_at=mood.attention_at if mood else None,
        timeline=[
            MoodPoint(
                message_id=r.message_id, sentiment=r.sentiment, score=r.score, at=r.analyzed_at
            )
            for r in timeline
        ],
    )


@router.get("/sessions/{session_id}/summaries", response_model=list[SummaryRead])
async def get_session_summaries(
    session_id: uuid.UUID, principal: SessionReader, uow: Uow
) -> list[SummaryRead]:
    """Summaries the tenant's LLM wrote on transfer and close, newest first."""
    async with _open(uow, principal) as tx:
        await _session_exists(tx, session_id)
        rows = await service.summaries(tx, session_id)
    return [
        SummaryRead(
            id=r.id,
            session_id=r.session_id,
            trigger=r.trigger,
            text=r.text,
            model=r.model,
            created_at=r.created_at,
        )
        for r in rows
    ]


@router.post("/sessions/{session_id}/suggested-reply", response_model=SuggestedReply)
async def suggested_reply(
    session_id: uuid.UUID, principal: MessageSender, uow: Uow, container: ContainerDep
) -> SuggestedReply:
    """A reply the agent can accept or edit: the tenant's LLM's, or a local one by the
    customer's last intent (then `note` says why)."""
    async with _open(uow, principal) as tx:
        await _session_exists(tx, session_id)
        found = await service.suggest_reply(tx, _llm_client(container), _box(container), session_id)
        await tx.commit()  # the budget spent
    return SuggestedReply(text=found.text, source=found.source, note=found.note)


# --------------------------------------------------------------------------- report


def _group(row: Any) -> MoodGroup:
    return MoodGroup(
        key=getattr(row, "key", None),
        sessions=int(row.sessions),
        analysed_messages=int(row.analysed_messages),
        average_mood=float(row.average_mood) if row.average_mood is not None else None,
        negative_share=float(row.negative_share) if row.negative_share is not None else None,
        needs_attention=int(row.needs_attention),
        csat_average=row.csat_average,
        csat_count=int(row.csat_count),
    )


@router.get("/reports/mood", response_model=MoodReport)
async def mood_report(
    principal: ReportReader,
    uow: Uow,
    from_: Since = None,
    to: Until = None,
    group_by: Literal["agent", "channel"] = "agent",
) -> MoodReport:
    """The service report's mood side: customers' average mood, share of negative
    messages and sessions that needed attention per agent or channel, beside CSAT, and
    how mood and CSAT go together (sessions started in [from, to))."""
    since, until = date_range(from_, to)
    async with _open(uow, principal) as tx:
        found = await repository.mood_report(tx, since=since, until=until, group_by=group_by)
    return MoodReport(
        since=since,
        until=until,
        group_by=group_by,
        groups=[_group(r) for r in found.groups],
        overall=_group(found.overall),
        mood_csat_correlation=found.correlation,
        mood_csat_sessions=found.correlated_sessions,
    )
