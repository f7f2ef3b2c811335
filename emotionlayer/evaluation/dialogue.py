"""Evaluate dialogue systems on spoken clips: E-chat's comparison, with fixed references and intervals.

Every registered dialogue system (``cascade``, ``topline``, ``echat``, ``paralingpt``, plugins) answers
each clip of a manifest, and its replies are scored against the clip's **reference replies**, which are
data: the manifest's ``references`` (a JSON list) or ``reference`` column, written once and frozen with
their provenance by :func:`emotionlayer.evaluation.references.write_references` (``evaluate dialogue
--write-references topline``). The evaluator never writes references itself.

:func:`evaluate_dialogue` is five named steps, each a public function:

1. :func:`select_rows`: the manifest's rows (``split``, ``limit``);
2. :func:`check_references`: every clip has a reference (else an error naming the command that writes them);
3. :func:`answer_clips`: every system answers every clip, once per decoding run (:class:`Decoding`:
   greedy by default for every system; ``samples=N, seed=S`` for N sampled runs), through the reply cache;
4. :func:`~emotionlayer.evaluation.dialogue_scoring.score_replies`: BLEU, SIM, recognition figures, the
   emotion contrast, reference discrimination and pairwise differences, with 95% intervals (optionally
   after :func:`~emotionlayer.evaluation.judge.judge_replies`);
5. the :class:`DialogueReport` (Markdown, CSV, JSON, PNG).

What each figure means: ``docs/evaluation.md``. Replies are cached (``cache_dir``): each one is appended to
``replies.jsonl`` and fsynced as soon as it exists, keyed by the system spec, its decoding, a hash of the
config, the clip's path and a hash of its audio (or the text and emotion it is given, for the topline), so a
killed run resumes where it stopped and adding a system computes only that system's replies.

Example::

    from emotionlayer.evaluation.dialogue import evaluate_dialogue

    report = evaluate_dialogue("clips.csv", ["cascade", "echat"], report_dir="report")
    report.systems["cascade"].sim, report.systems["cascade"].intervals["sim"]
"""

from __future__ import annotations

import hashlib
import importlib
import inspect
import json
import logging
import os
from collections.abc import Sequence
from dataclasses import dataclass, replace
from functools import partial
from pathlib import Path
from typing import Any, Union

from ..config import PipelineConfig
from ..data.manifest import ManifestError, ManifestRow, read_manifest
from ..errors import ConfigError
from ..parallel import Progress, pick_backend, run_tasks
from .dialogue_report import DialogueClip, DialogueReply, DialogueReport, SystemScores
from .intervals import BOOTSTRAP_RESAMPLES, BOOTSTRAP_SEED
from .reply_metrics import Embedder

logger = logging.getLogger(__name__)

PathLike = Union[str, os.PathLike]

__all__ = [
    "Decoding",
    "DialogueClip",
    "DialogueReply",
    "DialogueReport",
    "ReplyCache",
    "SystemScores",
    "answer_clips",
    "check_references",
    "check_systems",
    "config_hash",
    "evaluate_dialogue",
    "reply_key",
    "score_and_report",
    "select_rows",
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
    data = config.to_dict()
    if data.get("guard", {}).get("backend") == "none":
        data.pop("guard")  # a config without a reply guard hashes as it did before guards existed
    text = json.dumps(data, sort_keys=True, ensure_ascii=False, default=str)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:16]


def reply_key(spec: str, config_digest: str, clip: DialogueClip, truth: bool) -> str:
    """The cache key of one system's reply to one clip: what the system is and exactly what it is given.

    A system told the truth is given the words, emotion and language only, so clips that share them share
    one reply (computed once); a listening system is given the clip's audio.
    """
    given: dict[str, Any] = {"language": clip.language}
    if truth:
        given.update(text=clip.text, emotion=clip.emotion)
    else:
        given.update(path=clip.path, audio=clip.audio_sha256)
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


# -- answering: a worker per process, run by parallel.run_tasks -------------------------------------
@dataclass(frozen=True)
class _Task:
    key: str
    spec: str
    clip: DialogueClip
    truth: bool
    config: PipelineConfig | None = None  # the config this run of the system is built from (its decoding)
    params: tuple[tuple[str, Any], ...] = ()  # more system parameters (its decoding)


