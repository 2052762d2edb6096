"""What a customer's message says, in pure rules: sentiment from a lexicon (LeIA's, loaded
by `local.py`), WhatsApp spelling, negation and intensifiers, a cheap language check, intents
by keyword rules with accents folded, and the customer's mood over a session.

Nothing here does I/O: the lexicon arrives as dictionaries, so the rules are tested and
benchmarked without a database or a model.
"""

from __future__ import annotations

import math
import re
import unicodedata
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Protocol

# --------------------------------------------------------------------------- results


class Sentiment(StrEnum):
    POSITIVE = "positive"
    NEUTRAL = "neutral"
    NEGATIVE = "negative"


@dataclass(frozen=True)
class Analysis:
    """The verdict on one message. `language` is an ISO 639-1 code, None when the text has
    no words (empty, only emojis, only a link). `source` says who decided: `local`, or
    `llm` when the tenant's model classified the intent."""

    sentiment: Sentiment
    score: float  # -1 (very negative) .. 1 (very positive)
    language: str | None
    intents: tuple[str, ...] = ()
    source: str = "local"

    def to_json(self) -> dict[str, object]:
        return {
            "sentiment": self.sentiment.value,
            "score": round(self.score, 4),
            "language": self.language,
            "intents": list(self.intents),
            "source": self.source,
        }


class Analyzer(Protocol):
    """The port: a batch of texts in, one verdict per text out, in order."""

    def analyze(self, texts: Sequence[str | None], rules: IntentRules) -> list[Analysis]: ...


# --------------------------------------------------------------------------- text


URL = re.compile(r"(?:https?://|www\.)\S+", re.IGNORECASE)
# Words (letters, digits, apostrophes) or single non-space, non-word symbols (emojis).
TOKEN = re.compile(r"[^\W_]+(?:'[^\W_]+)?|[^\w\s]", re.UNICODE)
LAUGHTER = re.compile(r"^(?:k{3,}|(?:ha){2,}h?|(?:he){2,}|(?:rs){2,}|(?:hue){2,}|kk)$")
SKIN_TONES_AND_JOINERS = re.compile("[\U0001f3fb-\U0001f3ff\ufe0f\u200d]")


def fold(text: str) -> str:
    """Lower case without accents: "Não É" -> "nao e" (customers type either)."""
    decomposed = unicodedata.normalize("NFKD", text.lower())
    return "".join(c for c in decomposed if not unicodedata.combining(c))


# Chat spelling -> the word the lexicon knows.
WHATSAPP_SPELLING: Mapping[str, str] = {
    "n": "nao",
    "ñ": "nao",
    "naum": "nao",
    "nn": "nao",
    "vc": "voce",
    "vcs": "voces",
    "mto": "muito",
    "mt": "muito",
    "mta": "muita",
    "mtos": "muitos",
    "pq": "porque",
    "q": "que",
    "tb": "tambem",
    "tbm": "tambem",
    "blz": "beleza",
    "obg": "obrigado",
    "obgd": "obrigado",
    "obrigadu": "obrigado",
    "brigado": "obrigado",
    "brigada": "obrigada",
    "vlw": "valeu",
    "pfv": "por favor",
    "pfvr": "por favor",
    "pf": "por favor",
    "plmds": "pelo amor de deus",
    "pqp": "puta que pariu",
    "msm": "mesmo",
    "nd": "nada",
    "td": "tudo",
    "tds": "todos",
    "kd": "cade",
    "hj": "hoje",
    "qdo": "quando",
    "qnd": "quando",
    "qto": "quanto",
    "qt": "quanto",
    "cmg": "comigo",
    "ctz": "certeza",
    "dps": "depois",
    "agr": "agora",
    "sdd": "saudade",
    "fds": "fim de semana",
    "vdd": "verdade",
    "mds": "meu deus",
    "eh": "e",
    "ta": "esta",
    "tô": "estou",
    "pra": "para",
    "pro": "para o",
    "tmj": "tamo junto",
    "top": "top",
    "nunk": "nunca",
    "ngm": "ninguem",
    "sla": "sei la",
    "aff": "aff",
}

