"""The `emotionlayer` command line.

Commands parse their options, call the public API and print; all the work is in the library. Errors
from the library are printed as one line (exit code 2); `--debug` shows the traceback instead.
"""

from __future__ import annotations

import json
import logging
import sys
from pathlib import Path

import typer

from ..errors import EmotionLayerError
from .output import turn_json

app = typer.Typer(
    name="emotionlayer",
    help=(
        "Emotion-sensitive spoken dialogue. emotionlayer hears what was said (ASR) and how it was said "
        "(speech emotion recognition), asks a language model for an answer that fits, and speaks it in a "
        "matching voice. Everything runs offline with the packaged default models.\n\n"
        "Start with:  emotionlayer respond examples/audio/sad_phone.wav"
    ),
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,
)
evaluate_app = typer.Typer(
    help="Measure components on a labelled manifest (CSV or JSONL) and print figures.",
    no_args_is_help=True,
)
config_app = typer.Typer(help="Show and check pipeline configs (YAML/JSON).", no_args_is_help=True)
app.add_typer(evaluate_app, name="evaluate")
app.add_typer(config_app, name="config")

_STATE = {"debug": False}


@app.callback()
def _main(
    debug: bool = typer.Option(False, "--debug", help="Show full tracebacks and debug logs."),
    verbose: bool = typer.Option(False, "--verbose", "-v", help="Show progress logs."),
) -> None:
    _STATE["debug"] = debug
    level = logging.DEBUG if debug else (logging.INFO if verbose else logging.WARNING)
    logging.basicConfig(level=level, stream=sys.stderr, format="%(levelname)s %(name)s: %(message)s")


def _status(message: str, quiet: bool) -> None:
    if not quiet:
        typer.echo(message, err=True)


def _load_config(config: Path | None):
    from ..config import PipelineConfig

    return PipelineConfig.load(config) if config else PipelineConfig.default()


SYSTEM_HELP = (
    "Which dialogue system answers: NAME or NAME:KEY=VALUE,... (e.g. cascade, echat:model=DIR). "
    "Default: the config's 'system' section (cascade). `emotionlayer components --kind system` lists them."
)


def _load_system(config, system: str | None, quiet: bool):
    from ..systems import build_system

    _status("Loading models...", quiet)
    return build_system(config, system)


def _print_turn(turn, audio_out: str | None) -> None:
    top = ", ".join(f"{label} {p:.2f}" for label, p in turn.emotion.top(3)[1:])
    style = turn.response.style
    t = turn.timings
    stages = [k for k in t if k not in ("total", "time_to_first_audio")]
    if turn.speech_detected:
        typer.echo(f'Heard:    "{turn.transcript.text}"')
    else:
        typer.echo("Heard:    no speech heard (silence, noise or music?): the LLM was not asked")
    if not turn.speech_detected and len(set(turn.emotion.probabilities.values())) == 1:
        typer.echo(f"Emotion:  none (every emotion equally likely: {turn.emotion.model})")
    else:
        typer.echo(f"Emotion:  {turn.emotion.label} {turn.emotion.confidence:.2f}" + (f"  (then {top})" if top else ""))
    typer.echo(
        f"Strategy: {turn.response.strategy} -> voice '{style.name}' "
        f"(rate {style.rate:.2f}, pitch {style.pitch_semitones:+.1f} st, volume {style.volume:.2f})"
    )
    if turn.events or "events" in t:
        heard = ", ".join(f"{e.label} {e.start:.1f}-{e.end:.1f} s ({e.confidence:.2f})" for e in turn.events)
        typer.echo(f"Events:   {heard or 'none heard'}")
    typer.echo(f'Reply:    "{turn.response.text}"')
    if audio_out and turn.audio is not None:
        typer.echo(f"Audio:    {audio_out} ({turn.audio.duration:.1f} s, {turn.audio.sample_rate} Hz)")
    typer.echo(
        "Timings:  "
        + " | ".join(f"{k} {t[k]:.2f} s" for k in stages + ["total"] if k in t)
        + (f" | first audio {t['time_to_first_audio']:.2f} s" if "time_to_first_audio" in t else "")
        + (f"  ({turn.system})" if turn.system else "")
    )


