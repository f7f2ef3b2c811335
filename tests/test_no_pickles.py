"""No code runs on load: emotionlayer loads no pickle unless the user opts in, and says so when it refuses one.

Heads, checkpoints and caches are stored as npz / JSON / safetensors; pickled files from older versions
or other tools are refused with an :class:`UnsafeFileError` that names the file, says why and what to do.
"""

from __future__ import annotations

import ast
import pickle
from pathlib import Path

import numpy as np
import pytest

from emotionlayer.errors import EmotionLayerError, UnsafeFileError
from emotionlayer.files import check_not_pickle, check_weights_folder, is_pickle, pickle_files
from emotionlayer.ser.heads import AttentiveHead, SVMHead, build_head, load_head

PACKAGE = Path(__file__).resolve().parents[1] / "emotionlayer"


def _data(n_labels: int, seed: int = 0) -> tuple[np.ndarray, list[str]]:
    rng = np.random.default_rng(seed)
    labels = [f"label{i % n_labels}" for i in range(40 * n_labels)]
    x = np.stack([rng.standard_normal(5) + 1.5 * np.eye(5)[int(y[-1])] for y in labels])
    return x, labels


def _sklearn_svm(x: np.ndarray, labels: list[str]):
    from sklearn.calibration import CalibratedClassifierCV
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler
    from sklearn.svm import SVC

    svm = SVC(C=3.0, gamma="scale", class_weight="balanced", random_state=0)
    return make_pipeline(StandardScaler(), CalibratedClassifierCV(svm, ensemble=False, method="sigmoid")).fit(x, labels)


def test_is_pickle_looks_at_the_content_not_the_name(tmp_path):
    torch = pytest.importorskip("torch")
    torch.save({"w": torch.zeros(2)}, tmp_path / "a.bin")
    (tmp_path / "b.ckpt").write_bytes(pickle.dumps({"w": [1, 2]}))
    np.savez(tmp_path / "c.npz", w=np.zeros(2))
    (tmp_path / "model.bin").write_bytes(b"\x06\x00\x00\x00" + b"\x00" * 64)  # a CTranslate2 model.bin
    save_file = pytest.importorskip("safetensors.numpy").save_file

    save_file({"w": np.zeros(2, dtype=np.float32)}, str(tmp_path / "d.safetensors"))
    assert is_pickle(tmp_path / "a.bin") and is_pickle(tmp_path / "b.ckpt")
    assert not any(is_pickle(tmp_path / n) for n in ("c.npz", "model.bin", "d.safetensors", "missing.pt"))
    assert [p.name for p in pickle_files(tmp_path)] == ["a.bin", "b.ckpt"]


def test_the_refusal_names_the_file_says_why_and_what_to_do(tmp_path):
    path = tmp_path / "weights.pt"
    path.write_bytes(pickle.dumps([1]))
    with pytest.raises(UnsafeFileError) as info:
        check_not_pickle(path, "a test checkpoint", "Convert it to safetensors.")
    message = str(info.value)
    assert str(path) in message and "pickle" in message and "could run any code" in message
    assert message.endswith("Convert it to safetensors.")
    assert isinstance(info.value, EmotionLayerError)
    check_not_pickle(path, "a test checkpoint", "", allow_pickle=True)  # the user trusts it: no error


def test_a_transformers_folder_with_only_pickled_weights_is_refused(tmp_path):
    torch = pytest.importorskip("torch")
    (tmp_path / "config.json").write_text("{}")
    torch.save({"w": torch.zeros(2)}, tmp_path / "pytorch_model.bin")
    with pytest.raises(UnsafeFileError, match=r"pytorch_model\.bin.*save_pretrained\(\).*allow_pickle=True"):
        check_weights_folder(tmp_path, "a test model")
    check_weights_folder(tmp_path, "a test model", allow_pickle=True)
    save_file = pytest.importorskip("safetensors.numpy").save_file

    save_file({"w": np.zeros(2, dtype=np.float32)}, str(tmp_path / "model.safetensors"))
    check_weights_folder(tmp_path, "a test model")  # the loader is told to use the safetensors file


def test_transformers_ser_refuses_pickled_weights_unless_allowed(tmp_path):
    transformers = pytest.importorskip("transformers")
    torch = pytest.importorskip("torch")
    from safetensors.torch import load_file

    from emotionlayer.registry import create
    from emotionlayer.testing import tone

    config = transformers.Wav2Vec2Config(
        hidden_size=16,
        num_hidden_layers=1,
        num_attention_heads=2,
        intermediate_size=32,
        conv_dim=(8, 8),
        conv_stride=(5, 4),
        conv_kernel=(10, 8),
        num_conv_pos_embeddings=8,
        num_conv_pos_embedding_groups=2,
        vocab_size=10,
        num_labels=2,
        id2label={0: "neu", 1: "hap"},
        label2id={"neu": 0, "hap": 1},
        classifier_proj_size=4,
    )
    torch.manual_seed(0)
    transformers.Wav2Vec2ForSequenceClassification(config).save_pretrained(tmp_path)
    transformers.Wav2Vec2FeatureExtractor(sampling_rate=16000).save_pretrained(tmp_path)
    safe = create("ser", "transformers", model=str(tmp_path)).predict(tone(1.0))
    # the same weights as a pickle, the way older checkpoints are published
    torch.save(load_file(str(tmp_path / "model.safetensors")), tmp_path / "pytorch_model.bin")
    (tmp_path / "model.safetensors").unlink()
    from emotionlayer.components.ser import hf_audio_classification

    hf_audio_classification._CACHE.clear()
    with pytest.raises(UnsafeFileError, match="pytorch_model.bin"):
        create("ser", "transformers", model=str(tmp_path)).predict(tone(1.0))
    trusted = create("ser", "transformers", model=str(tmp_path), allow_pickle=True).predict(tone(1.0))
    assert trusted.probabilities == pytest.approx(safe.probabilities)


