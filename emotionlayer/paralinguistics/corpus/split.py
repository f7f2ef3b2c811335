"""Split points (stage 2) and their check against word timestamps (stage 3).

:func:`split_points` proposes the middle of each silence the VAD finds between two stretches of speech;
:func:`verify_split` transcribes the audio on each side of a point and aligns both to the clip's
transcript (:func:`~emotionlayer.paralinguistics.corpus.text.best_split`): the point is accepted when the
longer side's CER is below ``max_cer``. :func:`unit_times` gives each transcript unit a time from whisper's
word timestamps, and :func:`check_split_words` refuses a point that falls inside a word, and one whose
place in the words disagrees with the transcript split.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any

from ...types import Audio
from .asr import Word
from .text import (
    align_characters,
    best_split,
    is_character_language,
    language_code,
    map_index,
    normalised,
    text_units,
)

__all__ = [
    "SplitCandidate",
    "SplitCheck",
    "UnitTime",
    "WordCheck",
    "check_split_words",
    "long_clip_cuts",
    "split_points",
    "unit_times",
    "verify_split",
]


@dataclass(frozen=True)
class SplitCandidate:
    """A candidate split point (seconds) and the quiet stretch it is the middle of.

    Attributes:
        point: Where to split.
        silence_start: Start of the quiet stretch (equal to ``silence_end`` for a bare word boundary).
        silence_end: Its end.
        kind: ``vad`` (a silence between VAD speech segments), ``dip`` (a short quiet stretch inside VAD speech,
            10 ms frames more than 25 dB below the speech) or ``word`` (the quietest frame near a boundary
            between two words of the word timestamps, within 60 ms).
    """

    point: float
    silence_start: float
    silence_end: float
    kind: str = "vad"

    @property
    def gap(self) -> float:
        """Length of the quiet stretch."""
        return self.silence_end - self.silence_start

    def to_dict(self) -> dict[str, Any]:
        return {
            "point": round(self.point, 4),
            "silence": [round(self.silence_start, 4), round(self.silence_end, 4)],
            "kind": self.kind,
        }


_VAD: dict[str, Any] = {}


def _default_vad() -> Any:
    if "silero" not in _VAD:
        from ... import registry

        _VAD["silero"] = registry.create("vad", "silero", min_silence_seconds=0.1, pad_seconds=0.03)
    return _VAD["silero"]


def split_points(
    audio: Audio,
    vad: Any = None,
    min_gap: float = 0.12,
    min_side: float = 0.3,
    segments: Sequence[tuple[float, float]] | None = None,
    words: Sequence[Word] | None = None,
    min_dip: float = 0.05,
) -> list[SplitCandidate]:
    """Stage 2a: candidate split points, best first.

    1. ``vad``: the middle of each silence of at least ``min_gap`` between VAD speech segments (the paper's
       candidates), longest first;
    2. ``dip``: the middle of each stretch of at least ``min_dip`` inside speech whose 10 ms frames are all
       more than 25 dB below the speech's loud frames (and 10 dB above the noise floor at most): short pauses
       that silero VAD, which smooths over a few hundred milliseconds, does not report; longest first;
    3. ``word`` (when ``words`` are given): near each boundary between two words (within 60 ms), the quietest
       10 ms frame; quietest first. Fluent read sentences often have no pause a VAD reports, and these are
       the only places to split them; :func:`verify_split` decides whether a point really separates words.

    Points closer than 0.1 s to a better one, or with less than ``min_side`` seconds of speech on a side,
    are dropped.

    Args:
        audio: The speech.
        vad: A VAD component (``speech_segments(audio)``); silero (packaged) when ``None``, with a 0.1 s
            minimum silence and 30 ms padding around speech.
        min_gap: Shortest VAD silence (after the VAD's padding), in seconds.
        min_side: Least speech (seconds from the first speech onset / to the last offset) on each side.
        segments: The VAD speech segments, if already known (``vad`` is then not run).
        words: Word timestamps (:func:`~.asr.word_timestamps`), for word-boundary candidates.
        min_dip: Shortest quiet stretch inside speech, in seconds.
    """
    if segments is None:
        segments = (vad or _default_vad()).speech_segments(audio)
    if not segments:
        return []
    first, last = segments[0][0], segments[-1][1]
    found = [
        SplitCandidate((start + end) / 2.0, end, start, "vad")
        for (_, end), (start, _) in zip(segments[:-1], segments[1:], strict=True)
        if start - end >= min_gap
    ]
    found.sort(key=lambda c: (-c.gap, c.point))
    level, frame = _frame_levels(audio)
    found += sorted(_dips(level, frame, first, last, min_dip), key=lambda c: (-c.gap, c.point))
    if words:
        found += _word_boundaries(level, frame, words)
    out: list[SplitCandidate] = []
    for candidate in found:
        if candidate.point - first < min_side or last - candidate.point < min_side:
            continue
        if all(abs(candidate.point - kept.point) >= 0.1 for kept in out):
            out.append(candidate)
    return out


def _frame_levels(audio: Audio, frame_seconds: float = 0.01) -> tuple[Any, float]:
    import numpy as np

    from ..dsp import frame_power

    power = frame_power(audio.samples, audio.sample_rate, frame_seconds)
    return 10.0 * np.log10(power + 1e-12), frame_seconds


def _dips(level: Any, frame: float, first: float, last: float, min_dip: float) -> list[SplitCandidate]:
    """Quiet stretches inside speech (see :func:`split_points`)."""
    import numpy as np

    if level.size < 3:
        return []
    floor, loud = float(np.percentile(level, 10)), float(np.percentile(level, 95))
    threshold = max(floor + 10.0, loud - 25.0)
    begin, end = int(first / frame), min(int(last / frame), level.size - 1)
    out, i = [], begin
    while i <= end:
        if level[i] < threshold:
            j = i
            while j + 1 <= end and level[j + 1] < threshold:
                j += 1
            if (j - i + 1) * frame >= min_dip and i > begin and j < end:
                out.append(SplitCandidate((i + j + 1) * frame / 2.0, i * frame, (j + 1) * frame, "dip"))
            i = j + 1
        else:
            i += 1
    return out


def _word_boundaries(level: Any, frame: float, words: Sequence[Word], reach: float = 0.06) -> list[SplitCandidate]:
    """The quietest frame near each boundary between two words, quietest first."""
    import numpy as np

    out = []
    for before, after in zip(words[:-1], words[1:], strict=True):
        middle = (before.end + after.start) / 2.0
        lo, hi = max(int((middle - reach) / frame), 0), min(int((middle + reach) / frame) + 1, level.size)
        if hi - lo < 1:
            continue
        quietest = lo + int(np.argmin(level[lo:hi]))
        point = (quietest + 0.5) * frame
        out.append((float(level[quietest]), SplitCandidate(point, point, point, "word")))
    return [candidate for _, candidate in sorted(out, key=lambda item: item[0])]


@dataclass
class SplitCheck:
    """The outcome of :func:`verify_split`.

    Attributes:
        point: The split point (s).
        accepted: Whether the split is kept.
        reason: Why not (empty when accepted).
        word_index: Units of the transcript left of the split (its place in the text).
        left_text: What the ASR heard left of the point.
        right_text: ... and right of it.
        left_cer: CER of the left side against the transcript prefix it aligns to.
        right_cer: ... of the right side against the suffix.
        longer_side: ``left`` or ``right``.
        against: ``transcript`` (the CERs are against the clip's transcript) or ``asr`` (against the same
            ASR's transcript of the whole clip; see :func:`verify_split`).
        seconds: Time the check took.
    """

    point: float
    accepted: bool
    reason: str
    word_index: int
    left_text: str
    right_text: str
    left_cer: float
    right_cer: float
    longer_side: str
    against: str = "transcript"
    seconds: float = 0.0

    def to_dict(self) -> dict[str, Any]:
        out = asdict(self)
        for key in ("point", "left_cer", "right_cer"):
            out[key] = round(out[key], 4)
        out["seconds"] = round(self.seconds, 3)
        return out


def verify_split(
    audio: Audio,
    point: float,
    transcript: str,
    asr: Any,
    language: str | None = None,
    max_cer: float = 0.1,
    asr_transcript: str | None = None,
) -> SplitCheck:
    """Stage 2b: check a split point by transcribing each side and aligning both to the transcript.

    The audio is cut at ``point``; ``asr`` transcribes each side; the transcript's units (words, or
    characters for Chinese) are split into the prefix and suffix that best match the two sides (least total
    edit distance). The point is accepted when the longer side's CER is below ``max_cer`` and the split has
    at least one unit on each side. Both sides' CERs are recorded.

    An ASR that always mishears a word (a name, an accent) would fail every split of a clip on that word
    alone. With ``asr_transcript`` (what the same ASR heard in the whole clip) a split that fails against
    the transcript is scored again against the ASR's own full text, which measures only what the cut did;
    the split's place is then carried over to the transcript's units by aligning the two texts
    (``against`` records which text decided).

    Args:
        audio: The speech.
        point: The split point in seconds.
        transcript: The clip's agreed text.
        asr: An ASR with ``transcribe(audio, language=None)`` (beam 1 is enough).
        language: Language code.
        max_cer: The longer side's CER must be below this.
        asr_transcript: The same ASR's transcript of the whole clip, if known.
    """
    start = time.perf_counter()
    lang = language_code(language)
    cut = int(round(point * audio.sample_rate))
    left = Audio(audio.samples[:cut], audio.sample_rate)
    right = Audio(audio.samples[cut:], audio.sample_rate)
    left_text = asr.transcribe(left, language=lang).text if left.duration >= 0.1 else ""
    right_text = asr.transcribe(right, language=lang).text if right.duration >= 0.1 else ""
    units = text_units(transcript, lang)
    alignment = best_split(left_text, right_text, units, lang)
    index, reason, against = alignment.index, _split_problem(alignment, len(units), max_cer), "transcript"
    if reason and asr_transcript and normalised(asr_transcript, lang) != normalised(transcript, lang):
        own_units = text_units(asr_transcript, lang)
        own = best_split(left_text, right_text, own_units, lang)
        mapped = map_index(own.index, own_units, units, lang)
        if not _split_problem(own, len(own_units), max_cer) and mapped is not None and 0 < mapped < len(units):
            alignment, index, reason, against = own, mapped, "", "asr"
    return SplitCheck(
        point=float(point),
        accepted=not reason,
        reason=reason,
        word_index=index,
        left_text=left_text,
        right_text=right_text,
        left_cer=alignment.left_cer,
        right_cer=alignment.right_cer,
        longer_side=alignment.longer_side,
        against=against,
        seconds=time.perf_counter() - start,
    )


def _split_problem(alignment: Any, n_units: int, max_cer: float) -> str:
    """Why a split alignment is not accepted ("" when it is)."""
    if alignment.index <= 0 or alignment.index >= n_units:
        return f"the sides align to {'nothing left' if alignment.index <= 0 else 'nothing right'} of the split"
    if alignment.longer_cer >= max_cer:
        return f"the longer ({alignment.longer_side}) side's CER {alignment.longer_cer:.2f} is not below {max_cer}"
    return ""


@dataclass(frozen=True)
class UnitTime:
    """A transcript unit with the time whisper's words give it (``matched``: aligned to a heard word)."""

    unit: str
    start: float
    end: float
    matched: bool = True

    def to_dict(self) -> dict[str, Any]:
        return {"word": self.unit, "start": round(self.start, 3), "end": round(self.end, 3)}


def unit_times(words: Sequence[Word], transcript: str, language: str | None = None) -> list[UnitTime]:
    """Each unit of ``transcript`` with a start and end time taken from whisper's ``words``.

    The words' normalised characters are aligned to the transcript's (least edit distance), so the words
    may differ a little from the transcript (another voter's text, the manifest's text); a unit takes the
    span of the words its characters are aligned to. A unit with no aligned character gets an empty span
    where the previous unit ends.
    """
    lang = language_code(language)
    units = text_units(transcript, lang)
    spaced = not is_character_language(lang)
    heard, owner = [], []
    for index, word in enumerate(words):
        chars = normalised(word.word, lang).replace(" ", "")
        heard.append(chars)
        owner.extend([index] * len(chars))
    target, unit_of = [], []
    for index, unit in enumerate(units):
        chars = normalised(unit, lang).replace(" ", "") if spaced else normalised(unit, lang)
        target.append(chars)
        unit_of.extend([index] * len(chars))
    pairs = align_characters("".join(heard), "".join(target))
    spans: list[list[float]] = [[] for _ in units]
    for position, source in enumerate(pairs):
        if source is not None:
            word = words[owner[source]]
            spans[unit_of[position]].extend([word.start, word.end])
    out: list[UnitTime] = []
    previous_end = 0.0
    for unit, span in zip(units, spans, strict=True):
        if span:
            item = UnitTime(unit, min(span), max(max(span), min(span)), True)
        else:
            item = UnitTime(unit, previous_end, previous_end, False)
        out.append(item)
        previous_end = item.end
    return out


@dataclass
class WordCheck:
    """The outcome of :func:`check_split_words`.

    Attributes:
        accepted: Whether the point passes.
        reason: Why not.
        word_index: Units whose middle lies left of the point (the word the point falls before).
        inside: The unit the point falls inside, if any.
    """

    accepted: bool
    reason: str
    word_index: int
    inside: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def check_split_words(
    point: float,
    times: Sequence[UnitTime],
    expected_index: int | None = None,
    silence: tuple[float, float] | None = None,
    tolerance: float = 0.2,
) -> WordCheck:
    """Stage 3 check: a split point must not fall inside a word, and must fall where the transcript split is.

    - **inside a word**: a word holds the point when the point is more than ``tolerance`` inside both its
      edges. Whisper often stretches the word before or after a pause over the pause; so when the
      ``silence`` around the point is given, a word holds the point only when it also runs past the silence
      on both sides (one word heard across the whole pause).
    - **where the transcripts split** (``expected_index``, from :func:`verify_split`): the point must not lie
      more than ``tolerance`` before the end of the word left of that split, nor more than ``tolerance``
      after the start of the word right of it.

    Whisper's word times (cross-attention alignment) are often 0.1-0.2 s off on real speech, hence the
    default ``tolerance`` of 0.2 s: the check catches gross disagreements; the transcripts of the two sides
    (:func:`verify_split`) are the finer test of a split between words.

    Args:
        point: The split point (s).
        times: The transcript's units with times (:func:`unit_times`).
        expected_index: The units left of the split according to :func:`verify_split`.
        silence: The quiet stretch ``(start, end)`` the point is the middle of.
        tolerance: Slack at a word's edges, in seconds.

    Returns:
        A :class:`WordCheck`; its ``word_index`` is ``expected_index`` when given, else the number of words
        whose middle lies left of the point.
    """
    index = sum(1 for t in times if (t.start + t.end) / 2.0 < point) if expected_index is None else expected_index
    for t in times:
        if not t.matched or not t.start + tolerance < point < t.end - tolerance:
            continue
        if silence is None or (t.start < silence[0] - tolerance and t.end > silence[1] + tolerance):
            return WordCheck(False, f"the point {point:.2f} s falls inside the word {t.unit!r}", index, t.unit)
    if expected_index is not None and 0 < expected_index < len(times):
        left, right = times[expected_index - 1], times[expected_index]
        if left.matched and point < left.end - tolerance:
            reason = f"the point {point:.2f} s is before the end of {left.unit!r} ({left.end:.2f} s)"
            return WordCheck(False, f"word timestamps disagree with the transcripts: {reason}", index)
        if right.matched and point > right.start + tolerance:
            reason = f"the point {point:.2f} s is after the start of {right.unit!r} ({right.start:.2f} s)"
            return WordCheck(False, f"word timestamps disagree with the transcripts: {reason}", index)
    return WordCheck(True, "", index)


def long_clip_cuts(
    segments: Sequence[tuple[float, float]],
    duration: float,
    max_seconds: float = 15.0,
    min_seconds: float = 3.0,
    min_gap: float = 0.25,
) -> list[tuple[float, float]]:
    """Cut a long recording into pieces of ``min_seconds``-``max_seconds`` at the middles of VAD silences.

    Greedy: from the start of each piece, cut at the latest silence (at least ``min_gap`` long) that keeps
    the piece within ``max_seconds`` and at least ``min_seconds``; a stretch with no such silence is dropped
    up to the next one. Each piece is voted on and verified like any clip.

    Returns:
        ``(start, end)`` seconds of each piece.
    """
    if not segments:
        return []
    cuts = [
        (end + start) / 2.0
        for (_, end), (start, _) in zip(segments[:-1], segments[1:], strict=False)
        if start - end >= min_gap
    ]
    pieces: list[tuple[float, float]] = []
    begin = max(0.0, segments[0][0] - 0.1)
    stop = min(duration, segments[-1][1] + 0.1)
    while stop - begin > max_seconds:
        fits = [c for c in cuts if min_seconds <= c - begin <= max_seconds]
        if fits:
            pieces.append((begin, fits[-1]))
            begin = fits[-1]
        else:
            later = [c for c in cuts if c - begin > max_seconds]
            if not later:
                return pieces
            begin = later[0]
    if stop - begin >= min_seconds:
        pieces.append((begin, stop))
    return pieces
