"""Text helpers of the corpus pipeline: transcript units, normalised character error rates, and alignments.

A transcript is handled as a list of *units*, the places between which an event can go: words (split at
spaces) for English and other spaced languages; characters for Chinese, Japanese, Korean and Thai (a run of
Latin letters or digits stays one unit; punctuation sticks to the unit before it). Joining the units gives
the text back, so a tag inserted between units ``k-1`` and ``k`` leaves the words as they were.

Error rates are character error rates on the library's normalised text
(:func:`emotionlayer.evaluation.asr.normalize_text`: whisper's English normaliser; Chinese in Simplified
characters without punctuation or spaces).
"""

from __future__ import annotations

import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from ...evaluation.asr import CHARACTER_LANGUAGES, normalize_text

__all__ = [
    "SplitAlignment",
    "align_characters",
    "best_split",
    "character_error_rate",
    "edit_distance",
    "is_character_language",
    "join_units",
    "language_code",
    "map_index",
    "normalised",
    "tagged_text",
    "text_units",
]


def language_code(language: str | None) -> str:
    """``"en"``, ``"zh"``... from ``None`` (English), ``"zh-CN"``, ``"Chinese"``, ``"cmn"``."""
    code = (language or "en").strip().lower().replace("_", "-")
    code = {"english": "en", "chinese": "zh", "mandarin": "zh", "cmn": "zh"}.get(code, code)
    return code.split("-")[0] or "en"


def is_character_language(language: str | None) -> bool:
    """Whether ``language`` is written without spaces between words (its units are characters)."""
    return language_code(language) in CHARACTER_LANGUAGES


def _is_word_char(char: str) -> bool:
    return unicodedata.category(char)[0] in "LN"


def _is_cjk(char: str) -> bool:
    name = unicodedata.name(char, "")
    return name.startswith(("CJK", "HIRAGANA", "KATAKANA", "HANGUL", "THAI")) and _is_word_char(char)


def text_units(text: str, language: str | None = "en") -> list[str]:
    """The units of ``text`` between which an event may be placed.

    Spaced languages: the words (``text.split()``). Character languages: one unit per character, a run of
    Latin letters or digits kept whole, punctuation and spaces attached to the unit before (or, at the very
    start, after) them; ``join_units(text_units(t))`` gives ``t`` back without its spaces.

    Example:
        >>> text_units("就是下雨，也去。", "zh")
        ['就', '是', '下', '雨，', '也', '去。']
    """
    if not is_character_language(language):
        return text.split()
    units: list[str] = []
    lead = ""
    spaced = False
    for char in text.strip():
        if char.isspace():
            spaced = True
            continue
        joined, spaced = not spaced, False
        if _is_cjk(char):
            units.append(lead + char)
            lead = ""
        elif _is_word_char(char):
            if joined and units and not lead and _is_word_char(units[-1][-1]) and not _is_cjk(units[-1][-1]):
                units[-1] += char  # a Latin word or a number inside Chinese text stays one unit
            else:
                units.append(lead + char)
                lead = ""
        elif units:
            units[-1] += char
        else:
            lead += char
    if lead:
        units.append(lead)
    return units


def join_units(units: Sequence[str], language: str | None = "en") -> str:
    """The text of ``units``: joined by spaces, or with nothing between them for character languages."""
    return ("" if is_character_language(language) else " ").join(units)


def tagged_text(units: Sequence[str], index: int, label: str, language: str | None = "en") -> str:
    """The text with ``[label]`` between units ``index - 1`` and ``index``.

    Example:
        >>> tagged_text(["I", "was", "there."], 2, "laugh")
        'I was [laugh] there.'
    """
    tag = f"[{label}]"
    if is_character_language(language):
        return join_units(units[:index], language) + tag + join_units(units[index:], language)
    return " ".join([*units[:index], tag, *units[index:]])