class _Answerer:
    """Builds each system once (in the process or actor that holds it) and answers tasks with it."""

    def __init__(self, config: PipelineConfig, modules: Sequence[str] = ()) -> None:
        for module in modules:  # systems and backends registered by modules the registry does not import itself
            importlib.import_module(module)
        self.config = config
        self.systems: dict[str, Any] = {}

    def system(self, spec: str, config: PipelineConfig | None = None, params: tuple[tuple[str, Any], ...] = ()) -> Any:
        config = config or self.config
        key = f"{spec}|{config_hash(config)}|{params}"
        if key not in self.systems:
            from ..systems import build_system

            built = build_system(config, spec, **dict(params))
            warm = getattr(built, "warmup", None)
            if callable(warm):
                warm()  # load the models now, so the first turn's time is a turn's time
            self.systems[key] = built
        return self.systems[key]

    def __call__(self, task: _Task) -> tuple[str, DialogueReply]:
        system = self.system(task.spec, task.config, task.params)
        turn = system.respond(task.clip.to_utterance(task.truth, self.config.run.max_seconds))
        return task.key, DialogueReply.from_turn(task.spec, task.clip.path, turn)

    def close(self) -> None:
        """Close every system built here (the runner calls it when a serial run ends)."""
        for system in self.systems.values():
            close = getattr(system, "close", None)
            if callable(close):
                close()


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


@dataclass(frozen=True)
class Decoding:
    """How every system decodes during an evaluation: one switch for all of them.

    ``samples=0`` (the default) decodes greedily (temperature 0): the same command gives the same replies.
    ``samples=N`` gives N sampled runs with seeds ``seed .. seed+N-1`` at ``temperature`` (default: the
    config LLM's temperature if above 0, else :data:`SAMPLING_TEMPERATURE`), and every figure becomes the
    mean over runs with a 95% interval.

    The switch reaches a system through what it takes: the config's ``llm`` section (``temperature`` and
    ``seed``, if its backend takes them: the cascade and the topline), and the system's own ``temperature``
    and ``seed`` parameters (E-chat, ParalinGPT, the topline). A system that takes no seed (a plugin) repeats
    one sample in every run.
    """

    samples: int = 0
    seed: int = 0
    temperature: float | None = None

    def __post_init__(self) -> None:
        if self.samples < 0:
            raise ConfigError(f"samples must be 0 (greedy) or more, got {self.samples}.")
        if self.temperature is not None and self.temperature <= 0:
            raise ConfigError(
                f"A sampling temperature must be above 0, got {self.temperature}; "
                "for greedy decoding leave samples at 0."
            )

    @property
    def runs(self) -> int:
        return max(1, self.samples)

    def sampling_temperature(self, config: PipelineConfig) -> float:
        if self.samples == 0:
            return 0.0
        if self.temperature is not None:
            return float(self.temperature)
        configured = float(config.llm.params.get("temperature") or 0.0)
        return configured if configured > 0 else SAMPLING_TEMPERATURE

    def describe(self, config: PipelineConfig) -> str:
        """The decoding in words, as the report names it."""
        if self.samples == 0:
            return "greedy (temperature 0) for every system"
        last = self.seed + self.samples - 1
        temperature = self.sampling_temperature(config)
        return f"sampled, {self.samples} runs at temperature {temperature:g}, seeds {self.seed}-{last}"

    def apply(self, config: PipelineConfig, system_class: type, run: int) -> tuple[PipelineConfig, dict[str, Any]]:
        """The config and extra system parameters that make ``system_class`` decode as run ``run`` says."""
        from .. import registry

        values = {"temperature": self.sampling_temperature(config), "seed": self.seed + run}
        try:
            llm_class = registry.get_class("llm", config.llm.backend)
        except Exception:  # an unknown backend fails with its own message when the system is built
            llm_class = None
        llm_params = {k: v for k, v in values.items() if llm_class is not None and _takes(llm_class, k)}
        if llm_params:
            config = config.with_component("llm", config.llm.backend, **{**config.llm.params, **llm_params})
        builder = getattr(system_class, "from_config", system_class)
        return config, {k: v for k, v in values.items() if _takes(builder, k)}


#: The temperature of sampled runs when the config's LLM decodes greedily.
SAMPLING_TEMPERATURE = 0.7


def _takes(function: Any, parameter: str) -> bool:
    try:
        return parameter in inspect.signature(function).parameters
    except (TypeError, ValueError):
        return False


