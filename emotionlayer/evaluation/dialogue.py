"""Evaluate dialogue systems on spoken clips: E-chat's comparison, plus whether the voice matters.

Every registered dialogue system (``cascade``, ``topline``, ``echat``, ``paralingpt``, plugins) answers
each clip of a manifest, and its replies are scored the way the E-chat paper scores E-chat, ParalinGPT
and its GPT-3.5 topline:

* **BLEU-1 / BLEU-4** (0-100): corpus BLEU of the replies against the reference replies (``sacrebleu``,
  its default 13a tokenisation; Chinese split into characters with sacrebleu's ``zh`` tokeniser, other
  languages written without spaces into characters).
* **SIM** (0-100): the mean cosine similarity x 100 of each reply's sentence embedding and its
  reference's: all-MiniLM-L6-v2 for English, multilingual-e5-small for every other language (both
  packaged, offline). The two models' scales differ (e5 puts unrelated sentences near 85), so compare
  SIM within one language only.
* **emotion accuracy / UA** (0-1): the emotion the system heard against the manifest's, for systems
  that recognise one (weighted accuracy and the mean per-class recall, as ``evaluate ser``).
* **WER / CER** (0-1): of the system's transcript, for systems that make one (whisper normalisation,
  :func:`emotionlayer.evaluation.asr.error_rates`).
* **latency**: median and 90th percentile of ``turn.timings["total"]`` in seconds.

The reference replies are the manifest's ``reference`` column when every row has one; otherwise the
``topline`` system's replies (the paper's choice), so the topline is then always run, and its own
BLEU and SIM are left out (``None``): a reference is not scored against itself.

Two more figures ask whether a reply depends on *how* the words were said. Over clips that say the same
words (same normalised ``text``) in different emotions:

* **emotion sensitivity** (0-1): the share of pairs of such clips, with different true emotions, whose
  two replies have a SIM below :data:`SENSITIVITY_THRESHOLDS` (80 with MiniLM, 95 with e5): "the reply
  changes when only the emotion changes". A system that ignores the voice scores 0 (if it answers the
  same words the same way).
* **same-emotion change** (0-1): the same share over pairs with the *same* emotion: how often the reply
  changes although only the recording changed (ASR slips, sampling). Sensitivity well above this floor
  is the voice at work.
* **mean pair SIM**, same emotion vs different emotion (0-100): the graded view of the same pairs; the
  emotion shapes the replies when the second is well below the first.
* **strategy match** (0-1): how often the reply's empathy strategy (``turn.response.strategy``) is the
  config's strategy for the clip's true emotion (``PipelineConfig.strategy_for``); ``None`` for systems
  that report none of the config's strategies.

Replies are cached (``cache_dir``): each one is appended to ``replies.jsonl`` and fsynced as soon as it
exists, keyed by the system spec, a hash of the config, the clip's path and a hash of its audio (or
the text and emotion it is given, for the topline), so a killed run resumes where it stopped and adding a system
computes only that system's replies.

The records and the report (:class:`DialogueReport`, written as Markdown, CSV, JSON and a bar chart)
live in :mod:`emotionlayer.evaluation.dialogue_report`; BLEU and SIM in
:mod:`emotionlayer.evaluation.reply_metrics`.

Example::

    from emotionlayer.evaluation.dialogue import evaluate_dialogue

    report = evaluate_dialogue("clips.csv", ["cascade", "topline"], limit=24, report_dir="report")
    report.to_dict()   # {"systems": {"cascade": {"bleu1": ..., "sim": ..., ...}, "topline": {...}}, "n": 24}
"""

from __future__ import annotations

import hashlib
import importlib
import json
import logging
import math
import os
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Union

import numpy as np