def normalised(text: str, language: str | None = "en") -> str:
    """``text`` normalised for scoring (the library's :func:`normalize_text`)."""
    return normalize_text(text, language_code(language))


def edit_distance(a: Sequence, b: Sequence) -> int:
    """Levenshtein distance between two strings (or sequences)."""
    if isinstance(a, str) and isinstance(b, str):
        try:
            from rapidfuzz.distance import Levenshtein
        except ImportError:
            pass
        else:
            return int(Levenshtein.distance(a, b))
    return int(_last_row(a, b)[-1]) if len(a) else len(b)


def _last_row(a: Sequence, b: Sequence) -> np.ndarray:
    """``row[j]`` = edit distance between all of ``a`` and ``b[:j]``, for every ``j`` (one DP, O(|a||b|))."""
    steps = np.arange(len(b) + 1)
    row = steps.astype(np.int64)
    target = np.array([ord(c) if isinstance(c, str) else hash(c) for c in b], dtype=np.int64)
    for i, item in enumerate(a, start=1):
        code = ord(item) if isinstance(item, str) else hash(item)
        best = np.empty_like(row)
        best[0] = i
        best[1:] = np.minimum(row[1:] + 1, row[:-1] + (target != code))
        row = np.minimum.accumulate(best - steps) + steps  # insertions along the row
    return row


def character_error_rate(reference: str, hypothesis: str, language: str | None = "en") -> float:
    """Character error rate of ``hypothesis`` against ``reference`` after normalisation.

    Edit distance over the reference's length (spaces count as characters in spaced languages). An empty
    reference gives 0 for an empty hypothesis and 1 otherwise.
    """
    ref, hyp = normalised(reference, language), normalised(hypothesis, language)
    if not ref:
        return 0.0 if not hyp else 1.0
    return edit_distance(ref, hyp) / len(ref)


@dataclass(frozen=True)
class SplitAlignment:
    """The best split of a transcript into a prefix heard on the left and a suffix heard on the right.

    Attributes:
        index: Units of the transcript in the prefix (the split falls before unit ``index``).
        left_cer: CER of the left side's transcript against the prefix.
        right_cer: CER of the right side's transcript against the suffix.
        left_reference: The prefix, normalised.
        right_reference: The suffix, normalised.
    """

    index: int
    left_cer: float
    right_cer: float
    left_reference: str
    right_reference: str

    @property
    def longer_side(self) -> str:
        """``left`` or ``right``: the side whose reference text is longer."""
        return "left" if len(self.left_reference) >= len(self.right_reference) else "right"

    @property
    def longer_cer(self) -> float:
        """The CER of the longer side (the paper's acceptance figure)."""
        return self.left_cer if self.longer_side == "left" else self.right_cer


def best_split(left: str, right: str, units: Sequence[str], language: str | None = "en") -> SplitAlignment:
    """Align the transcripts of the two sides of a split to the full transcript's ``units``.

    Every split of the units into a prefix and a suffix is scored by the edit distance of ``left`` to the
    prefix plus that of ``right`` to the suffix (normalised text, characters); the least wins (ties: the
    earliest). One dynamic-programming pass per side gives all the prefixes' distances at once.

    Args:
        left: What an ASR heard left of the split.
        right: What it heard right of it.
        units: The transcript's units (:func:`text_units`).
        language: Language code.
    """
    spaced = not is_character_language(language)
    norm_units = [normalised(u, language) for u in units]
    glue = " " if spaced else ""
    full = glue.join(u for u in norm_units if u)
    # character offset in ``full`` where the prefix of each unit count ends, and where its suffix starts
    ends, starts, offset, seen = [], [], 0, False
    for k in range(len(units) + 1):
        ends.append(offset)
        starts.append(offset + (1 if spaced and seen and offset < len(full) else 0))
        if k < len(units) and norm_units[k]:
            offset += (len(glue) if seen else 0) + len(norm_units[k])
            seen = True
    left_n, right_n = normalised(left, language), normalised(right, language)
    left_row = _last_row(left_n, full)
    right_row = _last_row(right_n[::-1], full[::-1])
    best_k, best_cost = 0, None
    for k in range(len(units) + 1):
        cost = int(left_row[ends[k]]) + int(right_row[len(full) - min(starts[k], len(full))])
        if best_cost is None or cost < best_cost:
            best_k, best_cost = k, cost
    prefix = full[: ends[best_k]]
    suffix = full[min(starts[best_k], len(full)) :]

    def rate(ref: str, errors: int, hyp: str) -> float:
        return errors / len(ref) if ref else (0.0 if not hyp else 1.0)

    return SplitAlignment(
        index=best_k,
        left_cer=rate(prefix, int(left_row[ends[best_k]]), left_n),
        right_cer=rate(suffix, int(right_row[len(full) - min(starts[best_k], len(full))]), right_n),
        left_reference=prefix,
        right_reference=suffix,
    )


