"""``emotionlayer evaluate dialogue``: compare dialogue systems on recordings, as the E-chat paper does.

The function here is registered on the ``evaluate`` group by :mod:`emotionlayer.cli.main`; it parses
options, calls :func:`emotionlayer.evaluation.dialogue.evaluate_dialogue` and prints.
"""

from __future__ import annotations

import json
import shlex
import sys
from pathlib import Path
from typing import Any

import typer


def evaluate_dialogue(
    manifest: Path = typer.Option(
        ...,
        "--manifest",
        "-m",
        help="CSV or JSONL listing the recordings: path (relative to the manifest), text (the words said), "
        "emotion (how they were said), references (a JSON list of reference replies) or reference; optionally "
        "language, split.",
    ),
    systems: str = typer.Option(
        "cascade",
        "--systems",
        "-s",
        help="Comma-separated dialogue systems to compare, each NAME or NAME:KEY=VALUE (e.g. "
        "cascade,paralingpt,echat:model=DIR,topline). `emotionlayer components --kind system` lists them. The topline "
        "is told the true text and emotion; the others hear the recording only.",
    ),
    config: Path | None = typer.Option(
        None,
        "--config",
        "-c",
        help="Pipeline config (YAML/JSON) the systems are built from; default: the packaged offline models.",
    ),
    split: str | None = typer.Option(
        None, "--split", help="Only the rows whose 'split' column has this value, e.g. test."
    ),
    limit: int | None = typer.Option(None, "--limit", "-n", min=1, help="Only the first N recordings (after --split)."),
    write_references: str | None = typer.Option(
        None,
        "--write-references",
        help="Instead of evaluating: let this writer system (e.g. topline, which prompts with topline.j2) answer every "
        "recording given its true text and emotion, greedily, and freeze its replies into the manifest's 'references' "
        "column with their provenance. Do this once; every evaluation then reads them.",
    ),
    writer_config: Path | None = typer.Option(
        None,
        "--writer-config",
        help="The writer's pipeline config, e.g. an 'llm' section with backend openai and base_url of a local server "
        "for a stronger writer. Default: --config.",
    ),
    references_out: Path | None = typer.Option(
        None, "--references-out", help="Write the manifest with references here instead of over --manifest."
    ),
    overwrite_references: bool = typer.Option(
        False, "--overwrite-references", help="Replace references the rows already have."
    ),
    samples: int = typer.Option(
        0,
        "--samples",
        min=0,
        help="0 (default): every system decodes greedily, so a rerun gives the same figures. N: N sampled runs per "
        "system; every figure becomes a mean with a 95% interval over runs.",
    ),
    seed: int = typer.Option(
        0, "--seed", help="The first sampling seed (runs use SEED..SEED+N-1); also recorded with written references."
    ),
    temperature: float | None = typer.Option(
        None, "--temperature", min=0.0, help="Sampling temperature with --samples (default: the config LLM's, or 0.7)."
    ),
    judge_url: str | None = typer.Option(
        None,
        "--judge-url",
        help="Rate every reply 1-5 for empathy and fit with an LLM judge at this OpenAI-compatible endpoint "
        "(off by default).",
    ),
    judge_model: str | None = typer.Option(None, "--judge-model", help="The judge's model name on that server."),
    bootstrap: int = typer.Option(
        2000,
        "--bootstrap",
        min=1,
        help="Bootstrap resamples of the recordings for the 95% intervals (seeded: reruns give the same intervals).",
    ),
    report: Path | None = typer.Option(
        None,
        "--report",
        help="Write report.md (tables with intervals), scores.png, scores.csv, replies.md/.csv, per_emotion.csv and "
        "report.json into this folder.",
    ),
    as_json: bool = typer.Option(
        False,
        "--json",
        help='Print one JSON object {"systems": {NAME: {"bleu1", "bleu4", "sim", ..., '
        '"intervals": {FIGURE: [LOW, HIGH]}}}, "pairwise": [...], "decoding": ..., "n": N} and nothing else '
        "(null where a system has no such figure).",
    ),
    workers: int = typer.Option(
        1,
        "--workers",
        "-w",
        min=1,
        help="Answer in N worker processes (each loads every system once). Latency figures are only comparable at "
        "the same N.",
    ),
    ray: str | None = typer.Option(
        None,
        "--ray",
        help="Answer in --workers Ray actors on this cluster address ('local' starts one here). Needs "
        'pip install "emotionlayer[ray]".',
    ),
    cache: Path | None = typer.Option(
        None,
        "--cache",
        help="Keep every reply in this folder as soon as it is made: a rerun (after a crash, or with one more "
        "system) computes only what is missing.",
    ),
    threshold: float | None = typer.Option(
        None,
        "--threshold",
        help="SIM below which two replies count as different, for emotion sensitivity. Default: 80 (English, "
        "MiniLM), 95 (other languages, e5).",
    ),
) -> None:
    """Compare dialogue systems on recordings against frozen reference replies (E-chat's comparison).

    Every system answers every recording, greedily by default, and is scored against the manifest's reference
    replies. A manifest without them: write a set once with --write-references topline. Figures per system,
    each with a 95% interval:

    \b
      BLEU-1, BLEU-4   word overlap with all of a recording's references (0-100)
      SIM              meaning overlap: sentence-embedding cosine x 100 with the best-matching reference
      emotion contrast mean SIM of replies to the same words in the same emotion minus in different emotions
      ref. discrimination  share of replies closest to their own emotion's references (chance 1/K)
      emotion acc, UA  the emotion it heard vs the true one (systems that recognise one)
      WER              errors in its transcript (systems that make one)
      pairwise         every two systems' SIM and BLEU difference, with a paired-bootstrap interval

    Examples:

    \b
      emotionlayer evaluate dialogue --manifest clips.csv --write-references topline
      emotionlayer evaluate dialogue --manifest clips.csv --systems cascade,paralingpt,echat,topline \\
        --report out/ --cache out/cache
    """
    from ..config import PipelineConfig

    cfg = PipelineConfig.load(config) if config else PipelineConfig.default()
    if write_references is not None:
        from ..evaluation.references import write_references as write

        writer_cfg = PipelineConfig.load(writer_config) if writer_config else cfg
        target = write(
            manifest,
            write_references,
            writer_cfg,
            out=references_out,
            split=split,
            limit=limit,
            seed=seed,
            overwrite=overwrite_references,
            cache_dir=cache,
            workers=workers,
            progress=not as_json,
        )
        if as_json:
            typer.echo(json.dumps({"manifest": str(target), "writer": write_references}))
        else:
            typer.echo(
                f"Reference replies by {write_references} frozen into {target}. Evaluate with: "
                f"emotionlayer evaluate dialogue --manifest {target} --systems ..."
            )
        return
    _evaluate(manifest, systems, cfg, split, limit, samples, seed, temperature, judge_url, judge_model, bootstrap,
              report, as_json, workers, ray, cache, threshold)  # fmt: skip


