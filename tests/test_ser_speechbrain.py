"""The SpeechBrain EncoderClassifier backend on a tiny random x-vector classifier written to disk."""

from __future__ import annotations

import numpy as np
import pytest

from emotionlayer.errors import ConfigError, ModelNotFoundError
from emotionlayer.registry import create
from emotionlayer.types import Audio

pytest.importorskip("speechbrain")
torch = pytest.importorskip("torch")

HPARAMS = """
n_mels: 20
pretrained_path: !PLACEHOLDER
compute_features: !new:speechbrain.lobes.features.Fbank
    n_mels: !ref <n_mels>
mean_var_norm: !new:speechbrain.processing.features.InputNormalization
    norm_type: sentence
    std_norm: False
embedding_model: !new:speechbrain.lobes.models.Xvector.Xvector
    in_channels: !ref <n_mels>
    tdnn_blocks: 2
    tdnn_channels: [16, 24]
    tdnn_kernel_sizes: [3, 1]
    tdnn_dilations: [1, 1]
    lin_neurons: 12
classifier: !new:speechbrain.lobes.models.Xvector.Classifier
    input_shape: [null, null, 12]
    lin_blocks: 1
    lin_neurons: 12
    out_neurons: 4
label_encoder: !new:speechbrain.dataio.encoder.CategoricalEncoder
modules:
    compute_features: !ref <compute_features>
    mean_var_norm: !ref <mean_var_norm>
    embedding_model: !ref <embedding_model>
    classifier: !ref <classifier>
pretrainer: !new:speechbrain.utils.parameter_transfer.Pretrainer
    loadables:
        embedding_model: !ref <embedding_model>
        classifier: !ref <classifier>
        label_encoder: !ref <label_encoder>
    paths:
        embedding_model: !ref <pretrained_path>/embedding_model.ckpt
        classifier: !ref <pretrained_path>/classifier.ckpt
        label_encoder: !ref <pretrained_path>/label_encoder.txt
"""


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory):
    from hyperpyyaml import load_hyperpyyaml

    folder = tmp_path_factory.mktemp("sb-ser")
    text = HPARAMS.replace("!PLACEHOLDER", str(folder))
    (folder / "hyperparams.yaml").write_text(text)
    torch.manual_seed(0)
    hparams = load_hyperpyyaml(text)
    feats = hparams["compute_features"](torch.randn(2, 16000))
    emb = hparams["embedding_model"](feats)
    hparams["classifier"](emb)  # build lazy layers, then save random weights
    hparams["embedding_model"].eval()
    torch.save(hparams["embedding_model"].state_dict(), folder / "embedding_model.ckpt")
    torch.save(hparams["classifier"].state_dict(), folder / "classifier.ckpt")
    encoder = hparams["label_encoder"]
    encoder.update_from_iterable(["neu", "hap", "sad", "ang"])
    encoder.save(folder / "label_encoder.txt")
    return folder


def _audio() -> Audio:
    t = np.arange(16000) / 16000
    return Audio((0.3 * np.sin(2 * np.pi * 180 * t)).astype(np.float32), 16000)


def test_predicts_canonical_labels_from_a_local_folder(model_dir):
    ser = create("ser", "speechbrain", model=str(model_dir), allow_pickle=True)  # we wrote it: trusted
    assert sorted(ser.labels) == ["angry", "happy", "neutral", "sad"]
    prediction = ser.predict(_audio().resample(22050))
    assert set(prediction.probabilities) == {"angry", "happy", "neutral", "sad"}
    assert sum(prediction.probabilities.values()) == pytest.approx(1.0)
    assert prediction.model == f"speechbrain:{model_dir.name}"
    restricted = create("ser", "speechbrain", model=str(model_dir), labels=["happy", "sad"], allow_pickle=True).predict(
        _audio()
    )
    assert set(restricted.probabilities) == {"happy", "sad"}


def test_refuses_folders_with_python_code_unless_allowed(model_dir, tmp_path):
    import shutil

    copy = tmp_path / "with-code"
    shutil.copytree(model_dir, copy)
    (copy / "custom_interface.py").write_text("raise SystemExit('must not run')\n")
    with pytest.raises(ConfigError, match="allow_custom_code"):
        create("ser", "speechbrain", model=str(copy), allow_pickle=True).predict(_audio())


def test_missing_folder_says_what_is_needed(tmp_path):
    with pytest.raises(ModelNotFoundError, match="hyperparams.yaml"):
        create("ser", "speechbrain", model=str(tmp_path)).predict(_audio())


def test_refuses_pickled_checkpoints_unless_allowed(model_dir):
    from emotionlayer.errors import UnsafeFileError

    with pytest.raises(UnsafeFileError, match=r"classifier\.ckpt.*pickle.*allow_pickle=True"):
        create("ser", "speechbrain", model=str(model_dir)).predict(_audio())
