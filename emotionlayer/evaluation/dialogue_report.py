"""The records of a dialogue evaluation and its report: clips, replies, per-system figures.

:func:`emotionlayer.evaluation.dialogue.evaluate_dialogue` returns a :class:`DialogueReport`; this
module holds it and the records it is made of (:class:`DialogueClip`, :class:`DialogueReply`,
:class:`SystemScores`), and writes it as Markdown tables, CSV, JSON and a bar chart
(:meth:`DialogueReport.write`).
"""

from __future__ import annotations

import csv
import io
import json
import os
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any, Union

import numpy as np

from ..config import PipelineConfig
from ..data.manifest import ManifestRow
from ..files import hash_file
from .intervals import Interval
from .reply_metrics import SENSITIVITY_THRESHOLDS, clip_language

PathLike = Union[str, os.PathLike]


@dataclass(frozen=True)
class DialogueClip:
    """One clip to answer: its audio, what was said (``text``), how (``emotion``), its reference replies.

    Attributes:
        path: Absolute path of the audio.
        text: The true words (given to systems that ``need_truth``, and for sensitivity groups).
        emotion: The true emotion (canonical label).
        language: The manifest's language column (given to every system as a hint).
        score_language: The language BLEU and SIM use (:func:`clip_language`).
        speaker: Speaker id, if known.
        references: The manifest's reference replies (``references``, else ``reference``), if any.
        audio_sha256: Hash of the audio file (part of the cache key).
    """

    path: str
    text: str | None = None
    emotion: str | None = None
    language: str | None = None
    score_language: str = "en"
    speaker: str | None = None
    references: tuple[str, ...] = ()
    audio_sha256: str = ""

    @property
    def id(self) -> str:
        return Path(self.path).stem

    @classmethod
    def from_row(cls, row: ManifestRow, default_language: str | None = None) -> DialogueClip:
        return cls(
            path=row.path,
            text=row.text,
            emotion=row.emotion,
            language=row.language,
            score_language=clip_language(row.text, row.language, default_language),
            speaker=row.speaker,
            references=tuple(r.text for r in row.reference_set),
            audio_sha256=hash_file(row.path).hexdigest(),
        )

    def to_utterance(self, truth: bool, max_seconds: float | None = None) -> Any:
        """What a system is given: the true text and emotion (``truth``, no audio), else the audio alone."""
        from ..audio import load_audio
        from ..types import Utterance

        if truth:
            return Utterance(
                text=self.text, emotion=self.emotion, id=self.id, speaker=self.speaker, language=self.language
            )
        audio = load_audio(self.path, max_seconds=max_seconds)
        return Utterance(audio=audio, id=self.id, speaker=self.speaker, language=self.language)


