"""Use cases of Analysis: analyse a received message, keep the session's mood and flag it,
the tenant's intent rules and LLM settings, and the LLM's work (summaries, suggested
replies, intents the rules missed, voice-note transcripts) with the local fallbacks."""

from __future__ import annotations

import dataclasses
import json
import re
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import httpx

from ventros.analysis import events, repository
from ventros.analysis.domain import (
    ATTENTION_INTENTS,
    Analysis,
    Analyzer,
    IntentRules,
    InvalidRules,
    SessionMood,
)
from ventros.analysis.llm import LlmClient, LlmConfig, LlmFailed
from ventros.kernel.clock import utcnow
from ventros.kernel.errors import RuleViolation
from ventros.kernel.events import DomainEvent
from ventros.platform.crypto import SecretBox, SecretUnreadable
from ventros.platform.uow import UnitOfWork

MAX_AUDIO_BYTES = 16 * 1024 * 1024

# --------------------------------------------------------------------------- analysis


@dataclass(frozen=True)
class Received:
    """What the analysis needs of a `message.received` event."""

    message_id: uuid.UUID
    session_id: uuid.UUID
    contact_id: str | None
    channel_id: str | None
    inbound: bool
    type: str
    text: str | None
    media: Mapping[str, Any] | None
    traceparent: str | None = None  # the event's: what the analysis raises joins its trace

    @classmethod
    def of(cls, event: DomainEvent) -> Received:
        p = event.payload
        return cls(
            message_id=uuid.UUID(str(p.get("message_id") or event.aggregate_id)),
            session_id=uuid.UUID(str(p["session_id"])),
            contact_id=p.get("contact_id"),
            channel_id=p.get("channel_id"),
            inbound=p.get("direction", "inbound") == "inbound",
            type=str(p.get("type") or "text"),
            text=p.get("text") or p.get("caption"),
            media=p.get("media") if isinstance(p.get("media"), dict) else None,
            traceparent=event.traceparent,
        )

    def refs(self) -> dict[str, Any]:
        return {
            "message_id": str(self.message_id),
            "session_id": str(self.session_id),
            "contact_id": self.contact_id,
            "channel_id": self.channel_id,
        }

    @property
    def is_voice_note(self) -> bool:
        return self.type in ("voice", "audio") and bool(self.media and self.media.get("url"))


_INTENT_RULES = "analysis.intent_rules"


async def intent_rules(tx: UnitOfWork) -> IntentRules:
    """The tenant's intent rules, read and compiled once per transaction (the analysis
    consumer sees every inbound message of a batch in one)."""
    rules: IntentRules | None = tx.memo.get(_INTENT_RULES)
    if rules is None:
        rules = tx.memo[_INTENT_RULES] = await _read_intent_rules(tx)
    return rules


async def _read_intent_rules(tx: UnitOfWork) -> IntentRules:
    overrides = await repository.intent_overrides(tx)
    if not overrides:
        return IntentRules.defaults()
    try:
        return IntentRules.with_overrides(overrides)
    except InvalidRules:
        return IntentRules.defaults()  # stored before a rule tightened: never block analysis


async def analyze_many(tx: UnitOfWork, analyzer: Analyzer, received: Sequence[Received]) -> None:
    """Stores each inbound message's verdict, raises `message.analyzed` for each, and updates
    the sessions' moods (raising `session.needs_attention` when one turns). One statement
    per kind of row for the whole batch; a message analysed before (a redelivery) is
    skipped."""
    inbound = _inbound_once(received)
    if not inbound:
        return
    analyses = analyzer.analyze([r.text for r in inbound], await intent_rules(tx))
    verdicts = list(zip(inbound, analyses, strict=True))
    stored = await repository.save_analyses(
        tx, [(r.message_id, r.session_id, analysis) for r, analysis in verdicts]
    )
    fresh = [(r, analysis) for r, analysis in verdicts if r.message_id in stored]
    for r, analysis in fresh:
        payload = {**r.refs(), "analysis": analysis.to_json()}
        tx.add_event(
            _event(tx, events.MESSAGE_ANALYZED, "message", r.message_id, payload, r.traceparent)
        )
    await _observe_moods(tx, fresh)