NEGATIONS = frozenset(
    {"nao", "nunca", "jamais", "nem", "nenhum", "nenhuma", "ninguem", "nada", "sem", "not", "never"}
)
# VADER's boosts: how much an intensifier before a word moves its valence.
BOOST = 0.293
INTENSIFIERS = frozenset(
    {
        "muito",
        "muita",
        "super",
        "demais",
        "extremamente",
        "bem",
        "tao",
        "mega",
        "hiper",
        "totalmente",
        "completamente",
        "absolutamente",
        "bastante",
        "realmente",
        "mais",
        "very",
        "really",
    }
)
DAMPENERS = frozenset({"pouco", "meio", "quase", "levemente", "um pouco", "kinda"})
CONTRASTS = frozenset({"mas", "porem", "entretanto", "contudo", "but", "todavia"})

# Customer service words the general lexicon misses or scores the other way ("chegou" is
# neutral to LeIA, "ainda nao chegou" is a complaint here). Scored like LeIA (-4..4).
SERVICE_LEXICON: Mapping[str, float] = {
    "absurdo": -3.0,
    "pessimo": -3.2,
    "horrivel": -3.0,
    "ridiculo": -2.8,
    "palhacada": -2.8,
    "descaso": -2.8,
    "vergonha": -2.5,
    "lixo": -3.0,
    "golpe": -3.0,
    "enganacao": -2.8,
    "procon": -2.5,
    "reclameaqui": -2.5,
    "reclamacao": -2.0,
    "reclamar": -1.8,
    "atrasado": -2.0,
    "atrasada": -2.0,
    "atraso": -2.0,
    "demora": -1.8,
    "demorando": -1.8,
    "demorou": -1.6,
    "defeito": -2.2,
    "quebrado": -2.2,
    "quebrada": -2.2,
    "estragado": -2.2,
    "errado": -1.8,
    "errada": -1.8,
    "cancelar": -1.2,
    "reembolso": -1.2,
    "estorno": -1.2,
    "decepcionado": -2.5,
    "decepcionada": -2.5,
    "decepcao": -2.5,
    "insatisfeito": -2.5,
    "insatisfeita": -2.5,
    "cansado": -1.5,
    "cansada": -1.5,
    "aff": -1.5,
    "afff": -1.5,
    "sumiu": -1.5,
    "ninguem": -0.8,
    "enrolando": -2.2,
    "enrolacao": -2.2,
    "top": 2.5,
    "show": 2.3,
    "perfeito": 3.0,
    "perfeita": 3.0,
    "otimo": 3.0,
    "otima": 3.0,
    "excelente": 3.2,
    "maravilhoso": 3.2,
    "maravilhosa": 3.2,
    "amei": 3.0,
    "adorei": 3.0,
    "resolvido": 2.0,
    "resolveu": 2.0,
    "rapido": 1.5,
    "rapida": 1.5,
    "obrigado": 1.8,
    "obrigada": 1.8,
    "valeu": 1.8,
    "agradeco": 1.8,
    "parabens": 2.5,
    "beleza": 1.2,
    "legal": 1.8,
    "massa": 2.0,
    "sensacional": 3.0,
    "recomendo": 2.5,
    "satisfeito": 2.2,
    "satisfeita": 2.2,
    "funcionou": 1.8,
    "chegou": 0.6,
    "chateado": -2.0,
    "chateada": -2.0,
    "irritado": -2.2,
    "irritada": -2.2,
    "puto": -2.5,
    "puta": -2.0,
    "raiva": -2.5,
    "ok": 0.0,
    "okay": 0.0,
    "good": 1.9,
    "great": 3.1,
    "awesome": 3.1,
    "thanks": 1.9,
    "thank": 1.5,
    "love": 3.2,
    "nice": 1.8,
    "best": 3.2,
    "bad": -2.5,
    "terrible": -2.1,
    "worst": -3.1,
    "hate": -2.7,
    "sucks": -2.0,
    "awful": -2.0,
    "broken": -2.0,
    "late": -1.2,
}

