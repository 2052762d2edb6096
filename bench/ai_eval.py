"""How well the local analyzer reads Brazilian customer-service messages, against the
unmodified LeIA lexicon, and how fast it is on one core.

    .venv/bin/python bench/ai_eval.py [--data bench/data/ai_eval.jsonl] [--rounds 20]
        [--write bench/RESULTS.md]

The labelled set (`bench/data/ai_eval.jsonl`, written for the project: slang, irony,
emojis, negation, mixed Portuguese/English, very short messages, links, a few messages in
other languages, all labelled neutral-or-not by what a support team would want flagged)
is scored by both:

- baseline: LeIA's own `SentimentIntensityAnalyzer().polarity_scores(text)["compound"]`
  with VADER's usual thresholds (>= 0.05 positive, <= -0.05 negative);
- local: `ventros.analysis.local.local_analyzer()` as the worker runs it.

It prints accuracy, macro-F1 and the confusion matrix of each, per-tag accuracy, and the
throughput of each on this process (one core): the whole set analysed `--rounds` times.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
from collections import Counter
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from wa_kit import write_section

from ventros.analysis.domain import IntentRules
from ventros.analysis.local import local_analyzer

LABELS = ("positive", "neutral", "negative")
SECTION = "ai-eval"


def load(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line]


def baseline() -> Callable[[str], str]:
    from LeIA import SentimentIntensityAnalyzer  # type: ignore[import-untyped]

    analyzer = SentimentIntensityAnalyzer()

    def verdict(text: str) -> str:
        compound = analyzer.polarity_scores(text)["compound"]
        return "positive" if compound >= 0.05 else "negative" if compound <= -0.05 else "neutral"

    return verdict


def local() -> Callable[[str], str]:
    analyzer, rules = local_analyzer(), IntentRules.defaults()
    return lambda text: analyzer.analyze_one(text, rules).sentiment.value


def confusion(gold: Sequence[str], guessed: Sequence[str]) -> dict[tuple[str, str], int]:
    return Counter(zip(gold, guessed, strict=True))


def macro_f1(matrix: dict[tuple[str, str], int]) -> float:
    scores = []
    for label in LABELS:
        tp = matrix.get((label, label), 0)
        fp = sum(matrix.get((other, label), 0) for other in LABELS if other != label)
        fn = sum(matrix.get((label, other), 0) for other in LABELS if other != label)
        precision = tp / (tp + fp) if tp + fp else 0.0
        recall = tp / (tp + fn) if tp + fn else 0.0
        scores.append(2 * precision * recall / (precision + recall) if precision + recall else 0.0)
    return sum(scores) / len(scores)


def throughput(verdict: Callable[[str], str], texts: Sequence[str], rounds: int) -> float:
    started = time.perf_counter()
    for _ in range(rounds):
        for text in texts:
            verdict(text)
    return rounds * len(texts) / (time.perf_counter() - started)


def matrix_table(matrix: dict[tuple[str, str], int]) -> str:
    lines = ["| gold \\ predicted | " + " | ".join(LABELS) + " |", "|---|---|---|---|"]
    for gold in LABELS:
        cells = " | ".join(str(matrix.get((gold, guess), 0)) for guess in LABELS)
        lines.append(f"| {gold} | {cells} |")
    return "\n".join(lines)


def evaluate(rows: list[dict[str, Any]], rounds: int) -> dict[str, Any]:
    texts = [r["text"] for r in rows]
    gold = [r["label"] for r in rows]
    results: dict[str, Any] = {}
    for name, make in (("baseline (LeIA unmodified)", baseline), ("local analyzer", local)):
        verdict = make()
        verdict(texts[0])  # lazy loads (lexicon, language models) are not throughput
        guessed = [verdict(t) for t in texts]
        matrix = confusion(gold, guessed)
        by_tag: dict[str, list[bool]] = {}
        for row, guess in zip(rows, guessed, strict=True):
            for tag in row.get("tags", []):
                by_tag.setdefault(tag, []).append(guess == row["label"])
        results[name] = {
            "accuracy": sum(g == p for g, p in zip(gold, guessed, strict=True)) / len(gold),
            "macro_f1": macro_f1(matrix),
            "matrix": matrix,
            "by_tag": {t: sum(v) / len(v) for t, v in sorted(by_tag.items())},
            "per_second": throughput(verdict, texts, rounds),
        }
    return results


def report(rows: list[dict[str, Any]], results: dict[str, Any], load_average: str) -> str:
    counts = Counter(r["label"] for r in rows)
    tags = sorted({t for r in rows for t in r.get("tags", [])})
    lines = [
        "### AI analysis (bench/ai_eval.py)",
        "",
        f"Measured {datetime.now(UTC):%Y-%m-%d %H:%M} UTC with `{' '.join(sys.argv)}` "
        f"(Python {platform.python_version()}, one process, one core; "
        f"load average at start {load_average}).",
        "",
        f"Set: {len(rows)} messages ({', '.join(f'{counts[k]} {k}' for k in LABELS)}), "
        f"tags {', '.join(tags)}.",
        "",
        "| analyzer | accuracy | macro-F1 | messages/s (one core) |",
        "|---|---|---|---|",
    ]
    for name, found in results.items():
        lines.append(
            f"| {name} | {found['accuracy']:.3f} | {found['macro_f1']:.3f} | "
            f"{found['per_second']:,.0f} |"
        )
    for name, found in results.items():
        lines += ["", f"Confusion matrix, {name}:", "", matrix_table(found["matrix"])]
    lines += ["", "Accuracy per tag:", "", "| tag | " + " | ".join(results) + " |"]
    lines.append("|---|" + "---|" * len(results))
    for tag in tags:
        cells = " | ".join(f"{found['by_tag'].get(tag, 0):.2f}" for found in results.values())
        lines.append(f"| {tag} | {cells} |")
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", default=str(Path(__file__).parent / "data" / "ai_eval.jsonl"))
    parser.add_argument("--rounds", type=int, default=20)
    parser.add_argument("--write", default="", help="RESULTS.md to write the section into")
    args = parser.parse_args()
    load_average = " ".join(f"{x:.2f}" for x in os.getloadavg())
    rows = load(Path(args.data))
    text = report(rows, evaluate(rows, args.rounds), load_average)
    print(text)
    if args.write:
        write_section(Path(args.write), SECTION, text)


if __name__ == "__main__":
    main()