def select_rows(
    manifest: PathLike | Sequence[ManifestRow], split: str | None = None, limit: int | None = None
) -> list[ManifestRow]:
    """Step 1: the manifest's rows (read if a path), only those of ``split``, the first ``limit``.

    Raises:
        ManifestError: the manifest is missing or malformed, has no such split, or nothing is left.
    """
    rows = list(read_manifest(manifest)) if isinstance(manifest, (str, os.PathLike)) else list(manifest)
    if split is not None:
        splits = sorted({row.split for row in rows if row.split})
        if not splits:
            raise ManifestError(
                f"--split {split}: the manifest has no 'split' column. Remove --split, or add the column."
            )
        rows = [row for row in rows if row.split == split]
        if not rows:
            raise ManifestError(f"--split {split}: no row has that split; the manifest has {', '.join(splits)}.")
    if limit is not None:
        rows = rows[: max(0, int(limit))]
    if not rows:
        raise ManifestError("No clip to answer: the manifest (after --split and --limit) is empty.")
    return rows


def check_references(clips: Sequence[DialogueClip], manifest: PathLike | None = None) -> None:
    """Step 2: every clip has at least one reference reply.

    Raises:
        ManifestError: some or all clips lack references; the message gives the command that writes them.
    """
    missing = [c for c in clips if not c.references]
    if not missing:
        return
    where = str(manifest) if manifest is not None else "MANIFEST"
    write = f"emotionlayer evaluate dialogue --manifest {where} --write-references topline"
    if len(missing) == len(clips):
        raise ManifestError(
            f"The manifest has no reference replies, and the evaluator does not make them up on each run. Write a "
            f"reference set once (it is frozen into the manifest with who wrote it): {write}"
        )
    raise ManifestError(
        f"{len(missing)} of {len(clips)} clips have no reference reply (e.g. {missing[0].path}). Fill 'references' "
        f"(or 'reference') on every row, or write a whole set: {write}"
    )


def check_systems(specs: Sequence[str], workers: int = 1) -> dict[str, type]:
    """The class of each system spec.

    Raises:
        ConfigError: no system, a system listed twice, or ``workers`` below 1.
        UnknownComponentError: an unregistered system (the message lists them).
    """
    from .. import registry

    if not specs:
        raise ConfigError("No dialogue system to evaluate: pass e.g. --systems cascade,echat.")
    duplicates = sorted({s for s in specs if list(specs).count(s) > 1})
    if duplicates:
        raise ConfigError(f"System {', '.join(duplicates)} is listed twice; list each system once.")
    if workers < 1:
        raise ConfigError(f"workers must be at least 1, got {workers}.")
    return {spec: registry.get_class("system", registry.parse_spec(spec)[0]) for spec in specs}


def _check_truth(clips: Sequence[DialogueClip], classes: dict[str, type]) -> dict[str, bool]:
    """Which systems are given the true text and emotion (``needs_truth``); those need both on every clip."""
    truth = {spec: bool(getattr(cls, "needs_truth", False)) for spec, cls in classes.items()}
    if any(truth.values()):
        missing = [c.path for c in clips if not (c.text and c.emotion)]
        if missing:
            needing = ", ".join(s for s, t in truth.items() if t)
            raise ManifestError(
                f"{needing} needs the true text and emotion of every clip, but {len(missing)} clip(s) lack one "
                f"(e.g. {missing[0]}). Fill the 'text' and 'emotion' columns."
            )
    return truth


