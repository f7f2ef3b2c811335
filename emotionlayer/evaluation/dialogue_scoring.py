"""Scores of dialogue systems' replies: every figure of ``evaluate dialogue``, with its intervals.

:func:`score_replies` takes the clips, each system's replies (one list per decoding run) and optional
judge ratings, and returns a :class:`~emotionlayer.evaluation.dialogue_report.SystemScores` per system
and the pairwise differences between systems. How it works:

1. **Per clip**, once: each reply's SIM to the best-matching and the mean of its clip's references, its
   BLEU sufficient statistics against all of them (:func:`~.reply_metrics.bleu_statistics`), the SIM
   between the replies to every two clips with the same words, and whether the reply is closer to its
   own emotion's references than to any other emotion's (:func:`reference_groups`).
2. **Per run**, the figures from those arrays (a mean, a corpus BLEU, a contrast...); with several runs
   every figure is the mean over runs, with its 95% interval over runs (``run_intervals``).
3. **Per resample of the clips** (:func:`~.intervals.bootstrap_weights`, seeded), the same figures with
   the clips weighted by how often the resample drew them: their 2.5-97.5 percentiles are the bootstrap
   intervals. Every system is scored on the *same* resamples, so the difference of two systems' figures
   per resample is a paired bootstrap of the difference.

What each figure means: ``docs/evaluation.md``.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np

from ..config import PipelineConfig
from ..errors import ConfigError
from .asr import error_rates, normalize_text
from .dialogue_report import DialogueClip, DialogueReply, PairwiseDifference, SystemScores
from .intervals import (
    BOOTSTRAP_RESAMPLES,
    BOOTSTRAP_SEED,
    Interval,
    bootstrap_weights,
    percentile_interval,
    run_interval,
)
from .metrics import classification_report
from .reply_metrics import Embedder, bleu_from_statistics, bleu_statistics, embed, sensitivity_threshold, unit_rows

#: The figures compared between every two systems by a paired bootstrap.
PAIRWISE_FIGURES: tuple[str, ...] = ("sim", "bleu1", "bleu4")
#: Judge ratings per reply: ``{system: array (runs, clips, 2)}`` of empathy and fit (NaN: not rated).
Ratings = dict[str, np.ndarray]


# -- the structure of the clips: same-words pairs, references per emotion ------------------------------
@dataclass(frozen=True)
class ClipPairs:
    """Pairs of clips that say the same words, as upper-triangular ``(n, n)`` masks."""

    same_emotion: np.ndarray
    different_emotion: np.ndarray

    @classmethod
    def of(cls, clips: Sequence[DialogueClip]) -> ClipPairs:
        n = len(clips)
        words = [_words(c) for c in clips]
        same_words = np.array(
            [[i < j and words[i] is not None and words[i] == words[j] for j in range(n)] for i in range(n)], dtype=bool
        )
        emotions = np.array([c.emotion or "" for c in clips])
        same = emotions[:, None] == emotions[None, :]
        return cls(same_words & same, same_words & ~same)


def _words(clip: DialogueClip) -> tuple[str, str] | None:
    if not (clip.text and clip.emotion):
        return None
    normalised = normalize_text(clip.text, clip.score_language)
    return (clip.score_language, normalised) if normalised else None


def reference_groups(clips: Sequence[DialogueClip]) -> list[dict[str, list[str]]]:
    """Per clip: the references written for its words, by the emotion they were written for.

    A clip's entry maps each emotion (of the clips with the same words) to the distinct references of those
    clips; it is empty when fewer than two emotions have references (no discrimination is possible).
    """
    by_words: dict[tuple[str, str], dict[str, list[str]]] = {}
    for clip in clips:
        key = _words(clip)
        if key is None or not clip.references:
            continue
        bucket = by_words.setdefault(key, {}).setdefault(clip.emotion or "", [])
        bucket.extend(r for r in clip.references if r not in bucket)
    out = []
    for clip in clips:
        groups = by_words.get(_words(clip) or ("", ""), {})
        out.append(groups if len(groups) >= 2 and clip.emotion in groups else {})
    return out


# -- per-clip arrays of one system --------------------------------------------------------------------
@dataclass
class ClipArrays:
    """Everything the figures of one system need, per run and clip (NaN where a value does not apply)."""

    sim_best: np.ndarray  # (runs, n): SIM to the best-matching reference
    sim_mean: np.ndarray  # (runs, n): mean SIM over the references
    bleu1: np.ndarray  # (runs, n, 4): BLEU-1 statistics
    bleu4: np.ndarray  # (runs, n, 10): BLEU-4 statistics
    pair_sims: np.ndarray  # (runs, n, n): SIM between the replies to two clips
    hits: np.ndarray  # (runs, n): 1 when the reply is closest to its own emotion's references
    ratings: np.ndarray = field(default_factory=lambda: np.zeros((0, 0, 2)))  # (runs, n, 2) judge, or empty


class _Embeddings:
    """Unit sentence embeddings of texts, each text embedded once, per scoring language."""

    def __init__(self, embedder: Embedder) -> None:
        self.embedder = embedder
        self.cache: dict[tuple[str, str], np.ndarray] = {}

    def __call__(self, texts: Sequence[str], language: str) -> np.ndarray:
        missing = list(dict.fromkeys(t for t in texts if (language, t) not in self.cache))
        if missing:
            for text, vector in zip(missing, unit_rows(self.embedder(missing, language)), strict=True):
                self.cache[(language, text)] = vector
        if not texts:
            return np.zeros((0, 1))
        return np.stack([self.cache[(language, t)] for t in texts])


def _cosines(vector: np.ndarray, others: np.ndarray) -> np.ndarray:
    return np.clip(others @ vector, -1.0, 1.0) * 100


def clip_arrays(
    clips: Sequence[DialogueClip],
    runs: Sequence[Sequence[DialogueReply]],
    vectors: _Embeddings,
    groups: Sequence[dict[str, list[str]]],
) -> ClipArrays:
    """The per-clip arrays of one system's replies (one list per run, aligned with ``clips``)."""
    n = len(clips)
    languages = [c.score_language for c in clips]
    shapes = ((len(runs), n), (len(runs), n), (len(runs), n, 4), (len(runs), n, 10), (len(runs), n, n), (len(runs), n))
    arrays = ClipArrays(*(np.full(shape, np.nan) for shape in shapes))
    for lang in sorted(set(languages)):  # embed every text of a language in one batch
        members = [i for i in range(n) if languages[i] == lang]
        vectors(
            [run[i].reply for run in runs for i in members] + [r for i in members for r in clips[i].references], lang
        )
    for r, answers in enumerate(runs):
        texts = [a.reply for a in answers]
        reply_vectors = np.stack([vectors([t], lang)[0] for t, lang in zip(texts, languages, strict=True)])
        for i, clip in enumerate(clips):
            sims = _cosines(reply_vectors[i], vectors(list(clip.references), languages[i]))
            arrays.sim_best[r, i], arrays.sim_mean[r, i] = float(sims.max()), float(sims.mean())
            if groups[i]:
                best = {
                    e: float(_cosines(reply_vectors[i], vectors(refs, languages[i])).max())
                    for e, refs in groups[i].items()
                }
                own = best.pop(clip.emotion or "")
                arrays.hits[r, i] = float(own > max(best.values()))
        references = [list(c.references) for c in clips]
        arrays.bleu1[r] = bleu_statistics(texts, references, languages, 1)
        arrays.bleu4[r] = bleu_statistics(texts, references, languages, 4)
        arrays.pair_sims[r] = np.clip(reply_vectors @ reply_vectors.T, -1.0, 1.0) * 100
    return arrays