@app.command()
def respond(
    audio: Path = typer.Argument(..., help="A recording of someone speaking (WAV, FLAC, OGG or MP3)."),
    config: Path | None = typer.Option(
        None, "--config", "-c", help="Pipeline config (YAML/JSON); default: the packaged offline models."
    ),
    system: str | None = typer.Option(None, "--system", "-s", help=SYSTEM_HELP),
    out: Path | None = typer.Option(
        None, "--out", "-o", help="Where to write the spoken reply (WAV). Default: <input name>.reply.wav here."
    ),
    as_json: bool = typer.Option(False, "--json", help="Print exactly one JSON object instead of a summary."),
    events: bool | None = typer.Option(
        None,
        "--events/--no-events",
        help="Listen for laughs, sighs, coughs... in the recording and tell the reply about them "
        "(run.detect_events; default: the config's, off in the packaged one). The JSON gets an 'events' list.",
    ),
    language: str | None = typer.Option(
        None,
        "--language",
        "-l",
        help="Language of the recording, e.g. en or zh (run.language; default: the config's, or the ASR "
        "detects it with a multilingual model). It picks the prompt template and strategy words.",
    ),
) -> None:
    """Answer one recording: transcript, emotion, empathy strategy, reply text and a spoken reply (WAV)."""
    from dataclasses import replace

    from ..audio import load_audio, save_audio

    cfg = _load_config(config)
    if events is not None or language is not None:
        run = replace(cfg.run, **({"detect_events": events} if events is not None else {}))
        cfg = replace(cfg, run=replace(run, language=language) if language is not None else run)
    utterance = load_audio(audio, max_seconds=cfg.run.max_seconds)  # check the input before loading models
    answerer = _load_system(cfg, system, as_json)
    turn = answerer.respond(utterance)
    target = out or Path(f"{audio.stem}.reply.wav")
    audio_out = save_audio(turn.audio, target) if turn.audio is not None else None
    if as_json:
        typer.echo(json.dumps(turn_json(turn, audio_out), ensure_ascii=False))
    else:
        _print_turn(turn, audio_out)


@app.command()
def chat(
    audio: list[Path] = typer.Argument(
        None, help="Recordings to answer in turn, as one conversation. None: ask interactively."
    ),
    config: Path | None = typer.Option(None, "--config", "-c", help="Pipeline config (YAML/JSON)."),
    system: str | None = typer.Option(None, "--system", "-s", help=SYSTEM_HELP),
    emotion: str | None = typer.Option(
        None,
        "--emotion",
        "-e",
        help="Emotion for typed text (e.g. sad, angry, cheerful). Recordings are always analysed.",
    ),
    out_dir: Path = typer.Option(
        Path("chat_replies"), "--out-dir", help="Folder for the spoken replies (turn_01.wav, ...)."
    ),
    save: Path | None = typer.Option(None, "--save", help="Write the whole dialogue as JSON here when the chat ends."),
    mic_seconds: float = typer.Option(
        5.0, "--mic-seconds", help="How long to record when you type 'mic' (needs the sounddevice package)."
    ),
) -> None:
    """A multi-turn conversation: each answer sees the earlier turns and their emotions.

    Give recordings as arguments, or run without arguments and type at the prompt: a path to a recording,
    plain text (spoken with --emotion, or 'neutral'), 'mic' to record from the microphone, or 'quit'.
    """
    from ..audio import load_audio, save_audio
    from ..types import Dialogue, Utterance

    cfg = _load_config(config)
    recordings = [load_audio(path, max_seconds=cfg.run.max_seconds) for path in audio or []]
    answerer = _load_system(cfg, system, False)
    dialogue = Dialogue()
    out_dir.mkdir(parents=True, exist_ok=True)

    def answer(utterance: Utterance) -> None:
        nonlocal dialogue
        turn = answerer.respond(utterance, dialogue)
        path = save_audio(turn.audio, out_dir / f"turn_{len(dialogue) + 1:02d}.wav")
        turn = turn.with_audio_path(path)
        dialogue = dialogue.add(turn)
        _print_turn(turn, path)
        typer.echo("")

    def from_text(line: str) -> Utterance:
        if line == "mic":
            return Utterance(_record(mic_seconds))
        candidate = Path(line).expanduser()
        if candidate.suffix.lower() in {".wav", ".flac", ".ogg", ".mp3"} or candidate.exists():
            return Utterance(load_audio(candidate, max_seconds=cfg.run.max_seconds))
        return Utterance(text=line, emotion=emotion or "neutral")

    if recordings:
        for recording in recordings:
            typer.echo(f"You:      {recording.path}")
            answer(Utterance(recording))
    else:
        typer.echo("Type a path to a recording, some text, 'mic' or 'quit'.", err=True)
        while True:
            try:
                line = input("you> ").strip()
            except EOFError:
                break
            if line in {"quit", "exit", ":q"}:
                break
            if not line:
                continue
            try:
                answer(from_text(line))
            except EmotionLayerError as exc:  # one bad turn must not end the conversation
                typer.echo(f"error: {exc}", err=True)
    if save:
        save.write_text(json.dumps(dialogue.to_dict(), indent=2, ensure_ascii=False), encoding="utf-8")
        typer.echo(f"Dialogue saved to {save}", err=True)


def _record(seconds: float):
    from ..audio import load_audio
    from ..errors import MissingDependencyError

    try:
        import sounddevice as sd
    except ImportError as exc:  # also raised when PortAudio is missing
        raise MissingDependencyError("sounddevice", purpose="microphone input") from exc
    typer.echo(f"Recording {seconds:.0f} s...", err=True)
    samples = sd.rec(int(seconds * 16000), samplerate=16000, channels=1, dtype="float32")
    sd.wait()
    return load_audio(samples[:, 0], source_rate=16000)