from ..config import PipelineConfig
from ..data.manifest import ManifestError, ManifestRow, read_manifest
from ..errors import ConfigError
from ..parallel import run_in_processes, run_on_ray
from .asr import error_rates, normalize_text
from .dialogue_report import DialogueClip, DialogueReply, DialogueReport, SystemScores
from .metrics import classification_report
from .reply_metrics import Embedder, bleu, embed, sensitivity_threshold, unit_rows

logger = logging.getLogger(__name__)

PathLike = Union[str, os.PathLike]
#: The system whose replies are the reference when the manifest has no ``reference`` column.
REFERENCE_SYSTEM = "topline"

__all__ = [
    "REFERENCE_SYSTEM",
    "DialogueClip",
    "DialogueReply",
    "DialogueReport",
    "ReplyCache",
    "SystemScores",
    "config_hash",
    "evaluate_dialogue",
    "reply_key",
    "score_replies",
    "split_system_specs",
]


# -- specs and the cache -------------------------------------------------------------------------
def split_system_specs(text: str | Sequence[str]) -> list[str]:
    """Split ``"cascade,topline,echat:model=DIR,device=cpu"`` into system specs.

    A comma starts a new system unless what follows is another ``KEY=VALUE`` of the previous spec (it has
    an ``=`` and no ``:`` before it). Lists are split item by item. Empty items are dropped.
    """
    items = [text] if isinstance(text, str) else list(text)
    specs: list[str] = []
    for item in items:
        for token in (t.strip() for t in str(item).split(",")):
            if not token:
                continue
            continues = "=" in token and ":" not in token.split("=", 1)[0]
            if continues and specs and ":" in specs[-1]:
                specs[-1] += "," + token
            else:
                specs.append(token)
    return specs


def config_hash(config: PipelineConfig) -> str:
    """A short hash of a config's contents (part of the cache key: another config, other replies)."""
    text = json.dumps(config.to_dict(), sort_keys=True, ensure_ascii=False, default=str)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:16]


def reply_key(spec: str, config_digest: str, clip: DialogueClip, truth: bool) -> str:
    """The cache key of one system's reply to one clip: what the system is and exactly what it is given."""
    given: dict[str, Any] = {"path": clip.path, "language": clip.language}
    if truth:
        given.update(text=clip.text, emotion=clip.emotion)
    else:
        given.update(audio=clip.audio_sha256)
    text = json.dumps({"system": spec, "config": config_digest, "clip": given}, sort_keys=True, ensure_ascii=False)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


class ReplyCache:
    """Replies already computed, in ``<folder>/replies.jsonl``: one JSON line per reply, fsynced on append.

    A torn last line (a process killed mid-write) is cut off when the cache is opened, so the next append
    starts on a fresh line. ``folder=None`` keeps the replies in memory only.
    """

    FILE = "replies.jsonl"

    def __init__(self, folder: PathLike | None = None) -> None:
        self.records: dict[str, dict[str, Any]] = {}
        self._journal = None
        if folder is not None:
            from ..data.generation.journal import Journal

            target = Path(folder).expanduser()
            target.mkdir(parents=True, exist_ok=True)
            self._journal = Journal(target / self.FILE)
            self.records = self._journal.records

    def get(self, key: str) -> DialogueReply | None:
        record = self.records.get(key)
        if record is None:
            return None
        try:
            return DialogueReply.from_dict(record["reply"])
        except (KeyError, TypeError, ValueError):
            logger.warning("Ignoring an unreadable cached reply %s", key[:12])
            return None

    def put(self, key: str, reply: DialogueReply) -> None:
        record = {"id": key, "reply": reply.to_dict()}
        if self._journal is not None:
            self._journal.append(record)  # write + flush + fsync
        else:
            self.records[key] = record

    def close(self) -> None:
        if self._journal is not None:
            self._journal.close()

    def __enter__(self) -> ReplyCache:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


# -- answering: in this process, in local processes, in Ray actors -------------------------------
@dataclass(frozen=True)
class _Task:
    key: str
    spec: str
    clip: DialogueClip
    truth: bool


