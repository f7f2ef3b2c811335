"""The records of a dialogue evaluation and its report: clips, replies, per-system figures.

:func:`emotionlayer.evaluation.dialogue.evaluate_dialogue` returns a :class:`DialogueReport`; this
module holds it and the records it is made of (:class:`DialogueClip`, :class:`DialogueReply`,
:class:`SystemScores`), and writes it as Markdown tables, CSV, JSON and a bar chart
(:meth:`DialogueReport.write`).
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Union

from ..config import PipelineConfig
from ..data.manifest import ManifestRow
from .reply_metrics import SENSITIVITY_THRESHOLDS, clip_language

PathLike = Union[str, os.PathLike]


@dataclass(frozen=True)
class DialogueClip:
    """One clip to answer: its audio, what was said (``text``), how (``emotion``), an optional reference.

    Attributes:
        path: Absolute path of the audio.
        text: The true words (given to systems that ``need_truth``, and for sensitivity groups).
        emotion: The true emotion (canonical label).
        language: The manifest's language column (given to every system as a hint).
        score_language: The language BLEU and SIM use (:func:`clip_language`).
        speaker: Speaker id, if known.
        reference: A reference reply from the manifest, if any.
        audio_sha256: Hash of the audio file (part of the cache key).
    """

    path: str
    text: str | None = None
    emotion: str | None = None
    language: str | None = None
    score_language: str = "en"
    speaker: str | None = None
    reference: str | None = None
    audio_sha256: str = ""

    @property
    def id(self) -> str:
        return Path(self.path).stem

    @classmethod
    def from_row(cls, row: ManifestRow, default_language: str | None = None) -> DialogueClip:
        reference = row.extra.get("reference")
        reference = str(reference).strip() if reference is not None and str(reference).strip() else None
        return cls(
            path=row.path,
            text=row.text,
            emotion=row.emotion,
            language=row.language,
            score_language=clip_language(row.text, row.language, default_language),
            speaker=row.speaker,
            reference=reference,
            audio_sha256=_file_sha256(row.path),
        )

    def to_utterance(self, truth: bool, max_seconds: float | None = None) -> Any:
        """What a system is given: the true text and emotion (``truth``, no audio), else the audio alone."""
        from ..audio import load_audio
        from ..types import Utterance

        if truth:
            return Utterance(text=self.text, emotion=self.emotion, id=self.id, speaker=self.speaker, language=self.language)
        audio = load_audio(self.path, max_seconds=max_seconds)
        return Utterance(audio=audio, id=self.id, speaker=self.speaker, language=self.language)


def _file_sha256(path: str) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


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


@dataclass(frozen=True)
class SystemScores:
    """Every figure of one system (``None`` where the system has no such figure).

    Attributes:
        name: The system spec as given (``cascade``, ``echat:model=DIR``...).
        n: Replies scored.
        is_reference: Its replies are the reference (then ``bleu1``, ``bleu4`` and ``sim`` are ``None``).
        bleu1: Corpus BLEU-1 against the references, 0-100.
        bleu4: Corpus BLEU-4, 0-100.
        sim: Mean cosine x 100 of reply and reference sentence embeddings.
        emotion_accuracy: Share of clips whose emotion it recognised right (systems that recognise one).
        emotion_ua: Unweighted accuracy (mean per-emotion recall).
        wer: Word error rate of its transcripts (systems that transcribe; ``None`` for character languages).
        cer: Character error rate of its transcripts.
        latency_median_s: Median seconds per turn.
        latency_p90_s: 90th percentile of seconds per turn.
        emotion_sensitivity: Share of same-words, different-emotion clip pairs whose replies differ.
        same_emotion_change: Share of same-words, same-emotion clip pairs whose replies differ (the floor).
        sensitivity_pairs: Number of different-emotion pairs behind ``emotion_sensitivity``.
        pair_sim_same_emotion: Mean SIM between the replies to same-words, same-emotion clip pairs.
        pair_sim_different_emotion: Mean SIM between the replies to same-words, different-emotion clip
            pairs; below ``pair_sim_same_emotion`` when the emotion shapes the reply.
        strategy_match: Share of replies whose strategy is the one of the true emotion.
    """

    name: str
    n: int
    is_reference: bool = False
    bleu1: float | None = None
    bleu4: float | None = None
    sim: float | None = None
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
    strategy_match: float | None = None

    def to_dict(self) -> dict[str, Any]:
        """The per-system JSON object of ``emotionlayer evaluate dialogue --json``."""
        return {
            "bleu1": self.bleu1,
            "bleu4": self.bleu4,
            "sim": self.sim,
            "emotion_accuracy": self.emotion_accuracy,
            "emotion_ua": self.emotion_ua,
            "wer": self.wer,
            "cer": self.cer,
            "latency_median_s": self.latency_median_s,
            "latency_p90_s": self.latency_p90_s,
            "emotion_sensitivity": self.emotion_sensitivity,
            "same_emotion_change": self.same_emotion_change,
            "sensitivity_pairs": self.sensitivity_pairs,
            "pair_sim_same_emotion": self.pair_sim_same_emotion,
            "pair_sim_different_emotion": self.pair_sim_different_emotion,
            "strategy_match": self.strategy_match,
            "n": self.n,
            "is_reference": self.is_reference,
        }


@dataclass
class DialogueReport:
    """The result of :func:`evaluate_dialogue`.

    Attributes:
        n: Clips answered.
        systems: System name -> its figures, in the order the systems were given.
        reference: ``"manifest"`` (the manifest's ``reference`` column) or the reference system's name.
        clips: The clips, in manifest order.
        replies: System name -> its replies, aligned with ``clips``.
        per_emotion: System name -> true emotion -> figures on those clips.
        computed: Replies computed by this run (the rest came from the cache).
        config: The config the systems were built from.
    """

    n: int
    systems: dict[str, SystemScores]
    reference: str
    clips: list[DialogueClip] = field(default_factory=list, repr=False)
    replies: dict[str, list[DialogueReply]] = field(default_factory=dict, repr=False)
    per_emotion: dict[str, dict[str, dict[str, Any]]] = field(default_factory=dict, repr=False)
    computed: int = 0
    threshold: float | None = None
    config: PipelineConfig | None = field(default=None, repr=False)

    def to_dict(self, details: bool = False) -> dict[str, Any]:
        """``{"systems": {name: {"bleu1", "bleu4", "sim", ...}}, "n": N}``; with ``details`` also the
        reference, the thresholds, the per-emotion figures and every reply."""
        out: dict[str, Any] = {"systems": {name: s.to_dict() for name, s in self.systems.items()}, "n": self.n}
        if details:
            out["reference"] = self.reference
            out["sensitivity_thresholds"] = (
                {"all": self.threshold} if self.threshold is not None else dict(SENSITIVITY_THRESHOLDS)
            )
            out["per_emotion"] = self.per_emotion
            out["clips"] = [
                {"path": c.path, "text": c.text, "emotion": c.emotion, "language": c.score_language, "reference": c.reference}
                for c in self.clips
            ]
            out["replies"] = {name: [r.to_dict() for r in rs] for name, rs in self.replies.items()}
        return out

    # -- human-readable output ------------------------------------------------------------------
    def table(self) -> str:
        """The figures as a Markdown table (percentages for shares, seconds for latency)."""
        head = ("system", "BLEU-1", "BLEU-4", "SIM", "emotion acc", "emotion UA", "WER", "sensitivity",
                "same-emotion change", "strategy match", "median s", "p90 s")  # fmt: skip
        lines = ["| " + " | ".join(head) + " |", "|" + "|".join(["---"] + ["---:"] * (len(head) - 1)) + "|"]
        for name, s in self.systems.items():
            label = f"{name} (reference)" if s.is_reference else name
            cells = [label, _num(s.bleu1), _num(s.bleu4), _num(s.sim), _pct(s.emotion_accuracy), _pct(s.emotion_ua),
                     _pct(s.wer), _pct(s.emotion_sensitivity), _pct(s.same_emotion_change), _pct(s.strategy_match),
                     _num(s.latency_median_s, 3), _num(s.latency_p90_s, 3)]  # fmt: skip
            lines.append("| " + " | ".join(cells) + " |")
        return "\n".join(lines)

    def sensitivity_table(self) -> str:
        """Per system: the same-words pairs behind emotion sensitivity, and their mean reply SIM (Markdown)."""
        lines = ["| system | different-emotion pairs | sensitivity | same-emotion change | mean SIM, same emotion | "
                 "mean SIM, different emotion |", "|---|---:|---:|---:|---:|---:|"]  # fmt: skip
        for name, s in self.systems.items():
            lines.append(
                f"| {name} | {s.sensitivity_pairs} | {_pct(s.emotion_sensitivity)} | {_pct(s.same_emotion_change)} | "
                f"{_num(s.pair_sim_same_emotion, 1)} | {_num(s.pair_sim_different_emotion, 1)} |"
            )
        return "\n".join(lines)

    def emotion_table(self) -> str:
        """Per true emotion and system: clips, BLEU-1, SIM, emotion recall, strategy match (Markdown)."""
        lines = ["| system | emotion | n | BLEU-1 | SIM | emotion recall | strategy match |", "|---|---|---:|---:|---:|---:|---:|"]
        for name, breakdown in self.per_emotion.items():
            for emotion, f in breakdown.items():
                lines.append(
                    f"| {name} | {emotion} | {f['n']} | {_num(f['bleu1'])} | {_num(f['sim'])} | "
                    f"{_pct(f['emotion_recall'])} | {_pct(f['strategy_match'])} |"
                )
        return "\n".join(lines)

    def markdown(self, command: str | None = None) -> str:
        """The whole report as Markdown (``report.md``)."""
        reference = (
            "the manifest's `reference` column"
            if self.reference == "manifest"
            else f"the `{self.reference}` system's replies (its own BLEU and SIM are left out: n/a)"
        )
        thresholds = (
            f"{self.threshold:g} for every language"
            if self.threshold is not None
            else ", ".join(f"{v:g} ({k})" for k, v in SENSITIVITY_THRESHOLDS.items())
        )
        parts = ["# Dialogue evaluation", ""]
        if command:
            parts += ["```bash", command, "```", ""]
        parts += [
            f"{self.n} clips; reference replies: {reference}.",
            "",
            self.table(),
            "",
            "BLEU-1, BLEU-4 and SIM are 0-100 against the reference; emotion accuracy, UA and WER are of what the "
            "system recognised (n/a: it recognises none, or was given it); *sensitivity* is the share of clip "
            "pairs with the same words and different emotions whose replies differ (SIM below the threshold: "
            f"{thresholds}), *same-emotion change* the same share for pairs with the same emotion; *strategy "
            "match* the share of replies using the true emotion's empathy strategy; latency is seconds per turn.",
            "",
            "## Does the reply depend on the emotion?",
            "",
            "Clip pairs that say the same words: a reply pair *differs* when its SIM is below the threshold. "
            "Sensitivity well above the same-emotion change, and a lower mean SIM for different emotions "
            "than for the same emotion, mean the emotion shapes the reply.",
            "",
            self.sensitivity_table(),
            "",
            "## Per emotion",
            "",
            self.emotion_table(),
            "",
            "The replies side by side: `replies.md` (and `replies.csv`); every figure: `report.json`.",
            "",
        ]
        return "\n".join(parts)

    def replies_markdown(self) -> str:
        """Every clip with each system's reply, for reading (``replies.md``)."""
        parts = ["# Replies", ""]
        for i, clip in enumerate(self.clips):
            parts.append(f"## {i + 1}. {Path(clip.path).name} ({clip.emotion or '?'}): \"{clip.text or ''}\"")
            parts.append("")
            if self.reference == "manifest":
                parts.append(f"- *reference*: {clip.reference}")
            for name, replies in self.replies.items():
                r = replies[i]
                heard = f"heard {r.emotion}" + (f', "{r.transcript}"' if r.transcript_model != "given" and r.transcript else "")
                heard = "given the truth" if r.emotion_model == "given" and r.transcript_model == "given" else heard
                parts.append(f"- **{name}** ({heard}; strategy {r.strategy or '-'}): {r.reply}")
            parts.append("")
        return "\n".join(parts)

    def replies_csv(self) -> str:
        """One row per clip: path, text, emotion, reference, then each system's reply, emotion and strategy."""
        buffer = io.StringIO()
        writer = csv.writer(buffer)
        header = ["path", "text", "emotion", "reference"]
        for name in self.replies:
            header += [f"{name} reply", f"{name} emotion", f"{name} strategy", f"{name} seconds"]
        writer.writerow(header)
        for i, clip in enumerate(self.clips):
            row = [clip.path, clip.text or "", clip.emotion or "", clip.reference or ""]
            for replies in self.replies.values():
                r = replies[i]
                row += [r.reply, r.emotion, r.strategy, "" if r.seconds is None else f"{r.seconds:.3f}"]
            writer.writerow(row)
        return buffer.getvalue()

    def per_emotion_csv(self) -> str:
        buffer = io.StringIO()
        writer = csv.writer(buffer)
        writer.writerow(["system", "emotion", "n", "bleu1", "sim", "emotion_recall", "strategy_match"])
        for name, breakdown in self.per_emotion.items():
            for emotion, f in breakdown.items():
                writer.writerow([name, emotion, f["n"]] + ["" if f[k] is None else f[k] for k in ("bleu1", "sim", "emotion_recall", "strategy_match")])
        return buffer.getvalue()

    def plot(self, path: PathLike) -> str:
        """A grouped bar chart of each system's BLEU-1, BLEU-4, SIM, emotion accuracy, sensitivity and
        strategy match (all on 0-100), as a PNG."""
        import matplotlib

        matplotlib.use("Agg", force=False)
        import matplotlib.pyplot as plt

        metrics = [("BLEU-1", "bleu1", 1), ("BLEU-4", "bleu4", 1), ("SIM", "sim", 1), ("emotion acc %", "emotion_accuracy", 100),
                   ("sensitivity %", "emotion_sensitivity", 100), ("strategy match %", "strategy_match", 100)]  # fmt: skip
        names = list(self.systems)
        width = 0.8 / max(1, len(names))
        fig, ax = plt.subplots(figsize=(max(6.0, 1.6 * len(metrics)), 4.0))
        for j, name in enumerate(names):
            s = self.systems[name]
            values = [getattr(s, attr) for _, attr, _ in metrics]
            xs = [i + (j - (len(names) - 1) / 2) * width for i in range(len(metrics))]
            heights = [0.0 if v is None else v * scale for v, (_, _, scale) in zip(values, metrics, strict=True)]
            bars = ax.bar(xs, heights, width, label=name)
            for bar, value, height in zip(bars, values, heights, strict=True):
                label = "n/a" if value is None else f"{height:.0f}"
                ax.text(bar.get_x() + bar.get_width() / 2, height + 1, label, ha="center", va="bottom", fontsize=7)
        ax.set_xticks(range(len(metrics)), [m[0] for m in metrics])
        ax.set_ylim(0, 110)
        ax.set_ylabel("0-100")
        ax.set_title(f"Dialogue evaluation, {self.n} clips (reference: {self.reference})", fontsize=10)
        ax.legend(fontsize=8)
        fig.tight_layout()
        fig.savefig(path, dpi=120)
        plt.close(fig)
        return str(path)

    def write(self, folder: PathLike, command: str | None = None) -> dict[str, str]:
        """Write ``report.md``, ``report.json``, ``per_emotion.csv``, ``replies.md``, ``replies.csv`` and
        ``scores.png`` into ``folder`` (created); returns name -> path."""
        from ..files import write_text_atomic

        target = Path(folder).expanduser()
        target.mkdir(parents=True, exist_ok=True)
        texts = {
            "report.md": self.markdown(command),
            "report.json": json.dumps(self.to_dict(details=True), indent=2, ensure_ascii=False),
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
