"""Paralinguistic event commands: ``emotionlayer events detect|train|make-data|speak`` and ``evaluate events``.

:mod:`emotionlayer.cli.main` adds :data:`app` as ``emotionlayer events`` and registers
:func:`evaluate_events` as ``emotionlayer evaluate events``. Commands parse options, call the library
and print.
"""

from __future__ import annotations

import json
from pathlib import Path

import typer

app = typer.Typer(
    help=(
        "Paralinguistic events (laugh, sigh, gasp, throat clearing, tsk, cough, breath, pause): find them "
        "in audio, make speech that contains them, and train the detector.\n\n"
        "Start with:  emotionlayer events detect recording.wav"
    ),
    no_args_is_help=True,
)

_MODEL_HELP = "Folder of a detector made by `emotionlayer events train`; the packaged detector if omitted."


def _detector(model_dir: Path | None, min_confidence: float = 0.5):
    from ..registry import create

    return create("events", "default", model_dir=str(model_dir) if model_dir else None, min_confidence=min_confidence)


@app.command("detect")
def detect(
    audio: Path = typer.Argument(..., help="Audio file (WAV, FLAC, OGG or MP3) to search for events."),
    as_json: bool = typer.Option(False, "--json", help='Print JSON: {"path", "duration", "events": [...]}.'),
    model_dir: Path | None = typer.Option(None, "--model-dir", help=_MODEL_HELP),
    min_confidence: float = typer.Option(0.5, "--min-confidence", help="Drop events less certain than this (0-1)."),
) -> None:
    """Find events in AUDIO: label, start, end, confidence.

    Prints one line per event (start and end in seconds), or JSON with --json.
    """
    from ..audio import load_audio

    clip = load_audio(audio, max_seconds=None)
    events = _detector(model_dir, min_confidence).detect(clip)
    if as_json:
        typer.echo(
            json.dumps(
                {"path": str(audio), "duration": round(clip.duration, 3), "events": [e.to_dict() for e in events]}
            )
        )
        return
    if not events:
        typer.echo(f"{audio}: no events found ({clip.duration:.1f} s)")
        return
    for event in events:
        typer.echo(f"{event.start:7.2f} {event.end:7.2f}  {event.label:<16} {event.confidence:.2f}")


@app.command("train")
def train(
    manifest: list[Path] = typer.Option(
        [],
        "--manifest",
        "-m",
        help="Training manifest: a manifest.jsonl from `events make-data` (utterances with timed events) "
        "or a CSV with path,label of clips each holding one event (labels used as they are). Repeat to combine "
        "several.",
    ),
    out: Path = typer.Option(..., "--out", "-o", help="Folder to write the detector to (model.npz, config.json)."),
    clips: list[Path] = typer.Option(
        [],
        "--clips",
        help="CSV (path,label[,speaker]) of real event recordings, one event kind per clip, whose labels go "
        "through --label-map (repeatable).",
    ),
    label_map: str | None = typer.Option(
        None,
        "--label-map",
        help="How to rename the --clips labels: 'deeply-nonverbal' maps the Deeply Nonverbal classes (coughing -> "
        "cough, sighing -> sigh, throat-clearing -> throat_clearing, tongue-clicking -> tsk, panting -> breath) and "
        "every other class to 'other' (a sound with no event label: `classify` may answer it, `detect` never "
        "reports it). Omit to keep the labels.",
    ),
    clip_copies: int | None = typer.Option(
        None, "--clip-copies", help="Augmented copies of every --clips recording (default: --copies)."
    ),
    bank: list[Path] = typer.Option(
        [], "--bank", help="Extra event-bank folder (sub-folders per label) for isolated-event training examples."
    ),
    isolated: int = typer.Option(40, "--isolated", help="Isolated-event recordings to make per bank label (0: none)."),
    background: int = typer.Option(30, "--background", help="Recordings of background noise alone to add as silence."),
    copies: int = typer.Option(2, "--copies", help="Augmented copies (noise, gain, band limit) of every recording."),
    extra_speech: list[Path] = typer.Option(
        [], "--speech", help="Audio file of plain speech to add as speech (repeatable)."
    ),
    members: int = typer.Option(
        1, "--members", help="Train this many detectors (seeds SEED, SEED+1, ...) and save their average (an ensemble)."
    ),
    seed: int = typer.Option(0, "--seed", help="Random seed (of the first member)."),
) -> None:
    """Train a detector on synthesised speech and real clips; save to OUT.

    Uses the manifests' timed events, the --clips recordings (labels renamed by --label-map), isolated-event
    recordings made from the event bank and noise-only recordings, each augmented; use the result with
    --model-dir. Example (the packaged detector's recipe plus real clips, see docs/paralinguistics.md):

    emotionlayer events train --manifest para_train/manifest.jsonl --clips nonverbal/manifest.csv
    --label-map deeply-nonverbal --members 3 --out detector
    """
    from ..paralinguistics.detection.train import LABEL_MAPS, train_ensemble

    if label_map is not None and label_map not in LABEL_MAPS:
        raise typer.BadParameter(
            f"unknown map {label_map!r}; known: {', '.join(sorted(LABEL_MAPS))}", param_hint="--label-map"
        )
    if label_map is not None and not clips:
        raise typer.BadParameter(
            "--label-map renames the labels of --clips manifests; give at least one --clips.", param_hint="--label-map"
        )
    model = train_ensemble(
        members,
        seed,
        out,
        manifests=manifest,
        clips=clips,
        label_map=label_map,
        clip_copies=clip_copies,
        bank_folders=bank,
        isolated_per_label=isolated,
        background=background,
        copies=copies,
        extra_speech=extra_speech,
    )
    typer.echo(json.dumps({"out": str(out), "labels": list(model.labels), **model.info}))


