"""ASR evaluation: word and character error rates on a manifest of recordings with reference text.

Texts are normalised before scoring the way whisper's papers do, so that "Mr. Smith paid $20." and
"mister smith paid twenty dollars" count as equal:

* English: whisper's ``EnglishTextNormalizer`` (case, punctuation, contractions, spelled-out numbers,
  British spellings), taken from the ``openai-whisper`` package when installed, else from
  ``transformers`` (the same code, without the British->American spelling list), else a small
  built-in fallback that handles case, punctuation, brackets, fillers and contractions but not numbers.
* Other languages: whisper's ``BasicTextNormalizer`` (case, punctuation, bracketed words).
* Chinese, Japanese, Korean and Thai have no spaces between words, so they are scored by character
  error rate only: spaces are removed before scoring, and their WER is not reported. whisper writes
  Mandarin in Traditional or Simplified characters; both are mapped to Simplified when the optional
  ``opencc`` package is installed.

Example:
    >>> from emotionlayer.evaluation.asr import evaluate_asr
    >>> result = evaluate_asr("path/to/manifest.csv")  # doctest: +SKIP
    >>> result.to_dict()  # doctest: +SKIP
    {'n': 384, 'wer': 0.031, 'cer': 0.012, ...}
"""

from __future__ import annotations

import logging
import re
import time
import unicodedata
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any

from ..errors import ConfigError, MissingDependencyError

logger = logging.getLogger(__name__)

#: Languages written without spaces between words: scored by CER, with spaces removed.
CHARACTER_LANGUAGES = frozenset({"zh", "ja", "ko", "th", "yue", "lo", "my"})

_FILLERS = r"\b(hmm|mm|mhm|mmm|uh|um)\b"
# Whisper's EnglishTextNormalizer contraction rules, in its order.
_CONTRACTIONS: tuple[tuple[str, str], ...] = (
    (r"\bwon't\b", "will not"),
    (r"\bcan't\b", "can not"),
    (r"\blet's\b", "let us"),
    (r"\bain't\b", "aint"),
    (r"\by'all\b", "you all"),
    (r"\bwanna\b", "want to"),
    (r"\bgotta\b", "got to"),
    (r"\bgonna\b", "going to"),
    (r"\bi'ma\b", "i am going to"),
    (r"\bimma\b", "i am going to"),
    (r"\bwoulda\b", "would have"),
    (r"\bcoulda\b", "could have"),
    (r"\bshoulda\b", "should have"),
    (r"\bma'am\b", "madam"),
    (r"\bmr\b", "mister "),
    (r"\bmrs\b", "missus "),
    (r"\bst\b", "saint "),
    (r"\bdr\b", "doctor "),
    (r"\bprof\b", "professor "),
    (r"\bcapt\b", "captain "),
    (r"\bgov\b", "governor "),
    (r"\bald\b", "alderman "),
    (r"\bgen\b", "general "),
    (r"\bsen\b", "senator "),
    (r"\brep\b", "representative "),
    (r"\bpres\b", "president "),
    (r"\brev\b", "reverend "),
    (r"\bhon\b", "honorable "),
    (r"\basst\b", "assistant "),
    (r"\bassoc\b", "associate "),
    (r"\blt\b", "lieutenant "),
    (r"\bcol\b", "colonel "),
    (r"\bjr\b", "junior "),
    (r"\bsr\b", "senior "),
    (r"\besq\b", "esquire "),
    (r"'d been\b", " had been"),
    (r"'s been\b", " has been"),
    (r"'d gone\b", " had gone"),
    (r"'s gone\b", " has gone"),
    (r"'d done\b", " had done"),
    (r"'s got\b", " has got"),
    (r"n't\b", " not"),
    (r"'re\b", " are"),
    (r"'s\b", " is"),
    (r"'d\b", " would"),
    (r"'ll\b", " will"),
    (r"'t\b", " not"),
    (r"'ve\b", " have"),
    (r"'m\b", " am"),
)
_DIACRITICS = {"œ": "oe", "Œ": "OE", "ø": "o", "Ø": "O", "æ": "ae", "Æ": "AE", "ß": "ss", "ẞ": "SS", "đ": "d",
               "Đ": "D", "ð": "d", "Ð": "D", "þ": "th", "Þ": "th", "ł": "l", "Ł": "L"}  # fmt: skip


