"""Multi-corpus SER head (masked softmax, layer weights, non-speech to uniform), calibration error, augmentations."""

from __future__ import annotations

import numpy as np
import pytest

from emotionlayer.types import Audio

pytest.importorskip("torch")


def _data(seed: int = 0):
    """Two corpora with different label sets; label signal in layer 1 only."""
    rng = np.random.default_rng(seed)
    labels, corpora, stats = [], [], []
    centres = {label: rng.standard_normal(16) * 2 for label in ("neutral", "happy", "sad", "angry", "calm")}
    for corpus, names in (
        ("ravdess", ("neutral", "happy", "sad", "angry", "calm")),
        ("urdu", ("neutral", "happy", "sad", "angry")),
    ):
        for label in names:
            for _ in range(20):
                x = rng.standard_normal((3, 16))
                x[1] += centres[label]
                stats.append(x)
                labels.append(label)
                corpora.append(corpus)
    return np.stack(stats).astype(np.float32), labels, corpora


def test_head_learns_exports_as_logistic_head_and_weights_the_informative_layer():
    from emotionlayer.ser.heads import LogisticHead
    from emotionlayer.ser.multicorpus import MultiCorpusRecipe, fit_multicorpus_head

    x, labels, corpora = _data()
    head = fit_multicorpus_head(x, labels, corpora, MultiCorpusRecipe(steps=200, lr=0.05))
    assert isinstance(head, LogisticHead)
    assert head.coef.shape == (8, 3 * 16)  # every canonical label, all layers side by side
    probs = head.predict_proba(x.reshape(len(x), -1))
    predicted = [head.labels[i] for i in probs.argmax(axis=1)]
    assert np.mean([p == t for p, t in zip(predicted, labels, strict=True)]) > 0.9
    assert int(np.argmax(head.layer_mix)) == 1
    # labels no corpus has (fearful...) are never the answer on real data
    assert set(predicted) <= set(labels)


def test_non_speech_is_pushed_towards_uniform():
    from emotionlayer.ser.multicorpus import MultiCorpusRecipe, fit_multicorpus_head

    x, labels, corpora = _data()
    rng = np.random.default_rng(5)
    noise = (rng.standard_normal((40, 3, 16)) + 6.0).astype(np.float32)  # far from every speech clip
    plain = fit_multicorpus_head(x, labels, corpora, MultiCorpusRecipe(steps=200, lr=0.05))
    exposed = fit_multicorpus_head(
        x, labels, corpora, MultiCorpusRecipe(steps=200, lr=0.05, nonspeech_weight=1.0), nonspeech=noise
    )
    test = (rng.standard_normal((10, 3, 16)) + 6.0).reshape(10, -1)
    assert exposed.predict_proba(test).max(axis=1).mean() < plain.predict_proba(test).max(axis=1).mean()
    assert exposed.predict_proba(test).max(axis=1).mean() < 0.4


def test_calibration_error():
    from emotionlayer.ser.multicorpus import calibration_error, expected_calibration_error

    assert calibration_error([0.9, 0.9], [True, True]) == pytest.approx(0.1)
    assert calibration_error([1.0, 1.0], [True, True]) == pytest.approx(0.0)
    table = np.array([[0.8, 0.2], [0.3, 0.7]])
    assert expected_calibration_error(table, [0, 0]) == pytest.approx(0.5 * 0.2 + 0.5 * 0.7)


@pytest.mark.parametrize("name", ["reverb", "codec"])
def test_new_augmentations_keep_length_and_rate(name):
    from emotionlayer.ser.augment import augment

    t = np.arange(16000) / 16000
    audio = Audio((0.3 * np.sin(2 * np.pi * 200 * t)).astype(np.float32), 16000)
    out = augment(audio, [name], np.random.default_rng(0))
    assert out.sample_rate == 16000
    assert abs(len(out.samples) - len(audio.samples)) <= 2
    assert np.all(np.isfinite(out.samples)) and np.abs(out.samples).max() <= 1.0
    assert not np.allclose(out.samples[: len(audio.samples) - 2], audio.samples[: len(audio.samples) - 2])


def test_the_head_steps_standardise_clip_and_mask_the_labels_a_corpus_lacks():
    from emotionlayer.ser.multicorpus import corpus_label_sets, feature_scaling, standardised

    x = np.array([[[0.0, 5.0]], [[2.0, 5.0]], [[100.0, 5.0]]], dtype=np.float32)
    mean, scale = feature_scaling(x)
    assert mean.tolist() == pytest.approx([34.0, 5.0]) and scale[1] == 1.0  # a constant feature is not divided
    z = standardised(x, mean, scale, clip=1.0)
    assert z.shape == x.shape and z.dtype == np.float32
    deviation = np.sqrt((34**2 + 32**2 + 66**2) / 3)
    assert z[:, 0, 0].tolist() == pytest.approx([-34 / deviation, -32 / deviation, 1.0])  # the last one clipped
    assert z[:, 0, 1].tolist() == [0, 0, 0]
    sets = corpus_label_sets(["happy", "calm", "happy"], ["urdu", "mine", "mine"])
    assert sets == {"urdu": {"neutral", "happy", "sad", "angry"}, "mine": {"calm", "happy"}}