# Two-word phrases scored as one: what customer service hears ("não chegou", "sem
# resposta") and greetings that are polite, not praise ("bom dia").
SERVICE_PHRASES: Mapping[tuple[str, str], float] = {
    ("nao", "chegou"): -1.8,
    ("nao", "recebi"): -1.8,
    ("nao", "veio"): -1.6,
    ("nao", "funciona"): -2.2,
    ("nao", "funcionou"): -2.2,
    ("nao", "resolveu"): -2.0,
    ("nao", "resolveram"): -2.0,
    ("nao", "responde"): -1.8,
    ("nao", "respondem"): -1.8,
    ("sem", "resposta"): -1.8,
    ("sem", "retorno"): -1.8,
    ("ainda", "nao"): -0.8,
    ("nunca", "mais"): -2.0,
    ("ate", "agora"): -0.6,
    ("bom", "dia"): 0.0,
    ("boa", "tarde"): 0.0,
    ("boa", "noite"): 0.0,
    ("tudo", "bem"): 0.0,
    ("por", "favor"): 0.0,
    ("de", "nada"): 0.0,
}

# Emojis WhatsApp customers use most, scored directly (LeIA scores emojis through their
# Portuguese descriptions, which misreads several: 😂 is laughter, 🙏 is a plea).
EMOJI_LEXICON: Mapping[str, float] = {
    "😡": -3.0,
    "🤬": -3.5,
    "😠": -2.8,
    "😤": -2.2,
    "😭": -2.5,
    "😢": -2.2,
    "😞": -2.2,
    "😔": -1.8,
    "😒": -1.8,
    "🙄": -1.8,
    "😩": -2.0,
    "😫": -2.0,
    "👎": -2.5,
    "💩": -2.5,
    "🤡": -2.0,
    "😑": -1.0,
    "😐": -0.5,
    "🤦": -1.8,
    "😕": -1.2,
    "☹": -2.0,
    "🙁": -1.8,
    "😀": 2.0,
    "😁": 2.2,
    "😃": 2.2,
    "😄": 2.2,
    "😊": 2.2,
    "🙂": 1.2,
    "😍": 3.0,
    "🥰": 3.0,
    "😘": 2.5,
    "❤": 2.8,
    "💙": 2.5,
    "💚": 2.5,
    "💜": 2.5,
    "👍": 2.0,
    "👏": 2.2,
    "🙌": 2.2,
    "🎉": 2.5,
    "🥳": 2.5,
    "✅": 1.2,
    "😂": 1.5,
    "🤣": 1.5,
    "😅": 0.5,
    "🙏": 0.8,
    "💪": 1.5,
    "🤩": 3.0,
    "😎": 1.8,
    "🥲": -0.5,
    "🫶": 2.5,
    "✨": 1.2,
}
LAUGHTER_VALENCE = 1.5
IRONY_MARKERS = frozenset({"🙄", "🙃", "😒", "¬¬"})


def normalize(total: float, alpha: float = 15.0) -> float:
    """VADER's squash of a sum of valences into -1..1."""
    return total / math.sqrt(total * total + alpha)


# --------------------------------------------------------------------------- language

# Frequent words that mark a language in short chat messages: a message with more
# Portuguese markers than any other's is Portuguese without asking the detector.
PORTUGUESE_MARKERS = frozenset(
    (
        "nao voce que meu minha pedido quero preciso esta estou tudo bem obrigado obrigada oi ola "
        "para por favor com um uma uns umas de do da dos das no na nos nas ao aos e eu ele ela "
        "isso esse essa ainda ja agora hoje ontem amanha quando onde como porque muito pouco "
        "tambem entrega chegou chega produto compra valor preco boleto pix cartao dinheiro "
        "atendimento moca moco senhor senhora gente entao sim mais menos vai vou foi fui tem "
        "tenho sao ser seria pode posso consigo sei nada nunca ninguem mesmo cade beleza valeu "
        "bom boa dia tarde noite cancelar quanto custa frete troca"
    ).split()
)
ENGLISH_MARKERS = frozenset(
    (
        "the is are was my i you your me we it this that please thanks thank hello hi hey "
        "order where what when how can could would not don't doesn't have has do does with "
        "and or of to in on for from yes no good bad want need help price delivery"
    ).split()
)
SPANISH_MARKERS = frozenset(
    (
        "el la los las es estoy quiero necesito gracias hola pero usted ustedes mi tu su "
        "donde cuando como porque muy pedido precio y o de en por para con sin ya todavia "
        "buenos buenas dias tardes noches ayuda"
    ).split()
)

