import json
import sys

import pytest
import soundfile as sf

import emotionlayer.testing  # noqa: F401  (registers the dummy backends)
from emotionlayer.cli import main as cli
from emotionlayer.testing import tone

# The dummy world hears a tone as speech; silero VAD rightly would not, so these configs use the energy VAD.
DUMMY_CONFIG = "ser: {backend: dummy, params: {label: sad}}\nasr: dummy\nllm: dummy\ntts: dummy\nvad: energy\n"


def run(monkeypatch, capsys, *args):
    monkeypatch.setattr(sys, "argv", ["emotionlayer", *args])
    code = 0
    try:
        cli.main()
    except SystemExit as exc:
        code = exc.code or 0
    out, err = capsys.readouterr()
    return code, out, err


@pytest.fixture()
def clip(tmp_path):
    path = tmp_path / "clip.wav"
    sf.write(str(path), tone(1.5).samples, 16000)
    return path


@pytest.fixture()
def config(tmp_path):
    path = tmp_path / "dummy.yaml"
    path.write_text(DUMMY_CONFIG)
    return path


def test_respond_json_is_one_object(monkeypatch, capsys, clip, config, tmp_path):
    out_wav = tmp_path / "reply.wav"
    code, out, _ = run(
        monkeypatch, capsys, "respond", str(clip), "--config", str(config), "--out", str(out_wav), "--json"
    )
    assert code == 0
    data = json.loads(out)
    assert set(data) == {"system", "transcript", "emotion", "response", "audio_out", "timings", "speech_detected"}
    assert data["speech_detected"] is True
    assert data["system"] == "cascade"
    assert data["emotion"]["label"] == "sad"
    assert sum(data["emotion"]["probabilities"].values()) == pytest.approx(1.0)
    assert data["response"]["text"] and data["response"]["style"]["name"] == "warm"
    assert set(data["timings"]) == {"vad", "ser", "asr", "llm", "tts", "total", "time_to_first_audio"}
    assert sf.info(data["audio_out"]).frames > 0


def test_respond_summary(monkeypatch, capsys, clip, config, tmp_path):
    code, out, _ = run(monkeypatch, capsys, "respond", str(clip), "-c", str(config), "-o", str(tmp_path / "r.wav"))
    assert code == 0
    assert "Emotion:  sad" in out and "Strategy: comfort" in out and "first audio" in out


@pytest.mark.parametrize("debug", [False, True])
def test_bad_input_exits_2_with_one_line(monkeypatch, capsys, config, tmp_path, debug):
    missing = tmp_path / "nope.wav"
    args = ["respond", str(missing), "-c", str(config)] + (["--debug"] if debug else [])
    if debug:
        with pytest.raises(Exception, match="No such audio file"):
            monkeypatch.setattr(sys, "argv", ["emotionlayer", *args])
            cli.main()
        return
    code, out, err = run(monkeypatch, capsys, *args)
    assert code == 2 and out == ""
    assert err.strip().startswith("error: No such audio file") and len(err.strip().splitlines()) == 1
    assert "Traceback" not in err


def test_chat_over_files_carries_history(monkeypatch, capsys, clip, config, tmp_path):
    saved = tmp_path / "dialogue.json"
    code, out, _ = run(
        monkeypatch,
        capsys,
        "chat",
        str(clip),
        str(clip),
        "-c",
        str(config),
        "--out-dir",
        str(tmp_path / "r"),
        "--save",
        str(saved),
    )
    assert code == 0
    dialogue = json.loads(saved.read_text())
    assert len(dialogue["turns"]) == 2
    assert "sounding sad, said" in dialogue["turns"][1]["prompt"][0]["content"]
    assert (tmp_path / "r" / "turn_02.wav").exists()


def test_chat_typed_text_with_emotion(monkeypatch, capsys, config, tmp_path):
    monkeypatch.setattr("sys.stdin", __import__("io").StringIO("I got the job!\nquit\n"))
    code, out, _ = run(
        monkeypatch, capsys, "chat", "-c", str(config), "--emotion", "cheerful", "--out-dir", str(tmp_path / "r")
    )
    assert code == 0 and "Emotion:  happy" in out and "share-joy" in out


def test_components_json_lists_backends(monkeypatch, capsys):
    code, out, _ = run(monkeypatch, capsys, "components", "--json")
    assert code == 0
    rows = json.loads(out)
    assert {"kind", "name", "usable", "reason"} <= set(rows[0])
    names = {(r["kind"], r["name"]) for r in rows}
    assert ("asr", "dummy") in names and ("asr", "faster-whisper") in names


def _command_paths():
    import typer.main

    cli._register_groups()
    root = typer.main.get_command(cli.app)

    def walk(command, path):
        yield path
        for name, sub in getattr(command, "commands", {}).items():
            yield from walk(sub, [*path, name])

    return list(walk(root, []))


