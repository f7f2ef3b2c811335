"""``emotionlayer speak``: say a text with any TTS backend in a speaking style, and write a WAV.

The function :func:`speak` is a typer command; :mod:`emotionlayer.cli.main` registers it. It only parses
options, calls the TTS backend and prints.
"""

from __future__ import annotations

import json
import sys
import time
from dataclasses import replace
from pathlib import Path

import typer

from ..errors import ConfigError
from ..registry import parse_spec

_BACKEND_HELP = (
    "TTS backend, NAME[:KEY=VALUE,...]: piper (default, packaged voice), espeak-ng or f5-tts, e.g. "
    "espeak-ng:voice=cmn or piper:model_path=path/to/voice.onnx or "
    "f5-tts:checkpoint=path/to/model.safetensors,vocoder_path=path/to/vocos,voice_bank=path/to/bank.yaml."
)


parse_backend = parse_spec  # the command-line spec parser shared by every command


def speak(
    text: str = typer.Argument(
        ..., help="What to say. '-' reads it from standard input. Tags like [laugh] or [pause] are not read aloud."
    ),
    out: Path = typer.Option(Path("speech.wav"), "--out", "-o", help="WAV file to write."),
    backend: str = typer.Option("piper", "--backend", "-b", help=_BACKEND_HELP),
    emotion: str | None = typer.Option(
        None,
        "--emotion",
        "-e",
        help="Act this emotion with the voice (happy, sad, angry, fearful, surprised, calm, ...).",
    ),
    reply_to: str | None = typer.Option(
        None,
        "--reply-to",
        help="Use the style the pipeline would answer someone who sounds like this emotion with (e.g. angry -> calm, "
             "slower).",
    ),
    rate: float | None = typer.Option(
        None, "--rate", help="Speaking-rate factor (1.2 = 20% faster); overrides the style."
    ),
    pitch: float | None = typer.Option(
        None, "--pitch", help="Pitch shift in semitones (+2 higher, -2 lower); overrides the style."
    ),
    volume: float | None = typer.Option(
        None, "--volume", help="Loudness factor (0.5 quieter, 1.5 louder); overrides the style."
    ),
    as_json: bool = typer.Option(False, "--json", help="Print the result as JSON."),
) -> None:
    """Say TEXT with a TTS backend in a speaking style and write it to a WAV file.

    Examples:

      emotionlayer speak "My phone won't turn on." --emotion sad -o sad.wav

      emotionlayer speak "I hear you. [pause] Let's fix it." --reply-to angry

      emotionlayer speak "你好，我可以帮你。" --backend espeak-ng:voice=cmn --pitch 2
    """
    from .. import registry
    from ..audio import save_audio
    from ..components.tts.styles import acted_style
    from ..types import SpeakingStyle

    if emotion and reply_to:
        raise ConfigError("Give --emotion (act an emotion) or --reply-to (the pipeline's answer style), not both.")
    if text == "-":
        text = sys.stdin.read()
    if not text.strip():
        raise ConfigError("There is nothing to say: pass some text (or '-' and text on standard input).")
    if emotion:
        style = acted_style(emotion)
    elif reply_to:
        from ..prompting import style_for

        style = style_for(reply_to)
    else:
        style = SpeakingStyle()
    overrides = {k: v for k, v in (("rate", rate), ("pitch_semitones", pitch), ("volume", volume)) if v is not None}
    if overrides:
        style = replace(style, **overrides)

    name, params = parse_backend(backend)
    tts = registry.create("tts", name, **params)
    start = time.perf_counter()
    first = None
    chunks = []
    for chunk in tts.synthesize_stream(text, style):
        first = first if first is not None else time.perf_counter() - start
        chunks.append(chunk.samples)
    elapsed = time.perf_counter() - start
    import numpy as np

    from ..types import Audio

    audio = Audio(np.concatenate(chunks) if chunks else np.zeros(0, dtype=np.float32), tts.sample_rate)
    if audio.samples.size == 0:
        raise ConfigError("The text had nothing to speak (only tags?). Add some words.")
    path = save_audio(audio, out)
    result = {
        "out": path,
        "backend": tts.name,
        "sample_rate": audio.sample_rate,
        "duration": round(audio.duration, 3),
        "style": style.to_dict(),
        "seconds": round(elapsed, 3),
        "first_chunk_seconds": round(first or 0.0, 3),
    }
    if as_json:
        typer.echo(json.dumps(result))
    else:
        typer.echo(
            f"{path}: {audio.duration:.2f} s at {audio.sample_rate} Hz by {tts.name}, style {style.name} "
            f"(rate {style.rate:g}, pitch {style.pitch_semitones:+g} st, volume {style.volume:g}); "
            f"made in {elapsed:.2f} s, first sentence after {first or 0.0:.2f} s"
        )
