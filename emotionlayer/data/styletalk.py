"""StyleTalk: dialogue text with a reply written for each speaking style of the same sentence.

StyleTalk (MIT licence) gives, per row, the conversation so far (``context``: alternating ``A :`` and
``B :`` lines), the current sentence of speaker B (``curr_text``) with the style it was spoken in
(``curr_emotion``, ``curr_speed``, ``curr_volume``), and speaker A's reply (``res_text``) with its own
style. The same sentence appears in up to three styles in one dialogue (``diag_id``), each with its own
reply: the data that teaches, and tests, a reply writer to answer *how* something was said.

emotionlayer reads a row as one turn of its own: B is the user, A is the assistant. The context becomes
a :class:`~emotionlayer.types.Dialogue` (A's opening line, said before B spoke, is a turn with no user
words), the style's emotion is mapped to the library's label set (:data:`STYLE_EMOTIONS`), and the reply
is the target (training) or the reference (evaluation).

Its ``eval.csv`` is a locked test set: train and choose on ``train.csv`` only (:func:`split_dev` holds part
of it out by dialogue for choices).
"""

from __future__ import annotations

import csv
import hashlib
import os
import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Union

from ..errors import ConfigError
from ..types import Dialogue, EmotionPrediction, Response, Transcript, Turn

PathLike = Union[str, os.PathLike]

#: StyleTalk's speaking-style emotions -> the library's labels. ``friendly`` (warm, easy) has no label of its
#: own; ``calm`` is the closest (positive and unhurried) and keeps it apart from ``cheerful`` (``happy``).
STYLE_EMOTIONS: dict[str, str] = {
    "neutral": "neutral",
    "friendly": "calm",
    "cheerful": "happy",
    "excited": "happy",
    "hopeful": "happy",
    "sad": "sad",
    "unfriendly": "angry",
}

#: The columns a StyleTalk CSV must have.
COLUMNS = ("diag_id", "context", "curr_text", "curr_emotion", "res_text")

_SPEAKER = re.compile(r"(?:^|\s)([AB])\s*:\s*")


@dataclass(frozen=True)
class StyleTalkRow:
    """One StyleTalk row as a turn: who said what before, what the user says now and how, and the reply.

    Attributes:
        id: ``diag_id`` plus the style's audio id (``book_269/c_2``), unique within a file.
        dialogue: The ``diag_id``; rows of one dialogue say the same sentence in different styles.
        context: Earlier lines, oldest first, as ``(speaker, text)`` with speaker ``A`` (the assistant) or
            ``B`` (the user).
        text: What the user says now.
        style: StyleTalk's emotion of how it is said (``friendly``...).
        emotion: That emotion as the library's label (:data:`STYLE_EMOTIONS`).
        speed: ``slow``, ``normal`` or ``fast``.
        volume: ``quiet``, ``normal`` or ``loud``.
        reply: The reply written for this sentence said in this style.
        reply_style: StyleTalk's emotion of how the reply is said.
    """

    id: str
    dialogue: str
    context: tuple[tuple[str, str], ...]
    text: str
    style: str
    emotion: str
    speed: str = "normal"
    volume: str = "normal"
    reply: str = ""
    reply_style: str = ""

    def history(self) -> Dialogue:
        """The context as the library's conversation history (B's lines are the user's, A's the answers)."""
        turns: list[Turn] = []
        pending: str | None = None
        for speaker, line in self.context:
            if speaker == "B":
                if pending is not None:
                    turns.append(_turn(pending, ""))
                pending = line
            else:
                turns.append(_turn(pending or "", line))
                pending = None
        if pending is not None:
            turns.append(_turn(pending, ""))
        return Dialogue(tuple(turns))

    @property
    def last_answer(self) -> str:
        """The assistant's line just before the user's sentence (``""`` when the user spoke last)."""
        return self.context[-1][1] if self.context and self.context[-1][0] == "A" else ""

    def prosody(self) -> dict[str, str]:
        """How fast and loud the sentence is said, as the prompt's ``prosody`` takes it."""
        return {"rate": self.speed, "loudness": self.volume}

    def emotion_prediction(self) -> EmotionPrediction:
        """The style's emotion as a certain prediction (what a perfect SER would say)."""
        return EmotionPrediction(label=self.emotion, probabilities={self.emotion: 1.0}, model="styletalk")


def _turn(user: str, answer: str) -> Turn:
    # Past emotions are not in StyleTalk: past turns are marked neutral, as nothing is known of them.
    neutral = EmotionPrediction(label="neutral", probabilities={"neutral": 1.0}, model="styletalk")
    return Turn(transcript=Transcript(user), emotion=neutral, response=Response(answer))


