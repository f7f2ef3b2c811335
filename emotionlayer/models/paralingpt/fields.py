"""The three fields ParalinGPT writes in one pass, and how they are read back, also from broken text.

The target of a turn is one line::

    emotion: sad | response emotion: calm | reply: I'm sorry to hear that. What happened?

:func:`target_segments` cuts it into pieces that are tokenised one by one, so that the tokens of
``emotion: sad |`` are a prefix of the target's tokens whatever the tokenizer (the model forces that
prefix after scoring every label). :func:`parse_fields` reads the fields back and never fails: a missing or
garbled field is ``None`` (the caller falls back: the emotion to a label of the set, the response emotion
to the empathy strategy's voice) and the reply is the rest of the text. :func:`reply_pieces` does the same
on a stream, holding text back until the ``reply:`` field starts.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass

from ...errors import ConfigError
from ...labels import EMOTIONS, canonical

EMOTION_FIELD = "emotion"
RESPONSE_FIELD = "response emotion"
REPLY_FIELD = "reply"

_WORD = r"[A-Za-z][A-Za-z_\-]*"
_RESPONSE_RE = re.compile(r"response[\s_\-]*emotion\s*[:=]", re.IGNORECASE)
_EMOTION_RE = re.compile(r"(?<![A-Za-z])emotion\s*[:=]", re.IGNORECASE)
_REPLY_RE = re.compile(r"(?<![A-Za-z])(?:reply|response)\s*[:=]", re.IGNORECASE)
#: After the reply: the start of another record (a model that does not stop).
_NEXT_RECORD_RE = re.compile(r"\|\s*(?:response[\s_\-]*)?emotion\s*[:=]", re.IGNORECASE)
_SEPARATORS = " \t\r\n|;,"


def serialise(emotion: str, response_emotion: str, reply: str) -> str:
    """The target line: ``emotion: E | response emotion: R | reply: TEXT``."""
    return "".join(target_segments(emotion, response_emotion, reply))


def target_segments(emotion: str, response_emotion: str, reply: str) -> list[str]:
    """The target line cut where tokens must not cross: each piece is tokenised on its own.

    Pieces 0-2 (``emotion:``, `` E``, `` |``) are what the model forces after scoring the labels.
    """
    return [
        f"{EMOTION_FIELD}:",
        f" {emotion}",
        " |",
        f" {RESPONSE_FIELD}:",
        f" {response_emotion}",
        " |",
        f" {REPLY_FIELD}:",
        f" {' '.join(reply.split())}",
    ]


@dataclass(frozen=True)
class Fields:
    """What a serialised answer said.

    Attributes:
        emotion: The current turn's emotion (a canonical label of the set), or ``None`` if missing/garbled.
        response_emotion: The reply's emotion (canonical), or ``None`` if missing/garbled.
        reply: The reply text (the rest of the text when the ``reply:`` field is missing).
        complete: All three fields were found and well formed.
    """

    emotion: str | None
    response_emotion: str | None
    reply: str
    complete: bool


def _label(word: str | None, labels: Sequence[str]) -> str | None:
    if not word:
        return None
    try:
        label = canonical(word)
    except ConfigError:
        return None
    return label if label in labels else None


def _find_label(text: str, labels: Sequence[str]) -> str | None:
    """The first word of ``text`` that names a label of the set (aliases accepted)."""
    for word in re.findall(_WORD, text):
        label = _label(word, labels)
        if label is not None:
            return label
    return None


def _cut_next_record(reply: str) -> str:
    match = _NEXT_RECORD_RE.search(reply)
    return reply[: match.start()] if match else reply


def _clean(text: str) -> str:
    return " ".join(text.split()).strip(_SEPARATORS)


def _take_field(text: str, pattern: re.Pattern[str], labels: Sequence[str]) -> tuple[str | None, bool, str]:
    """Find a ``name: value`` field; return (its label or ``None``, whether the field was there, the text without it).

    The value runs to the next ``|`` (or is one word when no ``|`` follows). A value that is not a label is
    searched for a label word (``emotion: very sad`` gives ``sad``).
    """
    match = pattern.search(text)
    if match is None:
        return None, False, text
    bar = text.find("|", match.end())
    if bar >= 0:
        end = bar
    else:  # no separator: the value is one word
        word = re.match(r"\s*" + _WORD, text[match.end() :])
        end = match.end() + (word.end() if word else 0)
    value = text[match.end() : end]
    words = re.findall(_WORD, value)
    label = (_label(words[0], labels) if words else None) or _find_label(value, labels)
    return label, True, text[: match.start()] + " " + text[end:]


def parse_header(header: str, labels: Sequence[str] = EMOTIONS) -> tuple[str | None, str | None]:
    """The (emotion, response emotion) of the text before the reply; ``None`` for a missing/garbled one.

    The ``response emotion`` field is read first, so that its word never counts as the emotion.
    """
    response, _, rest = _take_field(header, _RESPONSE_RE, labels)
    emotion, _, _ = _take_field(rest, _EMOTION_RE, labels)
    return emotion, response


def parse_fields(text: str, labels: Sequence[str] = EMOTIONS) -> Fields:
    """Read the three fields of a serialised answer; never fails.

    Args:
        text: What the model wrote (with or without the forced ``emotion: E |`` prefix).
        labels: The label set emotions must belong to.

    Returns:
        The fields found. Without a ``reply:`` field the reply is the text left after removing the
        emotion fields and separators; a second record after the reply (``| emotion: ...``) is cut off.
    """
    match = _REPLY_RE.search(text)
    if match:
        header, reply = text[: match.start()], text[match.end() :]
    else:
        header, reply = text, None
    emotion, response = parse_header(header, labels)
    if reply is None:
        # no reply field: the rest of the text, without the fields that were recognised
        _, _, rest = _take_field(header, _RESPONSE_RE, labels)
        _, _, rest = _take_field(rest, _EMOTION_RE, labels)
        reply_text = _clean(_cut_next_record(rest))
    else:
        reply_text = _clean(_cut_next_record(reply))
    complete = reply is not None and emotion is not None and response is not None and bool(reply_text)
    return Fields(emotion, response, reply_text, complete)


def _bars(text: str, start: int) -> Iterator[int]:
    return (i for i in range(start, len(text)) if text[i] == "|")


def _may_start_record(tail: str) -> bool:
    """Whether ``tail`` (text from a ``|``) may still grow into ``| emotion:`` or ``| response emotion:``."""
    words = " ".join(tail[1:].lower().split())
    return any(record.startswith(words) for record in ("emotion:", "response emotion:"))


def reply_pieces(
    pieces: Iterator[str],
    on_header: Callable[[str | None, str | None], None],
    labels: Sequence[str] = EMOTIONS,
) -> Iterator[str]:
    """Pass on only the reply of a streamed serialised answer, as soon as its field starts.

    Text is held back until ``reply:`` appears; ``on_header(emotion, response_emotion)`` is then called
    once with what the text before it said (``None`` for a missing/garbled field), before the first reply
    piece. After the reply starts, text from a ``|`` on is held back while another record may start there
    (``| emotion:``; if one does, the reply ends and the source is closed). If ``reply:`` never comes, the
    rest of the text is yielded at the end (see :func:`parse_fields`). Closing this generator closes ``pieces``.
    """
    buffer = ""
    start: int | None = None
    sent = 0
    try:
        for piece in pieces:
            buffer += piece
            if start is None:
                match = _REPLY_RE.search(buffer)
                if match is None:
                    continue
                on_header(*parse_header(buffer[: match.start()], labels))
                start = match.end()
            reply = buffer[start:].lstrip()
            cut = _NEXT_RECORD_RE.search(reply)
            if cut is not None:
                if cut.start() > sent:
                    yield reply[sent : cut.start()]
                return
            safe = next((i for i in _bars(reply, sent) if _may_start_record(reply[i:])), len(reply))
            if safe > sent:
                yield reply[sent:safe]
                sent = safe
        if start is None:
            fields = parse_fields(buffer, labels)
            on_header(fields.emotion, fields.response_emotion)
            if fields.reply:
                yield fields.reply
            return
        reply = buffer[start:].lstrip()
        if len(reply) > sent:
            yield reply[sent:]
    finally:
        close = getattr(pieces, "close", None)
        if close is not None:
            close()
