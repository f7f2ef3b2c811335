"""``emotionlayer live``: a spoken conversation at the terminal, through the microphone (or a file).

The function :func:`live` is a typer command; :mod:`emotionlayer.cli.main` registers it. It parses the
options, runs a :class:`~emotionlayer.live.LiveSession` and prints its events as they happen through an
:class:`~emotionlayer.live.EventPrinter`; :class:`~emotionlayer.live.ConversationRecorder` writes ``--out``.
"""

from __future__ import annotations

from pathlib import Path

import typer


def live(
    system: str | None = typer.Option(
        None,
        "--system",
        "-s",
        help="Which dialogue system answers: NAME or NAME:KEY=VALUE,... (default: the config's, cascade).",
    ),
    config: Path | None = typer.Option(
        None, "--config", "-c", help="Pipeline config (YAML/JSON); default: the packaged offline models."
    ),
    input_file: Path | None = typer.Option(
        None,
        "--input",
        "-i",
        help="Play this recording as the microphone (WAV/FLAC/OGG/MP3), at real time; no microphone needed.",
    ),
    speed: float = typer.Option(1.0, "--speed", help="With --input: play it this many times faster than real time."),
    out: Path | None = typer.Option(
        None, "--out", "-o", help="Write the whole conversation (your audio left, the replies right) to this WAV."
    ),
    speaker: bool = typer.Option(
        True,
        "--speaker/--no-speaker",
        help="Play the replies on the speaker (needs sounddevice). Use headphones: there is no echo cancellation.",
    ),
    barge_in: bool = typer.Option(
        True,
        "--barge-in/--no-barge-in",
        help="Let your speech interrupt a reply (backchannels like 'uh-huh' never do).",
    ),
    vad: str = typer.Option(
        "silero", "--vad", help="silero (default: tells speech from noise) or energy (any sound; a fallback)."
    ),
    partial_interval: float = typer.Option(
        0.6,
        "--partial-interval",
        help="Transcribe your words this often (seconds) while you speak, to show them as you go; 0: only at the "
             "pause, which makes the reply come about 0.3 s sooner on a slow CPU.",
    ),
    seconds: float | None = typer.Option(
        None, "--seconds", help="Stop after this many seconds of microphone audio (default: Ctrl+C)."
    ),
    opener: bool | None = typer.Option(
        None,
        "--opener/--no-opener",
        help="Start each reply with its strategy's opener ('Oh,', 'Yeah,'), spoken at once from audio made ahead "
             "of time while the LLM writes the rest (run.opener; default: the config's).",
    ),
    as_json: bool = typer.Option(False, "--json", help="Print every event as one JSON line instead of a transcript."),
) -> None:
    """A live conversation: speak, pause, and hear the reply; interrupt it by speaking.

    Listens to the microphone (or plays --input as the microphone), shows what you said, how you sounded and
    the reply as they happen, and prints the latency of each turn (from the end of your speech to the first
    reply audio) and its median and 90th percentile at the end.
    """
    from ..config import PipelineConfig
    from ..live import ConversationRecorder, EventPrinter, LiveConfig, LiveSession, latency_line
    from ..live.sources import SpeakerSink, fan_out, open_input
    from ..systems import build_system

    cfg = PipelineConfig.load(config) if config else PipelineConfig.default()
    if opener is not None:
        from dataclasses import replace

        cfg = replace(cfg, run=replace(cfg.run, opener=opener))
    live_cfg = LiveConfig(vad=vad, barge_in=barge_in, partial_interval_seconds=partial_interval)
    frames = open_input(input_file, speed=speed, seconds=seconds, max_seconds=cfg.run.max_seconds)  # before the models
    typer.echo("Loading models...", err=True)
    answerer = build_system(cfg, system)
    recorder = ConversationRecorder(live_cfg.output_rate) if out is not None else None
    speaker_sink = SpeakerSink(live_cfg.output_rate) if speaker and input_file is None else None
    sink = fan_out(speaker_sink, recorder.add_reply if recorder is not None else None)
    session = LiveSession(answerer, live_cfg, pipeline_config=cfg, sink=sink, speed=speed if input_file else 1.0)
    session.warmup()
    typer.echo("Listening. Speak, then pause." + ("" if input_file else " Ctrl+C to stop."), err=True)
    printer = EventPrinter(lambda text: typer.echo(text, nl=False), as_json=as_json)
    try:
        for event in session.converse(recorder.tape(frames) if recorder is not None else frames):
            printer(event)
    except KeyboardInterrupt:
        pass
    finally:
        session.close()
        if speaker_sink is not None:
            speaker_sink.close()
    printer.finish()
    summary = latency_line(session.latency_summary())
    if summary:
        typer.echo(summary, err=True)
    if recorder is not None and recorder.write(out):
        typer.echo(f"Conversation written to {out} (you left, the replies right)", err=True)