# -- figures under clip weights -------------------------------------------------------------------------
def _weighted_mean(values: np.ndarray, weights: np.ndarray) -> np.ndarray:
    """Per row of ``weights`` (B, n): the weighted mean over the clips where ``values`` (n,) is finite."""
    valid = np.isfinite(values)
    if not valid.any():
        return np.full(len(weights), np.nan)
    w = weights[:, valid]
    with np.errstate(invalid="ignore", divide="ignore"):
        return (w @ values[valid]) / w.sum(axis=1)


def _pair_mean(sims: np.ndarray, mask: np.ndarray, weights: np.ndarray) -> np.ndarray:
    """Per row of weights: the mean SIM of the masked pairs, each pair weighted by its two clips' weights."""
    if not mask.any():
        return np.full(len(weights), np.nan)
    total = np.einsum("bi,ij,bj->b", weights, np.where(mask, sims, 0.0), weights)
    count = np.einsum("bi,ij,bj->b", weights, mask.astype(np.float64), weights)
    with np.errstate(invalid="ignore", divide="ignore"):
        return total / count


def _bleu(stats: np.ndarray, weights: np.ndarray, order: int) -> np.ndarray:
    """Per row of weights: corpus BLEU of the weighted sentence statistics, averaged over runs."""
    return np.array([np.mean([bleu_from_statistics(w @ run, order) for run in stats]) for w in weights])