class _Answerer:
    """Builds each system once (in the process or actor that holds it) and answers tasks with it."""

    def __init__(self, config: PipelineConfig, modules: Sequence[str] = ()) -> None:
        for module in modules:  # systems and backends registered by modules the registry does not import itself
            importlib.import_module(module)
        self.config = config
        self.systems: dict[str, Any] = {}

    def system(self, spec: str) -> Any:
        if spec not in self.systems:
            from ..systems import build_system

            built = build_system(self.config, spec)
            warm = getattr(built, "warmup", None)
            if callable(warm):
                warm()  # load the models now, so the first turn's time is a turn's time
            self.systems[spec] = built
        return self.systems[spec]

    def __call__(self, task: _Task) -> tuple[str, DialogueReply]:
        system = self.system(task.spec)
        turn = system.respond(task.clip.to_utterance(task.truth, self.config.pipeline.max_seconds))
        return task.key, DialogueReply.from_turn(task.spec, task.clip.path, turn)


_PROCESS_ANSWERER: _Answerer | None = None


def _init_process(config: PipelineConfig, modules: Sequence[str]) -> None:
    global _PROCESS_ANSWERER
    _PROCESS_ANSWERER = _Answerer(config, modules)


def _answer_in_process(task: _Task) -> tuple[str, DialogueReply]:
    assert _PROCESS_ANSWERER is not None, "worker process was not initialised"
    return _PROCESS_ANSWERER(task)


def _run_serial(config: PipelineConfig, tasks: Sequence[_Task], modules: Sequence[str]) -> Iterator[tuple[str, DialogueReply]]:
    answerer = _Answerer(config, modules)
    try:
        for task in tasks:
            yield answerer(task)
    finally:
        for system in answerer.systems.values():
            close = getattr(system, "close", None)
            if callable(close):
                close()


def _run_processes(
    config: PipelineConfig, tasks: Sequence[_Task], modules: Sequence[str], workers: int
) -> Iterator[tuple[str, DialogueReply]]:
    yield from run_in_processes(_init_process, (config, tuple(modules)), _answer_in_process, tasks, workers)


class _RayAnswerer:
    """A Ray actor holding one :class:`_Answerer` (its systems are built once per actor)."""

    def __init__(self, config: PipelineConfig, modules: Sequence[str]) -> None:
        self.answerer = _Answerer(config, modules)

    def run(self, task: _Task) -> tuple[str, DialogueReply]:
        return self.answerer(task)


def _run_ray(
    config: PipelineConfig, tasks: Sequence[_Task], modules: Sequence[str], workers: int, address: str
) -> Iterator[tuple[str, DialogueReply]]:
    yield from run_on_ray(_RayAnswerer, (config, tuple(modules)), tasks, workers, address, purpose="evaluating with Ray")


# -- scores --------------------------------------------------------------------------------------
def _round(value: float | None, digits: int) -> float | None:
    return None if value is None or not math.isfinite(value) else round(float(value), digits)


def _flag(system_class: type | None, attribute: str) -> bool | None:
    value = getattr(system_class, attribute, None) if system_class is not None else None
    return None if value is None else bool(value)


@dataclass(frozen=True)
class _PairFigures:
    sensitivity: float | None
    floor: float | None
    pairs: int
    sim_same: float | None
    sim_different: float | None


