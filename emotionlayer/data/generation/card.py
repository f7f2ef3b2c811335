"""Dataset cards for generated datasets: counts per emotion, voice and split, and the settings used.

:func:`build_card` summarises manifest rows as a plain dict; :func:`render_card` turns that into the
Markdown written as the dataset folder's ``README.md``; :func:`write_card` writes both (``README.md`` and
``card.json``) atomically.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from ...files import write_text_atomic

SPLITS: tuple[str, ...] = ("train", "dev", "test")


def _counts(rows: Sequence[dict[str, Any]], key: str) -> dict[str, int]:
    return dict(sorted(Counter(str(r.get(key)) for r in rows).items()))


def _by_split(rows: Sequence[dict[str, Any]], key: str) -> dict[str, dict[str, int]]:
    table: dict[str, Counter] = {}
    for row in rows:
        table.setdefault(str(row.get(key)), Counter())[row.get("split", "")] += 1
    return {value: {s: counts.get(s, 0) for s in SPLITS} for value, counts in sorted(table.items())}


def build_card(rows: Sequence[dict[str, Any]], settings: dict[str, Any]) -> dict[str, Any]:
    """Summarise manifest rows.

    Args:
        rows: Manifest rows (dicts with at least ``emotion``, ``voice``, ``split``, ``duration``).
        settings: The generation settings, copied into the card.

    Returns:
        A JSON-ready dict: totals, counts per emotion / voice / split / language (each also per split),
        seed utterances per split, hours of speech, and the settings.
    """
    seconds = sum(float(r.get("duration", 0.0)) for r in rows)
    utterances: dict[str, set[str]] = {s: set() for s in SPLITS}
    for row in rows:
        utterances.setdefault(row.get("split", ""), set()).add(row.get("seed_id", row.get("text", "")))
    return {
        "rows": len(rows),
        "hours": round(seconds / 3600.0, 4),
        "mean_duration": round(seconds / len(rows), 3) if rows else 0.0,
        "splits": {s: sum(1 for r in rows if r.get("split") == s) for s in SPLITS},
        "seed_utterances_per_split": {s: len(ids) for s, ids in utterances.items()},
        "emotions": _counts(rows, "emotion"),
        "voices": _counts(rows, "voice"),
        "languages": _counts(rows, "language"),
        "emotions_by_split": _by_split(rows, "emotion"),
        "voices_by_split": _by_split(rows, "voice"),
        "settings": settings,
    }


def _table(title: str, data: dict[str, dict[str, int]]) -> list[str]:
    lines = [f"| {title} | " + " | ".join(SPLITS) + " | total |", "|---|" + "---:|" * (len(SPLITS) + 1)]
    for value, counts in data.items():
        cells = [str(counts.get(s, 0)) for s in SPLITS]
        lines.append(f"| {value} | " + " | ".join(cells) + f" | {sum(counts.values())} |")
    return lines


def render_card(card: dict[str, Any]) -> str:
    """The dataset card as Markdown."""
    settings = card.get("settings", {})
    lines = [
        "# Emotional spoken-dialogue dataset",
        "",
        "Generated with `emotionlayer data generate` in the style of E-chat200: each row is a seed utterance, "
        "an emotion it plausibly carries, the utterance spoken in that emotion by an emotional TTS voice "
        "(`audio`), and an LLM reply given the true text and emotion (`response`). Rows are listed in "
        "`manifest.jsonl`; splits are by seed utterance, so no text appears in two splits.",
        "",
        f"- rows: **{card['rows']}** ({card['hours']:.3f} h of speech, mean {card['mean_duration']:.2f} s)",
        "- splits: " + ", ".join(f"{s} {n}" for s, n in card["splits"].items()),
        "- seed utterances per split: " + ", ".join(f"{s} {n}" for s, n in card["seed_utterances_per_split"].items()),
        "- languages: " + ", ".join(f"{k} {v}" for k, v in card["languages"].items()),
        "",
        "## Emotions",
        "",
        *_table("emotion", card["emotions_by_split"]),
        "",
        "## Voices",
        "",
        *_table("voice", card["voices_by_split"]),
        "",
    ]
    if settings.get("holdout_voices"):
        lines += [f"Held-out voices (test split only): {', '.join(settings['holdout_voices'])}.", ""]
    lines += [
        "## Generation settings",
        "",
        "```json",
        json.dumps(settings, indent=2, ensure_ascii=False),
        "```",
        "",
        "## Manifest fields",
        "",
        "`id`, `seed_id`, `text`, `emotion`, `response`, `audio` (path relative to this folder), `voice`, `speaker` "
        "(= voice), "
        "`style` (rate, pitch_semitones, volume, emotion), `duration` (s), `sample_rate`, `split`, `language`, "
        "`strategy` (empathy strategy of the reply), `llm`, `tts`.",
        "",
        "The speech is synthetic and the replies come from a language model: check them before training a "
        "model whose outputs people will hear.",
        "",
    ]
    return "\n".join(lines)


def write_card(out_dir: str | Path, rows: Sequence[dict[str, Any]], settings: dict[str, Any]) -> dict[str, Any]:
    """Write ``README.md`` and ``card.json`` for the dataset in ``out_dir`` (atomically) and return the card."""
    out = Path(out_dir)
    card = build_card(rows, settings)
    write_text_atomic(out / "card.json", json.dumps(card, indent=2, ensure_ascii=False) + "\n")
    write_text_atomic(out / "README.md", render_card(card))
    return card
