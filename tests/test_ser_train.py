"""Training, cross-validation, saving and loading SER models on a small synthetic corpus."""

from __future__ import annotations

import json

import numpy as np
import pytest
import soundfile as sf

pytest.importorskip("torch")

from emotionlayer.data import read_manifest  # noqa: E402
from emotionlayer.encoders.whisper import packaged_model_available  # noqa: E402
from emotionlayer.errors import ConfigError  # noqa: E402
from emotionlayer.ser.augment import augment, noise, speed  # noqa: E402
from emotionlayer.ser.heads import AttentiveHead, LogisticHead, SVMHead, build_head  # noqa: E402
from emotionlayer.ser.model import SERModel  # noqa: E402
from emotionlayer.ser.train import extract_features, fit_temperature, speaker_folds, train_ser  # noqa: E402
from emotionlayer.types import Audio  # noqa: E402

needs_tiny = pytest.mark.skipif(packaged_model_available("tiny.en") is not None, reason="whisper tiny.en not installed")


def _clip(f0: float, level: float, seed: int, seconds: float = 0.6) -> np.ndarray:
    rng = np.random.default_rng(seed)
    sr = 16000
    t = np.arange(int(seconds * sr)) / sr
    phase = 2 * np.pi * np.cumsum(f0 * (1 + 0.04 * np.sin(2 * np.pi * 5 * t))) / sr
    wave = sum(np.sin(k * phase) / k for k in range(1, 8)) + 0.05 * rng.standard_normal(t.size)
    return (level * wave / np.abs(wave).max()).astype(np.float32)


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    """3 speakers x (happy: high and loud, sad: low and quiet) x 4 clips."""
    root = tmp_path_factory.mktemp("corpus")
    lines = ["path,emotion,speaker"]
    for s, base in enumerate((1.0, 1.15, 0.9)):
        for i in range(4):
            for emotion, f0, level in (("happy", 260.0, 0.7), ("sad", 110.0, 0.15)):
                name = f"s{s}_{emotion}_{i}.wav"
                sf.write(root / name, _clip(f0 * base * (1 + 0.03 * i), level, seed=100 * s + i), 16000)
                lines.append(f"{name},{emotion},spk{s}")
    (root / "manifest.csv").write_text("\n".join(lines) + "\n")
    return root / "manifest.csv"


@needs_tiny
def test_train_cross_validate_save_and_load(corpus, tmp_path):
    model, result = train_ser(
        corpus, out=tmp_path / "m", features="whisper-tiny.en", cross_validate=True, progress=False
    )
    assert model.labels == ["happy", "sad"]
    assert len(result.folds) == 3 and result.report.n == 24
    assert result.report.unweighted_accuracy >= 0.9  # the two classes differ in pitch and level
    assert result.four_class is None  # no neutral/angry clips
    card = (tmp_path / "m" / "MODEL_CARD.md").read_text()
    assert "Leave-speakers-out cross-validation, 3 folds" in card and "24 clips, 3 speakers" in card
    saved = json.loads((tmp_path / "m" / "ser_model.json").read_text())
    assert saved["members"][0]["features"]["encoder"] == "tiny.en"
    assert saved["metadata"]["cross_validation"]["folds"] == 3

    loaded = SERModel.load(tmp_path / "m")
    audio = read_manifest(corpus)[0].load_audio()
    assert loaded.predict_proba(audio) == pytest.approx(model.predict_proba(audio), abs=1e-6)
    assert loaded.predict(audio).label == "happy"


@needs_tiny
def test_augmentation_adds_copies_that_only_train(corpus):
    rows = read_manifest(corpus)[:4]
    from emotionlayer.ser.features import build_features

    feats, source = extract_features(
        rows, build_features("whisper-tiny.en"), augmentations=[["speed", "noise"]], progress=False
    )
    assert source == [0, 1, 2, 3, 0, 1, 2, 3]
    assert not np.allclose(feats[0], feats[4])