def _sensitivity(clips: Sequence[DialogueClip], vectors: np.ndarray, thresholds: Sequence[float]) -> _PairFigures:
    """Reply pairs of clips with the same words: the share that differ and their mean SIM, for pairs with
    different true emotions and for pairs with the same one."""
    groups: dict[tuple[str, str], list[int]] = {}
    for i, clip in enumerate(clips):
        if clip.text and clip.emotion:
            words = normalize_text(clip.text, clip.score_language)
            if words:
                groups.setdefault((clip.score_language, words), []).append(i)
    changed = {True: 0, False: 0}
    sims: dict[bool, list[float]] = {True: [], False: []}
    for members in groups.values():
        for a_pos, a in enumerate(members):
            for b in members[a_pos + 1 :]:
                different = clips[a].emotion != clips[b].emotion
                sim = float(np.clip(vectors[a] @ vectors[b], -1.0, 1.0)) * 100
                sims[different].append(sim)
                changed[different] += sim < thresholds[a]
    share = {k: (changed[k] / len(sims[k]) if sims[k] else None) for k in (True, False)}
    mean = {k: (float(np.mean(sims[k])) if sims[k] else None) for k in (True, False)}
    return _PairFigures(share[True], share[False], len(sims[True]), mean[False], mean[True])


def score_replies(
    clips: Sequence[DialogueClip],
    replies: dict[str, list[DialogueReply]],
    config: PipelineConfig | None = None,
    references: Sequence[str] | None = None,
    reference_system: str | None = None,
    embedder: Embedder | None = None,
    threshold: float | None = None,
    system_classes: dict[str, type] | None = None,
) -> tuple[dict[str, SystemScores], dict[str, dict[str, dict[str, Any]]]]:
    """Score each system's replies (one per clip, in clip order).

    Args:
        clips: The clips.
        replies: System name -> its replies, aligned with ``clips``.
        config: Gives the strategy of each true emotion (default: the packaged config).
        references: Reference replies aligned with ``clips``; default: ``reference_system``'s replies.
        reference_system: The system whose replies are the reference (its BLEU and SIM are ``None``).
        embedder: ``embedder(texts, language)`` for SIM (default: the packaged models, :func:`embed`).
        threshold: One SIM threshold for emotion sensitivity in every language (default: per model,
            :data:`SENSITIVITY_THRESHOLDS`).
        system_classes: System name -> its class, whose optional ``predicts_emotion`` and
            ``makes_transcript`` attributes say whether those figures apply (else they are inferred).

    Returns:
        ``(scores per system, per-emotion figures per system)``.
    """
    config = PipelineConfig.coerce(config)
    embedder = embedder or embed
    if references is None:
        if reference_system is None or reference_system not in replies:
            raise ConfigError("No reference replies: give a manifest 'reference' column or run the topline system.")
        references = [r.reply for r in replies[reference_system]]
    references = list(references)
    classes = system_classes or {}
    strategy_names = {s.name for s in config.strategies.values()}
    languages = sorted({c.score_language for c in clips})
    thresholds = [threshold if threshold is not None else sensitivity_threshold(c.score_language) for c in clips]
    # Embed every reply and reference once, per language.
    index = {lang: [i for i, c in enumerate(clips) if c.score_language == lang] for lang in languages}

    def embed_all(texts: Sequence[str]) -> np.ndarray:
        out: np.ndarray | None = None
        for lang, members in index.items():
            vectors = unit_rows(embedder([texts[i] for i in members], lang))
            if out is None:
                out = np.zeros((len(texts), vectors.shape[1]))
            out[members] = vectors
        return out if out is not None else np.zeros((0, 1))

    reference_vectors = embed_all(references)
    scores: dict[str, SystemScores] = {}
    per_emotion: dict[str, dict[str, dict[str, Any]]] = {}
    for name, answers in replies.items():
        if len(answers) != len(clips):
            raise ConfigError(f"System {name!r} has {len(answers)} replies for {len(clips)} clips.")
        texts = [a.reply for a in answers]
        vectors = embed_all(texts)
        sims = np.clip(np.sum(vectors * reference_vectors, axis=1), -1.0, 1.0) * 100
        is_reference = name == reference_system
        # Emotion: systems that recognise one (not given it), scored on clips with a true emotion.
        predicts = _flag(classes.get(name), "predicts_emotion")
        if predicts is None:
            predicts = not _flag(classes.get(name), "needs_truth") and any(a.emotion_model != "given" for a in answers)
        labelled = [(c.emotion, a.emotion) for c, a in zip(clips, answers, strict=True) if c.emotion]
        accuracy = ua = None
        if predicts and labelled:
            report = classification_report([t for t, _ in labelled], [p for _, p in labelled])
            accuracy, ua = report.accuracy, report.unweighted_accuracy
        # Transcripts: systems that make one, against the true text.
        transcribes = _flag(classes.get(name), "makes_transcript")
        if transcribes is None:
            transcribes = any(a.transcript_model != "given" and a.transcript.strip() for a in answers)
        written = [(c, a) for c, a in zip(clips, answers, strict=True) if c.text]
        rates: dict[str, float | None] = {"wer": None, "cer": None}
        if transcribes and written:
            rates = error_rates([c.text or "" for c, _ in written], [a.transcript for _, a in written],
                                [c.score_language for c, _ in written])  # fmt: skip
        seconds = [a.seconds for a in answers if a.seconds is not None]
        pair = _sensitivity(clips, vectors, thresholds)
        matches = [a.strategy == config.strategy_for(c.emotion).name for c, a in zip(clips, answers, strict=True) if c.emotion]
        reports_strategy = any(a.strategy in strategy_names for a in answers)
        scores[name] = SystemScores(
            name=name,
            n=len(answers),
            is_reference=is_reference,
            bleu1=None if is_reference else bleu(texts, references, [c.score_language for c in clips], 1),
            bleu4=None if is_reference else bleu(texts, references, [c.score_language for c in clips], 4),
            sim=None if is_reference else _round(float(np.mean(sims)), 4),
            emotion_accuracy=accuracy,
            emotion_ua=ua,
            wer=_round(rates["wer"], 6),
            cer=_round(rates["cer"], 6),
            latency_median_s=_round(float(np.median(seconds)), 4) if seconds else None,
            latency_p90_s=_round(float(np.percentile(seconds, 90)), 4) if seconds else None,
            emotion_sensitivity=_round(pair.sensitivity, 4),
            same_emotion_change=_round(pair.floor, 4),
            sensitivity_pairs=pair.pairs,
            pair_sim_same_emotion=_round(pair.sim_same, 4),
            pair_sim_different_emotion=_round(pair.sim_different, 4),
            strategy_match=_round(float(np.mean(matches)), 4) if matches and reports_strategy else None,
        )
        breakdown: dict[str, dict[str, Any]] = {}
        for emotion in sorted({c.emotion for c in clips if c.emotion}):
            members = [i for i, c in enumerate(clips) if c.emotion == emotion]
            sub_langs = [clips[i].score_language for i in members]
            breakdown[emotion] = {
                "n": len(members),
                "bleu1": None if is_reference else bleu([texts[i] for i in members], [references[i] for i in members], sub_langs, 1),
                "sim": None if is_reference else _round(float(np.mean(sims[members])), 4),
                "emotion_recall": _round(float(np.mean([answers[i].emotion == emotion for i in members])), 4) if predicts else None,
                "strategy_match": _round(float(np.mean([answers[i].strategy == config.strategy_for(emotion).name
                                                        for i in members])), 4) if reports_strategy else None,
            }  # fmt: skip
        per_emotion[name] = breakdown
    return scores, per_emotion

