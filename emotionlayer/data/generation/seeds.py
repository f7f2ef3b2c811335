"""Seed utterances: everyday sentences whose meaning changes with the emotion they are said in.

The packaged seeds live in ``emotionlayer/data/seeds/<language>.jsonl`` (one JSON object per line: ``id``,
``text``, ``emotions``); :func:`load_seeds` reads those or a user's file of the same form.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path

from ...errors import ConfigError
from ...labels import canonical_list

#: Folder of the packaged seed utterances (``en.jsonl``, ``zh.jsonl``).
SEED_DIR = Path(__file__).resolve().parent.parent / "seeds"
#: Languages with packaged seeds.
LANGUAGES: tuple[str, ...] = ("en", "zh")


@dataclass(frozen=True)
class SeedUtterance:
    """One seed utterance and the emotions it plausibly carries.

    Attributes:
        id: Stable identifier, unique in its file (row ids and splits derive from it).
        text: The utterance.
        emotions: Canonical emotion labels it can be said with.
        language: ISO 639-1 code.
    """

    id: str
    text: str
    emotions: tuple[str, ...]
    language: str = "en"


def packaged_seed_file(language: str = "en") -> Path:
    """Path of the packaged seed utterances for ``language`` (``en`` or ``zh``)."""
    if language not in LANGUAGES:
        raise ConfigError(
            f"No packaged seed utterances for language {language!r}; packaged: {', '.join(LANGUAGES)}. "
            "Pass your own seed file (JSONL with id, text, emotions) with --seeds."
        )
    return SEED_DIR / f"{language}.jsonl"


def load_seeds(path: str | os.PathLike | None = None, language: str = "en") -> list[SeedUtterance]:
    """Read seed utterances from a JSONL file (the packaged ones for ``language`` when ``path`` is None).

    Each line is an object with ``id``, ``text``, ``emotions`` (a list of labels or a comma-separated
    string; aliases such as ``joy`` are accepted) and optionally ``language`` (default: ``language``).
    Blank lines and lines starting with ``#`` are skipped.

    Raises:
        ConfigError: the file is missing, or a line is not valid (the message names the line).
    """
    file = Path(path) if path is not None else packaged_seed_file(language)
    if not file.is_file():
        raise ConfigError(
            f"Seed file {file} does not exist. Pass a JSONL file with one object per line: id, text, emotions."
        )
    seeds: list[SeedUtterance] = []
    seen_ids: set[str] = set()
    seen_texts: set[str] = set()
    with open(file, encoding="utf-8") as handle:
        for number, line in enumerate(handle, 1):
            line = line.strip()
            if not line or line.startswith("#"):
                continue
            where = f"{file}, line {number}"
            try:
                data = json.loads(line)
            except json.JSONDecodeError as exc:
                raise ConfigError(f"{where} is not valid JSON ({exc.msg}). Each line must be one JSON object.") from exc
            if not isinstance(data, dict) or not str(data.get("text", "")).strip() or not data.get("emotions"):
                raise ConfigError(
                    f'{where} needs "text" and "emotions", e.g. '
                    f'{{"id": "s1", "text": "...", "emotions": ["happy", "sad"]}}.'
                )
            seed_id = str(data.get("id") or f"{file.stem}-{number:05d}")
            if seed_id in seen_ids:
                raise ConfigError(f"{where}: id {seed_id!r} is used twice. Seed ids must be unique.")
            text = str(data["text"]).strip()
            if text in seen_texts:
                raise ConfigError(
                    f"{where}: the text {text!r} appears twice. Remove the duplicate (it would leak across splits)."
                )
            try:
                emotions = tuple(canonical_list(data["emotions"]))
            except ConfigError as exc:
                raise ConfigError(f"{where}: {exc}") from exc
            seen_ids.add(seed_id)
            seen_texts.add(text)
            seeds.append(SeedUtterance(seed_id, text, emotions, str(data.get("language") or language)))
    if not seeds:
        raise ConfigError(f"Seed file {file} holds no utterances. Add one JSON object per line: id, text, emotions.")
    return seeds