def test_help_on_every_command(monkeypatch, capsys):
    paths = _command_paths()
    names = {" ".join(p) for p in paths}
    assert {
        "respond",
        "chat",
        "components",
        "speak",
        "transcribe",
        "ser train",
        "evaluate ser",
        "evaluate asr",
        "evaluate events",
        "data generate",
        "events detect",
        "events train",
        "llm chat",
        "config show",
    } <= names
    for path in paths:
        code, out, _ = run(monkeypatch, capsys, *path, "--help")
        assert code == 0 and "Usage" in out, path
        summary = out.split("Usage", 1)[1]
        assert len(summary.strip().splitlines()) >= 3, f"{path} has no help text"


def test_config_show_round_trips(monkeypatch, capsys, tmp_path):
    code, out, _ = run(monkeypatch, capsys, "config", "show")
    assert code == 0
    path = tmp_path / "c.yaml"
    path.write_text(out)
    from emotionlayer.config import PipelineConfig

    assert PipelineConfig.load(path) == PipelineConfig.default()


def test_respond_with_system_cascade_json(monkeypatch, capsys, clip, config, tmp_path):
    code, out, _ = run(
        monkeypatch,
        capsys,
        "respond",
        str(clip),
        "-c",
        str(config),
        "--system",
        "cascade",
        "-o",
        str(tmp_path / "r.wav"),
        "--json",
    )
    assert code == 0
    data = json.loads(out)
    assert data["system"] == "cascade" and data["emotion"]["label"] == "sad"


def test_a_toy_system_answers_through_respond_and_chat(monkeypatch, capsys, clip, config, tmp_path):
    code, out, _ = run(
        monkeypatch,
        capsys,
        "respond",
        str(clip),
        "-c",
        str(config),
        "--system",
        "echo:emotion=angry",
        "-o",
        str(tmp_path / "e.wav"),
        "--json",
    )
    assert code == 0
    data = json.loads(out)
    assert data["system"] == "echo" and data["emotion"]["label"] == "angry"
    assert data["response"]["text"].startswith("Turn 1: you said 1.5 seconds of sound")
    assert set(data["timings"]) == {"listen", "echo", "voice", "total", "time_to_first_audio"}
    code, out, _ = run(
        monkeypatch, capsys, "respond", str(clip), "-c", str(config), "--system", "echo", "-o", str(tmp_path / "e.wav")
    )
    assert code == 0 and "listen" in out and "voice" in out and "(echo)" in out and " ser " not in out
    saved = tmp_path / "echo.json"
    code, out, _ = run(
        monkeypatch,
        capsys,
        "chat",
        str(clip),
        str(clip),
        "-c",
        str(config),
        "-s",
        "echo",
        "--out-dir",
        str(tmp_path / "er"),
        "--save",
        str(saved),
    )
    assert code == 0
    turns = json.loads(saved.read_text())["turns"]
    assert [t["system"] for t in turns] == ["echo", "echo"]
    assert turns[1]["response"]["text"].startswith("Turn 2:")


def test_system_from_the_config_file(monkeypatch, capsys, clip, tmp_path):
    path = tmp_path / "echo.yaml"
    path.write_text(DUMMY_CONFIG + "system: {name: echo, params: {emotion: fearful}}\n")
    code, out, _ = run(
        monkeypatch, capsys, "respond", str(clip), "-c", str(path), "-o", str(tmp_path / "r.wav"), "--json"
    )
    assert code == 0 and json.loads(out)["emotion"]["label"] == "fearful"


def test_unknown_system_is_one_error_line(monkeypatch, capsys, clip, config):
    code, out, err = run(monkeypatch, capsys, "respond", str(clip), "-c", str(config), "--system", "nonesuch")
    assert code == 2 and "Unknown system backend 'nonesuch'" in err and "cascade" in err


def test_live_from_a_file_prints_json_events_and_checks_its_options(monkeypatch, capsys, clip, tmp_path):
    cfg = tmp_path / "dummy.yaml"
    cfg.write_text(DUMMY_CONFIG)
    args = [
        "live",
        "--input",
        str(clip),
        "--config",
        str(cfg),
        "--vad",
        "energy",
        "--no-speaker",
        "--json",
        "--speed",
        "8",
    ]
    code, out, err = run(monkeypatch, capsys, *args, "--partial-interval", "0")
    assert code == 0, err
    kinds = [json.loads(line)["kind"] for line in out.splitlines() if line.startswith("{")]
    assert {"speech_started", "end_of_turn", "reply_text", "latency", "turn_done"} <= set(kinds)
    code, out, err = run(monkeypatch, capsys, *args, "--partial-interval", "-1")
    assert code == 2 and "partial_interval_seconds must be >= 0" in err
