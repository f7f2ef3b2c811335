"""Other SER backends on tiny random models saved to disk: transformers audio classification, SSL
features (wav2vec2/HuBERT) with a trained head, eGeMAPS, and the feature-kind checks."""

from __future__ import annotations

import numpy as np
import pytest
import soundfile as sf

from emotionlayer.errors import ConfigError, ModelNotFoundError
from emotionlayer.labels import EMOTIONS
from emotionlayer.registry import create
from emotionlayer.types import Audio, EmotionPrediction

torch = pytest.importorskip("torch")


def _audio(seconds: float = 1.0, f0: float = 180.0, rate: int = 16000) -> Audio:
    t = np.arange(int(seconds * rate)) / rate
    rng = np.random.default_rng(int(f0))
    return Audio((0.3 * np.sin(2 * np.pi * f0 * t) + 0.02 * rng.standard_normal(t.size)).astype(np.float32), rate)


def _tiny_wav2vec2_kwargs() -> dict:
    return dict(
        hidden_size=32,
        num_hidden_layers=2,
        num_attention_heads=2,
        intermediate_size=64,
        conv_dim=(16, 16),
        conv_stride=(5, 4),
        conv_kernel=(10, 8),
        num_conv_pos_embeddings=16,
        num_conv_pos_embedding_groups=2,
        vocab_size=10,
    )


@pytest.fixture(scope="module")
def classifier_dir(tmp_path_factory):
    transformers = pytest.importorskip("transformers")
    folder = tmp_path_factory.mktemp("w2v2-cls")
    names = ["neu", "hap", "sad", "ang", "boredom"]
    config = transformers.Wav2Vec2Config(
        **_tiny_wav2vec2_kwargs(),
        num_labels=len(names),
        id2label=dict(enumerate(names)),
        label2id={n: i for i, n in enumerate(names)},
        classifier_proj_size=8,
    )
    torch.manual_seed(0)
    transformers.Wav2Vec2ForSequenceClassification(config).save_pretrained(folder)
    transformers.Wav2Vec2FeatureExtractor(sampling_rate=16000, return_attention_mask=True).save_pretrained(folder)
    return folder


def test_transformers_backend_maps_class_names_to_canonical_labels(classifier_dir):
    ser = create("ser", "transformers", model=str(classifier_dir), label_map={"boredom": "calm"})
    assert ser.labels == ["neutral", "happy", "sad", "angry", "calm"]
    prediction = ser.predict(_audio(1.0, rate=22050))
    assert isinstance(prediction, EmotionPrediction)
    assert set(prediction.probabilities) == {"neutral", "happy", "sad", "angry", "calm"}
    assert sum(prediction.probabilities.values()) == pytest.approx(1.0)
    # an untrained random head is close to uniform, but not exactly
    assert 0.1 < max(prediction.probabilities.values()) < 0.5
    assert prediction.model.startswith("transformers:")


def test_transformers_backend_drops_restricts_and_chunks(classifier_dir):
    dropped = create(
        "ser", "transformers", model=str(classifier_dir), label_map={"boredom": None}, labels=["happy", "sad"]
    )
    prediction = dropped.predict(_audio(2.5))
    assert set(prediction.probabilities) == {"happy", "sad"}
    chunked = create("ser", "transformers", model=str(classifier_dir), label_map={"boredom": None}, chunk_seconds=1.0)
    assert set(chunked.predict(_audio(2.5)).probabilities) == {"neutral", "happy", "sad", "angry"}


def test_transformers_backend_errors_say_how_to_fix(classifier_dir, tmp_path):
    with pytest.raises(ConfigError, match="label_map"):
        create("ser", "transformers", model=str(classifier_dir)).predict(_audio())
    with pytest.raises(ModelNotFoundError, match="save_pretrained"):
        create("ser", "transformers", model=str(tmp_path / "missing")).predict(_audio())


@pytest.fixture(scope="module")
def ssl_dir(tmp_path_factory):
    transformers = pytest.importorskip("transformers")
    folder = tmp_path_factory.mktemp("hubert")
    torch.manual_seed(0)
    transformers.HubertModel(transformers.HubertConfig(**_tiny_wav2vec2_kwargs())).save_pretrained(folder)
    return folder


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    root = tmp_path_factory.mktemp("ssl-corpus")
    lines = ["path,emotion,speaker"]
    for s in range(2):
        for i in range(3):
            for emotion, f0 in (("happy", 300.0), ("sad", 90.0)):
                name = f"{s}_{emotion}_{i}.wav"
                sf.write(root / name, _audio(0.5, f0 * (1 + 0.05 * i + 0.1 * s)).samples, 16000)
                lines.append(f"{name},{emotion},spk{s}")
    (root / "m.csv").write_text("\n".join(lines) + "\n")
    return root / "m.csv"


def test_ssl_features_train_save_and_serve(ssl_dir, corpus, tmp_path):
    from emotionlayer.ser.train import train_ser

    model, result = train_ser(
        corpus, out=tmp_path / "ssl-model", features=f"ssl:{ssl_dir}", cross_validate=True, progress=False
    )
    assert result.report.n == 12
    frames = model.members[0].features.extract_frames(_audio(1.0))
    assert frames.shape[0] == 3 and frames.shape[2] == 32  # embeddings + 2 layers, hidden size 32
    assert model.members[0].features.extract(_audio(1.0)).shape == (3 * 2 * 32,)
    ser = create("ser", "ssl", model=str(tmp_path / "ssl-model"))
    prediction = ser.predict(_audio(0.4, 280.0))
    assert set(prediction.probabilities) == {"happy", "sad"}
    with pytest.raises(ConfigError, match="not egemaps"):
        create("ser", "egemaps", model=str(tmp_path / "ssl-model")).predict(_audio())


def test_ssl_features_need_an_existing_folder(tmp_path):
    from emotionlayer.ser.features import SSLFeatures

    with pytest.raises(ModelNotFoundError, match="save_pretrained"):
        SSLFeatures(str(tmp_path / "nothing")).extract(_audio())


def test_egemaps_features_have_88_values_that_track_pitch():
    pytest.importorskip("opensmile")
    from emotionlayer.ser.features import EgemapsFeatures

    features = EgemapsFeatures()
    low, high = features.extract(_audio(1.0, 120.0)), features.extract(_audio(1.0, 240.0))
    assert low.shape == high.shape == (88,)
    assert np.all(np.isfinite(low))
    assert high[0] > low[0]  # F0semitoneFrom27.5Hz_sma3nz_amean


def test_feature_strings_parse_and_reject_unknown_names():
    from emotionlayer.ser.features import parse_feature_string

    assert parse_feature_string("whisper-base") == {"type": "whisper", "encoder": "base", "level_db": -35.0}
    assert parse_feature_string("whisper-tiny.en+egemaps") == {
        "type": "concat",
        "parts": [{"type": "whisper", "encoder": "tiny.en", "level_db": -35.0}, {"type": "egemaps"}],
    }
    assert parse_feature_string("ssl:some/folder") == {"type": "ssl", "model": "some/folder"}
    with pytest.raises(ConfigError, match="whisper-base"):
        parse_feature_string("mfcc")


def test_every_ser_backend_is_registered():
    from emotionlayer.registry import available

    assert {"default", "whisper", "egemaps", "ssl", "transformers"} <= set(available("ser"))
    assert len(EMOTIONS) == 8