def _remove_symbols_and_diacritics(s: str, keep: str = "") -> str:
    out = []
    for c in unicodedata.normalize("NFKD", s):
        if c in keep:
            out.append(c)
        elif c in _DIACRITICS:
            out.append(_DIACRITICS[c])
        elif unicodedata.category(c) == "Mn":
            continue
        elif unicodedata.category(c)[0] in "MSP":
            out.append(" ")
        else:
            out.append(c)
    return "".join(out)


def _remove_symbols(s: str) -> str:
    return "".join(" " if unicodedata.category(c)[0] in "MSP" else c for c in unicodedata.normalize("NFKC", s))


def _remove_bracketed(s: str) -> str:
    s = re.sub(r"[<\[][^>\]]*[>\]]", "", s)
    return re.sub(r"\(([^)]+?)\)", "", s)


def fallback_english_normalizer(text: str) -> str:
    """Whisper's English normalisation without its number and spelling rules (used when neither
    ``openai-whisper`` nor ``transformers`` is installed)."""
    s = _remove_bracketed(text.lower())
    s = re.sub(_FILLERS, "", s)
    s = re.sub(r"\s+'", "'", s)
    for pattern, replacement in _CONTRACTIONS:
        s = re.sub(pattern, replacement, s)
    s = re.sub(r"(\d),(\d)", r"\1\2", s)
    s = re.sub(r"\.([^0-9]|$)", r" \1", s)
    s = _remove_symbols_and_diacritics(s, keep=".%$¢€£")
    s = re.sub(r"[.$¢€£]([^0-9])", r" \1", s)
    s = re.sub(r"([^0-9])%", r"\1 ", s)
    return re.sub(r"\s+", " ", s).strip()


def fallback_basic_normalizer(text: str) -> str:
    """Whisper's ``BasicTextNormalizer`` (lower case, no bracketed words, symbols to spaces)."""
    s = _remove_bracketed(text.lower())
    s = _remove_symbols(s).lower()
    return re.sub(r"\s+", " ", s).strip()


@lru_cache(maxsize=1)
def _english_normalizer() -> tuple[Callable[[str], str], str]:
    try:
        from whisper.normalizers import EnglishTextNormalizer

        return EnglishTextNormalizer(), "openai-whisper"
    except ImportError:
        pass
    try:
        from transformers.models.whisper.english_normalizer import EnglishTextNormalizer

        return EnglishTextNormalizer({}), "transformers"
    except ImportError:
        pass
    logger.warning(
        "Neither openai-whisper nor transformers is installed: English text is normalised without whisper's "
        'number rules. pip install "emotionlayer[whisper]" for the exact normaliser.'
    )
    return fallback_english_normalizer, "fallback"


@lru_cache(maxsize=1)
def _basic_normalizer() -> Callable[[str], str]:
    try:
        from whisper.normalizers import BasicTextNormalizer

        return BasicTextNormalizer()
    except ImportError:
        return fallback_basic_normalizer


def english_normalizer_source() -> str:
    """Which English normaliser is in use: ``"openai-whisper"``, ``"transformers"`` or ``"fallback"``."""
    return _english_normalizer()[1]


def normalize_text(text: str, language: str | None = "en") -> str:
    """Normalise a transcript for scoring.

    Args:
        text: Reference or hypothesis text.
        language: ISO 639-1 code; ``"en"`` (or ``None``) uses whisper's English rules, other languages
            the basic rules; languages without word spaces (zh, ja, ko, th...) also lose their spaces.

    Returns:
        The normalised text (lower case, no punctuation, single spaces).
    """
    lang = (language or "en").lower().split("-")[0]
    if lang == "en":
        out = _english_normalizer()[0](text)
    else:
        out = _basic_normalizer()(text)
    out = re.sub(r"\s+", " ", out).strip()
    if lang == "zh":
        out = to_simplified_chinese(out)
    if lang in CHARACTER_LANGUAGES:
        out = out.replace(" ", "")
    return out