LanguageDetector = Callable[[str], str | None]


def marked_language(words: Sequence[str]) -> str | None:
    """The language whose frequent words a message uses most (the cheap check before a
    statistical detector); ties go to Portuguese, whose customers write mixed "pt/en";
    None when undecided."""
    pt = sum(w in PORTUGUESE_MARKERS for w in words)
    en = sum(w in ENGLISH_MARKERS for w in words)
    es = sum(w in SPANISH_MARKERS for w in words)
    if pt and pt >= en and pt >= es:
        return "pt"
    if en >= 2 and en > pt and en > es:
        return "en"
    if es >= 2 and es > pt and es > en:
        return "es"
    return None


# --------------------------------------------------------------------------- intents

# Intent -> keywords, folded. A keyword ending in "*" matches any word it starts.
DEFAULT_INTENT_RULES: Mapping[str, tuple[str, ...]] = {
    "price": (
        "preco*",
        "valor",
        "valores",
        "quanto custa",
        "quanto e",
        "quanto fica",
        "quanto sai",
        "quanto esta",
        "orcamento",
        "desconto*",
        "frete",
        "parcel*",
        "promocao",
        "price",
        "how much",
    ),
    "complaint": (
        "reclama*",
        "absurdo",
        "pessimo",
        "pessima",
        "horrivel",
        "procon",
        "reclame aqui",
        "descaso",
        "vergonha",
        "palhacada",
        "ridiculo",
        "lixo",
        "golpe",
        "nunca mais",
        "decepcion*",
        "insatisfeit*",
        "defeito*",
        "quebrad*",
        "nao funciona",
        "ninguem responde",
        "ninguem me responde",
        "falta de respeito",
        "enrola*",
        "complaint",
        "worst",
    ),
    "cancellation": (
        "cancel*",
        "desist*",
        "estorno",
        "estornar",
        "reembolso",
        "devolver o dinheiro",
        "devolucao",
        "quero meu dinheiro",
        "encerrar",
        "cancel",
        "refund",
    ),
    "order_status": (
        "meu pedido",
        "o pedido",
        "pedido",
        "rastreio",
        "rastre*",
        "codigo de rastreio",
        "entrega",
        "chegou",
        "chega",
        "vai chegar",
        "enviado",
        "enviaram",
        "despach*",
        "prazo",
        "transportadora",
        "encomenda",
        "cade",
        "onde esta",
        "my order",
        "tracking",
    ),
    "greeting": (
        "oi",
        "oie",
        "ola",
        "bom dia",
        "boa tarde",
        "boa noite",
        "opa",
        "e ai",
        "eai",
        "salve",
        "hello",
        "hi",
        "hey",
    ),
    "thanks": (
        "obrigad*",
        "valeu",
        "agradec*",
        "grato",
        "grata",
        "thanks",
        "thank you",
        "muito obrigado",
    ),
}
MAX_INTENTS = 20
MAX_KEYWORDS = 200
MAX_KEYWORD_LENGTH = 80
INTENT_NAME = re.compile(r"^[a-z][a-z0-9_]{0,39}$")


class InvalidRules(ValueError):
    """Intent rules a tenant sent that cannot be used."""


@dataclass(frozen=True)
class IntentRules:
    """Keyword rules, folded and compiled once per set. A tenant's overrides replace the
    built-in keywords of the intents they name and may add intents of their own."""

    keywords: Mapping[str, tuple[str, ...]]
    _patterns: dict[str, re.Pattern[str]] = field(default_factory=dict, compare=False, repr=False)

    def __post_init__(self) -> None:
        for intent, words in self.keywords.items():
            alternatives = [_keyword_pattern(w) for w in words if fold(w).strip(" *")]
            if alternatives:
                self._patterns[intent] = re.compile(r"\b(?:" + "|".join(alternatives) + ")")

    @classmethod
    def defaults(cls) -> IntentRules:
        return _DEFAULT_RULES

    @classmethod
    def with_overrides(cls, overrides: Mapping[str, Sequence[str]]) -> IntentRules:
        validate_overrides(overrides)
        merged = dict(DEFAULT_INTENT_RULES)
        merged.update({k: tuple(v) for k, v in overrides.items()})
        return cls(merged)

    def match(self, folded_text: str) -> tuple[str, ...]:
        return tuple(i for i, p in self._patterns.items() if p.search(folded_text))