def _inbound_once(received: Sequence[Received]) -> list[Received]:
    seen: set[uuid.UUID] = set()
    inbound = []
    for r in received:
        if r.inbound and r.message_id not in seen:
            seen.add(r.message_id)
            inbound.append(r)
    return inbound


async def observe_mood(tx: UnitOfWork, received: Received, analysis: Analysis) -> None:
    await _observe_moods(tx, [(received, analysis)])


async def _observe_moods(tx: UnitOfWork, verdicts: Sequence[tuple[Received, Analysis]]) -> None:
    """Each verdict counts in its session's mood, in the order given (a streak is a
    sequence); a session that turns raises `session.needs_attention`."""
    moods = await repository.moods_for_update(tx, {r.session_id for r, _ in verdicts})
    raised: set[uuid.UUID] = set()
    for r, analysis in verdicts:
        mood = moods.setdefault(r.session_id, SessionMood())
        reason = mood.observe(analysis)
        if reason is not None:
            raised.add(r.session_id)
            _raise_attention(tx, r, reason, mood.average)
    await repository.save_moods(tx, moods, raised=raised)


def _raise_attention(tx: UnitOfWork, received: Received, reason: str, mood: float) -> None:
    payload = {**received.refs(), "reason": reason, "mood": round(mood, 4)}
    tx.add_event(
        _event(
            tx,
            events.SESSION_NEEDS_ATTENTION,
            "session",
            received.session_id,
            payload,
            received.traceparent,
        )
    )


def _event(
    tx: UnitOfWork,
    name: str,
    aggregate_type: str,
    aggregate_id: uuid.UUID,
    payload: dict[str, Any],
    traceparent: str | None = None,
) -> DomainEvent:
    event = DomainEvent(
        name=name,
        tenant_id=tx.tenant_id,
        aggregate_type=aggregate_type,
        aggregate_id=aggregate_id,
        payload=payload,
    )
    return dataclasses.replace(event, traceparent=traceparent) if traceparent else event


async def set_intent_rules(tx: UnitOfWork, overrides: Mapping[str, Sequence[str]]) -> IntentRules:
    try:
        rules = IntentRules.with_overrides(overrides)
    except InvalidRules as error:
        raise RuleViolation(str(error), field="rules") from error
    await repository.save_intent_overrides(tx, overrides)
    tx.memo[_INTENT_RULES] = rules
    return rules


async def mood_of(tx: UnitOfWork, session_id: uuid.UUID) -> tuple[Any, list[Any]]:
    return await repository.get_mood(tx, session_id), await repository.mood_timeline(tx, session_id)


# --------------------------------------------------------------------------- LLM settings

DEFAULT_BUDGET = 500
DEFAULT_TIMEOUT_SECONDS = 10.0


def _key_context(tenant_id: uuid.UUID) -> str:
    return f"llm:{tenant_id}:api_key"


async def save_llm_settings(
    tx: UnitOfWork, box: SecretBox, changes: Mapping[str, Any], *, api_key: str | None
) -> Any:
    """Stores the tenant's provider settings; the key sealed, kept when not given."""
    current = await repository.get_llm_settings(tx)
    values: dict[str, Any] = {
        "enabled": False,
        "base_url": "",
        "model": "",
        "transcription_model": "whisper-1",
        "api_key": None,
        "daily_budget": DEFAULT_BUDGET,
        "timeout_seconds": DEFAULT_TIMEOUT_SECONDS,
    }
    if current is not None:
        values.update({k: getattr(current, k) for k in values})
    values.update({k: v for k, v in changes.items() if v is not None})
    if api_key is not None:
        values["api_key"] = (
            box.seal(api_key, context=_key_context(tx.tenant_id)) if api_key else None
        )
    if values["enabled"] and not (values["base_url"] and values["model"]):
        raise RuleViolation("an enabled provider needs base_url and model", field="base_url")
    await repository.save_llm_settings(tx, values)
    return await repository.get_llm_settings(tx)


_LLM_SETTINGS = "analysis.llm_settings"


