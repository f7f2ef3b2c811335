"""``emotionlayer evaluate dialogue``: compare dialogue systems on recordings, as the E-chat paper does.

The function here is registered on the ``evaluate`` group by :mod:`emotionlayer.cli.main`; it parses
options, calls :func:`emotionlayer.evaluation.dialogue.evaluate_dialogue` and prints.
"""

from __future__ import annotations

import json
import shlex
import sys
from pathlib import Path

import typer


def evaluate_dialogue(
    manifest: Path = typer.Option(
        ...,
        "--manifest",
        "-m",
        help="CSV or JSONL listing the recordings: path (relative to the manifest), text (the words said), "
        "emotion (how they were said); optionally language and reference (a reference reply).",
    ),
    systems: str = typer.Option(
        "cascade,topline",
        "--systems",
        "-s",
        help="Comma-separated dialogue systems to compare, each NAME or NAME:KEY=VALUE (e.g. "
        "cascade,topline,echat:model=DIR). `emotionlayer components --kind system` lists them. The topline "
        "is told the true text and emotion; the others hear the recording only.",
    ),
    config: Path | None = typer.Option(None, "--config", "-c", help="Pipeline config (YAML/JSON) the systems are built from; default: the packaged offline models."),
    split: str | None = typer.Option(
        None, "--split", help="Answer only the rows whose 'split' column has this value, e.g. test (manifests of `emotionlayer data generate` have one)."
    ),
    limit: int | None = typer.Option(None, "--limit", "-n", min=1, help="Answer only the first N recordings (after --split)."),
    report: Path | None = typer.Option(
        None, "--report", help="Write report.md (tables), scores.png (bar chart), replies.md/.csv (every reply side by side), per_emotion.csv and report.json into this folder."
    ),
    as_json: bool = typer.Option(
        False,
        "--json",
        help='Print one JSON object {"systems": {NAME: {"bleu1", "bleu4", "sim", "emotion_accuracy", "emotion_ua", '
        '"wer", "latency_median_s", "latency_p90_s", "emotion_sensitivity", ...}}, "n": N} and nothing else '
        "(null where a system has no such figure).",
    ),
    workers: int = typer.Option(1, "--workers", "-w", min=1, help="Answer in N worker processes (each loads every system once). Latency figures are only comparable at the same N."),
    ray: str | None = typer.Option(None, "--ray", help="Answer in --workers Ray actors on this cluster address ('local' starts one here). Needs pip install \"emotionlayer[ray]\"."),
    cache: Path | None = typer.Option(
        None, "--cache", help="Keep every reply in this folder as soon as it is made: a rerun (after a crash, or with one more system) computes only what is missing."
    ),
    threshold: float | None = typer.Option(
        None, "--threshold", help="SIM below which two replies count as different, for emotion sensitivity. Default: 80 (English, MiniLM), 95 (other languages, e5)."
    ),
) -> None:
    """Compare dialogue systems on recordings with known words and emotions (E-chat's comparison).

    Every system answers every recording. Each reply is scored against a reference reply: the manifest's
    reference column, or else the topline's reply (the LLM told the true words and emotion), as in the
    E-chat paper. Figures per system:

    \b
      BLEU-1, BLEU-4   word overlap with the reference (0-100; Chinese by character)
      SIM              meaning overlap: sentence-embedding cosine x 100 with the reference
      emotion acc, UA  the emotion it heard vs the true one (systems that recognise one)
      WER              errors in its transcript (systems that make one)
      sensitivity      same words said in different emotions: how often the reply changes (0 = ignores the voice)
      same-emotion change   the same for the same emotion: the noise floor of sensitivity
      strategy match   how often it used the empathy strategy of the true emotion
      median s, p90 s  seconds per turn

    Example: emotionlayer evaluate dialogue --manifest clips.csv --systems cascade,topline --limit 24 --report out/ --cache out/cache
    """
    from ..config import PipelineConfig
    from ..evaluation.dialogue import evaluate_dialogue as run

    cfg = PipelineConfig.load(config) if config else PipelineConfig.default()
    command = "emotionlayer " + " ".join(shlex.quote(a) for a in sys.argv[1:] if a != "--debug")
    result = run(
        manifest,
        systems,
        config=cfg,
        limit=limit,
        split=split,
        report_dir=report,
        workers=workers,
        ray=ray,
        cache_dir=cache,
        progress=not as_json,
        threshold=threshold,
        command=command,
    )
    if as_json:
        typer.echo(json.dumps(result.to_dict(), ensure_ascii=False))
        return
    reference = "the manifest's reference column" if result.reference == "manifest" else f"{result.reference}'s replies"
    typer.echo(f"Recordings: {result.n}   reference replies: {reference}   replies computed now: {result.computed}")
    typer.echo("")
    typer.echo(result.table())
    typer.echo("")
    typer.echo(
        "BLEU and SIM are 0-100 against the reference (n/a for the reference itself); sensitivity: how often the "
        "reply changes when only the emotion changes; n/a: the system has no such figure."
    )
    if report is not None:
        typer.echo(f"Report: {report / 'report.md'} (replies side by side: {report / 'replies.md'})")