def test_augmentations_change_the_waveform_as_named():
    rng = np.random.default_rng(0)
    audio = Audio(_clip(200.0, 0.5, 0, seconds=1.0), 16000)
    assert len(speed(audio, 1.1).samples) == pytest.approx(16000 / 1.1, abs=2)
    noisy = noise(audio, 20.0, rng).samples - audio.samples
    snr = 10 * np.log10(np.mean(audio.samples**2) / np.mean(noisy**2))
    assert snr == pytest.approx(20.0, abs=0.5)
    louder = augment(audio, ["gain"], rng)
    assert len(louder.samples) == 16000 and not np.allclose(louder.samples, audio.samples)
    with pytest.raises(ConfigError, match="speed, pitch, gain, noise, reverb, codec"):
        augment(audio, ["echo"], rng)  # reverb and codec are augmentations now; echo is not


@pytest.mark.parametrize("head", [LogisticHead(), SVMHead(), AttentiveHead(epochs=15, hidden=32, batch_size=8)])
def test_heads_learn_separable_data_and_round_trip(head, tmp_path):
    rng = np.random.default_rng(0)
    labels = ["a", "b", "c"] * 20
    centres = {"a": np.eye(6)[0] * 3, "b": np.eye(6)[1] * 3, "c": np.eye(6)[2] * 3}
    if head.uses_frames:
        x = [(rng.standard_normal((2, int(rng.integers(5, 12)), 6)) + centres[y]).astype(np.float32) for y in labels]
    else:
        x = np.stack([rng.standard_normal(6) + centres[y] for y in labels])
    head.fit(x, labels)
    probs = head.predict_proba(x)
    assert probs.shape == (60, 3)
    np.testing.assert_allclose(probs.sum(axis=1), 1.0, atol=1e-5)
    accuracy = np.mean(np.array(head.labels)[probs.argmax(axis=1)] == np.array(labels))
    assert accuracy >= 0.9
    head.save(tmp_path)
    again = build_head(head.spec)
    again.labels = head.labels
    again.load_weights(tmp_path)
    np.testing.assert_allclose(again.predict_proba(x), probs, atol=1e-5)


def test_logistic_clip_bounds_confidence_on_outliers():
    rng = np.random.default_rng(0)
    labels = ["a", "b"] * 20
    x = np.stack([rng.standard_normal(4) + (1.0 if y == "a" else -1.0) for y in labels])
    outlier = np.full((1, 4), 1e4)
    clipped = LogisticHead(clip=3.0).fit(x, labels).predict_proba(outlier).max()
    unclipped = LogisticHead(clip=None).fit(x, labels).predict_proba(outlier).max()
    assert unclipped > 0.999999 and clipped < unclipped


def test_speaker_folds_and_temperature():
    assert speaker_folds(["a", "b", "c", "a"]) == [["a"], ["b"], ["c"]]
    assert speaker_folds(["a", "b", "c", "d"], 2) == [["a", "c"], ["b", "d"]]
    with pytest.raises(ConfigError, match="speaker"):
        speaker_folds(["a", None])
    with pytest.raises(ConfigError, match="two speakers"):
        speaker_folds(["a", "a"])
    # over-confident and often wrong -> temperature above 1
    probs = np.array([[0.99, 0.01], [0.01, 0.99]] * 5)
    refs = ["x", "y"] * 3 + ["y", "x"] * 2
    assert fit_temperature(probs, refs, ["x", "y"]) > 1.5


def test_training_needs_two_emotions(tmp_path):
    sf.write(tmp_path / "a.wav", _clip(200, 0.5, 0), 16000)
    (tmp_path / "m.csv").write_text("path,emotion\na.wav,happy\na.wav,happy\n")
    with pytest.raises(ConfigError, match="two different emotions"):
        train_ser(tmp_path / "m.csv", progress=False)


def test_level_normalisation_ignores_silence_and_sets_the_level():
    from emotionlayer.ser.features import active_rms_db, normalise_level

    speech = _clip(150.0, 0.05, 0, seconds=1.0)
    padded = np.concatenate([np.zeros(16000, np.float32), speech, np.zeros(16000, np.float32)])
    assert active_rms_db(padded) == pytest.approx(active_rms_db(speech), abs=0.5)  # silence does not count
    assert active_rms_db(normalise_level(padded, -35.0)) == pytest.approx(-35.0, abs=0.01)
