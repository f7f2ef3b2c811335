"""``emotionlayer live``: a spoken conversation at the terminal, through the microphone (or a file).

The function :func:`live` is a typer command; :mod:`emotionlayer.cli.main` registers it. It parses the
options, runs a :class:`~emotionlayer.live.LiveSession` and prints its events as they happen.
"""

from __future__ import annotations

import json
from pathlib import Path

import typer


def live(
    system: str | None = typer.Option(None, "--system", "-s", help="Which dialogue system answers: NAME or NAME:KEY=VALUE,... (default: the config's, cascade)."),
    config: Path | None = typer.Option(None, "--config", "-c", help="Pipeline config (YAML/JSON); default: the packaged offline models."),
    input_file: Path | None = typer.Option(None, "--input", "-i", help="Play this recording as the microphone (WAV/FLAC/OGG/MP3), at real time; no microphone needed."),
    speed: float = typer.Option(1.0, "--speed", help="With --input: play it this many times faster than real time."),
    out: Path | None = typer.Option(None, "--out", "-o", help="Write the whole conversation (your audio left, the replies right) to this WAV."),
    speaker: bool = typer.Option(True, "--speaker/--no-speaker", help="Play the replies on the speaker (needs sounddevice). Use headphones: there is no echo cancellation."),
    barge_in: bool = typer.Option(True, "--barge-in/--no-barge-in", help="Let your speech interrupt a reply (backchannels like 'uh-huh' never do)."),
    vad: str = typer.Option("silero", "--vad", help="silero (default: tells speech from noise) or energy (any sound; a fallback)."),
    partial_interval: float = typer.Option(0.6, "--partial-interval", help="Transcribe your words this often (seconds) while you speak, to show them as you go; 0: only at the pause, which makes the reply come about 0.3 s sooner on a slow CPU."),
    seconds: float | None = typer.Option(None, "--seconds", help="Stop after this many seconds of microphone audio (default: Ctrl+C)."),
    as_json: bool = typer.Option(False, "--json", help="Print every event as one JSON line instead of a transcript."),
) -> None:
    """A live conversation: speak, pause, and hear the reply; interrupt it by speaking.

    Listens to the microphone (or plays --input as the microphone), shows what you said, how you sounded and
    the reply as they happen, and prints the latency of each turn (from the end of your speech to the first
    reply audio) and its median and 90th percentile at the end.
    """
    import numpy as np

    from ..audio import load_audio
    from ..config import PipelineConfig
    from ..live import LiveConfig, LiveSession
    from ..live.sources import SpeakerSink, microphone, play_file, require_sounddevice
    from ..systems import build_system

    cfg = PipelineConfig.load(config) if config else PipelineConfig.default()
    live_cfg = LiveConfig(vad=vad, barge_in=barge_in, partial_interval_seconds=partial_interval)
    if input_file is not None:
        clip = load_audio(input_file, max_seconds=cfg.pipeline.max_seconds)  # check the input before loading models
        source = play_file(clip, speed=speed)
    else:
        require_sounddevice()  # say so before loading models
        source = microphone(max_seconds=seconds)
    typer.echo("Loading models...", err=True)
    answerer = build_system(cfg, system)
    user_audio: list[np.ndarray] = []
    reply_audio: list[np.ndarray] = []
    sink = SpeakerSink(live_cfg.output_rate) if speaker and input_file is None else None

    def output(block: np.ndarray) -> None:
        if sink is not None:
            sink(block)
        if out is not None:
            reply_audio.append(block)

    session = LiveSession(answerer, live_cfg, pipeline_config=cfg, sink=output, speed=speed if input_file else 1.0)
    session.warmup()
    typer.echo("Listening. Speak, then pause." + ("" if input_file else " Ctrl+C to stop."), err=True)
    reply_open = False

    def taped(frames):
        for frame in frames:
            if out is not None:
                user_audio.append(frame)
            yield frame

    def show(event) -> None:
        nonlocal reply_open
        if as_json:
            typer.echo(json.dumps(event.to_dict(), ensure_ascii=False))
            return
        kind = event.kind
        if reply_open and kind not in ("reply_text", "reply_audio", "playback_started", "latency"):
            typer.echo("")
            reply_open = False
        if kind == "speech_started":
            typer.echo(f"[{event.time:6.2f}] you:      ...")
        elif kind == "transcript_partial":
            typer.echo(f"[{event.time:6.2f}]           {event.text}")
        elif kind == "transcript_final":
            typer.echo(f"[{event.time:6.2f}] you said: \"{event.text}\"")
        elif kind == "discarded":
            typer.echo(f"[{event.time:6.2f}] (not speech: {event.reason})")
        elif kind == "emotion":
            top = sorted(event.probabilities.items(), key=lambda kv: -kv[1])[:3]
            typer.echo(f"[{event.time:6.2f}] emotion:  {event.label} (" + ", ".join(f"{k} {v:.2f}" for k, v in top) + ")")
        elif kind == "strategy":
            typer.echo(f"[{event.time:6.2f}] strategy: {event.strategy}")
        elif kind == "reply_text":
            if not reply_open:
                typer.echo(f"[{event.time:6.2f}] reply:    ", nl=False)
                reply_open = True
            typer.echo(event.text, nl=False)
        elif kind == "backchannel":
            typer.echo(f"[{event.time:6.2f}] (backchannel \"{event.text}\": the reply goes on)")
        elif kind == "interrupted":
            typer.echo(f"[{event.time:6.2f}] (interrupted by \"{event.heard}\"; stopped {event.stop_seconds:.2f} s after your speech was heard)")
        elif kind == "latency":
            rel = event.relative()
            if "first_audio" in rel:
                typer.echo(f"\n[{event.time:6.2f}] first reply audio {rel['first_audio']:.2f} s after you stopped speaking", nl=False)

    try:
        for event in session.run(taped(source)):
            show(event)
        for event in session.finish():
            show(event)
    except KeyboardInterrupt:
        pass
    finally:
        session.close()
        if sink is not None:
            sink.close()
    if reply_open:
        typer.echo("")
    summary = session.latency_summary()
    if "first_audio" in summary:
        s = summary["first_audio"]
        typer.echo(f"End of speech to first audio over {s['n']} turn(s): median {s['p50']:.2f} s, p90 {s['p90']:.2f} s", err=True)
    if out is not None and user_audio:
        import soundfile as sf

        left = np.concatenate(user_audio)
        right = np.concatenate(reply_audio)[: left.size] if reply_audio else np.zeros_like(left)
        right = np.pad(right, (0, left.size - right.size))
        sf.write(str(out), np.stack([left, right], axis=1), live_cfg.output_rate, subtype="PCM_16")
        typer.echo(f"Conversation written to {out} (you left, the replies right)", err=True)
