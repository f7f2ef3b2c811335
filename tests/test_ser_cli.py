"""`emotionlayer ser train/predict` and `emotionlayer evaluate ser` through typer."""

from __future__ import annotations

import json

import numpy as np
import pytest
import soundfile as sf
import typer
from typer.testing import CliRunner

import emotionlayer.testing  # noqa: F401  registers the dummy backends
from emotionlayer.cli.ser import app as ser_app
from emotionlayer.cli.ser import evaluate_ser
from emotionlayer.encoders.whisper import packaged_model_available
from emotionlayer.errors import ConfigError


def _cli() -> typer.Typer:
    root = typer.Typer()
    root.add_typer(ser_app, name="ser")
    evaluate = typer.Typer()
    evaluate.command("ser")(evaluate_ser)
    root.add_typer(evaluate, name="evaluate")
    return root


@pytest.fixture()
def manifest(tmp_path):
    rng = np.random.default_rng(0)
    lines = ["path,emotion,speaker"]
    for i, (emotion, f0) in enumerate(
        [("neutral", 120), ("joy", 250), ("sadness", 100), ("anger", 180), ("calm", 110)] * 2
    ):
        t = np.arange(8000) / 16000
        sf.write(
            tmp_path / f"c{i}.wav",
            (0.3 * np.sin(2 * np.pi * f0 * t) + 0.01 * rng.standard_normal(t.size)).astype(np.float32),
            16000,
        )
        lines.append(f"c{i}.wav,{emotion},spk{i % 2}")
    (tmp_path / "m.csv").write_text("\n".join(lines) + "\n")
    return tmp_path / "m.csv"


def test_evaluate_json_is_one_object_with_the_documented_keys(manifest):
    result = CliRunner().invoke(_cli(), ["evaluate", "ser", "--manifest", str(manifest), "--model", "dummy", "--json"])
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert set(data) == {"n", "accuracy", "unweighted_accuracy", "macro_f1", "per_label", "confusion"}
    assert data["n"] == 10
    # the dummy always says neutral: 2 of 10 right, recall 1 for neutral and 0 elsewhere
    assert data["accuracy"] == pytest.approx(0.2)
    assert data["unweighted_accuracy"] == pytest.approx(1 / 5)
    assert data["confusion"]["labels"][0] == "neutral"
    assert len(data["confusion"]["matrix"]) == len(data["confusion"]["labels"])


def test_evaluate_labels_restrict_decision_and_clips(manifest, tmp_path):
    png = tmp_path / "cm.png"
    args = [
        "evaluate",
        "ser",
        "-m",
        str(manifest),
        "--model",
        "dummy",
        "--labels",
        "happy,sad",
        "--json",
        "--plot",
        str(png),
    ]
    result = CliRunner().invoke(_cli(), args)
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert data["n"] == 4  # only the joy (happy) and sadness (sad) clips
    assert data["confusion"]["labels"] == ["happy", "sad"]
    assert png.read_bytes()[:4] == b"\x89PNG"


def test_evaluate_rejects_labels_with_no_clips(manifest):
    result = CliRunner().invoke(
        _cli(), ["evaluate", "ser", "-m", str(manifest), "--model", "dummy", "--labels", "fearful"]
    )
    assert result.exit_code != 0
    assert isinstance(result.exception, ConfigError)


def test_help_texts_explain_the_commands():
    runner = CliRunner()
    for args in (
        ["ser", "--help"],
        ["ser", "train", "--help"],
        ["evaluate", "ser", "--help"],
        ["ser", "predict", "--help"],
    ):
        result = runner.invoke(_cli(), args)
        assert result.exit_code == 0
        assert "Example" in result.output or "Commands" in result.output


@pytest.mark.skipif(packaged_model_available("tiny.en") is not None, reason="whisper tiny.en not installed")
def test_train_then_predict_and_evaluate_with_the_trained_folder(manifest, tmp_path):
    out = tmp_path / "model"
    result = CliRunner().invoke(
        _cli(), ["ser", "train", "-m", str(manifest), "-o", str(out), "--quiet", "--name", "tiny-test"]
    )
    assert result.exit_code == 0, result.output
    assert "Leave-speakers-out CV (2 folds)" in result.output
    assert (out / "MODEL_CARD.md").is_file() and (out / "ser_model.json").is_file()
    clip = manifest.parent / "c1.wav"
    result = CliRunner().invoke(_cli(), ["ser", "predict", str(clip), "--model", str(out), "--json"])
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert data["model"] == "tiny-test"
    assert set(data["probabilities"]) == {"neutral", "calm", "happy", "sad", "angry"}
    result = CliRunner().invoke(_cli(), ["evaluate", "ser", "-m", str(manifest), "--model", str(out)])
    assert result.exit_code == 0, result.output
    assert "Unweighted accuracy" in result.output


@pytest.fixture()
def corpora_manifest(tmp_path):
    """Two corpora by speaker prefix: RAVDESS (one training actor, one locked test actor) and URDU."""
    rng = np.random.default_rng(1)
    lines = ["path,emotion,speaker"]
    rows = [
        ("neutral", "ravdess_actor01"),
        ("sad", "ravdess_actor01"),
        ("neutral", "ravdess_actor13"),
        ("angry", "ravdess_actor13"),
        ("calm", "ravdess_actor13"),
        ("neutral", "urdu_SM2"),
        ("happy", "urdu_SM2"),
        ("calm", "urdu_SM2"),
    ]
    for i, (emotion, speaker) in enumerate(rows):
        sf.write(tmp_path / f"k{i}.wav", (0.1 * rng.standard_normal(8000)).astype(np.float32), 16000)
        lines.append(f"k{i}.wav,{emotion},{speaker}")
    (tmp_path / "corpora.csv").write_text("\n".join(lines) + "\n")
    return tmp_path / "corpora.csv"


def test_evaluate_per_corpus_scores_each_corpus_over_its_own_labels(corpora_manifest):
    result = CliRunner().invoke(
        _cli(), ["evaluate", "ser", "--manifest", str(corpora_manifest), "--model", "dummy", "--per-corpus", "--json"]
    )
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert set(data["corpora"]) == {"ravdess", "urdu"}
    # URDU has four labels: its "calm" clip is not scored, and the decision is among its four labels
    assert data["corpora"]["urdu"]["labels"] == ["neutral", "happy", "sad", "angry"]
    assert data["corpora"]["urdu"]["n"] == 2
    assert data["corpora"]["ravdess"]["n"] == 5 and len(data["corpora"]["ravdess"]["labels"]) == 8
    assert "unweighted_accuracy_4class" in data["corpora"]["ravdess"]
    assert 0.0 <= data["corpora"]["ravdess"]["ece"] <= 1.0
    expected = (data["corpora"]["ravdess"]["unweighted_accuracy"] + data["corpora"]["urdu"]["unweighted_accuracy"]) / 2
    assert data["macro_unweighted_accuracy"] == pytest.approx(expected)


def test_evaluate_locked_test_keeps_only_the_locked_split(corpora_manifest):
    result = CliRunner().invoke(
        _cli(), ["evaluate", "ser", "--manifest", str(corpora_manifest), "--model", "dummy", "--locked-test", "--json"]
    )
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert data["locked_test"] is True
    assert set(data["corpora"]) == {"ravdess"}  # actor 13 is locked; urdu_SM2 and actor 1 are not
    assert data["corpora"]["ravdess"]["n"] == 3
    text = CliRunner().invoke(
        _cli(), ["evaluate", "ser", "--manifest", str(corpora_manifest), "--model", "dummy", "--locked-test"]
    )
    assert text.exit_code == 0 and "macro UA" in text.output