@dataclass(frozen=True)
class DialogueReply:
    """What one system answered to one clip (the parts of its :class:`~emotionlayer.types.Turn` scored here)."""

    system: str
    path: str
    reply: str
    strategy: str = ""
    transcript: str = ""
    transcript_model: str = ""
    emotion: str = ""
    emotion_model: str = ""
    timings: dict[str, float] = field(default_factory=dict)

    @property
    def seconds(self) -> float | None:
        """``timings["total"]``: seconds the turn took."""
        value = self.timings.get("total")
        return None if value is None else float(value)

    @classmethod
    def from_turn(cls, system: str, path: str, turn: Any) -> DialogueReply:
        return cls(
            system=system,
            path=path,
            reply=turn.response.text,
            strategy=turn.response.strategy or "",
            transcript=turn.transcript.text or "",
            transcript_model=turn.transcript.model or "",
            emotion=turn.emotion.label,
            emotion_model=turn.emotion.model or "",
            timings={k: float(v) for k, v in turn.timings.items()},
        )

    def to_dict(self) -> dict[str, Any]:
        return {
            "system": self.system,
            "path": self.path,
            "reply": self.reply,
            "strategy": self.strategy,
            "transcript": self.transcript,
            "transcript_model": self.transcript_model,
            "emotion": self.emotion,
            "emotion_model": self.emotion_model,
            "timings": dict(self.timings),
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> DialogueReply:
        return cls(
            system=str(data["system"]),
            path=str(data["path"]),
            reply=str(data["reply"]),
            strategy=str(data.get("strategy", "")),
            transcript=str(data.get("transcript", "")),
            transcript_model=str(data.get("transcript_model", "")),
            emotion=str(data.get("emotion", "")),
            emotion_model=str(data.get("emotion_model", "")),
            timings={k: float(v) for k, v in (data.get("timings") or {}).items()},
        )


#: Figures with a bootstrap interval, in the order tables show them.
INTERVAL_FIGURES: tuple[str, ...] = ("sim", "sim_mean_reference", "bleu1", "bleu4", "emotion_contrast",
                                     "reference_discrimination", "judge_empathy", "judge_fit")  # fmt: skip


@dataclass(frozen=True)
class SystemScores:
    """Every figure of one system (``None`` where the system has no such figure).

    With several decoding runs each figure is the mean over runs, and ``run_intervals`` holds its 95%
    interval over runs. ``intervals`` holds the bootstrap 95% interval over clips of the figures in
    :data:`INTERVAL_FIGURES`. Definitions: ``docs/evaluation.md``.

    Attributes:
        name: The system spec as given (``cascade``, ``echat:model=DIR``...).
        n: Clips scored.
        runs: Decoding runs (1: greedy).
        is_writer: This system (same spec) wrote the reference replies.
        bleu1: Corpus BLEU-1 against all of each clip's references, 0-100.
        bleu4: Corpus BLEU-4, 0-100.
        sim: Mean over clips of the SIM (cosine x 100) to the best-matching reference.
        sim_mean_reference: Mean over clips of the mean SIM over the clip's references.
        emotion_accuracy: Share of clips whose emotion it recognised right (systems that recognise one).
        emotion_ua: Unweighted accuracy (mean per-emotion recall).
        wer: Word error rate of its transcripts (systems that transcribe; ``None`` for character languages).
        cer: Character error rate of its transcripts.
        latency_median_s: Median seconds per turn.
        latency_p90_s: 90th percentile of seconds per turn.
        emotion_sensitivity: Share of same-words, different-emotion clip pairs whose replies differ.
        same_emotion_change: Share of same-words, same-emotion clip pairs whose replies differ (the floor).
        sensitivity_pairs: Number of different-emotion pairs.
        pair_sim_same_emotion: Mean SIM between the replies to same-words, same-emotion clip pairs.
        pair_sim_different_emotion: Mean SIM between the replies to same-words, different-emotion pairs.
        emotion_contrast: ``pair_sim_same_emotion - pair_sim_different_emotion``: how much the emotion
            alone moves the reply, beyond what another recording of the same words does.
        reference_discrimination: Share of clips whose reply is closer to the references written for its
            own emotion than to those of any other emotion for the same words.
        reference_discrimination_chance: Its chance level (mean of 1/K, K emotions with references).
        discrimination_clips: Clips it is measured on.
        strategy_match: Share of replies whose strategy is the one of the true emotion.
        judge_empathy: Mean LLM-judge rating of empathy, 1-5 (with a judge).
        judge_fit: Mean LLM-judge rating of fit to what was said and how, 1-5 (with a judge).
        intervals: Figure -> bootstrap 95% interval over clips.
        run_intervals: Figure -> 95% interval over decoding runs (two runs or more).
    """

    name: str
    n: int
    runs: int = 1
    is_writer: bool = False
    bleu1: float | None = None
    bleu4: float | None = None
    sim: float | None = None
    sim_mean_reference: float | None = None
    emotion_accuracy: float | None = None
    emotion_ua: float | None = None
    wer: float | None = None
    cer: float | None = None
    latency_median_s: float | None = None
    latency_p90_s: float | None = None
    emotion_sensitivity: float | None = None
    same_emotion_change: float | None = None
    sensitivity_pairs: int = 0
    pair_sim_same_emotion: float | None = None
    pair_sim_different_emotion: float | None = None
    emotion_contrast: float | None = None
    reference_discrimination: float | None = None
    reference_discrimination_chance: float | None = None
    discrimination_clips: int = 0
    strategy_match: float | None = None
    judge_empathy: float | None = None
    judge_fit: float | None = None
    intervals: dict[str, Interval] = field(default_factory=dict)
    run_intervals: dict[str, Interval] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        """The per-system JSON object of ``emotionlayer evaluate dialogue --json``: every figure, then
        ``intervals`` and ``run_intervals`` as ``{figure: [low, high]}``."""
        out = {
            f.name: getattr(self, f.name) for f in fields(self) if f.name not in ("name", "intervals", "run_intervals")
        }
        out["intervals"] = {k: v.to_list() for k, v in self.intervals.items()}
        out["run_intervals"] = {k: v.to_list() for k, v in self.run_intervals.items()}
        return out

    def interval(self, figure: str) -> Interval | None:
        """The interval to show beside a figure: over runs if there are several, else the bootstrap one."""
        return self.run_intervals.get(figure) if self.runs > 1 else self.intervals.get(figure)


@dataclass(frozen=True)
class PairwiseDifference:
    """System ``a`` minus system ``b`` on one figure, with the paired-bootstrap 95% interval.

    The difference is *real* (at the 95% level) when the interval excludes 0.
    """

    a: str
    b: str
    figure: str
    difference: float
    interval: Interval | None

    @property
    def real(self) -> bool:
        return self.interval is not None and self.interval.excludes(0.0)

    def to_dict(self) -> dict[str, Any]:
        return {"a": self.a, "b": self.b, "figure": self.figure, "difference": self.difference,
                "interval": self.interval.to_list() if self.interval else None, "real": self.real}  # fmt: skip


@dataclass
class DialogueReport:
    """The result of :func:`evaluate_dialogue`.

    Attributes:
        n: Clips answered.
        systems: System name -> its figures, in the order the systems were given.
        decoding: How every system decoded (``greedy``, or the sampled runs and their seeds).
        references: Where the reference replies come from (the manifest, and who wrote them).
        writer: The provenance of the reference set, when the manifest records one.
        pairwise: Every two systems' differences with paired-bootstrap intervals.
        clips: The clips, in manifest order.
        replies: System name -> its replies of the first run, aligned with ``clips``.
        per_emotion: System name -> true emotion -> figures on those clips.
        computed: Replies computed by this run (the rest came from the cache).
        threshold: The one SIM threshold for sensitivity, if set (else per embedding model).
        bootstrap: ``{"resamples", "seed"}`` of the intervals.
        config: The config the systems were built from.
    """

    n: int
    systems: dict[str, SystemScores]
    decoding: str = "greedy"
    references: str = "manifest"
    writer: dict[str, Any] | None = None
    pairwise: list[PairwiseDifference] = field(default_factory=list)
    clips: list[DialogueClip] = field(default_factory=list, repr=False)
    replies: dict[str, list[DialogueReply]] = field(default_factory=dict, repr=False)
    per_emotion: dict[str, dict[str, dict[str, Any]]] = field(default_factory=dict, repr=False)
    computed: int = 0
    threshold: float | None = None
    bootstrap: dict[str, int] = field(default_factory=dict)
    config: PipelineConfig | None = field(default=None, repr=False)

    def to_dict(self, details: bool = False) -> dict[str, Any]:
        """``{"systems": {name: {"bleu1", ..., "intervals"}}, "pairwise": [...], "decoding", "n"}``; with
        ``details`` also the references, thresholds, per-emotion figures, clips and every reply."""
        out: dict[str, Any] = {
            "systems": {name: s.to_dict() for name, s in self.systems.items()},
            "pairwise": [d.to_dict() for d in self.pairwise],
            "decoding": self.decoding,
            "n": self.n,
        }
        if details:
            out["references"] = self.references
            out["writer"] = self.writer
            out["bootstrap"] = self.bootstrap
            out["sensitivity_thresholds"] = (
                {"all": self.threshold} if self.threshold is not None else dict(SENSITIVITY_THRESHOLDS)
            )
            out["per_emotion"] = self.per_emotion
            out["clips"] = [
                {
                    "path": c.path,
                    "text": c.text,
                    "emotion": c.emotion,
                    "language": c.score_language,
                    "references": list(c.references),
                }
                for c in self.clips
            ]
            out["replies"] = {name: [r.to_dict() for r in rs] for name, rs in self.replies.items()}
        return out

    # -- human-readable output ------------------------------------------------------------------
    def _label(self, name: str) -> str:
        return f"{name} (wrote the references)" if self.systems[name].is_writer else name

    def _cell(self, s: SystemScores, figure: str, digits: int = 2, scale: float = 1.0) -> str:
        value = getattr(s, figure)
        if value is None:
            return "n/a"
        interval = s.interval(figure)
        text = f"{value * scale:.{digits}f}" + ("%" if scale == 100 else "")
        return (
            text
            if interval is None
            else f"{text} [{interval.low * scale:.{digits}f}, {interval.high * scale:.{digits}f}]"
        )

    def table(self) -> str:
        """The reply figures with their 95% intervals, and recognition figures, as a Markdown table."""
        head = ("system", "BLEU-1", "BLEU-4", "SIM (best ref)", "SIM (mean over refs)", "emotion acc", "emotion UA",
                "WER", "strategy match")  # fmt: skip
        lines = ["| " + " | ".join(head) + " |", "|" + "|".join(["---"] + ["---:"] * (len(head) - 1)) + "|"]
        for name, s in self.systems.items():
            cells = [self._label(name), self._cell(s, "bleu1"), self._cell(s, "bleu4"), self._cell(s, "sim"),
                     self._cell(s, "sim_mean_reference"), self._cell(s, "emotion_accuracy", 1, 100),
                     self._cell(s, "emotion_ua", 1, 100), self._cell(s, "wer", 1, 100),
                     self._cell(s, "strategy_match", 1, 100)]  # fmt: skip
            lines.append("| " + " | ".join(cells) + " |")
        return "\n".join(lines)

    def sensitivity_table(self) -> str:
        """Per system: the same-words pairs, their mean reply SIM, the emotion contrast and the reference
        discrimination rate, with intervals (Markdown)."""
        lines = ["| system | different-emotion pairs | sensitivity | same-emotion change | mean SIM, same emotion | "
                 "mean SIM, different emotion | emotion contrast | reference discrimination (chance) |",
                 "|---|---:|---:|---:|---:|---:|---:|---:|"]  # fmt: skip
        for name, s in self.systems.items():
            chance = (
                ""
                if s.reference_discrimination_chance is None
                else f" ({s.reference_discrimination_chance * 100:.1f}%)"
            )
            lines.append(
                f"| {name} | {s.sensitivity_pairs} | {self._cell(s, 'emotion_sensitivity', 1, 100)} | "
                f"{self._cell(s, 'same_emotion_change', 1, 100)} | {self._cell(s, 'pair_sim_same_emotion', 1)} | "
                f"{self._cell(s, 'pair_sim_different_emotion', 1)} | {self._cell(s, 'emotion_contrast', 1)} | "
                f"{self._cell(s, 'reference_discrimination', 1, 100)}{chance} |"
            )
        return "\n".join(lines)

    def pairwise_table(self) -> str:
        """Every two systems' differences with the paired-bootstrap 95% interval (Markdown)."""
        lines = ["| systems | figure | difference | 95% interval | real? |", "|---|---|---:|---:|---|"]
        names = {"sim": "SIM", "bleu1": "BLEU-1", "bleu4": "BLEU-4"}
        for d in self.pairwise:
            interval = "n/a" if d.interval is None else f"[{d.interval.low:.2f}, {d.interval.high:.2f}]"
            lines.append(f"| {d.a} - {d.b} | {names.get(d.figure, d.figure)} | {d.difference:+.2f} | {interval} | "
                         f"{'yes' if d.real else 'no: within noise'} |")  # fmt: skip
        return "\n".join(lines)

    def judge_table(self) -> str:
        """The LLM judge's mean ratings (1-5) with intervals, for systems it rated (Markdown)."""
        lines = ["| system | empathy (1-5) | fit (1-5) |", "|---|---:|---:|"]
        for name, s in self.systems.items():
            lines.append(f"| {name} | {self._cell(s, 'judge_empathy')} | {self._cell(s, 'judge_fit')} |")
        return "\n".join(lines)

    def latency_table(self) -> str:
        """Median and 90th-percentile seconds per turn (Markdown)."""
        lines = ["| system | median s | p90 s |", "|---|---:|---:|"]
        for name, s in self.systems.items():
            lines.append(f"| {name} | {self._cell(s, 'latency_median_s', 3)} | {self._cell(s, 'latency_p90_s', 3)} |")
        return "\n".join(lines)

    def emotion_table(self) -> str:
        """Per true emotion and system: clips, BLEU-1, SIM, emotion recall, strategy match (Markdown)."""
        lines = [
            "| system | emotion | n | BLEU-1 | SIM | emotion recall | strategy match |",
            "|---|---|---:|---:|---:|---:|---:|",
        ]
        for name, breakdown in self.per_emotion.items():
            for emotion, f in breakdown.items():
                lines.append(
                    f"| {name} | {emotion} | {f['n']} | {_num(f['bleu1'])} | {_num(f['sim'])} | "
                    f"{_pct(f['emotion_recall'])} | {_pct(f['strategy_match'])} |"
                )
        return "\n".join(lines)

    def markdown(self, command: str | None = None) -> str:
        """The whole report as Markdown (``report.md``)."""
        thresholds = (
            f"{self.threshold:g} for every language"
            if self.threshold is not None
            else ", ".join(f"{v:g} ({k})" for k, v in SENSITIVITY_THRESHOLDS.items())
        )
        runs = max((s.runs for s in self.systems.values()), default=1)
        interval_note = (
            f"Intervals are 95% over the {runs} decoding runs (mean ± t); "
            "the bootstrap intervals over clips are in report.json."
            if runs > 1
            else f"Intervals are 95% bootstrap intervals over clips ({self.bootstrap.get('resamples', '?')} resamples, "
            f"seed {self.bootstrap.get('seed', '?')}: a rerun gives the same ones)."
        )
        parts = ["# Dialogue evaluation", ""]
        if command:
            parts += ["```bash", command, "```", ""]
        parts += [
            f"{self.n} clips. **Decoding: {self.decoding}.** Reference replies: {self.references}.",
            "",
            self.table(),
            "",
            "BLEU-1 and BLEU-4 are 0-100 against all of a clip's references; SIM is the cosine x 100 to the best-"
            "matching reference (and the mean over references); emotion accuracy, UA and WER are of what the system "
            f"recognised (n/a: it recognises none, or was given it). {interval_note}",
            "",
            "## Which differences are real",
            "",
            "System a minus system b, with the paired-bootstrap 95% interval of the difference (the same resamples "
            "of the clips for both): a difference is real when the interval excludes 0.",
            "",
            self.pairwise_table() if self.pairwise else "(one system: nothing to compare)",
            "",
            "## Does the reply depend on the emotion?",
            "",
            "Clip pairs that say the same words. *Emotion contrast* is the mean SIM of the replies to same-emotion "
            "pairs minus that of different-emotion pairs: above 0 when the emotion moves the reply more than another "
            f"recording does. *Sensitivity* is the share of different-emotion pairs whose replies differ (SIM below "
            f"{thresholds}); *same-emotion change* its floor. *Reference discrimination* is the share of replies "
            "closer to the references written for their own emotion than to any other emotion's (chance in brackets).",
            "",
            self.sensitivity_table(),
            "",
        ]
        if any(s.judge_empathy is not None for s in self.systems.values()):
            parts += ["## LLM judge", "", self.judge_table(), ""]
        parts += [
            "## Latency",
            "",
            "Seconds per turn, measured inside the turn. Only comparable between runs on an otherwise idle machine "
            "with the same --workers.",
            "",
            self.latency_table(),
            "",
            "## Per emotion",
            "",
            self.emotion_table(),
            "",
            "The replies side by side: `replies.md` (and `replies.csv`); every figure and interval: `report.json`.",
            "",
        ]
        return "\n".join(parts)

    def replies_markdown(self) -> str:
        """Every clip with its references and each system's reply, for reading (``replies.md``)."""
        parts = ["# Replies", ""]
        for i, clip in enumerate(self.clips):
            parts.append(f'## {i + 1}. {Path(clip.path).name} ({clip.emotion or "?"}): "{clip.text or ""}"')
            parts.append("")
            for reference in clip.references:
                parts.append(f"- *reference*: {reference}")
            for name, replies in self.replies.items():
                r = replies[i]
                heard = f"heard {r.emotion}" + (
                    f', "{r.transcript}"' if r.transcript_model != "given" and r.transcript else ""
                )
                heard = "given the truth" if r.emotion_model == "given" and r.transcript_model == "given" else heard
                parts.append(f"- **{name}** ({heard}; strategy {r.strategy or '-'}): {r.reply}")
            parts.append("")
        return "\n".join(parts)

    def replies_csv(self) -> str:
        """One row per clip: path, text, emotion, references (JSON), then each system's reply, emotion, strategy."""
        buffer = io.StringIO()
        writer = csv.writer(buffer)
        header = ["path", "text", "emotion", "references"]
        for name in self.replies:
            header += [f"{name} reply", f"{name} emotion", f"{name} strategy", f"{name} seconds"]
        writer.writerow(header)
        for i, clip in enumerate(self.clips):
            row = [
                clip.path,
                clip.text or "",
                clip.emotion or "",
                json.dumps(list(clip.references), ensure_ascii=False),
            ]
            for replies in self.replies.values():
                r = replies[i]
                row += [r.reply, r.emotion, r.strategy, "" if r.seconds is None else f"{r.seconds:.3f}"]
            writer.writerow(row)
        return buffer.getvalue()

    def scores_csv(self) -> str:
        """One row per system and figure: value and 95% interval (bootstrap, and over runs)."""
        buffer = io.StringIO()
        writer = csv.writer(buffer)
        writer.writerow(["system", "figure", "value", "low", "high", "run_low", "run_high"])
        for name, s in self.systems.items():
            for key, value in s.to_dict().items():
                if key in ("intervals", "run_intervals") or isinstance(value, bool) or value is None:
                    continue
                boot, run = s.intervals.get(key), s.run_intervals.get(key)
                writer.writerow(
                    [name, key, value, *(boot.to_list() if boot else ["", ""]), *(run.to_list() if run else ["", ""])]
                )
        for d in self.pairwise:
            writer.writerow(
                [f"{d.a} - {d.b}", d.figure, d.difference, *(d.interval.to_list() if d.interval else ["", ""]), "", ""]
            )
        return buffer.getvalue()

    def per_emotion_csv(self) -> str:
        buffer = io.StringIO()
        writer = csv.writer(buffer)
        writer.writerow(["system", "emotion", "n", "bleu1", "sim", "emotion_recall", "strategy_match"])
        for name, breakdown in self.per_emotion.items():
            for emotion, f in breakdown.items():
                writer.writerow(
                    [name, emotion, f["n"]]
                    + ["" if f[k] is None else f[k] for k in ("bleu1", "sim", "emotion_recall", "strategy_match")]
                )
        return buffer.getvalue()

    def plot(self, path: PathLike) -> str:
        """Two panels as a PNG: each system's BLEU-1, BLEU-4, SIM and emotion contrast with their 95% intervals,
        and every pairwise SIM/BLEU difference with its interval (a bar crossing 0 is within noise)."""
        import matplotlib

        matplotlib.use("Agg", force=False)
        import matplotlib.pyplot as plt

        metrics = [("BLEU-1", "bleu1"), ("BLEU-4", "bleu4"), ("SIM", "sim"), ("emotion contrast", "emotion_contrast")]
        names = list(self.systems)
        width = 0.8 / max(1, len(names))
        fig, (ax, bx) = plt.subplots(1, 2, figsize=(12.0, 4.5), gridspec_kw={"width_ratios": [1.2, 1.0]})
        for j, name in enumerate(names):
            s = self.systems[name]
            xs = [i + (j - (len(names) - 1) / 2) * width for i in range(len(metrics))]
            heights = [getattr(s, attr) or 0.0 for _, attr in metrics]
            errors = [
                [0.0, 0.0] if (iv := s.interval(attr)) is None else [h - iv.low, iv.high - h]
                for h, (_, attr) in zip(heights, metrics, strict=True)
            ]
            ax.bar(xs, heights, width, yerr=np.array(errors).T, capsize=2, label=name)
        ax.axhline(0, color="black", linewidth=0.6)
        ax.set_xticks(range(len(metrics)), [m[0] for m in metrics])
        ax.set_ylabel("0-100 (contrast: SIM points)")
        ax.set_title(f"{self.n} clips, {self.decoding}; bars: 95% intervals", fontsize=9)
        ax.legend(fontsize=7)
        diffs = [d for d in self.pairwise if d.interval is not None]
        labels = [f"{d.a} - {d.b}: {d.figure}" for d in diffs]
        for k, d in enumerate(diffs):
            color = "tab:green" if d.real else "tab:gray"
            bx.errorbar(d.difference, k, xerr=[[d.difference - d.interval.low], [d.interval.high - d.difference]],
                        fmt="o", color=color, capsize=2)  # fmt: skip
        bx.axvline(0, color="black", linewidth=0.6)
        bx.set_yticks(range(len(diffs)), labels, fontsize=6)
        bx.set_title("pairwise differences (green: interval excludes 0)", fontsize=9)
        fig.tight_layout()
        fig.savefig(path, dpi=120)
        plt.close(fig)
        return str(path)

    def write(self, folder: PathLike, command: str | None = None) -> dict[str, str]:
        """Write ``report.md``, ``report.json``, ``scores.csv``, ``per_emotion.csv``, ``replies.md``,
        ``replies.csv`` and ``scores.png`` into ``folder`` (created); returns name -> path."""
        from ..files import write_text_atomic

        target = Path(folder).expanduser()
        target.mkdir(parents=True, exist_ok=True)
        texts = {
            "report.md": self.markdown(command),
            "report.json": json.dumps(self.to_dict(details=True), indent=2, ensure_ascii=False),
            "scores.csv": self.scores_csv(),
            "per_emotion.csv": self.per_emotion_csv(),
            "replies.md": self.replies_markdown(),
            "replies.csv": self.replies_csv(),
        }
        written = {}
        for name, text in texts.items():
            write_text_atomic(target / name, text)
            written[name] = str(target / name)
        written["scores.png"] = self.plot(target / "scores.png")
        return written


def _num(value: float | None, digits: int = 2) -> str:
    return "n/a" if value is None else f"{value:.{digits}f}"


def _pct(value: float | None) -> str:
    return "n/a" if value is None else f"{value * 100:.1f}%"
