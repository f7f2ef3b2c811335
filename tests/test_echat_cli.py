"""`emotionlayer echat ...`: help texts, and a tiny train + reply run through the command line."""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from emotionlayer.cli.echat import app

runner = CliRunner()


def test_group_help_lists_the_commands():
    result = runner.invoke(app, ["--help"])
    assert result.exit_code == 0
    assert "train" in result.output and "reply" in result.output and "E-chat" in result.output


def test_train_help_explains_the_options():
    result = runner.invoke(app, ["train", "--help"])
    assert result.exit_code == 0
    for option in ("--stage", "--manifest", "--out", "--init", "--resume", "--config", "--epochs", "--steps"):
        assert option in result.output


@pytest.mark.usefixtures("one_thread")
def test_train_then_reply_on_tiny_models(tmp_path, tiny_models):
    pytest.importorskip("accelerate")
    llm, encoder, manifest = tiny_models.llm(), tiny_models.encoder, tiny_models.manifest
    config = tmp_path / "echat.json"
    config.write_text(
        json.dumps(
            {
                "model": {
                    "connector_dim": 32,
                    "connector_heads": 2,
                    "connector_ff_dim": 64,
                    "emotion_hidden_dim": 16,
                },
                "train": {"batch_size": 2, "warmup_steps": 0, "cache_dir": str(tmp_path / "cache")},
            }
        )
    )
    common = ["--manifest", str(manifest), "--config", str(config), "--steps", "2", "-q"]
    s1 = runner.invoke(
        app,
        [
            "train",
            "--stage",
            "1",
            "--out",
            str(tmp_path / "s1"),
            "--encoder",
            str(encoder),
            "--llm",
            str(llm),
            *common,
        ],
    )
    assert s1.exit_code == 0, s1.output
    assert "stage 1 for 2 steps" in s1.output
    s2 = runner.invoke(
        app, ["train", "--stage", "2", "--out", str(tmp_path / "s2"), "--init", str(tmp_path / "s1"), *common]
    )
    assert s2.exit_code == 0, s2.output
    warmed = runner.invoke(
        app,
        [
            "train",
            "--stage",
            "2",
            "--out",
            str(tmp_path / "s2w"),
            "--init",
            str(tmp_path / "s1"),
            "--emotion-warmup",
            "3",
            "--emotion-loss-weight",
            "0.5",
            *common,
        ],
    )
    assert warmed.exit_code == 0, warmed.output
    saved = json.loads((tmp_path / "s2w" / "config.json").read_text())
    assert saved["model"]["emotion_warmup_steps"] == 3 and saved["model"]["emotion_loss_weight"] == 0.5
    wav = next((manifest.parent / "clips").glob("*.wav"))
    answer = runner.invoke(
        app,
        ["reply", str(wav), "--model", str(tmp_path / "s2"), "--json", "--max-new-tokens", "4", "--device", "cpu"],
    )
    assert answer.exit_code == 0, answer.output
    record = json.loads(answer.output.strip().splitlines()[-1])
    assert set(record) == {"path", "text", "emotion", "timings"} and record["emotion"]["label"]


@pytest.mark.usefixtures("one_thread")
def test_train_with_ctc_alignment_then_compressed_speech_tokens(tmp_path, tiny_models):
    """--alignment ctc writes a CTC pre-alignment; --speech-tokens ctc goes on from it; a wrong use is refused."""
    pytest.importorskip("accelerate")
    config = tmp_path / "echat.json"
    config.write_text(
        json.dumps(
            {
                "model": {"connector_dim": 32, "connector_heads": 2, "connector_ff_dim": 64, "emotion_hidden_dim": 16},
                "train": {"batch_size": 2, "warmup_steps": 0, "cache_dir": str(tmp_path / "cache")},
            }
        )
    )
    common = ["--manifest", str(tiny_models.manifest), "--config", str(config), "--steps", "2", "-q"]
    backbones = ["--encoder", str(tiny_models.encoder), "--llm", str(tiny_models.llm())]
    ctc = runner.invoke(
        app, ["train", "--stage", "1", "--alignment", "ctc", "--out", str(tmp_path / "ctc"), *backbones, *common]
    )
    assert ctc.exit_code == 0, ctc.output
    assert json.loads((tmp_path / "ctc" / "config.json").read_text())["model"]["alignment"] == "ctc"
    s1 = runner.invoke(
        app,
        [
            "train",
            "--stage",
            "1",
            "--speech-tokens",
            "ctc",
            "--init",
            str(tmp_path / "ctc"),
            "--out",
            str(tmp_path / "s1"),
            *common,
        ],
    )
    assert s1.exit_code == 0, s1.output
    model = json.loads((tmp_path / "s1" / "config.json").read_text())["model"]
    assert (model["alignment"], model["speech_tokens"]) == ("lm", "ctc")
    refused = runner.invoke(
        app,
        [
            "train",
            "--stage",
            "2",
            "--alignment",
            "ctc",
            "--init",
            str(tmp_path / "s1"),
            "--out",
            str(tmp_path / "x"),
            *common,
        ],
    )
    assert refused.exit_code != 0 and "stage-1 objective" in str(refused.exception or refused.output)
    words = runner.invoke(
        app,
        ["train", "--stage", "2", "--emotion-input", "words", "--init", str(tmp_path / "s1"), "--out",
         str(tmp_path / "s2"), *common],
    )  # fmt: skip
    assert words.exit_code == 0, words.output
    model = json.loads((tmp_path / "s2" / "config.json").read_text())["model"]
    assert (model["stage"], model["emotion_input"], model["speech_tokens"]) == (2, "words", "ctc")
    from safetensors.torch import load_file

    saved = load_file(str(tmp_path / "s2" / "model.safetensors"))
    assert any(k.startswith("emotion_head.") for k in saved)
    assert not any(k.startswith("emotion_projector.") for k in saved)
    wrong = runner.invoke(
        app,
        ["train", "--stage", "2", "--emotion-input", "label", "--init", str(tmp_path / "s1"), "--out",
         str(tmp_path / "y"), *common],
    )  # fmt: skip
    assert wrong.exit_code != 0 and "emotion_input must be one of" in str(wrong.exception or wrong.output)