@app.command()
def components(
    as_json: bool = typer.Option(False, "--json", help="Print a JSON list of {kind, name, usable, reason}."),
    kind: str | None = typer.Option(
        None,
        "--kind",
        help="Only this kind: ser, asr, llm, tts, events, vad, guard (reply guards), vc (voice conversion) "
        "or system (dialogue systems).",
    ),
) -> None:
    """List every backend and dialogue system (built-in and plugins), whether it can run here, and the fix if not."""
    from ..registry import describe

    infos = describe(kind)
    if as_json:
        typer.echo(json.dumps([info.to_dict() for info in infos]))
        return
    width = max(len(i.name) for i in infos) if infos else 10
    for info in infos:
        mark = "yes" if info.usable else "no "
        line = f"{info.kind:<7}{info.name:<{width + 2}}{mark}  {info.description}"
        typer.echo(line.rstrip())
        if not info.usable:
            typer.echo(f"{'':<{width + 14}}-> {info.reason}")


@config_app.command("show")
def config_show(
    config: Path | None = typer.Option(None, "--config", "-c", help="A config to show merged with the defaults."),
    as_json: bool = typer.Option(False, "--json", help="JSON instead of YAML."),
) -> None:
    """Print the packaged default config (or yours, merged with the defaults). Start your own from it."""
    from ..config import PipelineConfig

    cfg = PipelineConfig.load(config) if config else PipelineConfig.default()
    typer.echo(json.dumps(cfg.to_dict(), indent=2) if as_json else cfg.to_yaml())


@config_app.command("check")
def config_check(config: Path = typer.Argument(..., help="The config file to check.")) -> None:
    """Check a config: it parses, its system and every backend exist and are usable here, the template renders."""
    from ..config import PipelineConfig
    from ..prompting import PromptRenderer
    from ..registry import get_class, missing_requirement
    from ..types import EmotionPrediction

    cfg = PipelineConfig.load(config)
    problems = []
    reason = missing_requirement(get_class("system", cfg.system.name))
    if reason:
        problems.append(f"system {cfg.system.name!r}: {reason}")
    kinds = ("ser", "asr", "llm", "tts") + (("vad",) if cfg.run.speech_gate else ())
    for kind in kinds:
        section = cfg.component(kind)
        reason = missing_requirement(get_class(kind, section.backend))
        if reason:
            problems.append(f"{kind} backend {section.backend!r}: {reason}")
    PromptRenderer.from_config(cfg).render("test", EmotionPrediction.certain("neutral"))
    if problems:
        raise EmotionLayerError("; ".join(problems))
    typer.echo(f"{config}: ok")


def _register_groups() -> None:
    """Add the command groups that live in their own modules (each imports its heavy libraries lazily)."""
    from . import asr as asr_cli
    from . import data as data_cli
    from . import dialogue as dialogue_cli
    from . import echat as echat_cli
    from . import events as events_cli
    from . import live as live_cli
    from . import llm as llm_cli
    from . import paralingpt as paralingpt_cli
    from . import ser as ser_cli
    from . import serve as serve_cli
    from . import tts as tts_cli

    app.command("speak")(tts_cli.speak)
    app.command("transcribe")(asr_cli.transcribe)
    app.command("live")(live_cli.live)
    app.command("serve")(serve_cli.serve)
    app.add_typer(ser_cli.app, name="ser")
    app.add_typer(data_cli.app, name="data")
    app.add_typer(llm_cli.app, name="llm")
    app.add_typer(events_cli.app, name="events")
    app.add_typer(echat_cli.app, name="echat")
    app.add_typer(paralingpt_cli.app, name="paralingpt")
    evaluate_app.command("ser")(ser_cli.evaluate_ser)
    evaluate_app.command("asr")(asr_cli.evaluate_asr)
    evaluate_app.command("events")(events_cli.evaluate_events)
    evaluate_app.command("dialogue")(dialogue_cli.evaluate_dialogue)
    evaluate_app.command("import-references")(dialogue_cli.import_references)


def main() -> None:
    """Entry point of the `emotionlayer` command."""
    _register_groups()
    argv = sys.argv[1:]
    if "--debug" in argv:  # accept --debug anywhere on the line, not only before the command
        argv = ["--debug"] + [a for a in argv if a != "--debug"]
    try:
        app(args=argv, prog_name="emotionlayer")
    except EmotionLayerError as exc:
        if _STATE["debug"]:
            raise
        typer.echo(f"error: {exc}", err=True)
        raise SystemExit(2) from None
    except KeyboardInterrupt:
        typer.echo("interrupted", err=True)
        raise SystemExit(130) from None