def parse_context(context: str) -> tuple[tuple[str, str], ...]:
    """Split StyleTalk's ``"A : ... B : ..."`` context into ``(speaker, text)`` lines."""
    marks = list(_SPEAKER.finditer(context))
    lines = []
    for i, mark in enumerate(marks):
        end = marks[i + 1].start() if i + 1 < len(marks) else len(context)
        text = context[mark.end() : end].strip()
        if text:
            lines.append((mark.group(1), text))
    return tuple(lines)


def _strip_speaker(text: str) -> str:
    return re.sub(r"^\s*[AB]\s*:\s*", "", text).strip()


def read_styletalk(path: PathLike) -> list[StyleTalkRow]:
    """Read a StyleTalk CSV (``train.csv`` or ``eval.csv``) into rows, in file order.

    Raises:
        ConfigError: the file is missing, lacks a StyleTalk column, or a row's style is unknown.
    """
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"StyleTalk file {path} not found. Pass the train.csv or eval.csv of StyleTalk.")
    with path.open(newline="", encoding="utf-8") as handle:
        reader = csv.DictReader(handle)
        missing = [c for c in COLUMNS if c not in (reader.fieldnames or ())]
        if missing:
            raise ConfigError(f"{path} is not a StyleTalk CSV: it has no column(s) {', '.join(missing)}.")
        rows = []
        for line, record in enumerate(reader, start=2):
            style = (record["curr_emotion"] or "").strip().lower()
            if style not in STYLE_EMOTIONS:
                raise ConfigError(
                    f"{path}, line {line}: unknown style {style!r}; known: {', '.join(sorted(STYLE_EMOTIONS))}."
                )
            audio = Path(record.get("curr_audio_id") or f"row{line}").stem
            rows.append(
                StyleTalkRow(
                    id=f"{record['diag_id']}/{audio}",
                    dialogue=record["diag_id"],
                    context=parse_context(record["context"] or ""),
                    text=_strip_speaker(record["curr_text"] or ""),
                    style=style,
                    emotion=STYLE_EMOTIONS[style],
                    speed=(record.get("curr_speed") or "normal").strip(),
                    volume=(record.get("curr_volume") or "normal").strip(),
                    reply=(record["res_text"] or "").strip(),
                    reply_style=(record.get("res_emotion") or "").strip(),
                )
            )
    return rows


def earlier_exchanges(rows: Sequence[StyleTalkRow]) -> list[StyleTalkRow]:
    """Extra training rows from the conversation so far: every ``B`` line answered by an ``A`` line in a
    dialogue's context becomes a row of its own (once per dialogue), with the lines before it as its context.

    These replies were written by the same people as the dialogue, but not for a given speaking style:
    StyleTalk does not say how earlier lines were said, so these rows are marked ``neutral``. Their ids end in
    ``/earlier-N`` (N: the line's index in the context).
    """
    out: list[StyleTalkRow] = []
    seen: set[str] = set()
    for row in rows:
        if row.dialogue in seen:
            continue
        seen.add(row.dialogue)
        for i in range(1, len(row.context)):
            (asker, said), (answerer, answer) = row.context[i - 1], row.context[i]
            if asker == "B" and answerer == "A":
                out.append(
                    StyleTalkRow(
                        id=f"{row.dialogue}/earlier-{i - 1}", dialogue=row.dialogue, context=row.context[: i - 1],
                        text=said, style="neutral", emotion=STYLE_EMOTIONS["neutral"], reply=answer,
                    )
                )  # fmt: skip
    return out


def split_dev(rows: Sequence[StyleTalkRow], dev_share: float = 0.1) -> tuple[list[StyleTalkRow], list[StyleTalkRow]]:
    """Hold out a share of the dialogues (all styles of a dialogue on one side), by a hash of ``diag_id``.

    The split depends only on the dialogue ids, so it is the same on every machine and for every run.
    Returns ``(train, dev)``.
    """
    if not 0.0 <= dev_share < 1.0:
        raise ConfigError(f"dev_share must be in [0, 1), not {dev_share}.")

    def is_dev(row: StyleTalkRow) -> bool:
        digest = hashlib.sha256(row.dialogue.encode("utf-8")).digest()
        return int.from_bytes(digest[:8], "big") / 2**64 < dev_share

    return [r for r in rows if not is_dev(r)], [r for r in rows if is_dev(r)]