@lru_cache(maxsize=1)
def _t2s() -> Callable[[str], str] | None:
    try:
        import opencc
    except ImportError:
        return None
    for config in ("t2s", "t2s.json"):
        try:
            return opencc.OpenCC(config).convert
        except Exception:  # configs are named with or without .json depending on the opencc build
            continue
    return None


def to_simplified_chinese(text: str) -> str:
    """Traditional -> Simplified Chinese characters (whisper writes Mandarin in either), when the optional
    ``opencc`` package is installed; otherwise the text is returned unchanged."""
    convert = _t2s()
    return convert(text) if convert is not None else text


def _jiwer() -> Any:
    try:
        import jiwer
    except ImportError:
        raise MissingDependencyError("jiwer", "eval", purpose="ASR evaluation") from None
    return jiwer


def error_rates(
    references: Sequence[str], hypotheses: Sequence[str], languages: Sequence[str | None] | None = None
) -> dict[str, float | None]:
    """Corpus-level WER and CER after normalisation.

    Args:
        references: The reference texts.
        hypotheses: The recognised texts, in the same order.
        languages: One language code per pair (``None`` means English).

    Returns:
        ``{"wer": ..., "cer": ...}``. WER counts only pairs in languages written with spaces (``None`` if
        there are none); CER counts every pair. Both are ``None`` when every reference normalises to empty.
    """
    if len(references) != len(hypotheses):
        raise ConfigError(f"{len(references)} references but {len(hypotheses)} hypotheses; they must pair up.")
    langs = list(languages) if languages is not None else [None] * len(references)
    jiwer = _jiwer()
    refs = [normalize_text(r, lang) for r, lang in zip(references, langs, strict=True)]
    hyps = [normalize_text(h, lang) for h, lang in zip(hypotheses, langs, strict=True)]
    keep = [i for i, r in enumerate(refs) if r]
    if len(keep) < len(refs):
        logger.warning("%d reference(s) are empty after normalisation and are not scored.", len(refs) - len(keep))
    if not keep:
        return {"wer": None, "cer": None}
    word = [i for i in keep if (langs[i] or "en").split("-")[0].lower() not in CHARACTER_LANGUAGES]
    wer = float(jiwer.wer([refs[i] for i in word], [hyps[i] for i in word])) if word else None
    cer = float(jiwer.cer([refs[i] for i in keep], [hyps[i] for i in keep]))
    return {"wer": wer, "cer": cer}


@dataclass(frozen=True)
class ASRItem:
    """One scored recording."""

    path: str
    reference: str
    hypothesis: str
    language: str | None
    seconds: float
    duration: float

    def to_dict(self) -> dict[str, Any]:
        return {
            "path": self.path,
            "reference": self.reference,
            "hypothesis": self.hypothesis,
            "language": self.language,
            "seconds": round(self.seconds, 4),
            "duration": round(self.duration, 4),
        }


