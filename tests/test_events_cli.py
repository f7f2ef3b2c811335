"""`emotionlayer events ...` and `emotionlayer evaluate events` commands."""

from __future__ import annotations

import json
import shutil

import numpy as np
import typer
from typer.testing import CliRunner

from emotionlayer.audio import save_audio
from emotionlayer.cli.events import app, evaluate_events
from emotionlayer.paralinguistics.bank import DEFAULT_BANK_DIR, EventBank
from emotionlayer.paralinguistics.detection.detector import VocalEventModel
from emotionlayer.paralinguistics.detection.train import isolated_recording
from emotionlayer.types import Audio

runner = CliRunner()


def _evaluate_app() -> typer.Typer:
    wrapper = typer.Typer()
    wrapper.command("events")(evaluate_events)
    wrapper.command("noop", hidden=True)(lambda: None)  # two commands keep "events" as a sub-command
    return wrapper


def test_help_texts_explain_the_commands() -> None:
    result = runner.invoke(app, ["--help"])
    assert result.exit_code == 0
    for word in ("detect", "train", "make-data", "speak", "laugh"):
        assert word in result.output
    detect_help = runner.invoke(app, ["detect", "--help"]).output
    assert "--json" in detect_help and "--model-dir" in detect_help


def test_detect_prints_events_as_json_and_text(tmp_path) -> None:
    samples, truth = isolated_recording(EventBank(seed=4), "cough", np.random.default_rng(4), 16000)
    path = save_audio(Audio(samples, 16000), tmp_path / "coughs.wav")
    result = runner.invoke(app, ["detect", path, "--json"])
    assert result.exit_code == 0, result.output
    data = json.loads(result.output)
    assert data["path"] == path and data["duration"] > 0
    assert any(e["label"] == "cough" for e in data["events"])
    assert set(data["events"][0]) == {"label", "start", "end", "confidence"}
    text = runner.invoke(app, ["detect", path])
    assert text.exit_code == 0 and "cough" in text.output


def test_evaluate_events_reports_clip_level_figures(tmp_path) -> None:
    lines = ["path,label"]
    for label in ("cough", "laugh", "breath"):
        for clip in sorted((DEFAULT_BANK_DIR / label).glob("*.flac"))[:2]:
            shutil.copy(clip, tmp_path / clip.name)
            lines.append(f"{clip.name},{label}")
    (tmp_path / "clips.csv").write_text("\n".join(lines) + "\n")
    result = runner.invoke(_evaluate_app(), ["events", "--manifest", str(tmp_path / "clips.csv"), "--json"])
    assert result.exit_code == 0, result.output
    data = json.loads(result.output)
    assert {"n", "accuracy", "macro_f1", "per_label"} <= set(data)
    assert data["n"] == 6
    assert set(data["per_label"]) >= {"cough", "laugh", "breath"}
    assert data["accuracy"] >= 0.5  # these clips are from the training bank: a broken detector fails here
    text = runner.invoke(_evaluate_app(), ["events", "--manifest", str(tmp_path / "clips.csv")])
    assert "macro F1" in text.output


def test_speak_writes_audio_with_events(tmp_path) -> None:
    out = tmp_path / "demo.wav"
    result = runner.invoke(app, ["speak", "Well [laugh] that was fun.", "--out", str(out)])
    assert result.exit_code == 0, result.output
    data = json.loads(result.output)
    assert out.is_file() and [e["label"] for e in data["events"]] == ["laugh"]
    assert 0 < data["events"][0]["start"] < data["events"][0]["end"] < data["duration"]


def test_train_takes_real_clips_through_a_label_map_and_an_ensemble(tmp_path) -> None:
    lines = ["path,label,speaker"]
    for label, corpus_class in (("cough", "coughing"), ("laugh", "screaming")):  # screaming has no event label
        for clip in sorted((DEFAULT_BANK_DIR / label).glob("*.flac"))[:3]:
            shutil.copy(clip, tmp_path / clip.name)
            lines.append(f"{clip.name},{corpus_class},s{len(lines)}")
    (tmp_path / "clips.csv").write_text("\n".join(lines) + "\n")
    out = tmp_path / "detector"
    args = ["train", "--clips", str(tmp_path / "clips.csv"), "--label-map", "deeply-nonverbal", "--out", str(out)]
    result = runner.invoke(
        app, [*args, "--isolated", "0", "--background", "2", "--copies", "1", "--members", "2", "--seed", "3"]
    )
    assert result.exit_code == 0, result.output
    data = json.loads(result.output)
    assert data["labels"] == ["silence", "speech", "cough", "other"]
    assert data["trained_on"]["clips"] == 6 and data["real_clips"] == 6
    assert data["ensemble_seeds"] == [3, 4]
    config = json.loads((out / "config.json").read_text())
    assert config["labels"] == data["labels"] and len(config["members"]) == 1
    assert VocalEventModel(out).labels == ("cough", "pause")  # `detect` never reports other
    train_help = runner.invoke(app, ["train", "--help"]).output
    assert "--clips" in train_help and "deeply-nonverbal" in train_help and "--members" in train_help
    bad = runner.invoke(app, [*args[:3], "--label-map", "nope", "--out", str(tmp_path / "x")])
    assert bad.exit_code != 0 and "deeply-nonverbal" in bad.output