def figure_functions(arrays: ClipArrays, pairs: ClipPairs) -> dict[str, Callable[[np.ndarray], np.ndarray]]:
    """Each bootstrapped figure as a function of clip weights ``(B, n)`` -> ``(B,)`` (mean over runs)."""

    def contrast(w: np.ndarray) -> np.ndarray:
        per_run = [
            _pair_mean(p, pairs.same_emotion, w) - _pair_mean(p, pairs.different_emotion, w) for p in arrays.pair_sims
        ]
        return np.mean(per_run, axis=0)

    functions: dict[str, Callable[[np.ndarray], np.ndarray]] = {
        "sim": lambda w: _weighted_mean(arrays.sim_best.mean(axis=0), w),
        "sim_mean_reference": lambda w: _weighted_mean(arrays.sim_mean.mean(axis=0), w),
        "bleu1": lambda w: _bleu(arrays.bleu1, w, 1),
        "bleu4": lambda w: _bleu(arrays.bleu4, w, 4),
        "emotion_contrast": contrast,
        "reference_discrimination": lambda w: _weighted_mean(arrays.hits.mean(axis=0), w),
    }
    if arrays.ratings.size:
        functions["judge_empathy"] = lambda w: _weighted_mean(np.nanmean(arrays.ratings[..., 0], axis=0), w)
        functions["judge_fit"] = lambda w: _weighted_mean(np.nanmean(arrays.ratings[..., 1], axis=0), w)
    return functions


# -- one run's figures ---------------------------------------------------------------------------------
@dataclass(frozen=True)
class _Context:
    clips: Sequence[DialogueClip]
    config: PipelineConfig
    pairs: ClipPairs
    thresholds: np.ndarray  # (n,) the SIM below which a reply pair differs, per first clip of a pair
    predicts: bool
    transcribes: bool


def _round(value: float | None, digits: int = 4) -> float | None:
    return None if value is None or not math.isfinite(value) else round(float(value), digits)


def _recognition(ctx: _Context, answers: Sequence[DialogueReply]) -> dict[str, float | None]:
    """Emotion accuracy/UA (systems that recognise one) and WER/CER (systems that transcribe)."""
    out: dict[str, float | None] = {"emotion_accuracy": None, "emotion_ua": None, "wer": None, "cer": None}
    labelled = [(c.emotion, a.emotion) for c, a in zip(ctx.clips, answers, strict=True) if c.emotion]
    if ctx.predicts and labelled:
        report = classification_report([t for t, _ in labelled], [p for _, p in labelled])
        out["emotion_accuracy"], out["emotion_ua"] = report.accuracy, report.unweighted_accuracy
    written = [(c, a) for c, a in zip(ctx.clips, answers, strict=True) if c.text]
    if ctx.transcribes and written:
        rates = error_rates([c.text or "" for c, _ in written], [a.transcript for _, a in written],
                            [c.score_language for c, _ in written])  # fmt: skip
        out["wer"], out["cer"] = _round(rates["wer"], 6), _round(rates["cer"], 6)
    return out


def _pair_figures(ctx: _Context, sims: np.ndarray) -> dict[str, float | None]:
    """Emotion sensitivity, its same-emotion floor, the mean pair SIMs and their contrast, for one run."""
    out: dict[str, float | None] = {}
    for name, mask in (("different", ctx.pairs.different_emotion), ("same", ctx.pairs.same_emotion)):
        values = sims[mask]
        changed = (values < np.broadcast_to(ctx.thresholds[:, None], sims.shape)[mask]) if values.size else values
        out[f"share_{name}"] = float(np.mean(changed)) if values.size else None
        out[f"mean_{name}"] = float(np.mean(values)) if values.size else None
    contrast = None
    if out["mean_same"] is not None and out["mean_different"] is not None:
        contrast = out["mean_same"] - out["mean_different"]
    return {
        "emotion_sensitivity": _round(out["share_different"]),
        "same_emotion_change": _round(out["share_same"]),
        "pair_sim_same_emotion": _round(out["mean_same"]),
        "pair_sim_different_emotion": _round(out["mean_different"]),
        "emotion_contrast": _round(contrast),
    }