@dataclass(frozen=True)
class ASRReport:
    """The figures of one ASR evaluation.

    Attributes:
        n: Number of recordings scored.
        wer: Corpus word error rate (0.05 = 5%); ``None`` if only character languages were scored.
        cer: Corpus character error rate.
        model: The ASR backend's ``name``.
        real_time_factor: Transcription time / audio duration (below 1 is faster than real time).
        normalizer: Which English normaliser was used.
        items: Each recording with its reference and hypothesis.
    """

    n: int
    wer: float | None
    cer: float | None
    model: str = ""
    real_time_factor: float | None = None
    normalizer: str = ""
    items: tuple[ASRItem, ...] = field(default=(), repr=False)

    def to_dict(self, include_items: bool = False) -> dict[str, Any]:
        """The JSON shape of ``emotionlayer evaluate asr --json``."""
        out: dict[str, Any] = {
            "n": self.n,
            "wer": None if self.wer is None else round(self.wer, 6),
            "cer": None if self.cer is None else round(self.cer, 6),
            "model": self.model,
            "real_time_factor": None if self.real_time_factor is None else round(self.real_time_factor, 4),
            "normalizer": self.normalizer,
        }
        if include_items:
            out["items"] = [item.to_dict() for item in self.items]
        return out

    def errors(self, limit: int = 10) -> list[ASRItem]:
        """Recordings whose normalised hypothesis differs from the reference (for error analysis)."""
        wrong = [
            i for i in self.items if normalize_text(i.reference, i.language) != normalize_text(i.hypothesis, i.language)
        ]
        return wrong[:limit]


def score(items: Sequence[ASRItem], model: str = "") -> ASRReport:
    """Build an :class:`ASRReport` from already transcribed items."""
    rates = error_rates([i.reference for i in items], [i.hypothesis for i in items], [i.language for i in items])
    audio = sum(i.duration for i in items)
    rtf = (sum(i.seconds for i in items) / audio) if audio > 0 else None
    return ASRReport(
        n=len(items),
        wer=rates["wer"],
        cer=rates["cer"],
        model=model,
        real_time_factor=rtf,
        normalizer=english_normalizer_source(),
        items=tuple(items),
    )


def evaluate_asr(
    manifest: str | Path,
    asr: Any = "faster-whisper",
    language: str | None = None,
    limit: int | None = None,
    params: dict[str, Any] | None = None,
    progress: bool = False,
) -> ASRReport:
    """Transcribe every recording of a manifest and score it against the reference text.

    Args:
        manifest: CSV or JSONL file with columns ``path`` (relative to the manifest's folder), ``text`` and
            optionally ``language``.
        asr: A registered ASR backend name, or a backend object with ``transcribe``.
        language: Language for every row (overrides the manifest's ``language`` column); ``None`` uses the
            column, or lets the model detect it.
        limit: Score only the first ``limit`` rows.
        params: Constructor parameters when ``asr`` is a name (e.g. ``{"model": "base"}``).
        progress: Show a progress bar on stderr.

    Returns:
        An :class:`ASRReport` (``report.to_dict()`` gives ``{"n", "wer", "cer", ...}``).

    Raises:
        ManifestError: the manifest is missing, malformed, or has rows without ``text``.
    """
    from ..audio import load_audio
    from ..data.manifest import ManifestError, read_manifest
    from ..registry import create

    _jiwer()  # fail before loading a model when jiwer is missing
    rows = read_manifest(manifest)
    if limit is not None:
        rows = rows[: max(0, int(limit))]
    missing = [r.line for r in rows if not r.text]
    if missing:
        raise ManifestError(
            f"{manifest}: {len(missing)} row(s) have no reference text (lines {', '.join(map(str, missing[:5]))}"
            f"{'...' if len(missing) > 5 else ''}). ASR evaluation needs a 'text' column filled on every row."
        )
    backend = create("asr", asr, **(params or {})) if isinstance(asr, str) else asr
    if hasattr(backend, "warmup"):
        backend.warmup()
    iterator: Any = rows
    if progress:
        from tqdm import tqdm

        iterator = tqdm(rows, desc="transcribing", unit="clip")
    items: list[ASRItem] = []
    for row in iterator:
        audio = load_audio(row.path, max_seconds=None)
        lang = language or row.language
        start = time.perf_counter()
        transcript = backend.transcribe(audio, language=lang)
        seconds = time.perf_counter() - start
        items.append(
            ASRItem(
                path=row.path,
                reference=row.text or "",
                hypothesis=transcript.text,
                language=lang or transcript.language,
                seconds=seconds,
                duration=audio.duration,
            )
        )
    return score(items, model=getattr(backend, "name", type(backend).__name__))
