"""ASR commands: ``emotionlayer evaluate asr`` and ``emotionlayer transcribe``.

The functions here are registered on the main app by :mod:`emotionlayer.cli.main`; they only parse
options, call :mod:`emotionlayer.evaluation.asr` / the ASR backends, and print.
"""

from __future__ import annotations

import json
from pathlib import Path

import typer

from ..registry import parse_spec

_ASR_HELP = (
    "ASR backend, NAME[:KEY=VALUE,...]: faster-whisper (default, offline), openai-whisper or transformers, "
    "e.g. faster-whisper:model=base,beam_size=5 or transformers:model=path/to/whisper-folder."
)


parse_backend = parse_spec  # the command-line spec parser shared by every command


def evaluate_asr(
    manifest: Path = typer.Option(
        ...,
        "--manifest",
        "-m",
        help="CSV or JSONL with columns path (relative to the manifest), text and optionally language.",
    ),
    asr: str = typer.Option("faster-whisper", "--asr", help=_ASR_HELP),
    model: str | None = typer.Option(
        None, "--model", help="Shortcut for the backend's model parameter: tiny.en, base, or a local model folder/file."
    ),
    language: str | None = typer.Option(
        None,
        "--language",
        "-l",
        help="Language of every clip (en, zh...). Default: the manifest's language column, else detected.",
    ),
    limit: int | None = typer.Option(None, "--limit", "-n", min=1, help="Score only the first N clips."),
    as_json: bool = typer.Option(
        False, "--json", help='Print one JSON object {"n", "wer", "cer", ...} and nothing else.'
    ),
    details: bool = typer.Option(
        False, "--details", help="Also list every clip's reference and hypothesis (in --json: an items list)."
    ),
) -> None:
    """Word and character error rate of an ASR backend on recordings with known text.

    Texts are normalised as whisper's papers do (case, punctuation, contractions, spelled-out numbers)
    before scoring; Chinese and other languages without word spaces are scored by character error rate.

    Example: emotionlayer evaluate asr --manifest path/to/manifest.csv --json
    """
    from ..evaluation.asr import evaluate_asr as run

    name, params = parse_backend(asr)
    if model is not None:
        params["model"] = model
    report = run(manifest, asr=name, language=language, limit=limit, params=params, progress=not as_json)
    if as_json:
        typer.echo(json.dumps(report.to_dict(include_items=details), ensure_ascii=False))
        return
    wer = "n/a" if report.wer is None else f"{report.wer * 100:.2f}%"
    cer = "n/a" if report.cer is None else f"{report.cer * 100:.2f}%"
    rtf = "n/a" if report.real_time_factor is None else f"{report.real_time_factor:.3f}"
    typer.echo(f"Model:  {report.model}")
    typer.echo(f"Clips:  {report.n}")
    typer.echo(f"WER:    {wer}")
    typer.echo(f"CER:    {cer}")
    typer.echo(f"RTF:    {rtf} (transcription time / audio time)")
    shown = report.items if details else report.errors(5)
    if shown:
        typer.echo("Clips:" if details else "Some errors:")
        for item in shown:
            typer.echo(f"  {Path(item.path).name}: ref {item.reference!r} -> hyp {item.hypothesis!r}")


def transcribe(
    audio: list[Path] = typer.Argument(..., help="One or more recordings (WAV, FLAC, OGG or MP3)."),
    asr: str = typer.Option("faster-whisper", "--asr", help=_ASR_HELP),
    model: str | None = typer.Option(
        None, "--model", help="Shortcut for the backend's model parameter: tiny.en, base, or a local path."
    ),
    language: str | None = typer.Option(
        None,
        "--language",
        "-l",
        help="Language spoken (en, zh...). Default: detected (multilingual models) or English.",
    ),
    as_json: bool = typer.Option(
        False, "--json", help="Print one JSON object per recording: path, text, language, model."
    ),
) -> None:
    """Print what is said in recordings (speech to text), offline with the packaged whisper models.

    Example: emotionlayer transcribe hello.wav --model base --language zh
    """
    from ..audio import load_audio
    from ..registry import create

    name, params = parse_backend(asr)
    if model is not None:
        params["model"] = model
    backend = create("asr", name, **params)
    for path in audio:
        transcript = backend.transcribe(load_audio(path), language=language)
        if as_json:
            typer.echo(json.dumps({"path": str(path), **transcript.to_dict()}, ensure_ascii=False))
        elif len(audio) > 1:
            typer.echo(f"{path}: {transcript.text}")
        else:
            typer.echo(transcript.text)