# -- the evaluation ------------------------------------------------------------------------------
def _modules_to_import(config: PipelineConfig, specs: Sequence[str]) -> list[str]:
    """Modules that register the systems and backends named here, for worker processes to import."""
    from .. import registry

    modules: list[str] = []
    named = [("system", registry.parse_spec(spec)[0]) for spec in specs]
    named += [(kind, config.component(kind).backend) for kind in ("ser", "asr", "llm", "tts")]
    for kind, name in named:
        try:
            module = registry.get_class(kind, name).__module__
        except Exception:  # an unknown backend fails with its own message when the system is built
            continue
        if module not in modules and module != "__main__":
            modules.append(module)
    return modules


def evaluate_dialogue(
    manifest: PathLike | Sequence[ManifestRow],
    systems: Sequence[str] | str = ("cascade", "topline"),
    config: PipelineConfig | PathLike | dict | None = None,
    limit: int | None = None,
    report_dir: PathLike | None = None,
    workers: int = 1,
    split: str | None = None,
    ray: str | None = None,
    cache_dir: PathLike | None = None,
    progress: bool = False,
    embedder: Embedder | None = None,
    threshold: float | None = None,
    command: str | None = None,
) -> DialogueReport:
    """Let every system answer every clip of a manifest, and score the replies.

    Args:
        manifest: CSV/JSONL clip manifest (or its rows): ``path``, ``text`` (what was said), ``emotion``
            (how), optionally ``language`` and ``reference`` (a reference reply).
        systems: System specs (``NAME`` or ``NAME:KEY=VALUE,...``), a list or one comma-separated string.
            Systems with ``needs_truth`` (the topline) are given the true text and emotion; the others
            the audio alone. Without a ``reference`` column the ``topline`` is added if not listed.
        config: The pipeline config systems are built from (default: the packaged one).
        limit: Answer only the first ``limit`` clips (after ``split``).
        report_dir: Write the report files here (:meth:`DialogueReport.write`).
        workers: Local worker processes (each builds every system once); 1 answers in this process.
            Workers share the CPUs, so latency figures are only comparable at the same ``workers``.
        split: Answer only the rows whose ``split`` column has this value (e.g. ``test`` of a manifest
            written by ``emotionlayer data generate``).
        ray: A Ray cluster address (``local`` starts one here) to answer in ``workers`` Ray actors.
        cache_dir: Keep every reply in ``<cache_dir>/replies.jsonl`` and reuse the ones already there.
        progress: Show a progress bar over clips on stderr.
        embedder: ``embedder(texts, language)`` for SIM instead of the packaged models (tests).
        threshold: One SIM threshold for emotion sensitivity instead of :data:`SENSITIVITY_THRESHOLDS`.
        command: The command line, quoted at the top of ``report.md``.

    Returns:
        A :class:`DialogueReport`; ``report.to_dict()`` is the JSON of ``emotionlayer evaluate dialogue --json``.

    Raises:
        ManifestError: the manifest is missing or malformed, or lacks what a system or figure needs.
        ConfigError: no system, a system listed twice, or bad options.
        UnknownComponentError: a system name that is not registered (the message lists them).
    """
    from .. import registry

    config = PipelineConfig.coerce(config)
    specs = split_system_specs(systems)
    if not specs:
        raise ConfigError("No dialogue system to evaluate: pass e.g. --systems cascade,topline.")
    duplicates = sorted({s for s in specs if specs.count(s) > 1})
    if duplicates:
        raise ConfigError(f"System {', '.join(duplicates)} is listed twice; list each system once.")
    if workers < 1:
        raise ConfigError(f"workers must be at least 1, got {workers}.")
    classes = {spec: registry.get_class("system", registry.parse_spec(spec)[0]) for spec in specs}

    rows = list(read_manifest(manifest)) if isinstance(manifest, (str, os.PathLike)) else list(manifest)
    if split is not None:
        splits = sorted({str(row.extra.get("split")) for row in rows if row.extra.get("split")})
        if not splits:
            raise ManifestError(f"--split {split}: the manifest has no 'split' column. Remove --split, or add the column.")
        rows = [row for row in rows if str(row.extra.get("split", "")) == split]
        if not rows:
            raise ManifestError(f"--split {split}: no row has that split; the manifest has {', '.join(splits)}.")
    if limit is not None:
        rows = rows[: max(0, int(limit))]
    if not rows:
        raise ManifestError("No clip to answer: the manifest (after --limit) is empty.")
    clips = [DialogueClip.from_row(row, config.pipeline.language) for row in rows]
    with_reference = sum(1 for c in clips if c.reference)
    if 0 < with_reference < len(clips):
        raise ManifestError(
            f"{with_reference} of {len(clips)} clips have a 'reference' reply: fill the column on every row, "
            "or remove it to use the topline's replies as the reference."
        )
    reference = "manifest" if with_reference else None
    if reference is None:
        reference = next((s for s in specs if registry.parse_spec(s)[0] == REFERENCE_SYSTEM), None)
        if reference is None:
            reference = REFERENCE_SYSTEM
            specs.append(reference)
            classes[reference] = registry.get_class("system", REFERENCE_SYSTEM)
            logger.info("The manifest has no 'reference' column: the %s system's replies are the reference.", REFERENCE_SYSTEM)
    truth = {spec: bool(getattr(cls, "needs_truth", False)) for spec, cls in classes.items()}
    if any(truth.values()):
        missing = [r.line for r in rows if not (r.text and r.emotion)]
        if missing:
            needing = ", ".join(s for s, t in truth.items() if t)
            raise ManifestError(
                f"{needing} needs the true text and emotion of every clip, but {len(missing)} row(s) lack one "
                f"(lines {', '.join(map(str, missing[:5]))}{'...' if len(missing) > 5 else ''}). Fill the "
                "'text' and 'emotion' columns."
            )

    digest = config_hash(config)
    cache = ReplyCache(cache_dir)
    computed = 0
    try:
        keys = {(spec, i): reply_key(spec, digest, clip, truth[spec]) for spec in specs for i, clip in enumerate(clips)}
        # Clip by clip, every system in turn: a run cut short has comparable partial sets.
        tasks = [_Task(keys[spec, i], spec, clip, truth[spec]) for i, clip in enumerate(clips) for spec in specs
                 if cache.get(keys[spec, i]) is None]  # fmt: skip
        if len(tasks) < len(keys):
            logger.info("%d of %d replies come from the cache in %s", len(keys) - len(tasks), len(keys), cache_dir)
        remaining: dict[str, int] = {}
        for task in tasks:
            remaining[task.clip.path] = remaining.get(task.clip.path, 0) + 1
        bar = None
        if progress and tasks:
            from tqdm.auto import tqdm

            bar = tqdm(total=len(remaining), desc="answering", unit="clip")
        modules = _modules_to_import(config, specs)
        if ray is not None:
            results = _run_ray(config, tasks, modules, workers, ray)
        elif workers > 1 and len(tasks) > 1:
            results = _run_processes(config, tasks, modules, workers)
        else:
            results = _run_serial(config, tasks, modules)
        path_of = {task.key: task.clip.path for task in tasks}
        try:
            for key, reply in results:
                cache.put(key, reply)
                computed += 1
                path = path_of[key]
                remaining[path] -= 1
                if bar is not None and remaining[path] == 0:
                    bar.update(1)
        finally:
            close = getattr(results, "close", None)
            if close is not None:
                close()
            if bar is not None:
                bar.close()
        replies: dict[str, list[DialogueReply]] = {}
        for spec in specs:
            answers = []
            for i in range(len(clips)):
                cached = cache.get(keys[spec, i])
                assert cached is not None, "every reply was computed or cached"
                answers.append(cached)
            replies[spec] = answers
    finally:
        cache.close()

    scores, per_emotion = score_replies(
        clips,
        replies,
        config,
        references=[c.reference or "" for c in clips] if reference == "manifest" else None,
        reference_system=None if reference == "manifest" else reference,
        embedder=embedder,
        threshold=threshold,
        system_classes=classes,
    )
    report = DialogueReport(
        n=len(clips),
        systems=scores,
        reference=reference,
        clips=clips,
        replies=replies,
        per_emotion=per_emotion,
        computed=computed,
        threshold=threshold,
        config=config,
    )
    if report_dir is not None:
        report.write(report_dir, command)
    return report