@app.command("make-data")
def make_data(
    out: Path = typer.Option(..., "--out", "-o", help="Folder for wav/ and manifest.jsonl."),
    count: int = typer.Option(100, "--count", "-n", help="Number of utterances."),
    texts: Path | None = typer.Option(
        None, "--texts", help="Text file, one sentence per line (may contain tags); built-in sentences if omitted."
    ),
    bank: list[Path] = typer.Option(
        [], "--bank", help="Event-bank folder whose clips override the packaged ones (repeatable)."
    ),
    tts: str = typer.Option("piper", "--tts", help="TTS backend to speak with."),
    vary_style: bool = typer.Option(
        False, "--vary-style", help="Cycle through 17 speaking styles (rate, pitch, volume) for more varied speech."
    ),
    seed: int = typer.Option(0, "--seed", help="Random seed (same seed, same dataset)."),
) -> None:
    """Synthesise tagged utterances and an event manifest.

    Writes OUT/wav/*.wav and OUT/manifest.jsonl with each event's label and exact start and end.
    """
    from ..paralinguistics.bank import EventBank
    from ..paralinguistics.dataset import build_dataset, varied_styles
    from ..registry import create

    styles = varied_styles(seed=seed) if vary_style else None
    lines = None
    if texts is not None:
        lines = [line.strip() for line in texts.read_text(encoding="utf-8").splitlines() if line.strip()]
    path = build_dataset(
        out, create("tts", tts), EventBank(bank, seed=seed), count=count, texts=lines, styles=styles, seed=seed
    )
    typer.echo(str(path))


@app.command("speak")
def speak(
    text: str = typer.Argument(..., help='Text with tags, e.g. "Oh no [sigh] not again [laugh]".'),
    out: Path = typer.Option(..., "--out", "-o", help="WAV file to write."),
    bank: list[Path] = typer.Option([], "--bank", help="Event-bank folder overriding the packaged clips (repeatable)."),
    tts: str = typer.Option("piper", "--tts", help="TTS backend to speak with."),
    seed: int = typer.Option(0, "--seed", help="Random seed for the choice of clips."),
) -> None:
    """Speak tagged TEXT with the events as sounds.

    Writes the audio to --out and prints JSON with each inserted event's exact start and end.
    """
    from ..audio import save_audio
    from ..paralinguistics.bank import EventBank
    from ..paralinguistics.insertion import synthesize_with_events
    from ..registry import create

    audio, events = synthesize_with_events(text, create("tts", tts), EventBank(bank, seed=seed))
    save_audio(audio, out)
    typer.echo(
        json.dumps({"out": str(out), "duration": round(audio.duration, 3), "events": [e.to_dict() for e in events]})
    )


def evaluate_events(
    manifest: Path = typer.Option(
        ...,
        "--manifest",
        "-m",
        help="CSV or JSONL with columns path (relative to the manifest) and label, one event kind per clip.",
    ),
    as_json: bool = typer.Option(False, "--json", help='Print JSON: {"n", "accuracy", "macro_f1", "per_label", ...}.'),
    model_dir: Path | None = typer.Option(None, "--model-dir", help=_MODEL_HELP),
    limit: int | None = typer.Option(None, "--limit", help="Score only the first N clips."),
) -> None:
    """Score the event detector on labelled clips: accuracy, macro F1 and per-label precision/recall/F1."""
    from ..evaluation.events import evaluate_events as run

    result = run(manifest, _detector(model_dir), limit=limit)
    data = result.to_dict()
    if as_json:
        typer.echo(json.dumps(data))
        return
    typer.echo(
        f"{data['n']} clips  accuracy {data['accuracy']:.3f}  macro F1 {data['macro_f1']:.3f}  ({data['model']})"
    )
    for label, scores in data["per_label"].items():
        typer.echo(
            f"  {label:<16} P {scores['precision']:.2f}  R {scores['recall']:.2f}  F1 {scores['f1']:.2f}  "
            f"n={scores['support']}"
        )