async def llm_config(tx: UnitOfWork, box: SecretBox) -> LlmConfig | None:
    """The tenant's provider, or None when it has none, it is off, or its key is unreadable.
    Read once per transaction: the LLM consumer sees every inbound message of a batch in one."""
    if _LLM_SETTINGS not in tx.memo:
        tx.memo[_LLM_SETTINGS] = await repository.get_llm_settings(tx)
    row = tx.memo[_LLM_SETTINGS]
    if row is None or not row.enabled:
        return None
    try:
        key = box.open(row.api_key, context=_key_context(tx.tenant_id)) if row.api_key else None
    except SecretUnreadable:
        return None
    return LlmConfig(
        base_url=row.base_url,
        model=row.model,
        transcription_model=row.transcription_model,
        api_key=key,
        timeout_seconds=row.timeout_seconds,
        daily_budget=row.daily_budget,
    )


async def _spend(tx: UnitOfWork, client: LlmClient, config: LlmConfig, operation: str) -> None:
    if not await repository.spend_budget(tx, utcnow().date(), config.daily_budget):
        client.count(operation, "budget_exhausted")
        raise LlmFailed("budget_exhausted", f"{config.daily_budget} requests today")


# --------------------------------------------------------------------------- LLM work

SUMMARY_PROMPT = (
    "Você resume conversas de atendimento pelo WhatsApp para o próximo atendente. "
    "Escreva em português, texto simples sem HTML nem markdown, no máximo 5 linhas: "
    "o que o cliente quer, o que já foi feito, o que falta e o humor do cliente."
)
REPLY_PROMPT = (
    "Você é um atendente cordial de uma empresa brasileira no WhatsApp. Escreva a próxima "
    "resposta ao cliente, curta, em português, texto simples."
)
INTENT_PROMPT = (
    "Classifique a mensagem do cliente em uma destas intenções: {names}. Responda só com "
    'JSON: {{"intents": [...]}} (lista vazia se nenhuma).'
)


def _dialogue(lines: Sequence[tuple[str, str]]) -> str:
    return "\n".join(f"{who}: {said}" for who, said in lines)


async def summarize_session(
    tx: UnitOfWork, client: LlmClient, box: SecretBox, session_id: uuid.UUID, trigger: str
) -> str | None:
    """Asks the tenant's model for a summary and stores it as plain text; None when the
    tenant has no model, the session no text, or the model failed (counted)."""
    config = await llm_config(tx, box)
    if config is None:
        return None
    lines = await repository.session_transcript(tx, session_id)
    if not lines:
        return None
    try:
        await _spend(tx, client, config, "chat")
        summary = await client.chat(
            config,
            [
                {"role": "system", "content": SUMMARY_PROMPT},
                {"role": "user", "content": _dialogue(lines)},
            ],
        )
    except LlmFailed:
        return None
    await repository.save_summary(
        tx, session_id=session_id, trigger=trigger, summary=summary, model=config.model
    )
    tx.add_event(
        _event(
            tx,
            events.SESSION_SUMMARIZED,
            "session",
            session_id,
            {
                "session_id": str(session_id),
                "trigger": trigger,
            },
        )
    )
    return summary


LOCAL_REPLIES: Mapping[str, str] = {
    "complaint": "Sinto muito pelo transtorno. Vou verificar agora mesmo e já te retorno.",
    "cancellation": "Entendi. Posso te ajudar com o cancelamento: me confirma o número do pedido?",
    "order_status": "Vou consultar o status do seu pedido. Pode me passar o número dele?",
    "price": "Claro! Vou verificar os valores e já te passo.",
    "thanks": "Nós que agradecemos! Precisando, é só chamar.",
    "greeting": "Olá! Como posso te ajudar?",
}
LOCAL_DEFAULT_REPLY = "Obrigado pela mensagem! Vou verificar e já te respondo."


@dataclass(frozen=True)
class Suggestion:
    text: str
    source: str  # llm | local
    note: str | None = None  # why the local one, when the model was not used


async def suggest_reply(
    tx: UnitOfWork, client: LlmClient, box: SecretBox, session_id: uuid.UUID
) -> Suggestion:
    lines = await repository.session_transcript(tx, session_id, limit=30)
    config = await llm_config(tx, box)
    note = "no LLM configured for this tenant"
    if config is not None and lines:
        try:
            await _spend(tx, client, config, "chat")
            text = await client.chat(
                config,
                [
                    {"role": "system", "content": REPLY_PROMPT},
                    {"role": "user", "content": _dialogue(lines)},
                ],
            )
            return Suggestion(text, "llm")
        except LlmFailed as failure:
            note = f"LLM unavailable ({failure.outcome}): a local suggestion instead"
    return Suggestion(await _local_reply(tx, session_id), "local", note)


