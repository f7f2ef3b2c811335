"""Paralinguistic tags in reply text: the one parser every TTS backend and the event synthesis use.

An LLM reply may carry non-verbal cues such as ``"Oh no [sigh] that sounds hard."``. A TTS backend must
never read such a tag aloud as a word: it either renders it (a real sigh, a pause) or drops it and logs
that it did. This module finds the tags; what to do with them is the backend's business.

Recognised tags (:data:`TAGS`) are written in square brackets, in any case, with the aliases in
:data:`ALIASES`: ``[laugh]``, ``[laughs]``, ``[laughter]``, ``[sigh]``, ``[gasp]``,
``[throat_clearing]``, ``[clears throat]``, ``[pause]``, ``[tsk]``, ``[cough]``, ``[breath]``, ... The
same words between asterisks or parentheses (``*sighs*``, ``(laughs)``), a common LLM habit, are
recognised too. A pause may carry a length: ``[pause 0.5s]``, ``[pause 300ms]``, ``[long pause]``,
``[short pause]``.

Any other short bracketed stage direction made of words (``[smiles]``, ``[nervous chuckle]``) becomes a
:class:`TagSegment` with ``known=False`` so that it is not spoken either; bracketed text with digits or
punctuation (``[1]``, ``[sic.]``) stays text.

Example:
    >>> from emotionlayer.paralinguistics.tags import split_tags, strip_tags
    >>> split_tags("Oh [laughs] really?")
    [TextSegment(text='Oh'), TagSegment(label='laugh', raw='[laughs]', known=True, seconds=None), TextSegment(text='really?')]
    >>> strip_tags("Oh [laughs] really?")
    ('Oh really?', ['laugh'])
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from ..errors import ConfigError

__all__ = [
    "TAGS",
    "ALIASES",
    "TextSegment",
    "TagSegment",
    "Segment",
    "canonical_tag",
    "split_tags",
    "strip_tags",
    "tag_text",
]

#: The canonical paralinguistic tags, in the spelling used everywhere else in emotionlayer.
TAGS: tuple[str, ...] = ("laugh", "sigh", "gasp", "throat_clearing", "pause", "tsk", "cough", "breath")

#: Other spellings of the tags (lower case, words separated by one space) -> canonical tag.
ALIASES: dict[str, str] = {
    "laughs": "laugh",
    "laughing": "laugh",
    "laughter": "laugh",
    "chuckle": "laugh",
    "chuckles": "laugh",
    "giggle": "laugh",
    "giggles": "laugh",
    "sighs": "sigh",
    "sighing": "sigh",
    "gasps": "gasp",
    "gasping": "gasp",
    "throat clearing": "throat_clearing",
    "clears throat": "throat_clearing",
    "clear throat": "throat_clearing",
    "clearing throat": "throat_clearing",
    "clears her throat": "throat_clearing",
    "clears his throat": "throat_clearing",
    "clears their throat": "throat_clearing",
    "ahem": "throat_clearing",
    "pauses": "pause",
    "silence": "pause",
    "long pause": "pause",
    "short pause": "pause",
    "tsks": "tsk",
    "tut": "tsk",
    "tuts": "tsk",
    "tsk tsk": "tsk",
    "coughs": "cough",
    "coughing": "cough",
    "breathes": "breath",
    "breathing": "breath",
    "inhale": "breath",
    "inhales": "breath",
    "exhale": "breath",
    "exhales": "breath",
    "deep breath": "breath",
    "takes a breath": "breath",
    "takes a deep breath": "breath",
}

# Pause lengths named by words, in seconds (a plain [pause] has seconds=None: the backend's default).
_PAUSE_WORDS: dict[str, float] = {"short pause": 0.25, "long pause": 1.0}
_PAUSE_LENGTH = re.compile(r"^(?:pause|silence)\s*[=:]?\s*(\d+(?:\.\d+)?)\s*(ms|s|sec|secs|seconds)?$")

# [anything without brackets, up to 40 chars] | *known words* | (known words). Piper's raw phoneme
# blocks [[ ... ]] are left alone.
_BRACKET = re.compile(r"(?<!\[)\[([^\[\]\n]{1,40})\](?!\])|\*([A-Za-z][A-Za-z _-]{0,30})\*|\(([A-Za-z][A-Za-z _-]{0,30})\)")
# An unknown bracketed stage direction: one to four words of letters (plus ' - _).
_STAGE_DIRECTION = re.compile(r"^[A-Za-z][A-Za-z'_-]*(?: [A-Za-z][A-Za-z'_-]*){0,3}$")


@dataclass(frozen=True)
class TextSegment:
    """A run of words to speak.

    Attributes:
        text: The words, stripped of surrounding white space.
    """

    text: str


@dataclass(frozen=True)
class TagSegment:
    """A paralinguistic tag found in the text (never to be spoken as words).

    Attributes:
        label: The canonical tag (one of :data:`TAGS`) when ``known``, else the normalised words of an
            unrecognised stage direction (``"smiles"``).
        raw: The tag exactly as written, brackets included.
        known: Whether ``label`` is one of :data:`TAGS`.
        seconds: For ``pause`` only: the requested length, or ``None`` for the backend's default.
    """

    label: str
    raw: str
    known: bool = True
    seconds: float | None = None


Segment = TextSegment | TagSegment


def _normalise(words: str) -> str:
    return " ".join(words.strip().lower().replace("_", " ").replace("-", " ").split())


def canonical_tag(name: str) -> str | None:
    """The canonical tag for a name or alias (``"Laughs"`` -> ``"laugh"``), or ``None`` if unknown.

    Args:
        name: A tag name without brackets, in any case; ``_``, ``-`` and spaces are interchangeable.
    """
    key = _normalise(name)
    if key.replace(" ", "_") in TAGS:
        return key.replace(" ", "_")
    if key in ALIASES:
        return ALIASES[key]
    if _PAUSE_LENGTH.match(key):
        return "pause"
    return None


def _pause_seconds(key: str) -> float | None:
    if key in _PAUSE_WORDS:
        return _PAUSE_WORDS[key]
    match = _PAUSE_LENGTH.match(key)
    if not match:
        return None
    value = float(match.group(1))
    return value / 1000.0 if match.group(2) == "ms" else value


def _tag_for(match: re.Match[str]) -> TagSegment | None:
    raw = match.group(0)
    inner = next(g for g in match.groups() if g is not None)
    label = canonical_tag(inner)
    if label is not None:
        seconds = _pause_seconds(_normalise(inner)) if label == "pause" else None
        return TagSegment(label=label, raw=raw, known=True, seconds=seconds)
    if match.group(1) is not None and _STAGE_DIRECTION.match(inner.strip()):
        return TagSegment(label=_normalise(inner), raw=raw, known=False)
    return None  # *emphasis*, (an aside), [1]: ordinary text


def _tidy(text: str) -> str:
    text = " ".join(text.split())
    return re.sub(r"\s+([,.;:!?])", r"\1", text)


def split_tags(text: str) -> list[Segment]:
    """Split text into the words to speak and the tags between them, in order.

    Empty text runs are left out, so two adjacent tags give two adjacent :class:`TagSegment` s. Spaces
    are tidied inside each text run (a tag removed before a comma leaves no ``" ,"``).

    Args:
        text: Reply text that may contain tags.

    Returns:
        A list of :class:`TextSegment` and :class:`TagSegment`.
    """
    segments: list[Segment] = []
    position = 0
    pending = ""
    for match in _BRACKET.finditer(text):
        tag = _tag_for(match)
        if tag is None:
            continue
        pending += text[position : match.start()]
        position = match.end()
        words = _tidy(pending)
        if words:
            segments.append(TextSegment(words))
        pending = ""
        segments.append(tag)
    words = _tidy(pending + text[position:])
    if words:
        segments.append(TextSegment(words))
    return segments


def strip_tags(text: str) -> tuple[str, list[str]]:
    """Remove every tag from text.

    Args:
        text: Reply text that may contain tags.

    Returns:
        ``(clean_text, tags_found)``: the text with tags removed and spaces tidied, and the labels of the
        removed tags in order (canonical names for known tags, normalised words for unknown ones).
    """
    pieces: list[str] = []
    found: list[str] = []
    for segment in split_tags(text):
        if isinstance(segment, TagSegment):
            found.append(segment.label)
        else:
            pieces.append(segment.text)
    return _tidy(" ".join(pieces)), found


def tag_text(label: str) -> str:
    """The canonical written form of a tag, e.g. ``tag_text("clears throat") == "[throat_clearing]"``.

    Raises:
        ConfigError: if ``label`` is not a known tag or alias.
    """
    canonical = canonical_tag(label)
    if canonical is None:
        raise ConfigError(f"Unknown paralinguistic tag {label!r}. Use one of: {', '.join(TAGS)}.")
    return f"[{canonical}]"