def run_figures(
    ctx: _Context, answers: Sequence[DialogueReply], arrays: ClipArrays, run: int
) -> dict[str, float | None]:
    """Every figure of one run of one system (latency excepted: it is pooled over runs)."""
    ones = np.ones((1, len(ctx.clips)))
    strategy_names = {s.name for s in ctx.config.strategies.values()}
    matches = [
        a.strategy == ctx.config.strategy_for(c.emotion).name
        for c, a in zip(ctx.clips, answers, strict=True)
        if c.emotion
    ]
    figures: dict[str, float | None] = {
        "bleu1": bleu_from_statistics(arrays.bleu1[run], 1),
        "bleu4": bleu_from_statistics(arrays.bleu4[run], 4),
        "sim": _round(float(_weighted_mean(arrays.sim_best[run], ones)[0])),
        "sim_mean_reference": _round(float(_weighted_mean(arrays.sim_mean[run], ones)[0])),
        "reference_discrimination": _round(float(_weighted_mean(arrays.hits[run], ones)[0])),
        "strategy_match": _round(float(np.mean(matches)))
        if matches and any(a.strategy in strategy_names for a in answers)
        else None,
    }
    figures.update(_recognition(ctx, answers))
    figures.update(_pair_figures(ctx, arrays.pair_sims[run]))
    if arrays.ratings.size:
        figures["judge_empathy"] = _round(float(np.nanmean(arrays.ratings[run, :, 0])))
        figures["judge_fit"] = _round(float(np.nanmean(arrays.ratings[run, :, 1])))
    return figures


def _mean_over_runs(per_run: Sequence[dict[str, float | None]]) -> tuple[dict[str, float | None], dict[str, Interval]]:
    """Each figure's mean over runs and (with two runs or more) its 95% interval over runs."""
    means: dict[str, float | None] = {}
    intervals: dict[str, Interval] = {}
    for key in per_run[0]:
        values = [run[key] for run in per_run if run[key] is not None]
        means[key] = _round(float(np.mean(values))) if values else None
        interval = run_interval(values) if len(per_run) > 1 else None
        if interval is not None:
            intervals[key] = interval.rounded(4)
    return means, intervals


# -- everything ---------------------------------------------------------------------------------------
@dataclass(frozen=True)
class ScoringOptions:
    """How replies are scored.

    Attributes:
        embedder: ``embedder(texts, language)`` for SIM (default: the packaged models).
        threshold: One SIM threshold for emotion sensitivity (default: per embedding model).
        resamples: Bootstrap resamples of the clips.
        seed: Seed of the bootstrap (the same seed, the same intervals).
    """

    embedder: Embedder | None = None
    threshold: float | None = None
    resamples: int = BOOTSTRAP_RESAMPLES
    seed: int = BOOTSTRAP_SEED


def _flag(system_class: type | None, attribute: str) -> bool | None:
    value = getattr(system_class, attribute, None) if system_class is not None else None
    return None if value is None else bool(value)


def _context(clips: Sequence[DialogueClip], config: PipelineConfig, runs: Sequence[Sequence[DialogueReply]],
             system_class: type | None, pairs: ClipPairs, threshold: float | None) -> _Context:  # fmt: skip
    answers = [a for run in runs for a in run]
    predicts = _flag(system_class, "predicts_emotion")
    if predicts is None:
        predicts = not _flag(system_class, "needs_truth") and any(a.emotion_model != "given" for a in answers)
    transcribes = _flag(system_class, "makes_transcript")
    if transcribes is None:
        transcribes = any(a.transcript_model != "given" and a.transcript.strip() for a in answers)
    thresholds = np.array(
        [threshold if threshold is not None else sensitivity_threshold(c.score_language) for c in clips]
    )
    return _Context(clips, config, pairs, thresholds, predicts, transcribes)


def _per_emotion(
    ctx: _Context, runs: Sequence[Sequence[DialogueReply]], arrays: ClipArrays
) -> dict[str, dict[str, Any]]:
    """Per true emotion: clips, BLEU-1, SIM, emotion recall and strategy match (over every run)."""
    breakdown: dict[str, dict[str, Any]] = {}
    strategy_names = {s.name for s in ctx.config.strategies.values()}
    reports_strategy = any(a.strategy in strategy_names for run in runs for a in run)
    for emotion in sorted({c.emotion for c in ctx.clips if c.emotion}):
        members = [i for i, c in enumerate(ctx.clips) if c.emotion == emotion]
        answers = [run[i] for run in runs for i in members]
        strategy = ctx.config.strategy_for(emotion).name if reports_strategy else None
        breakdown[emotion] = {
            "n": len(members),
            "bleu1": bleu_from_statistics(arrays.bleu1[:, members].reshape(-1, 4), 1),
            "sim": _round(float(np.mean(arrays.sim_best[:, members]))),
            "emotion_recall": _round(float(np.mean([a.emotion == emotion for a in answers]))) if ctx.predicts else None,
            "strategy_match": _round(float(np.mean([a.strategy == strategy for a in answers])))
            if reports_strategy
            else None,
        }
    return breakdown