def _keyword_pattern(keyword: str) -> str:
    folded = fold(keyword).strip()
    prefix = folded.endswith("*")
    words = folded.rstrip("*").split()
    body = r"\s+".join(re.escape(w) for w in words)
    return body + (r"\w*" if prefix else r"\b")


def validate_overrides(overrides: Mapping[str, Sequence[str]]) -> None:
    if len(overrides) > MAX_INTENTS:
        raise InvalidRules(f"at most {MAX_INTENTS} intents")
    for intent, words in overrides.items():
        if not INTENT_NAME.match(intent):
            raise InvalidRules(f"intent {intent!r}: lower-case letters, digits and _")
        if len(words) > MAX_KEYWORDS:
            raise InvalidRules(f"intent {intent!r}: at most {MAX_KEYWORDS} keywords")
        for word in words:
            if not fold(word).strip(" *") or len(word) > MAX_KEYWORD_LENGTH:
                raise InvalidRules(f"intent {intent!r}: empty or too long keyword")


_DEFAULT_RULES = IntentRules(DEFAULT_INTENT_RULES)


# --------------------------------------------------------------------------- sentiment


@dataclass(frozen=True)
class Lexicon:
    """Valences by folded word or emoji (LeIA's lexicon plus the overlays above)."""

    words: Mapping[str, float]

    @classmethod
    def build(cls, *layers: Mapping[str, float]) -> Lexicon:
        merged: dict[str, float] = {}
        for layer in layers:
            for key, valence in layer.items():
                merged[fold(key) if key[:1].isalnum() else key] = valence
        return cls(merged)


NEUTRAL_BAND = 0.2  # |score| below this is neutral: short polite messages are not praise
SHORT_MESSAGE_WORDS = 3
MAX_TOKENS = 600  # a 4,000-character message is scored on its first 600 tokens


@dataclass(frozen=True)
class LocalAnalyzer:
    """Sentiment from the lexicon with WhatsApp spelling, negation, intensifiers, contrast
    ("mas") and emojis; language by markers, then `detect_language` when undecided; intents
    by the tenant's rules. Text in another language is neutral, with its language."""

    lexicon: Lexicon
    detect_language: LanguageDetector | None = None

    def analyze(self, texts: Sequence[str | None], rules: IntentRules) -> list[Analysis]:
        return [self.analyze_one(t, rules) for t in texts]

    def analyze_one(self, text: str | None, rules: IntentRules) -> Analysis:
        plain = URL.sub(" ", text or "")
        tokens = words_of(plain)
        words = [t for t in tokens if t[0].isalnum()]
        language = self._language(plain, words)
        folded = " ".join(tokens)
        intents = rules.match(folded) if words else ()
        if language not in (None, "pt"):
            return Analysis(Sentiment.NEUTRAL, 0.0, language, intents)
        score = self.score(tokens, exclamations=plain.count("!"))
        return Analysis(verdict(score), score, language, intents)

    def _language(self, plain: str, words: Sequence[str]) -> str | None:
        if not words:
            return None
        found = marked_language(words)
        if found is not None:
            return found
        known = any(w in self.lexicon.words for w in words)
        if known and len(words) <= SHORT_MESSAGE_WORDS:
            return "pt"  # "gostei", "péssimo": too short for a statistical detector
        if self.detect_language is not None:
            found = self.detect_language(plain)
        return "pt" if found is None and known else found

    def score(self, tokens: Sequence[str], *, exclamations: int = 0) -> float:
        valences = [self._valence(tokens, i, token) for i, token in enumerate(tokens)]
        for i in range(1, len(tokens)):
            phrase = SERVICE_PHRASES.get((tokens[i - 1], tokens[i]))
            if phrase is not None:
                valences[i - 1 : i + 1] = [0.0, phrase]
        if any(t in IRONY_MARKERS for t in tokens):
            valences = [-abs(v) for v in valences]  # "ótimo, mais um dia sem resposta 🙄"
        _contrast(tokens, valences)
        total = sum(valences)
        if total and exclamations:
            total += math.copysign(min(exclamations, 4) * 0.292, total)
        return normalize(total)

    def _valence(self, tokens: Sequence[str], i: int, token: str) -> float:
        if LAUGHTER.match(token):
            return LAUGHTER_VALENCE
        valence = self.lexicon.words.get(token, 0.0)
        if not valence or not token[0].isalnum():
            return valence  # an emoji means what it shows, negated or not
        before: list[str] = []
        for previous in reversed(tokens[max(0, i - 3) : i]):
            if not previous[0].isalnum():
                break  # negation and intensity stop at punctuation
            before.append(previous)
        for distance, previous in enumerate(before, start=1):
            if previous in INTENSIFIERS:
                valence += math.copysign(BOOST / distance, valence)
            elif previous in DAMPENERS:
                valence -= math.copysign(BOOST / distance, valence)
        if any(w in NEGATIONS for w in before):
            # "não é ruim" is mildly positive; "não gostei" is negative
            valence *= -0.74
        return valence