def align_characters(source: str, target: str) -> list[int | None]:
    """For each character of ``target``, the index of the ``source`` character it is aligned to (or None).

    A minimum-edit-distance alignment (matches and substitutions pair characters; insertions and deletions
    do not).
    """
    try:
        from rapidfuzz.distance import Levenshtein
    except ImportError:
        return _align_characters_dp(source, target)
    pairs: list[int | None] = [None] * len(target)
    for block in Levenshtein.opcodes(source, target):
        if block.tag in ("equal", "replace"):
            for offset in range(min(block.src_end - block.src_start, block.dest_end - block.dest_start)):
                pairs[block.dest_start + offset] = block.src_start + offset
    return pairs


def _align_characters_dp(source: str, target: str) -> list[int | None]:
    n, m = len(source), len(target)
    table = np.zeros((n + 1, m + 1), dtype=np.int64)
    table[:, 0] = np.arange(n + 1)
    table[0, :] = np.arange(m + 1)
    for i in range(1, n + 1):
        for j in range(1, m + 1):
            table[i, j] = min(
                table[i - 1, j] + 1, table[i, j - 1] + 1, table[i - 1, j - 1] + (source[i - 1] != target[j - 1])
            )
    pairs: list[int | None] = [None] * m
    i, j = n, m
    while i > 0 and j > 0:
        if table[i, j] == table[i - 1, j - 1] + (source[i - 1] != target[j - 1]):
            pairs[j - 1] = i - 1
            i, j = i - 1, j - 1
        elif table[i, j] == table[i - 1, j] + 1:
            i -= 1
        else:
            j -= 1
    return pairs


def map_index(
    index: int, source_units: Sequence[str], target_units: Sequence[str], language: str | None = "en"
) -> int | None:
    """The place in ``target_units`` of the boundary before ``source_units[index]``, or ``None``.

    The two texts' normalised characters are aligned (least edit distance); the boundary maps to the first
    target unit whose first character is aligned at or after it. ``None`` when the boundary lands inside a
    target unit (the texts disagree there).
    """

    def chars(units: Sequence[str]) -> tuple[str, list[int], list[bool]]:
        text, owner, first = [], [], []
        for k, unit in enumerate(units):
            norm = normalised(unit, language).replace(" ", "")
            for position, char in enumerate(norm):
                text.append(char)
                owner.append(k)
                first.append(position == 0)
        return "".join(text), owner, first

    source, source_owner, _ = chars(source_units)
    target, target_owner, target_first = chars(target_units)
    if index <= 0 or index >= len(source_units):
        return 0 if index <= 0 else len(target_units)
    offset = next((i for i, k in enumerate(source_owner) if k >= index), len(source))
    pairs = align_characters(source, target)
    for j, aligned in enumerate(pairs):
        if aligned is not None and aligned >= offset:
            return target_owner[j] if target_first[j] else None
    return None
