"""Training, saving and loading a detector; manifests; features; event-timing scores."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest

from emotionlayer.data.manifest import EventRow
from emotionlayer.errors import ConfigError, ModelNotFoundError
from emotionlayer.evaluation.events import score_event_timing
from emotionlayer.paralinguistics.bank import DEFAULT_BANK_DIR, EventBank
from emotionlayer.paralinguistics.detection.detector import OTHER_LABEL, VocalEventModel, WindowScores
from emotionlayer.paralinguistics.detection.features import FeatureConfig, audio_windows
from emotionlayer.paralinguistics.detection.model import WindowClassifier
from emotionlayer.paralinguistics.detection.train import (
    isolated_recording,
    map_clip_labels,
    train_detector,
    window_targets,
)
from emotionlayer.types import Audio, VocalEvent

SR = 16000


@pytest.fixture(scope="module")
def tiny_model(tmp_path_factory):
    """A detector trained in seconds on a two-label user bank (cough vs tsk)."""
    root = tmp_path_factory.mktemp("bank")
    for label in ("cough", "tsk"):
        (root / label).mkdir()
        for clip in sorted((DEFAULT_BANK_DIR / label).glob("*.flac"))[:4]:
            shutil.copy(clip, root / label / clip.name)
    out = root / "model"
    model = train_detector(
        [],
        out,
        bank_folders=[root],
        include_packaged_bank=False,
        isolated_per_label=6,
        background=4,
        copies=1,
        hidden=(16,),
    )
    return model, out, root


def test_training_writes_a_loadable_model_with_its_labels(tiny_model) -> None:
    model, out, _ = tiny_model
    assert model.labels == ("silence", "speech", "cough", "tsk")
    config = json.loads((out / "config.json").read_text())
    assert config["labels"] == list(model.labels)
    assert config["info"]["trained_on"]["isolated"] == 12
    loaded = WindowClassifier.load(out)
    feats, _ = audio_windows(np.random.default_rng(0).standard_normal(SR).astype(np.float32) * 0.01)
    np.testing.assert_allclose(loaded.predict_proba(feats), model.predict_proba(feats), atol=1e-6)
    probs = loaded.predict_proba(feats)
    np.testing.assert_allclose(probs.sum(axis=1), 1.0, atol=1e-5)
    assert np.all(probs[:, model.labels.index("speech")] < 1e-6)  # never seen in training -> never predicted


def test_a_trained_model_detects_its_labels(tiny_model) -> None:
    _, out, root = tiny_model
    detector = VocalEventModel(out)
    samples, truth = isolated_recording(
        EventBank(root, include_packaged=False, seed=9), "cough", np.random.default_rng(9), SR
    )
    label, _ = detector.classify(Audio(samples, SR))
    assert label == "cough"
    assert detector.labels == ("cough", "tsk", "pause")


def test_missing_model_says_how_to_get_one(tmp_path) -> None:
    with pytest.raises(ModelNotFoundError, match="emotionlayer events train"):
        WindowClassifier.load(tmp_path)


def test_window_targets_label_windows_by_overlap() -> None:
    config = FeatureConfig()
    frames = 300  # 3 s
    level = np.full(frames, -20.0)
    level[:50] = -90.0  # the first 0.5 s is silent
    index = {"silence": 0, "speech": 1, "cough": 2}
    targets = window_targets(frames, level, [VocalEvent("cough", 1.0, 1.5)], index, config, has_speech=True)
    starts = np.arange(len(targets)) * config.hop
    assert targets[0] == 0  # silent start
    assert targets[int(round(1.1 / config.hop))] == 2  # window 1.1-1.5 s is all cough
    assert targets[-1] == 1  # loud, no event: speech
    assert -1 in targets  # windows barely touching the cough are left out
    assert len(starts) == len(targets)


def test_events_from_scores_merges_runs_and_finds_pauses() -> None:
    labels = ("silence", "speech", "laugh")
    rows = [1] * 5 + [0] * 5 + [1] * 5 + [2] * 4 + [0] * 2
    probs = np.full((len(rows), 3), 0.05)
    probs[np.arange(len(rows)), rows] = 0.9
    scores = WindowScores(np.arange(len(rows)) * 0.1, 0.4, 0.1, labels, probs, len(rows) * 0.1 + 0.3)
    events = VocalEventModel(min_pause=0.3).events_from_scores(scores)
    assert [e.label for e in events] == ["pause", "laugh"]
    pause, laugh = events
    assert abs(pause.start - 0.65) < 1e-6 and abs(pause.end - 1.15) < 1e-6
    assert abs(laugh.end - laugh.start - 0.4) < 1e-6 and laugh.confidence == 0.9
    assert [e.label for e in VocalEventModel(min_pause=0).events_from_scores(scores)] == ["laugh"]


def test_other_is_never_an_event_but_can_be_the_clip_label() -> None:
    """A detector trained with an 'other' class (lip, teeth, nose sounds) does not report it as an event."""
    labels = ("silence", "speech", "cough", "other")
    rows = [0] * 2 + [3] * 8 + [2] * 2 + [0] * 2
    probs = np.full((len(rows), 4), 0.03)
    probs[np.arange(len(rows)), rows] = 0.91
    scores = WindowScores(np.arange(len(rows)) * 0.1, 0.4, 0.1, labels, probs, len(rows) * 0.1 + 0.3)
    detector = VocalEventModel(min_pause=0)
    assert [e.label for e in detector.events_from_scores(scores)] == ["cough"]
    assert [e.label for e in detector.events_from_scores(scores, include_other=True)] == ["other", "cough"]


def test_score_event_timing() -> None:
    refs = [[VocalEvent("laugh", 1.0, 2.0), VocalEvent("cough", 3.0, 3.5)], [VocalEvent("sigh", 0.0, 1.0)]]
    preds = [
        [VocalEvent("laugh", 1.1, 2.1), VocalEvent("cough", 5.0, 5.5)],
        [VocalEvent("sigh", 0.2, 1.0), VocalEvent("tsk", 2.0, 2.1)],
    ]
    scores = score_event_timing(refs, preds)
    assert scores["per_label"]["laugh"]["f1"] == 1.0
    assert scores["per_label"]["cough"]["recall"] == 0.0 and scores["per_label"]["cough"]["precision"] == 0.0
    assert scores["per_label"]["tsk"]["support"] == 0
    assert scores["micro_f1"] == round(2 * 2 / (2 * 2 + 2 + 1), 4)
    assert abs(scores["onset_error_s"] - 0.15) < 1e-6


def test_an_ensemble_averages_its_members_and_round_trips(tiny_model, tmp_path) -> None:
    from emotionlayer.paralinguistics.detection.model import combine

    model, _, _ = tiny_model
    rng = np.random.default_rng(1)
    shifted = WindowClassifier(
        model.labels, model.mean + 0.5, model.scale, model.weights, model.biases, model.feature_config
    )
    ensemble = combine([model, shifted], info={"members": 2})
    feats, _ = audio_windows(rng.standard_normal(SR).astype(np.float32) * 0.01)
    expected = (model.predict_proba(feats) + shifted.predict_proba(feats)) / 2
    np.testing.assert_allclose(ensemble.predict_proba(feats), expected, atol=1e-6)
    ensemble.save(tmp_path / "ens")
    loaded = WindowClassifier.load(tmp_path / "ens")
    assert len(loaded.members) == 1 and loaded.info == {"members": 2}
    np.testing.assert_allclose(loaded.predict_proba(feats), expected, atol=1e-6)
    with pytest.raises(ConfigError, match="same labels"):
        combine([model, WindowClassifier(("a", "b"), model.mean, model.scale, model.weights, model.biases)])


def test_label_maps_rename_clip_labels_and_send_the_rest_to_other() -> None:
    rows = [EventRow("a.wav", "coughing"), EventRow("b.wav", "panting"), EventRow("c.wav", "teeth-chattering")]
    assert [r.label for r in map_clip_labels(rows, "deeply-nonverbal")] == ["cough", "breath", OTHER_LABEL]
    assert [r.label for r in map_clip_labels(rows, {"coughing": "cough"})] == ["cough", OTHER_LABEL, OTHER_LABEL]
    assert map_clip_labels(rows, None) == rows
    with pytest.raises(ConfigError, match="deeply-nonverbal"):
        map_clip_labels(rows, "unknown")
    with pytest.raises(ConfigError, match="clip-level"):
        map_clip_labels([EventRow("d.wav", "", (VocalEvent("cough", 0.1, 0.2),))], "deeply-nonverbal")


def test_training_windows_label_each_source_and_count_it(tiny_model) -> None:
    from emotionlayer.paralinguistics.detection.train import TrainingWindows

    _, _, root = tiny_model
    windows = TrainingWindows(("silence", "speech", "cough", "tsk"))
    with pytest.raises(ConfigError, match="No training windows"):
        windows.arrays()
    rng = np.random.default_rng(0)
    windows.add_background(2, rng)
    x, y = windows.arrays()
    assert set(y.tolist()) == {0} and len(x) == len(y) > 0  # noise alone: silence only
    windows.add_isolated(EventBank(root, include_packaged=False, seed=0), 1, rng)
    _, y = windows.arrays()
    assert {2, 3} <= set(y.tolist()) and 1 not in y  # each bank label, and no speech in isolated recordings
    assert windows.sources == {"utterances": 0, "clips": 0, "isolated": 2, "speech_files": 0, "background": 2}


def test_the_same_seed_trains_the_same_detector(tiny_model) -> None:
    _, _, root = tiny_model
    options = {"bank_folders": [root], "include_packaged_bank": False, "isolated_per_label": 2, "background": 2,
               "copies": 1, "hidden": (8,), "seed": 3}  # fmt: skip
    a, b = train_detector([], **options), train_detector([], **options)
    c = train_detector([], **{**options, "seed": 4})
    feats, _ = audio_windows(np.random.default_rng(0).standard_normal(SR).astype(np.float32) * 0.1)
    np.testing.assert_array_equal(a.predict_proba(feats), b.predict_proba(feats))
    assert not np.array_equal(a.predict_proba(feats), c.predict_proba(feats))


def test_old_event_names_still_import():
    from emotionlayer import types
    from emotionlayer.paralinguistics.detection import detector

    assert types.Event is VocalEvent
    with pytest.warns(DeprecationWarning, match="VocalEventModel"):
        assert detector.EventDetector is VocalEventModel