def score_replies(
    clips: Sequence[DialogueClip],
    replies: dict[str, Sequence[Sequence[DialogueReply]]],
    config: PipelineConfig | None = None,
    options: ScoringOptions | None = None,
    system_classes: dict[str, type] | None = None,
    ratings: Ratings | None = None,
    writer: str | None = None,
) -> tuple[dict[str, SystemScores], dict[str, dict[str, dict[str, Any]]], list[PairwiseDifference]]:
    """Score each system's replies against the clips' references, with intervals.

    Args:
        clips: The clips; each needs at least one reference.
        replies: System name -> its runs, each a list of replies aligned with ``clips``.
        config: Gives the strategy of each true emotion (default: the packaged config).
        options: Embedder, sensitivity threshold and bootstrap settings.
        system_classes: System name -> its class (``predicts_emotion``, ``makes_transcript``, ``needs_truth``).
        ratings: Judge ratings per system, ``(runs, clips, 2)`` (empathy, fit).
        writer: The system spec that wrote the references (marked in the report).

    Returns:
        ``(scores per system, per-emotion figures per system, pairwise differences)``.

    Raises:
        ConfigError: a clip has no reference, or a system's runs do not match the clips.
    """
    config = PipelineConfig.coerce(config)
    options = options or ScoringOptions()
    missing = [c.path for c in clips if not c.references]
    if missing:
        raise ConfigError(f"{len(missing)} clip(s) have no reference reply (e.g. {missing[0]}); every clip needs one.")
    vectors = _Embeddings(options.embedder or embed)
    pairs, groups = ClipPairs.of(clips), reference_groups(clips)
    weights = bootstrap_weights(len(clips), options.resamples, options.seed)
    scores: dict[str, SystemScores] = {}
    per_emotion: dict[str, dict[str, dict[str, Any]]] = {}
    boot: dict[str, dict[str, np.ndarray]] = {}
    for name, runs in replies.items():
        if not runs or any(len(run) != len(clips) for run in runs):
            raise ConfigError(
                f"System {name!r} has replies for {[len(r) for r in runs]} clips per run, not {len(clips)}."
            )
        arrays = clip_arrays(clips, runs, vectors, groups)
        if ratings and name in ratings:
            arrays.ratings = np.asarray(ratings[name], dtype=np.float64)
        ctx = _context(clips, config, runs, (system_classes or {}).get(name), pairs, options.threshold)
        means, run_intervals = _mean_over_runs([run_figures(ctx, run, arrays, r) for r, run in enumerate(runs)])
        boot[name] = {key: fn(weights) for key, fn in figure_functions(arrays, pairs).items()}
        intervals = {key: iv.rounded(4) for key, values in boot[name].items() if (iv := percentile_interval(values))}
        seconds = [a.seconds for run in runs for a in run if a.seconds is not None]
        chance = [1.0 / len(g) for g in groups if g]
        scores[name] = SystemScores(
            name=name, n=len(clips), runs=len(runs), is_writer=name == writer,
            latency_median_s=_round(float(np.median(seconds))) if seconds else None,
            latency_p90_s=_round(float(np.percentile(seconds, 90))) if seconds else None,
            sensitivity_pairs=int(pairs.different_emotion.sum()),
            discrimination_clips=len(chance),
            reference_discrimination_chance=_round(float(np.mean(chance))) if chance else None,
            intervals=intervals, run_intervals=run_intervals,
        )  # fmt: skip
        scores[name] = replace(scores[name], **means)
        per_emotion[name] = _per_emotion(ctx, runs, arrays)
    return scores, per_emotion, pairwise_differences(scores, boot)


def pairwise_differences(
    scores: dict[str, SystemScores], boot: dict[str, dict[str, np.ndarray]]
) -> list[PairwiseDifference]:
    """Every two systems' difference on :data:`PAIRWISE_FIGURES`, with its paired-bootstrap 95% interval."""
    names = list(scores)
    out = []
    for a_pos, a in enumerate(names):
        for b in names[a_pos + 1 :]:
            for figure in PAIRWISE_FIGURES:
                value_a, value_b = getattr(scores[a], figure), getattr(scores[b], figure)
                if value_a is None or value_b is None:
                    continue
                interval = percentile_interval(boot[a][figure] - boot[b][figure])
                out.append(
                    PairwiseDifference(
                        a, b, figure, round(value_a - value_b, 4), interval.rounded(4) if interval else None
                    )
                )
    return out