def _evaluate(manifest: Path, systems: str, cfg: Any, split: str | None, limit: int | None, samples: int, seed: int,
              temperature: float | None, judge_url: str | None, judge_model: str | None, bootstrap: int,
              report: Path | None, as_json: bool, workers: int, ray: str | None, cache: Path | None,
              threshold: float | None) -> None:  # fmt: skip
    """Run the evaluation and print it (the part of ``evaluate dialogue`` that does not write references)."""
    from ..evaluation.dialogue import Decoding
    from ..evaluation.dialogue import evaluate_dialogue as run

    judge = None
    if judge_url:
        from ..evaluation.judge import LLMJudge

        judge = LLMJudge(base_url=judge_url, model=judge_model)
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
        decoding=Decoding(samples=samples, seed=seed, temperature=temperature),
        judge=judge,
        bootstrap=bootstrap,
    )
    if as_json:
        typer.echo(json.dumps(result.to_dict(), ensure_ascii=False))
        return
    typer.echo(f"Recordings: {result.n}   decoding: {result.decoding}   references: {result.references}   "
               f"replies computed now: {result.computed}")  # fmt: skip
    typer.echo("")
    typer.echo(result.table())
    typer.echo("")
    typer.echo(result.sensitivity_table())
    if result.pairwise:
        typer.echo("")
        typer.echo(result.pairwise_table())
    typer.echo("")
    typer.echo("[low, high]: 95% intervals. A pairwise difference is real when its interval excludes 0.")
    if report is not None:
        typer.echo(f"Report: {report / 'report.md'} (replies side by side: {report / 'replies.md'})")


def import_references(
    source: Path = typer.Argument(
        ...,
        help="A benchmark JSON (or JSONL): a list of items, each with an audio path "
        "(audio/audio_path/path), a transcript (transcript/text), an emotion label "
        "(emotion/label) and a list of target replies (replies/responses/references), "
        'each a string or {"text": ..., "emotion": REPLY_EMOTION}.',
    ),  # fmt: skip
    out: Path = typer.Option(
        ..., "--out", "-o", help="The manifest to write (.csv or .jsonl), with a 'references' column."
    ),
    map_label: list[str] = typer.Option(
        [],
        "--map-label",
        help="FROM=TO for an emotion label emotionlayer does not know (e.g. --map-label unfriendly=angry); repeatable.",
    ),
) -> None:
    """Import a public emotional-reply benchmark into a clip manifest with several references per recording.

    Audio paths are kept as written (relative ones: relative to the benchmark file's folder) and rewritten
    relative to --out. The result is what `evaluate dialogue --manifest` reads.

    Example: emotionlayer evaluate import-references bench/test.json --out bench/test.csv
    """
    import os

    from ..data.manifest import read_reply_benchmark, write_manifest
    from ..errors import ConfigError

    mapping = {}
    for item in map_label:
        key, sep, value = item.partition("=")
        if not sep or not key.strip() or not value.strip():
            raise ConfigError(f"--map-label {item!r}: write FROM=TO, e.g. --map-label unfriendly=angry.")
        mapping[key.strip()] = value.strip()
    rows = read_reply_benchmark(source, mapping)
    base = source.resolve().parent
    from dataclasses import replace

    rows = [
        replace(r, path=os.path.normpath(str(base / r.path)) if not os.path.isabs(r.path) else r.path) for r in rows
    ]
    write_manifest(rows, out)
    references = sum(len(r.references) for r in rows)
    typer.echo(
        f"{out}: {len(rows)} recordings, {references} reference replies ({references / len(rows):.1f} per recording)"
    )