@pytest.mark.parametrize("n_labels", [2, 4])
def test_the_svm_head_applies_its_arrays_exactly_as_scikit_learn_does(n_labels):
    x, labels = _data(n_labels)
    model = _sklearn_svm(x, labels)
    head = SVMHead().set_from_sklearn(model)
    probe = np.random.default_rng(1).standard_normal((60, 5)) * 2.0
    np.testing.assert_allclose(head.predict_proba(probe), model.predict_proba(probe), atol=1e-9)
    assert head.labels == [str(c) for c in model.classes_]


def test_a_trained_svm_head_saves_arrays_and_loads_without_pickle(tmp_path):
    x, labels = _data(3)
    head = SVMHead().fit(x, labels)
    head.save(tmp_path)
    assert [p.name for p in tmp_path.iterdir()] == ["head_svm.npz"] and pickle_files(tmp_path, (".npz",)) == []
    again = load_head(head.spec, head.labels, tmp_path)
    np.testing.assert_allclose(again.predict_proba(x), head.predict_proba(x))


def test_a_pickled_svm_head_is_refused_and_can_be_converted_by_its_owner(tmp_path):
    x, labels = _data(3)
    model = _sklearn_svm(x, labels)
    (tmp_path / "head_svm.pkl").write_bytes(pickle.dumps(model))  # what older versions wrote
    with pytest.raises(UnsafeFileError, match=r"head_svm\.pkl.*pickle.*set_from_sklearn"):
        load_head({"type": "svm"}, sorted(set(labels)), tmp_path)
    # the owner, trusting their own file, converts it once
    SVMHead().set_from_sklearn(pickle.loads((tmp_path / "head_svm.pkl").read_bytes())).save(tmp_path)
    converted = load_head({"type": "svm"}, sorted(set(labels)), tmp_path)
    np.testing.assert_allclose(converted.predict_proba(x), model.predict_proba(x), atol=1e-9)


def test_the_attentive_head_saves_arrays_and_refuses_a_torch_pickle(tmp_path):
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(0)
    labels = ["a", "b"] * 6
    frames = [rng.standard_normal((2, 6, 4)).astype(np.float32) + (y == "a") for y in labels]
    head = AttentiveHead(epochs=2, hidden=8, batch_size=4).fit(frames, labels)
    head.save(tmp_path)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["head_attentive.json", "head_attentive.npz"]
    again = build_head(head.spec)
    again.labels = head.labels
    np.testing.assert_allclose(
        again.load_weights(tmp_path).predict_proba(frames), head.predict_proba(frames), atol=1e-6
    )
    legacy = tmp_path / "legacy"
    legacy.mkdir()
    (legacy / "head_attentive.json").write_text((tmp_path / "head_attentive.json").read_text())
    torch.save(head.module.state_dict(), legacy / "head_attentive.pt")  # what older versions wrote
    with pytest.raises(UnsafeFileError, match=r"head_attentive\.pt.*pickle.*head_attentive\.npz"):
        load_head(head.spec, head.labels, legacy)


def _calls(tree: ast.AST) -> list[tuple[str, ast.Call]]:
    """Every call in ``tree`` with its dotted function name (``torch.load``, ``np.load``...)."""
    out = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Call):
            parts = []
            func = node.func
            while isinstance(func, ast.Attribute):
                parts.append(func.attr)
                func = func.value
            if isinstance(func, ast.Name):
                parts.append(func.id)
            out.append((".".join(reversed(parts)), node))
    return out


def test_the_library_source_loads_no_pickle_unguarded():
    """Every call that could unpickle is listed here, and each is behind an explicit opt-in."""
    allowed = {
        # torch.load(weights_only=True) of .pt / .bin files, reached only with allow_pickle=True
        ("components/tts/f5.py", "torch.load"): 2,
        # openai-whisper's own loader for .pt checkpoints, reached only with allow_pickle=True
        ("components/asr/openai_whisper.py", "whisper.load_model"): 1,
    }
    unpickling = {
        "pickle.load",
        "pickle.loads",
        "joblib.load",
        "torch.load",
        "whisper.load_model",
        "cloudpickle.load",
        "dill.load",
    }
    found: dict[tuple[str, str], int] = {}
    for path in PACKAGE.rglob("*.py"):
        rel = path.relative_to(PACKAGE).as_posix()
        for name, call in _calls(ast.parse(path.read_text(encoding="utf-8"))):
            if name in unpickling:
                found[(rel, name)] = found.get((rel, name), 0) + 1
            if name in ("np.load", "numpy.load"):
                keywords = {k.arg: k.value for k in call.keywords}
                flag = keywords.get("allow_pickle")
                assert isinstance(flag, ast.Constant) and flag.value is False, (
                    f"{rel}: np.load needs allow_pickle=False"
                )
            if name == "torch.load":
                keywords = {k.arg: k.value for k in call.keywords}
                flag = keywords.get("weights_only")
                assert isinstance(flag, ast.Constant) and flag.value is True, (
                    f"{rel}: torch.load needs weights_only=True"
                )
    assert found == allowed


def test_silero_vad_is_loaded_from_onnx_not_its_torchscript_pickle():
    text = (PACKAGE / "components" / "vad" / "silero.py").read_text(encoding="utf-8")
    assert "load_silero_vad(onnx=True)" in text and ".jit" not in text.replace("``.jit``", "")
