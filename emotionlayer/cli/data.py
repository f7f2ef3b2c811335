"""`emotionlayer data`: make emotional spoken-dialogue datasets.

Wired into the main CLI as ``emotionlayer data``; also runnable alone as ``python -m emotionlayer.cli.data``.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import typer

app = typer.Typer(
    help=(
        "Make emotional spoken-dialogue datasets (E-chat200 style): everyday utterances spoken in "
        "different emotions by several TTS voices, each with an LLM reply that fits the words and the emotion; "
        "and paralinguistic corpora from real speech (SynParaSpeech), with a page to review them by ear."
    ),
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,
)


@app.callback()
def _data() -> None:
    """Make emotional spoken-dialogue datasets."""


def _split_list(values: list[str] | None) -> list[str]:
    out: list[str] = []
    for value in values or []:
        out.extend(part.strip() for part in value.split(",") if part.strip())
    return out


@app.command()
def generate(
    out: Path = typer.Option(
        ..., "--out", "-o", help="Dataset folder. Rerunning the same command in it finishes an interrupted run."
    ),
    seeds: Path | None = typer.Option(
        None,
        "--seeds",
        help='Seed utterances, JSONL with one {"id", "text", "emotions": [...]} per line. Default: the packaged ones '
             'for --language.',
    ),
    per_utterance: int = typer.Option(
        2, "--per-utterance", "-k", min=1, help="Rows per seed utterance, each with another of its emotions and voices."
    ),
    limit: int | None = typer.Option(
        None, "--limit", "-n", min=0, help="Stop after this many rows (the same first rows every time)."
    ),
    language: str = typer.Option(
        "en", "--language", "-l", help="en or zh: which packaged seeds and default voices to use."
    ),
    llm: str = typer.Option(
        "llama-cpp",
        "--llm",
        help="LLM for the replies, NAME[:KEY=VALUE,...], e.g. llama-cpp or llama-cpp:temperature=0.",
    ),
    tts: list[str] | None = typer.Option(
        None,
        "--tts",
        help=(
            "A voice, BACKEND[:KEY=VALUE,...]; repeat for several. Keys name, pitch (semitones) and rate belong "
            "to the voice, the rest go to the backend, e.g. --tts piper --tts piper:pitch=-3,name=joe-low "
            "--tts espeak-ng:voice=en-gb-x-rp+f2. Default: the usable packaged voices for --language."
        ),
    ),
    workers: int = typer.Option(
        1, "--workers", "-j", min=1, help="Worker processes (or Ray actors with --ray), each loading its own models."
    ),
    ray: str | None = typer.Option(
        None,
        "--ray",
        help="Run on a Ray cluster at this address (e.g. ray://head:10001), or 'local' to start one here.",
    ),
    seed: int = typer.Option(0, "--seed", help="Random seed: the same seed and options give the same rows."),
    holdout_voices: list[str] | None = typer.Option(
        None,
        "--holdout-voices",
        help="Voice names (comma-separated) used only in the test split, so test voices are unseen in training.",
    ),
    splits: str = typer.Option("0.8,0.1,0.1", "--splits", help="Fractions of seed utterances in train,dev,test."),
    template: str = typer.Option(
        "topline.j2", "--template", help="Prompt template for the replies (true text and true emotion)."
    ),
    template_dir: list[str] | None = typer.Option(
        None, "--template-dir", help="Folder searched for templates before the packaged ones."
    ),
    target_tokens: int = typer.Option(
        48,
        "--target-tokens",
        "--max-tokens",
        help="Reply length the LLM aims for, in tokens (it finishes its sentence).",
    ),
    sample_rate: int | None = typer.Option(
        None, "--sample-rate", help="Resample speech to this rate (e.g. 16000). Default: the voice's own."
    ),
    imports: list[str] | None = typer.Option(
        None, "--import", help="Python module to import first in every worker (to register your own backends)."
    ),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="No progress bar; print only the summary."),
    as_json: bool = typer.Option(False, "--json", help="Print the summary as one JSON object."),
) -> None:
    """Generate a dataset folder: audio/, manifest.jsonl, README.md (dataset card) and card.json.

    Safe to interrupt: run the same command again and it finishes the missing rows.

    Example: emotionlayer data generate --out my_dataset --per-utterance 3 --limit 200 --workers 2
    """
    from ..data.generation import generate_dataset
    from ..errors import ConfigError

    try:
        fractions = [float(x) for x in splits.split(",")]
    except ValueError:
        raise ConfigError(f"--splits must be three numbers like 0.8,0.1,0.1; got {splits!r}.") from None
    summary = generate_dataset(
        out,
        seeds=seeds,
        language=language,
        per_utterance=per_utterance,
        limit=limit,
        llm=llm,
        tts=tts or None,
        workers=workers,
        ray_address=ray,
        seed=seed,
        holdout_voices=_split_list(holdout_voices),
        splits=fractions,
        template=template,
        template_dirs=template_dir or (),
        max_tokens=target_tokens,
        sample_rate=sample_rate,
        imports=imports or (),
        progress=not (quiet or as_json),
    )
    if as_json:
        typer.echo(json.dumps(summary.to_dict()))
        return
    typer.echo(
        f"{summary.rows_total} rows in {summary.out_dir} ({summary.rows_generated} generated now in "
        f"{summary.seconds:.1f} s, {summary.rows_per_second:.2f} rows/s, {summary.backend}, {summary.workers} "
        "worker(s))."
    )
    typer.echo(f"Manifest: {Path(summary.out_dir) / 'manifest.jsonl'}   Card: {Path(summary.out_dir) / 'README.md'}")


@app.command()
def voices(
    language: str = typer.Option("en", "--language", "-l", help="en or zh."),
) -> None:
    """List the default voices for a language, their names (for --holdout-voices) and whether they work here."""
    from ..data.generation import DEFAULT_VOICES, VoiceSpec
    from ..registry import unusable_reason

    for text in DEFAULT_VOICES.get(language, DEFAULT_VOICES["en"]):
        spec = VoiceSpec.parse(text)
        reason = unusable_reason("tts", spec.tts)
        typer.echo(f"{spec.name:<28} {'usable' if not reason else 'not usable: ' + reason}   --tts {spec.to_string()}")


@app.command()
def paralinguistic(
    inputs: list[str] = typer.Option(
        ...,
        "--input",
        "-i",
        help="A folder of audio files (WAV/FLAC/OGG/MP3; a .txt of the same name is the text) or a manifest "
        ".csv/.jsonl with path (relative to it) and optional text, language, speaker. Repeat for several.",
    ),
    out: Path = typer.Option(
        ..., "--out", "-o", help="Corpus folder. Rerunning the same command in it finishes an interrupted run."
    ),
    labels: str = typer.Option(
        "laugh,sigh,gasp,throat_clearing,pause,tsk", "--labels", help="The label set, comma-separated."
    ),
    variants: int = typer.Option(
        1, "--variants", min=1, help="Up to N clips per source segment, at different verified points and labels."
    ),
    limit: int | None = typer.Option(
        None, "--limit", "-n", min=0, help="Only the first N source clips (raise it later to go on)."
    ),
    llm: str = typer.Option(
        "llama-cpp", "--llm", help="LLM that chooses the tag and point, NAME[:KEY=VALUE,...]; 'none': rules only."
    ),
    vc: str = typer.Option(
        "default", "--vc", help="Voice converter matching each event to the speaker (a vc component); 'none' skips."
    ),
    language: str = typer.Option("en", "--language", "-l", help="Language of clips whose input does not say."),
    points: int | None = typer.Option(
        None, "--points", min=1, help="Verified split points to collect per segment for the LLM (default: --variants)."
    ),
    max_candidates: int = typer.Option(4, "--max-candidates", min=1, help="Most split points verified per segment."),
    max_vote_cer: float = typer.Option(0.1, "--max-vote-cer", help="Largest disagreement between the ASR voters."),
    max_split_cer: float = typer.Option(0.1, "--max-split-cer", help="A split's longer side: CER below this."),
    max_clip_cer: float = typer.Option(
        0.15, "--max-clip-cer", help="The finished clip's transcript: CER at most this."
    ),
    require_label: bool = typer.Option(
        False, "--require-label", help="Keep a clip only if the detector hears the inserted label (not any event)."
    ),
    bank: list[str] | None = typer.Option(None, "--bank", help="Extra event bank folder (one sub-folder per label)."),
    workers: int = typer.Option(
        1, "--workers", "-j", min=1, help="Worker processes (or Ray actors with --ray), each loading its own models."
    ),
    ray: str | None = typer.Option(
        None, "--ray", help="Run on a Ray cluster at this address (e.g. ray://head:10001), or 'local' to start one."
    ),
    seed: int = typer.Option(0, "--seed", help="Random seed: the same seed and options give the same corpus."),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="No progress bar; print only the summary."),
    as_json: bool = typer.Option(False, "--json", help="Print the summary as one JSON object."),
) -> None:
    """Build a verified paralinguistic corpus from real speech (SynParaSpeech): ASR vote, verified split
    points, LLM tag and placement, voice-converted events, exact timestamps, automatic checks, statistics.

    Writes DIR/wav/<id>.wav, manifest.jsonl, rejected.jsonl (with the stage and reason), report.json (pass
    rates, seconds per stage), statistics.md/.json/.png and config.json. Safe to interrupt (even kill -9):
    run the same command again and it finishes the rest.

    Example: emotionlayer data paralinguistic --input speech/manifest.csv --out para_corpus --limit 200 -j 2
    """
    from ..paralinguistics.corpus import build_corpus

    summary = build_corpus(
        inputs,
        out,
        labels=_split_list([labels]),
        workers=workers,
        ray_address=ray,
        limit=limit,
        variants=variants,
        seed=seed,
        llm=llm,
        vc=vc,
        language=language,
        progress=not (quiet or as_json),
        points=points,
        max_candidates=max_candidates,
        max_vote_cer=max_vote_cer,
        max_split_cer=max_split_cer,
        max_clip_cer=max_clip_cer,
        require_label=require_label,
        bank=tuple(bank or ()),
    )
    if as_json:
        typer.echo(json.dumps(summary.to_dict(), ensure_ascii=False))
        return
    report = summary.report
    rates = ", ".join(f"{k} {v:.0%}" for k, v in report["pass_rates"].items() if v is not None)
    typer.echo(
        f"{summary.clips} clips ({report['hours_kept']:.3f} h) in {summary.out_dir}; {summary.rejected} rejected "
        f"(see rejected.jsonl). {summary.processed} of {summary.sources} source clips processed now in "
        f"{summary.seconds:.1f} s ({summary.backend}, {summary.workers} worker(s))."
    )
    typer.echo(f"Pass rates: {rates or 'none yet'}.")
    folder = Path(summary.out_dir)
    typer.echo(f"Manifest: {folder / 'manifest.jsonl'}   Statistics: {folder / 'statistics.md'}")



def _register_review() -> None:
    from ..paralinguistics.corpus.review import review_command

    app.command("review")(review_command)


_register_review()

def main() -> None:
    """Run this command group alone, printing library errors as one line (exit code 2)."""
    from ..errors import EmotionLayerError

    try:
        app()
    except EmotionLayerError as exc:
        typer.echo(f"Error: {exc}", err=True)
        sys.exit(2)


if __name__ == "__main__":
    main()
