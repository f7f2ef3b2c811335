"""The ASR stage of the corpus pipeline: voters, the vote (stage 1) and word timestamps (stage 3).

Voters are any objects with ``transcribe(audio, language=None) -> Transcript`` (the library's ASR
components, ``registry.create("asr", "faster-whisper", model="base")``). :class:`WhisperWords` is the
packaged faster-whisper model run with word timestamps: as a voter it also gives the words' times, which the
later stages reuse, so a clip is decoded once for both.

Offline, the library has two whisper models: ``tiny.en`` (English only) and ``base`` (multilingual). English
clips are voted on by both; Chinese clips have only ``base``, so the manifest's exact text, when given, is
the second voter (a clip without text cannot be voted on and is rejected).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ...errors import ConfigError
from ...types import Audio, Transcript
from .text import character_error_rate, is_character_language, language_code, normalised

__all__ = [
    "REFERENCE",
    "VoteResult",
    "WhisperWords",
    "Word",
    "default_voters",
    "load_voter",
    "transcribe_and_vote",
    "word_timestamps",
]

#: The name the manifest's own text votes under.
REFERENCE = "reference"


@dataclass(frozen=True)
class Word:
    """A word (or, for Chinese, a few characters) whisper heard, with its time in seconds."""

    word: str
    start: float
    end: float
    probability: float = 1.0

    def to_dict(self) -> dict[str, Any]:
        return {"word": self.word, "start": round(self.start, 3), "end": round(self.end, 3)}


_MODELS: dict[tuple[str, str, int], Any] = {}
_LOCK = threading.Lock()


def _whisper_model(model: str, compute_type: str, cpu_threads: int) -> Any:
    """A faster-whisper ``WhisperModel`` of a packaged model name or a CTranslate2 folder, once per process."""
    from ...encoders.ctranslate2 import resolve_ct2_model

    key = (model, compute_type, cpu_threads)
    with _LOCK:
        if key not in _MODELS:
            from faster_whisper import WhisperModel

            source = resolve_ct2_model(model)
            _MODELS[key] = WhisperModel(
                str(source), device="cpu", compute_type=compute_type, cpu_threads=cpu_threads, local_files_only=True
            )
        return _MODELS[key]


class WhisperWords:
    """A packaged faster-whisper model that returns words with their times (``word_timestamps=True``).

    It decodes greedily (beam 1). With ``short_window`` (the default) it encodes only the clip plus
    ``window_margin_seconds`` of silence instead of whisper's 30 s window, as the ``faster-whisper`` ASR
    component does (about 3x faster on a short clip), then aligns the words with faster-whisper's own
    cross-attention alignment (``find_alignment``; times good to about 0.1 s). Clips too long for the short
    window go through ``WhisperModel.transcribe(word_timestamps=True)``.

    Args:
        model: ``"tiny.en"``, ``"base"`` or a CTranslate2 whisper folder.
        beam_size: Beam width (1: greedy).
        cpu_threads: CTranslate2 threads (0: its own choice).
        compute_type: CTranslate2 compute type.
        short_window: Encode only the clip and a margin.
        window_margin_seconds: Silence after the clip in the short window.
    """

    def __init__(
        self,
        model: str = "tiny.en",
        beam_size: int = 1,
        cpu_threads: int = 0,
        compute_type: str = "int8",
        short_window: bool = True,
        window_margin_seconds: float = 8.0,
    ) -> None:
        self.model = str(model)
        self.beam_size = int(beam_size)
        self.cpu_threads = int(cpu_threads)
        self.compute_type = compute_type
        self.short_window = bool(short_window)
        self.window_margin_seconds = float(window_margin_seconds)
        self.name = f"faster-whisper/{self.model}"

    @property
    def multilingual(self) -> bool:
        """Whether the model transcribes languages other than English."""
        return not self.model.endswith(".en")

    def transcribe_words(self, audio: Audio, language: str | None = None) -> tuple[Transcript, list[Word]]:
        """The transcript and its words with times (seconds from the start of ``audio``).

        Raises:
            ConfigError: a non-English language asked of an English-only model.
        """
        lang = language_code(language) if language else None
        if not self.multilingual:
            if lang not in (None, "en"):
                raise ConfigError(
                    f"The whisper model {self.model!r} is English-only and cannot transcribe {lang!r}; use 'base'."
                )
            lang = "en"
        model = _whisper_model(self.model, self.compute_type, self.cpu_threads)
        samples = np.ascontiguousarray(audio.resample(16000).samples, dtype=np.float32)
        if self.short_window and samples.size / 16000 + self.window_margin_seconds <= 30.0:
            text, lang, words = self._short(model, samples, lang)
        else:
            text, lang, words = self._full(model, samples, lang)
        return Transcript(text=text, language=lang, model=self.name), words

    def _full(self, model: Any, samples: np.ndarray, lang: str | None) -> tuple[str, str | None, list[Word]]:
        segments, info = model.transcribe(
            samples,
            language=lang,
            beam_size=self.beam_size,
            word_timestamps=True,
            condition_on_previous_text=False,
            temperature=0.0,
            vad_filter=False,
        )
        words: list[Word] = []
        texts: list[str] = []
        for segment in segments:
            texts.append(segment.text.strip())
            for w in segment.words or ():
                if w.word.strip():
                    words.append(Word(w.word.strip(), float(w.start), float(w.end), float(w.probability)))
        lang = info.language or lang
        return ("" if is_character_language(lang) else " ").join(t for t in texts if t), lang, words

    def _short(self, model: Any, samples: np.ndarray, lang: str | None) -> tuple[str, str | None, list[Word]]:
        import ctranslate2
        from faster_whisper.tokenizer import Tokenizer
        from faster_whisper.transcribe import merge_punctuations

        from ...components.asr.faster_whisper import SHORT_WINDOW_TOKENS_PER_SECOND, collapse_repetition

        margin = np.zeros(round(self.window_margin_seconds * 16000), dtype=np.float32)
        features = model.feature_extractor(np.concatenate([samples, margin]))
        frames = min(3000, features.shape[1] // 2 * 2)
        window = np.ascontiguousarray(features[None, :, :frames], dtype=np.float32)
        encoded = model.model.encode(ctranslate2.StorageView.from_array(window), to_cpu=False)
        multilingual = bool(model.model.is_multilingual)
        if lang is None:
            lang = model.model.detect_language(encoded)[0][0][0].strip("<|>") if multilingual else "en"
        tokenizer = Tokenizer(model.hf_tokenizer, multilingual, task="transcribe", language=lang)
        prompt = [*tokenizer.sot_sequence, tokenizer.no_timestamps]
        budget = int(samples.size / 16000 * SHORT_WINDOW_TOKENS_PER_SECOND) + 8
        result = model.model.generate(
            encoded, [prompt], beam_size=self.beam_size, max_length=min(448, len(prompt) + budget),
            suppress_blank=True, suppress_tokens=[-1],
        )[0]  # fmt: skip
        tokens = [t for t in result.sequences_ids[0] if t < tokenizer.eot]
        text = tokenizer.decode(tokens).strip()
        kept = collapse_repetition(text)
        if kept != text:  # whisper read the clip twice in the short window: align only the first reading
            tokens = tokenizer.encode(" " + kept)
            text = kept
        alignment = model.find_alignment(tokenizer, [tokens], encoded, samples.size // 160)[0] if tokens else []
        merge_punctuations(alignment, "\"'“¿([{-", "\"'.。,，!！?？:：”)]}、")
        duration = samples.size / 16000
        words = [
            Word(
                a["word"].strip(),
                min(float(a["start"]), duration),
                min(float(a["end"]), duration),
                float(a["probability"]),
            )
            for a in alignment
            if a["word"].strip()
        ]
        return text, lang, words

    def transcribe(self, audio: Audio, language: str | None = None) -> Transcript:
        """The transcript alone (the ASR component interface)."""
        return self.transcribe_words(audio, language)[0]


def load_voter(spec: Any, cpu_threads: int = 0) -> Any:
    """An ASR voter from a spec: an object with ``transcribe`` is returned as is.

    Strings: ``"words:tiny.en"`` / ``"words:base"`` a :class:`WhisperWords`; anything else a registry ASR
    spec (``"faster-whisper:model=base"``, ``"faster-whisper"``), built with beam 1.
    """
    if hasattr(spec, "transcribe"):
        return spec
    text = str(spec)
    if text.startswith("words:"):
        return WhisperWords(text.split(":", 1)[1], cpu_threads=cpu_threads)
    from ... import registry

    name, params = registry.parse_spec(text)
    if name == "faster-whisper":
        params.setdefault("beam_size", 1)
        params.setdefault("cpu_threads", cpu_threads)
    return registry.create("asr", name, **params)


def default_voters(language: str | None) -> list[str]:
    """The voter specs used when none are given: English ``base`` and ``tiny.en`` (the latter with word
    timestamps, reused downstream); other languages ``base`` with word timestamps (plus the manifest's
    text, which :func:`transcribe_and_vote` adds itself)."""
    if language_code(language) == "en":
        return ["faster-whisper:model=base", "words:tiny.en"]
    return ["words:base"]


@dataclass
class VoteResult:
    """The outcome of :func:`transcribe_and_vote`.

    Attributes:
        texts: What each voter heard (by name; the manifest's text is ``reference``).
        text: The agreed text (the manifest's text when it is among the agreeing voters, else the voter's
            text closest to all the others); empty when not accepted.
        source: Which voter the agreed text is from.
        agreement: CER between the two voters (two voters), or the largest CER of a majority voter to the
            agreed text (three or more).
        pairwise: CER between each pair of voters, ``"a|b"``.
        supporters: The voters within ``max_cer`` of the agreed text.
        accepted: Whether the clip is kept.
        reason: Why not (empty when accepted).
        language: The language code used.
        words: Word timestamps of the voter that gives them (see :class:`WhisperWords`), else ``None``.
        words_from: That voter's name.
        seconds: Time the vote took.
    """

    texts: dict[str, str]
    text: str
    source: str
    agreement: float
    pairwise: dict[str, float]
    supporters: list[str]
    accepted: bool
    reason: str
    language: str
    words: list[Word] | None = field(default=None, repr=False)
    words_from: str | None = None
    seconds: float = 0.0

    def to_dict(self) -> dict[str, Any]:
        """The manifest's ``asr_vote`` field (without the words)."""
        return {
            "texts": dict(self.texts),
            "text": self.text,
            "source": self.source,
            "agreement_cer": round(self.agreement, 4),
            "pairwise_cer": {k: round(v, 4) for k, v in self.pairwise.items()},
            "supporters": list(self.supporters),
            "accepted": self.accepted,
            "reason": self.reason,
            "language": self.language,
            "words_from": self.words_from,
            "seconds": round(self.seconds, 3),
        }


def _pair_cer(a: str, b: str, language: str) -> float:
    """Symmetric disagreement of two texts: normalised edit distance over the longer one's length."""
    from .text import edit_distance

    na, nb = normalised(a, language), normalised(b, language)
    longest = max(len(na), len(nb))
    return edit_distance(na, nb) / longest if longest else 0.0


def transcribe_and_vote(
    audio: Audio,
    asrs: Sequence[Any],
    language: str | None = None,
    reference_text: str | None = None,
    max_cer: float = 0.1,
) -> VoteResult:
    """Stage 1: transcribe ``audio`` with several ASR systems and keep it only if they agree.

    Each voter transcribes the clip; the manifest's ``reference_text``, when given, is one more voter.
    Texts are compared after normalisation (:func:`~emotionlayer.evaluation.asr.normalize_text`; Chinese in
    Simplified characters, without punctuation, by characters). Between two texts the disagreement is the
    edit distance over the longer text's length (with the reference, the CER against it).

    - two voters: accepted when their disagreement is at most ``max_cer``;
    - three or more: the text closest to all others (summed disagreement) is the candidate; accepted when a
      majority of the voters (itself included) is within ``max_cer`` of it.

    The agreed text is the reference when it is among the agreeing voters (it is exact), else the candidate
    (two voters: the first voter's text). It must not be empty.

    Args:
        audio: The speech.
        asrs: Voters: objects with ``transcribe(audio, language=None)``, or specs for :func:`load_voter`.
        language: Language code (``None``: English).
        reference_text: The clip's known text, if any.
        max_cer: Largest disagreement accepted.

    Returns:
        A :class:`VoteResult`.

    Raises:
        ConfigError: fewer than two voters in all.
    """
    start = time.perf_counter()
    lang = language_code(language)
    texts, words, words_from = _hear([load_voter(a) for a in asrs], audio, lang)
    if reference_text is not None and reference_text.strip():
        texts[REFERENCE] = reference_text.strip()
    names = list(texts)
    if len(names) < 2:
        raise ConfigError(
            f"The vote needs at least two voters, got {len(names)} ({', '.join(names) or 'none'}). Pass two ASR "
            "systems, or one and the clip's known text (for Chinese, only whisper base exists offline)."
        )
    pairwise, distance = _disagreements(texts, lang)
    accepted, source, supporters, agreement, reason = _decide(names, distance, pairwise, max_cer)
    if accepted and not normalised(texts[source], lang):
        accepted, reason = False, "no words heard"
    return VoteResult(
        texts=texts,
        text=texts[source] if accepted else "",
        source=source,
        agreement=agreement,
        pairwise=pairwise,
        supporters=supporters if accepted else [],
        accepted=accepted,
        reason=reason,
        language=lang,
        words=words,
        words_from=words_from,
        seconds=time.perf_counter() - start,
    )


def _hear(voters: Sequence[Any], audio: Audio, lang: str) -> tuple[dict[str, str], list[Word] | None, str | None]:
    """Each voter's text (by a unique name), and the words of the first voter that gives word times."""
    texts: dict[str, str] = {}
    words: list[Word] | None = None
    words_from: str | None = None
    for voter in voters:
        name = str(getattr(voter, "name", type(voter).__name__))
        while name in texts:
            name += "'"
        if hasattr(voter, "transcribe_words"):
            transcript, heard = voter.transcribe_words(audio, lang)
            if words is None:
                words, words_from = heard, name
        else:
            transcript = voter.transcribe(audio, language=lang)
        texts[name] = transcript.text.strip()
    return texts, words, words_from


def _disagreements(texts: dict[str, str], lang: str) -> tuple[dict[str, float], np.ndarray]:
    """The disagreement of each pair of texts (CER against the reference when one is), as a dict and a matrix."""
    names = list(texts)
    pairwise: dict[str, float] = {}
    distance = np.zeros((len(names), len(names)))
    for i, a in enumerate(names):
        for j in range(i + 1, len(names)):
            b = names[j]
            if REFERENCE in (a, b):
                ref, hyp = (texts[a], texts[b]) if a == REFERENCE else (texts[b], texts[a])
                value = character_error_rate(ref, hyp, lang)
            else:
                value = _pair_cer(texts[a], texts[b], lang)
            pairwise[f"{a}|{b}"] = distance[i, j] = distance[j, i] = value
    return pairwise, distance


def _decide(
    names: list[str], distance: np.ndarray, pairwise: dict[str, float], max_cer: float
) -> tuple[bool, str, list[str], float, str]:
    """Accepted?, the agreed text's voter, the supporters, the agreement figure and the reason if not."""
    if len(names) == 2:
        candidate = 1 if names[1] == REFERENCE else 0
    else:
        totals = distance.sum(axis=1)
        candidate = int(np.argmin(totals))
        if REFERENCE in names and totals[names.index(REFERENCE)] == totals[candidate]:
            candidate = names.index(REFERENCE)
    supporters = [n for k, n in enumerate(names) if k == candidate or distance[candidate, k] <= max_cer]
    needed = 2 if len(names) == 2 else len(names) // 2 + 1
    accepted = len(supporters) >= needed
    source = REFERENCE if accepted and REFERENCE in supporters else names[candidate]
    at = names.index(source)
    agreement = float(max((distance[at, names.index(n)] for n in supporters if n != source), default=0.0))
    if len(names) == 2:
        agreement = float(distance[0, 1])
    reason = ""
    if not accepted:
        reason = (
            f"ASR systems disagree: {len(supporters)} of {len(names)} within CER {max_cer} "
            f"({', '.join(f'{k} {v:.2f}' for k, v in pairwise.items())})"
        )
    return accepted, source, supporters, agreement, reason


def word_timestamps(audio: Audio, asr: Any = "tiny.en", language: str | None = None) -> list[Word]:
    """Stage 3: the words of ``audio`` with their start and end times, from faster-whisper's word timestamps.

    Args:
        audio: The speech.
        asr: A :class:`WhisperWords`, or a packaged model name (``"tiny.en"``, ``"base"``) or CTranslate2
            folder.
        language: Language code.
    """
    model = asr if isinstance(asr, WhisperWords) else WhisperWords(str(asr))
    return model.transcribe_words(audio, language)[1]
