"""The local analyzer's rules: edge cases of the issue, WhatsApp spelling, negation,
intents with accents folded and tenant overrides, and when a session needs attention."""

from __future__ import annotations

import pytest

from ventros.analysis.domain import (
    Analysis,
    IntentRules,
    InvalidRules,
    Sentiment,
    SessionMood,
    words_of,
)
from ventros.analysis.handlers import ANALYZE, CONSUMERS, LLM
from ventros.analysis.local import local_analyzer

RULES = IntentRules.defaults()


def analyze(text: str | None) -> Analysis:
    return local_analyzer().analyze_one(text, RULES)


@pytest.mark.parametrize("text", ["", None, "   ", "https://loja.com.br/p/123?x=1"])
def test_no_words_is_neutral_without_a_language(text: str | None) -> None:
    found = analyze(text)
    assert (found.sentiment, found.score, found.language, found.intents) == (
        Sentiment.NEUTRAL,
        0.0,
        None,
        (),
    )


def test_only_emojis_carry_their_sentiment_without_a_language() -> None:
    assert analyze("😡😡🤬").sentiment is Sentiment.NEGATIVE
    assert analyze("😍👏🏽").sentiment is Sentiment.POSITIVE
    assert analyze("😡").language is None


def test_a_4000_character_message_is_analysed_within_bounds() -> None:
    found = analyze(("o atendimento foi péssimo e ninguém responde " * 100)[:4000])
    assert found.sentiment is Sentiment.NEGATIVE
    assert -1.0 <= found.score <= 1.0
    assert "complaint" in found.intents


@pytest.mark.parametrize(
    ("text", "language"),
    [
        ("I am really angry, this is the worst service ever and I want a refund", "en"),
        ("Hola, quiero saber cuando llega mi pedido, gracias", "es"),
        ("Bonjour, je voudrais annuler ma commande s'il vous plaît", "fr"),
    ],
)
def test_other_languages_are_neutral_with_the_detected_language(text: str, language: str) -> None:
    found = analyze(text)
    assert (found.sentiment, found.score, found.language) == (Sentiment.NEUTRAL, 0.0, language)


def test_whatsapp_spelling_and_negation() -> None:
    assert words_of("vc n respondeu pq?") == ["voce", "nao", "respondeu", "porque", "?"]
    assert analyze("gostei").sentiment is Sentiment.POSITIVE
    assert analyze("n gostei").sentiment is Sentiment.NEGATIVE
    assert analyze("nao gostei nada").sentiment is Sentiment.NEGATIVE
    assert analyze("Não é ruim").score > analyze("é ruim").score


def test_intensifiers_laughter_and_irony() -> None:
    assert analyze("mto bom").score > analyze("bom").score
    assert analyze("kkkkkk").sentiment is Sentiment.POSITIVE
    assert analyze("ótimo, mais um dia sem resposta 🙄").sentiment is Sentiment.NEGATIVE
    assert analyze("pessimooo").sentiment is Sentiment.NEGATIVE


def test_intents_fold_accents_and_case() -> None:
    assert set(analyze("QUANTO CUSTA o frete?").intents) == {"price"}
    assert "cancellation" in analyze("Quero CANCELÁR minha assinatura").intents
    assert "order_status" in analyze("cadê meu pedido??").intents
    assert analyze("Bom dia!").intents == ("greeting",)
    assert "thanks" in analyze("obg, valeu").intents


def test_tenant_overrides_replace_an_intents_keywords_and_add_new_ones() -> None:
    rules = IntentRules.with_overrides({"price": ["tabela"], "warranty": ["garantia*"]})
    found = local_analyzer().analyze_one("qual o preço? e a garantía?", rules)
    assert found.intents == ("warranty",)  # "preço" is no longer a price keyword
    with pytest.raises(InvalidRules):
        IntentRules.with_overrides({"Bad Name": ["x"]})
    with pytest.raises(InvalidRules):
        IntentRules.with_overrides({"price": ["  "]})


def _verdict(sentiment: Sentiment, *intents: str) -> Analysis:
    score = {Sentiment.NEGATIVE: -0.6, Sentiment.POSITIVE: 0.6, Sentiment.NEUTRAL: 0.0}
    return Analysis(sentiment, score[sentiment], "pt", intents)


def test_two_negatives_in_a_row_need_attention_once() -> None:
    mood = SessionMood()
    assert mood.observe(_verdict(Sentiment.NEGATIVE)) is None
    assert mood.observe(_verdict(Sentiment.NEUTRAL)) is None  # the streak breaks
    assert mood.observe(_verdict(Sentiment.NEGATIVE)) is None
    assert mood.observe(_verdict(Sentiment.NEGATIVE)) == "negative_streak"
    assert mood.observe(_verdict(Sentiment.NEGATIVE)) is None  # flagged already
    assert mood.needs_attention
    assert mood.messages == 5


def test_a_complaint_or_cancellation_needs_attention_at_once() -> None:
    assert SessionMood().observe(_verdict(Sentiment.NEUTRAL, "cancellation")) == (
        "intent:cancellation"
    )
    assert SessionMood().observe(_verdict(Sentiment.POSITIVE, "complaint")) == "intent:complaint"
    happy = SessionMood()
    for verdict in (_verdict(Sentiment.POSITIVE, "greeting"), _verdict(Sentiment.NEUTRAL)):
        assert happy.observe(verdict) is None
    assert not happy.needs_attention


def test_stickers_and_links_do_not_move_the_mood() -> None:
    mood = SessionMood()
    mood.observe(Analysis(Sentiment.NEUTRAL, 0.0, None))
    assert mood.messages == 0


def test_analysis_and_llm_consumers_have_queues_of_their_own() -> None:
    queues = {c.name: c.queue_name for c in CONSUMERS}
    assert queues == {ANALYZE: f"consumers.{ANALYZE}", LLM: f"consumers.{LLM}"}