async def _local_reply(tx: UnitOfWork, session_id: uuid.UUID) -> str:
    timeline = await repository.mood_timeline(tx, session_id)
    analyses = await repository.analyses_of(tx, [row.message_id for row in timeline[-1:]])
    for stored in analyses.values():
        for intent in ("complaint", "cancellation", "order_status", "price", "thanks", "greeting"):
            if intent in stored.analysis.intents:
                return LOCAL_REPLIES[intent]
    return LOCAL_DEFAULT_REPLY


_JSON_OBJECT = re.compile(r"\{.*\}", re.DOTALL)


async def classify_intents(
    tx: UnitOfWork,
    client: LlmClient,
    config: LlmConfig,
    analyzer: Analyzer,
    received: Received,
) -> tuple[str, ...]:
    """When the tenant's rules find no intent, the model's pick among the rules' intents
    (only names the rules know are kept). Stored with source `llm`; a complaint or
    cancellation flags the session."""
    if not received.inbound or not received.text:
        return ()
    rules = await intent_rules(tx)
    [local] = analyzer.analyze([received.text], rules)
    if local.intents or local.language is None:
        return ()
    await _spend(tx, client, config, "chat")
    answer = await client.chat(
        config,
        [
            {"role": "system", "content": INTENT_PROMPT.format(names=", ".join(rules.keywords))},
            {"role": "user", "content": received.text[:2000]},
        ],
    )
    intents = _intents_in(answer, set(rules.keywords))
    if not intents:
        return ()
    await repository.save_llm_intents(
        tx,
        message_id=received.message_id,
        session_id=received.session_id,
        local=local,
        intents=intents,
    )
    if ATTENTION_INTENTS.intersection(intents):
        moods = await repository.moods_for_update(tx, [received.session_id])
        mood = moods.setdefault(received.session_id, SessionMood())
        if not mood.needs_attention:
            mood.needs_attention, mood.attention_reason = True, f"intent:{intents[0]}"
            await repository.save_moods(tx, moods, raised={received.session_id})
            _raise_attention(tx, received, mood.attention_reason, mood.average)
    return intents


def _intents_in(answer: str, known: set[str]) -> tuple[str, ...]:
    found = _JSON_OBJECT.search(answer)
    if found is None:
        return ()
    try:
        value = json.loads(found.group(0)).get("intents")
    except (ValueError, AttributeError):
        return ()
    if not isinstance(value, list):
        return ()
    return tuple(dict.fromkeys(str(v) for v in value if str(v) in known))


async def transcribe_voice_note(
    tx: UnitOfWork, client: LlmClient, config: LlmConfig, analyzer: Analyzer, received: Received
) -> str | None:
    """Fetches the voice note, stores the model's transcript on the message, and analyses
    the words like a text message (verdict, mood, attention)."""
    media = received.media or {}
    url = str(media.get("url"))
    try:
        response = await client.http.get(url, timeout=config.timeout_seconds)
        response.raise_for_status()
    except httpx.HTTPError as error:
        client.count("transcription", "media_unavailable")
        raise LlmFailed("media_unavailable", type(error).__name__) from error
    if len(response.content) > MAX_AUDIO_BYTES:
        client.count("transcription", "media_too_large")
        raise LlmFailed("media_too_large")
    await _spend(tx, client, config, "transcription")
    transcript = await client.transcribe(
        config,
        response.content,
        filename=str(media.get("filename") or "voice.ogg"),
        mimetype=str(media.get("mimetype") or "audio/ogg"),
    )
    [analysis] = analyzer.analyze([transcript], await intent_rules(tx))
    await repository.save_transcript(
        tx,
        message_id=received.message_id,
        session_id=received.session_id,
        transcript=transcript,
        analysis=analysis,
    )
    await observe_mood(tx, received, analysis)
    tx.add_event(
        _event(
            tx,
            events.MESSAGE_TRANSCRIBED,
            "message",
            received.message_id,
            {
                **received.refs(),
                "transcript": transcript,
            },
        )
    )
    return transcript


async def summaries(tx: UnitOfWork, session_id: uuid.UUID) -> list[Any]:
    return await repository.summaries_of(tx, session_id)