def answer_clips(
    clips: Sequence[DialogueClip],
    classes: dict[str, type],
    config: PipelineConfig,
    decoding: Decoding = Decoding(),
    cache_dir: PathLike | None = None,
    workers: int = 1,
    ray: str | None = None,
    progress: bool = False,
) -> tuple[dict[str, list[list[DialogueReply]]], int]:
    """Step 3: every system answers every clip, once per decoding run, through the reply cache.

    Clip by clip, every system and run in turn, so a run cut short has comparable partial sets.

    Returns:
        ``({spec: [run][clip] replies}, replies computed now)``.
    """
    truth = _check_truth(clips, classes)
    plans = {
        (spec, run): decoding.apply(config, cls, run) for spec, cls in classes.items() for run in range(decoding.runs)
    }
    keys = {
        (spec, run, i): reply_key(_decoded_spec(spec, params), config_hash(cfg), clip, truth[spec])
        for (spec, run), (cfg, params) in plans.items()
        for i, clip in enumerate(clips)
    }
    cache = ReplyCache(cache_dir)
    try:
        pending: dict[str, _Task] = {}  # clips that share a key share one task (the last clip's)
        for i, clip in enumerate(clips):
            for spec in classes:
                for run in range(decoding.runs):
                    key = keys[spec, run, i]
                    if cache.get(key) is None:
                        cfg, params = plans[spec, run]
                        pending[key] = _Task(key, spec, clip, truth[spec], cfg, tuple(sorted(params.items())))
        tasks = list(pending.values())
        if len(tasks) < len(keys):
            logger.info("%d of %d replies come from the cache in %s", len(keys) - len(tasks), len(keys), cache_dir)
        computed = _compute(tasks, cache, config, list(classes), workers, ray, progress)
        runs = range(decoding.runs)
        replies = {
            spec: [[_cached(cache, keys[spec, run, i], clip) for i, clip in enumerate(clips)] for run in runs]
            for spec in classes
        }
    finally:
        cache.close()
    return replies, computed


def _decoded_spec(spec: str, params: dict[str, Any]) -> str:
    """The spec with the decoding parameters, as the cache key sees it."""
    if not params:
        return spec
    extra = ",".join(f"{k}={v}" for k, v in sorted(params.items()))
    return f"{spec},{extra}" if ":" in spec else f"{spec}:{extra}"


def _cached(cache: ReplyCache, key: str, clip: DialogueClip) -> DialogueReply:
    reply = cache.get(key)
    assert reply is not None, "every reply was computed or cached"
    return replace(reply, path=clip.path)  # a reply shared by clips with the same words and emotion


def _compute(
    tasks: Sequence[_Task],
    cache: ReplyCache,
    config: PipelineConfig,
    specs: Sequence[str],
    workers: int,
    ray: str | None,
    progress: bool,
) -> int:
    """Answer the tasks (serially, in processes or in Ray actors) and put every reply in the cache."""
    remaining: dict[str, int] = {}
    for task in tasks:
        remaining[task.clip.path] = remaining.get(task.clip.path, 0) + 1
    path_of = {task.key: task.clip.path for task in tasks}

    def clip_done(result: tuple[str, DialogueReply]) -> int:
        """1 when the last reply to a clip arrives: the bar counts clips, not replies."""
        path = path_of[result[0]]
        remaining[path] -= 1
        return 1 if remaining[path] == 0 else 0

    bar = Progress(total=len(remaining), desc="answering", unit="clip", advance=clip_done)
    worker = partial(_Answerer, config, tuple(_modules_to_import(config, specs)))
    computed = 0
    with run_tasks(
        worker,
        tasks,
        backend=pick_backend(workers if len(tasks) > 1 else 1, ray),
        workers=workers,
        ray_address=ray or "local",
        progress=bar if progress and tasks else None,
        purpose="evaluating with Ray",
    ) as results:
        for key, reply in results:
            cache.put(key, reply)
            computed += 1
    return computed


def _writer_of(rows: Sequence[ManifestRow]) -> dict[str, Any] | None:
    """The provenance shared by every reference of the rows, if they all record the same one."""
    writers = {json.dumps(dict(r.writer or {}), sort_keys=True) for row in rows for r in row.reference_set}
    return json.loads(writers.pop()) if len(writers) == 1 and writers != {"{}"} else None