def _contrast(tokens: Sequence[str], valences: list[float]) -> None:
    """After "mas" the sentence's point: weigh what follows more, what precedes less."""
    for i, token in enumerate(tokens):
        if token in CONTRASTS:
            for j in range(len(valences)):
                valences[j] *= 0.5 if j < i else 1.5
            return


def verdict(score: float) -> Sentiment:
    if score >= NEUTRAL_BAND:
        return Sentiment.POSITIVE
    if score <= -NEUTRAL_BAND:
        return Sentiment.NEGATIVE
    return Sentiment.NEUTRAL


def words_of(text: str) -> list[str]:
    """Folded tokens with WhatsApp spelling expanded, emojis without skin tones."""
    plain = SKIN_TONES_AND_JOINERS.sub("", text)
    tokens: list[str] = []
    for raw in TOKEN.findall(plain[: MAX_TOKENS * 12]):
        token = fold(raw) if raw[0].isalnum() else raw
        token = _squeeze(token)
        tokens.extend(WHATSAPP_SPELLING.get(token, token).split())
        if len(tokens) >= MAX_TOKENS:
            break
    return tokens


_REPEATS = re.compile(r"([a-z])\1{2,}")


def _squeeze(token: str) -> str:
    """ "pessimooo" -> "pessimo", but laughter ("kkkk") stays as it is."""
    if LAUGHTER.match(token):
        return token
    return _REPEATS.sub(r"\1", token)


# --------------------------------------------------------------------------- mood


ATTENTION_AFTER_NEGATIVES = 2
ATTENTION_INTENTS = frozenset({"complaint", "cancellation"})


@dataclass
class SessionMood:
    """The customer's mood in one session: running average and the streak of negative
    messages. Needs attention after two negative customer messages in a row, or a
    complaint or cancellation; a session is flagged once."""

    messages: int = 0
    score_sum: float = 0.0
    last_score: float = 0.0
    negative_streak: int = 0
    needs_attention: bool = False
    attention_reason: str | None = None

    @property
    def average(self) -> float:
        return self.score_sum / self.messages if self.messages else 0.0

    def observe(self, analysis: Analysis) -> str | None:
        """Counts one customer message; returns why attention is now needed, if it just
        became so."""
        if analysis.language is None and analysis.sentiment is Sentiment.NEUTRAL:
            if not analysis.intents:
                return None  # a sticker or a link says nothing of the mood
        self.messages += 1
        self.score_sum += analysis.score
        self.last_score = analysis.score
        negative = analysis.sentiment is Sentiment.NEGATIVE
        self.negative_streak = self.negative_streak + 1 if negative else 0
        if self.needs_attention:
            return None
        reason = attention_reason(self.negative_streak, analysis.intents)
        if reason is not None:
            self.needs_attention, self.attention_reason = True, reason
        return reason


def attention_reason(negative_streak: int, intents: Iterable[str]) -> str | None:
    flagged = sorted(ATTENTION_INTENTS.intersection(intents))
    if flagged:
        return f"intent:{flagged[0]}"
    if negative_streak >= ATTENTION_AFTER_NEGATIVES:
        return "negative_streak"
    return None
