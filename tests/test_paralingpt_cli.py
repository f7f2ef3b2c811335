"""`emotionlayer paralingpt ...`: help texts, and a tiny train + reply run through the command line."""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from emotionlayer.cli.paralingpt import app

runner = CliRunner()


def test_group_help_lists_the_commands():
    result = runner.invoke(app, ["--help"])
    assert result.exit_code == 0
    assert "train" in result.output and "reply" in result.output and "ParalinGPT" in result.output


def test_train_help_explains_the_options():
    result = runner.invoke(app, ["train", "--help"])
    assert result.exit_code == 0
    for option in ("--manifest", "--out", "--resume", "--config", "--prefix-tokens", "--steps", "--split", "--seed"):
        assert option in result.output


def test_reply_help_explains_the_options():
    result = runner.invoke(app, ["reply", "--help"])
    assert result.exit_code == 0
    for option in ("--model", "--text", "--json", "--max-new-tokens"):
        assert option in result.output


@pytest.mark.usefixtures("one_thread")
def test_train_then_reply_on_tiny_models(tmp_path, tiny_models):
    pytest.importorskip("accelerate")
    llm, encoder, manifest = tiny_models.llm(), tiny_models.encoder, tiny_models.manifest
    config = tmp_path / "paralingpt.json"
    config.write_text(
        json.dumps(
            {
                "model": {"projection_dim": 16},
                "train": {"batch_size": 2, "warmup_steps": 0, "cache_dir": str(tmp_path / "cache")},
            }
        )
    )
    out = tmp_path / "model"
    args = ["train", "--manifest", str(manifest), "--config", str(config), "--encoder", str(encoder), "--llm", str(llm)]
    result = runner.invoke(app, [*args, "--out", str(out), "--steps", "2", "--prefix-tokens", "2", "-q"])
    assert result.exit_code == 0, result.output
    assert "Trained ParalinGPT for 2 steps" in result.output
    saved = json.loads((out / "config.json").read_text())
    assert saved["model"]["prefix_tokens"] == 2 and saved["model"]["projection_dim"] == 16
    assert saved["train"]["batch_size"] == 2 and saved["train"]["learning_rate"] == 5e-4

    clip = manifest.parent / "clips" / "clip000.wav"
    result = runner.invoke(
        app,
        [
            "reply",
            str(clip),
            "--model",
            str(out),
            "--text",
            "hello",
            "--max-new-tokens",
            "4",
            "--device",
            "cpu",
            "--json",
        ],
    )
    assert result.exit_code == 0, result.output
    data = json.loads(result.output.strip().splitlines()[-1])
    assert data["transcript"] == "hello" and data["raw"].startswith("emotion: ")
    assert set(data) >= {"text", "emotion", "response_emotion", "timings"}