def evaluate_dialogue(
    manifest: PathLike | Sequence[ManifestRow],
    systems: Sequence[str] | str = ("cascade",),
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
    decoding: Decoding | None = None,
    judge: Any | None = None,
    bootstrap: int = BOOTSTRAP_RESAMPLES,
    bootstrap_seed: int = BOOTSTRAP_SEED,
) -> DialogueReport:
    """Let every system answer every clip of a manifest, and score the replies against its references.

    Args:
        manifest: CSV/JSONL clip manifest (or its rows): ``path``, ``text`` (what was said), ``emotion``
            (how), ``references`` (a JSON list) or ``reference``, optionally ``language`` and ``split``.
        systems: System specs (``NAME`` or ``NAME:KEY=VALUE,...``), a list or one comma-separated string.
            Systems with ``needs_truth`` (the topline) are given the true text and emotion; the others
            the audio alone.
        config: The pipeline config systems are built from (default: the packaged one).
        limit: Answer only the first ``limit`` clips (after ``split``).
        report_dir: Write the report files here (:meth:`DialogueReport.write`).
        workers: Local worker processes (each builds every system once); 1 answers in this process.
        split: Answer only the rows whose ``split`` column has this value.
        ray: A Ray cluster address (``local`` starts one here) to answer in ``workers`` Ray actors.
        cache_dir: Keep every reply in ``<cache_dir>/replies.jsonl`` and reuse the ones already there.
        progress: Show a progress bar over clips on stderr.
        embedder: ``embedder(texts, language)`` for SIM instead of the packaged models (tests).
        threshold: One SIM threshold for emotion sensitivity instead of :data:`SENSITIVITY_THRESHOLDS`.
        command: The command line, quoted at the top of ``report.md``.
        decoding: Greedy (default) or N sampled runs (:class:`Decoding`).
        judge: An :class:`~emotionlayer.evaluation.judge.LLMJudge` to rate every reply (off by default).
        bootstrap: Bootstrap resamples of the clips for the intervals.
        bootstrap_seed: Their seed (the same seed, the same intervals).

    Returns:
        A :class:`DialogueReport`; ``report.to_dict()`` is the JSON of ``emotionlayer evaluate dialogue --json``.

    Raises:
        ManifestError: the manifest is missing or malformed, has no references, or lacks what a system needs.
        ConfigError: no system, a system listed twice, or bad options.
        UnknownComponentError: a system name that is not registered (the message lists them).
    """
    from .dialogue_scoring import ScoringOptions

    config = PipelineConfig.coerce(config)
    decoding = decoding or Decoding()
    classes = check_systems(split_system_specs(systems), workers)
    rows = select_rows(manifest, split, limit)
    clips = [DialogueClip.from_row(row, config.run.language) for row in rows]
    check_references(clips, manifest if isinstance(manifest, (str, os.PathLike)) else None)
    replies, computed = answer_clips(clips, classes, config, decoding, cache_dir, workers, ray, progress)
    options = ScoringOptions(embedder=embedder, threshold=threshold, resamples=bootstrap, seed=bootstrap_seed)
    report = score_and_report(rows, clips, replies, classes, config, decoding, options, judge, cache_dir)
    report.computed = computed
    if report_dir is not None:
        report.write(report_dir, command)
    return report


def score_and_report(
    rows: Sequence[ManifestRow],
    clips: Sequence[DialogueClip],
    replies: dict[str, list[list[DialogueReply]]],
    classes: dict[str, type],
    config: PipelineConfig,
    decoding: Decoding,
    options: Any,
    judge: Any | None = None,
    cache_dir: PathLike | None = None,
) -> DialogueReport:
    """Steps 4 and 5: rate the replies with the judge (if any), score them, and gather the report."""
    from .dialogue_scoring import score_replies

    ratings = None
    if judge is not None:
        from .judge import judge_replies

        ratings = judge_replies(judge, clips, replies, cache_dir)
    writer = _writer_of(rows)
    writer_spec = writer.get("system") if writer else None
    scores, per_emotion, pairwise = score_replies(clips, replies, config, options, classes, ratings, writer_spec)
    return DialogueReport(
        n=len(clips),
        systems=scores,
        decoding=decoding.describe(config),
        references=_describe_references(clips, writer),
        writer=writer,
        pairwise=pairwise,
        clips=list(clips),
        replies={spec: runs[0] for spec, runs in replies.items()},
        per_emotion=per_emotion,
        threshold=options.threshold,
        bootstrap={"resamples": options.resamples, "seed": options.seed},
        config=config,
    )


def _describe_references(clips: Sequence[DialogueClip], writer: dict[str, Any] | None) -> str:
    counts = sorted({len(c.references) for c in clips})
    per_clip = f"{counts[0]}" if len(counts) == 1 else f"{counts[0]}-{counts[-1]}"
    text = f"the manifest's, {per_clip} per clip"
    if writer:
        described = ", ".join(
            f"{k} {writer[k]}"
            for k in ("template", "llm", "model_sha256", "decoding", "seed")
            if writer.get(k) is not None
        )
        text += f", written by {writer.get('system', 'an unnamed writer')} ({described})"
    return text
