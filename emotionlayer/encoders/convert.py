"""Read CTranslate2 whisper weights and convert them for openai-whisper and transformers.

The packaged whisper models ship only in CTranslate2 format (``model.bin``). This module reads that file
with NumPy alone (its layout: a version, the spec name, then each variable as name, shape, dtype and raw
bytes, then aliases) and rewrites the weights as

* an openai-whisper checkpoint (``{"dims": ..., "model_state_dict": ...}``) that
  ``whisper.load_model(path)`` loads: :func:`convert_ct2_to_openai_whisper`;
* a transformers ``WhisperForConditionalGeneration`` folder with its processor:
  :func:`convert_ct2_to_transformers`.

CTranslate2 fuses the self-attention query/key/value projections into one matrix (and the
cross-attention key/value into another); the converters split them again. Whisper's key projections
have no bias, so the fused bias's key part is zero and is dropped.
"""

from __future__ import annotations

import json
import os
import struct
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, BinaryIO

import numpy as np

from ...errors import ConfigError, ModelNotFoundError

# Order of CTranslate2's DataType enum (include/ctranslate2/types.h).
_CT2_DTYPES: dict[int, str] = {0: "float32", 1: "int8", 2: "int16", 3: "int32", 4: "float16", 5: "bfloat16"}


def _read_string(f: BinaryIO) -> str:
    (length,) = struct.unpack("<H", f.read(2))
    return f.read(length).rstrip(b"\0").decode("utf-8")


def read_ct2_model(path: str | os.PathLike) -> tuple[str, dict[str, np.ndarray]]:
    """Read every variable of a CTranslate2 ``model.bin``.

    Args:
        path: The ``model.bin`` file or the folder that holds it.

    Returns:
        ``(spec_name, variables)``: the spec name (e.g. ``"WhisperSpec"``) and a dict from variable name
        (``"encoder/layer_0/self_attention/linear_0/weight"``) to array. bfloat16 arrays are returned as
        float32; int8 weights are dequantized with their ``*_scale``; aliases are resolved.

    Raises:
        ModelNotFoundError: the file does not exist or is not a CTranslate2 model.
    """
    file = Path(path)
    if file.is_dir():
        file = file / "model.bin"
    if not file.is_file():
        raise ModelNotFoundError(f"No CTranslate2 model.bin at {file}. Pass a CTranslate2 whisper folder.")
    variables: dict[str, np.ndarray] = {}
    with open(file, "rb") as f:
        (version,) = struct.unpack("<I", f.read(4))
        if not 3 <= version <= 6:
            raise ModelNotFoundError(f"{file} has CTranslate2 binary version {version}; versions 3-6 are supported.")
        spec = _read_string(f)
        struct.unpack("<I", f.read(4))  # spec revision
        (count,) = struct.unpack("<I", f.read(4))
        for _ in range(count):
            name = _read_string(f)
            (rank,) = struct.unpack("<B", f.read(1))
            shape = struct.unpack(f"<{rank}I", f.read(4 * rank)) if rank else ()
            if version >= 4:
                type_id, num_bytes = struct.unpack("<BI", f.read(5))
            else:
                (item_size,) = struct.unpack("<B", f.read(1))
                type_id = {4: 0, 1: 1, 2: 2}.get(item_size, 0)
                num_bytes = item_size * int(np.prod(shape, dtype=np.int64))
            raw = f.read(num_bytes)
            dtype = _CT2_DTYPES.get(type_id)
            if dtype is None:
                raise ModelNotFoundError(f"{file}: variable {name} has unsupported CTranslate2 type id {type_id}.")
            if dtype == "bfloat16":
                array = (np.frombuffer(raw, dtype=np.uint16).astype(np.uint32) << 16).view(np.float32)
            else:
                array = np.frombuffer(raw, dtype=dtype)
            variables[name] = array.reshape(shape)
        (n_alias,) = struct.unpack("<I", f.read(4)) if version >= 3 else (0,)
        for _ in range(n_alias):
            alias = _read_string(f)
            target = _read_string(f)
            if target in variables:
                variables[alias] = variables[target]
    for name in [n for n in variables if n.endswith("/weight_scale")]:
        weight_name = name[: -len("_scale")]
        weight = variables.get(weight_name)
        if weight is not None and weight.dtype in (np.int8, np.int16):
            scale = variables[name].astype(np.float32)
            variables[weight_name] = weight.astype(np.float32) / scale.reshape(-1, *([1] * (weight.ndim - 1)))
    return spec, variables


@dataclass(frozen=True)
class WhisperDims:
    """The dimensions of a whisper model, named as openai-whisper's ``ModelDimensions``."""

    n_mels: int
    n_audio_ctx: int
    n_audio_state: int
    n_audio_head: int
    n_audio_layer: int
    n_vocab: int
    n_text_ctx: int
    n_text_state: int
    n_text_head: int
    n_text_layer: int


def _count_layers(variables: dict[str, np.ndarray], prefix: str) -> int:
    n = 0
    while f"{prefix}/layer_{n}/ffn/linear_0/weight" in variables:
        n += 1
    return n


def _heads(variables: dict[str, np.ndarray], prefix: str, d_model: int) -> int:
    value = variables.get(f"{prefix}/num_heads")
    if value is not None:
        return int(np.asarray(value).reshape(-1)[0])
    return d_model // 64  # every whisper size uses 64-dimensional heads


def whisper_dims(variables: dict[str, np.ndarray]) -> WhisperDims:
    """Infer a whisper model's dimensions from its CTranslate2 variables."""
    conv1 = variables["encoder/conv1/weight"]
    enc_pos = variables["encoder/position_encodings/encodings"]
    dec_pos = variables["decoder/position_encodings/encodings"]
    emb = variables["decoder/embeddings/weight"]
    return WhisperDims(
        n_mels=int(conv1.shape[1]),
        n_audio_ctx=int(enc_pos.shape[0]),
        n_audio_state=int(conv1.shape[0]),
        n_audio_head=_heads(variables, "encoder", int(conv1.shape[0])),
        n_audio_layer=_count_layers(variables, "encoder"),
        n_vocab=int(emb.shape[0]),
        n_text_ctx=int(dec_pos.shape[0]),
        n_text_state=int(emb.shape[1]),
        n_text_head=_heads(variables, "decoder", int(emb.shape[1])),
        n_text_layer=_count_layers(variables, "decoder"),
    )


def _f32(array: np.ndarray) -> np.ndarray:
    return np.ascontiguousarray(array, dtype=np.float32)


def _split_rows(array: np.ndarray, parts: int) -> list[np.ndarray]:
    return [_f32(a) for a in np.split(array, parts, axis=0)]


def _attention(v: dict[str, np.ndarray], prefix: str, cross: bool) -> dict[str, np.ndarray]:
    """Split a CTranslate2 attention block into q, k, v, out weights/biases (generic names)."""
    out: dict[str, np.ndarray] = {}
    if cross:
        out["q.weight"] = _f32(v[f"{prefix}/linear_0/weight"])
        out["q.bias"] = _f32(v[f"{prefix}/linear_0/bias"])
        kw, vw = _split_rows(v[f"{prefix}/linear_1/weight"], 2)
        kb, vb = _split_rows(v[f"{prefix}/linear_1/bias"], 2)
        last = 2
    else:
        qw, kw, vw = _split_rows(v[f"{prefix}/linear_0/weight"], 3)
        qb, kb, vb = _split_rows(v[f"{prefix}/linear_0/bias"], 3)
        out["q.weight"], out["q.bias"] = qw, qb
        last = 1
    out["k.weight"] = kw
    out["k.bias"] = kb  # zero in whisper; kept so callers can check
    out["v.weight"], out["v.bias"] = vw, vb
    out["o.weight"] = _f32(v[f"{prefix}/linear_{last}/weight"])
    out["o.bias"] = _f32(v[f"{prefix}/linear_{last}/bias"])
    out["ln.weight"] = _f32(v[f"{prefix}/layer_norm/gamma"])
    out["ln.bias"] = _f32(v[f"{prefix}/layer_norm/beta"])
    return out


def _load_ct2(model: str | os.PathLike) -> tuple[Path, dict[str, np.ndarray], dict[str, Any]]:
    from ._common import resolve_ct2_model

    folder = resolve_ct2_model(str(model))
    if not isinstance(folder, Path):
        raise ModelNotFoundError(
            f"{model!r} is neither a packaged whisper model ('tiny.en', 'base') nor a CTranslate2 whisper folder."
        )
    spec, variables = read_ct2_model(folder)
    if "Whisper" not in spec:
        raise ModelNotFoundError(f"{folder} holds a CTranslate2 {spec}, not a whisper model.")
    config_file = folder / "config.json"
    config = json.loads(config_file.read_text()) if config_file.is_file() else {}
    return folder, variables, config


def openai_whisper_state_dict(variables: dict[str, np.ndarray]) -> tuple[WhisperDims, dict[str, np.ndarray]]:
    """Map CTranslate2 whisper variables to an openai-whisper ``Whisper`` state dict (NumPy arrays)."""
    dims = whisper_dims(variables)
    sd: dict[str, np.ndarray] = {}
    for i in (1, 2):
        sd[f"encoder.conv{i}.weight"] = _f32(variables[f"encoder/conv{i}/weight"])
        sd[f"encoder.conv{i}.bias"] = _f32(variables[f"encoder/conv{i}/bias"])
    sd["encoder.positional_embedding"] = _f32(variables["encoder/position_encodings/encodings"])
    sd["encoder.ln_post.weight"] = _f32(variables["encoder/layer_norm/gamma"])
    sd["encoder.ln_post.bias"] = _f32(variables["encoder/layer_norm/beta"])
    sd["decoder.token_embedding.weight"] = _f32(variables["decoder/embeddings/weight"])
    sd["decoder.positional_embedding"] = _f32(variables["decoder/position_encodings/encodings"])
    sd["decoder.ln.weight"] = _f32(variables["decoder/layer_norm/gamma"])
    sd["decoder.ln.bias"] = _f32(variables["decoder/layer_norm/beta"])

    def put_attention(dst: str, ln: str, parts: dict[str, np.ndarray]) -> None:
        for ours, theirs in (("q", "query"), ("v", "value"), ("o", "out")):
            sd[f"{dst}.{theirs}.weight"] = parts[f"{ours}.weight"]
            sd[f"{dst}.{theirs}.bias"] = parts[f"{ours}.bias"]
        sd[f"{dst}.key.weight"] = parts["k.weight"]
        sd[f"{ln}.weight"], sd[f"{ln}.bias"] = parts["ln.weight"], parts["ln.bias"]

    def put_mlp(dst: str, src: str) -> None:
        sd[f"{dst}.mlp.0.weight"] = _f32(variables[f"{src}/ffn/linear_0/weight"])
        sd[f"{dst}.mlp.0.bias"] = _f32(variables[f"{src}/ffn/linear_0/bias"])
        sd[f"{dst}.mlp.2.weight"] = _f32(variables[f"{src}/ffn/linear_1/weight"])
        sd[f"{dst}.mlp.2.bias"] = _f32(variables[f"{src}/ffn/linear_1/bias"])
        sd[f"{dst}.mlp_ln.weight"] = _f32(variables[f"{src}/ffn/layer_norm/gamma"])
        sd[f"{dst}.mlp_ln.bias"] = _f32(variables[f"{src}/ffn/layer_norm/beta"])

    for i in range(dims.n_audio_layer):
        src, dst = f"encoder/layer_{i}", f"encoder.blocks.{i}"
        put_attention(f"{dst}.attn", f"{dst}.attn_ln", _attention(variables, f"{src}/self_attention", cross=False))
        put_mlp(dst, src)
    for i in range(dims.n_text_layer):
        src, dst = f"decoder/layer_{i}", f"decoder.blocks.{i}"
        put_attention(f"{dst}.attn", f"{dst}.attn_ln", _attention(variables, f"{src}/self_attention", cross=False))
        put_attention(
            f"{dst}.cross_attn", f"{dst}.cross_attn_ln", _attention(variables, f"{src}/attention", cross=True)
        )
        put_mlp(dst, src)
    return dims, sd


def convert_ct2_to_openai_whisper(
    model: str | os.PathLike, output: str | os.PathLike, dtype: str = "float16"
) -> Path:
    """Write a CTranslate2 whisper model as a checkpoint that ``whisper.load_model(output)`` loads.

    Args:
        model: A packaged model name (``"tiny.en"``, ``"base"``) or a CTranslate2 whisper folder.
        output: The ``.pt`` file to write (its folder is created). Written atomically.
        dtype: ``"float16"`` (like openai's own checkpoints; lossless for the packaged float16 weights)
            or ``"float32"``. ``load_model`` casts to float32 either way.

    Returns:
        The path of the checkpoint.

    Example:
        >>> path = convert_ct2_to_openai_whisper("tiny.en", "models/tiny.en.pt")  # doctest: +SKIP
        >>> whisper.load_model(path)  # doctest: +SKIP
    """
    import torch

    if dtype not in ("float16", "float32"):
        raise ConfigError(f"dtype must be 'float16' or 'float32', got {dtype!r}.")
    folder, variables, config = _load_ct2(model)
    dims, sd = openai_whisper_state_dict(variables)
    checkpoint: dict[str, Any] = {
        "dims": asdict(dims),
        "model_state_dict": {k: torch.from_numpy(v.astype(dtype)) for k, v in sd.items()},
    }
    heads = config.get("alignment_heads")
    if heads:
        mask = np.zeros((dims.n_text_layer, dims.n_text_head), dtype=bool)
        for layer, head in heads:
            mask[layer, head] = True
        checkpoint["alignment_heads"] = torch.from_numpy(mask)
    target = Path(output).expanduser()
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.with_name(f".{target.name}.part")
    torch.save(checkpoint, tmp)
    os.replace(tmp, target)
    return target


def _special_ids(tokenizer_file: Path) -> dict[str, int]:
    data = json.loads(tokenizer_file.read_text(encoding="utf-8"))
    return {tok["content"]: int(tok["id"]) for tok in data.get("added_tokens", [])}


def transformers_state_dict(variables: dict[str, np.ndarray]) -> tuple[WhisperDims, dict[str, np.ndarray]]:
    """Map CTranslate2 whisper variables to a transformers ``WhisperForConditionalGeneration`` state dict."""
    dims = whisper_dims(variables)
    sd: dict[str, np.ndarray] = {}
    for i in (1, 2):
        sd[f"model.encoder.conv{i}.weight"] = _f32(variables[f"encoder/conv{i}/weight"])
        sd[f"model.encoder.conv{i}.bias"] = _f32(variables[f"encoder/conv{i}/bias"])
    sd["model.encoder.embed_positions.weight"] = _f32(variables["encoder/position_encodings/encodings"])
    sd["model.encoder.layer_norm.weight"] = _f32(variables["encoder/layer_norm/gamma"])
    sd["model.encoder.layer_norm.bias"] = _f32(variables["encoder/layer_norm/beta"])
    sd["model.decoder.embed_tokens.weight"] = _f32(variables["decoder/embeddings/weight"])
    sd["model.decoder.embed_positions.weight"] = _f32(variables["decoder/position_encodings/encodings"])
    sd["model.decoder.layer_norm.weight"] = _f32(variables["decoder/layer_norm/gamma"])
    sd["model.decoder.layer_norm.bias"] = _f32(variables["decoder/layer_norm/beta"])

    def put_attention(dst: str, ln: str, parts: dict[str, np.ndarray]) -> None:
        for ours, theirs in (("q", "q_proj"), ("v", "v_proj"), ("o", "out_proj")):
            sd[f"{dst}.{theirs}.weight"] = parts[f"{ours}.weight"]
            sd[f"{dst}.{theirs}.bias"] = parts[f"{ours}.bias"]
        sd[f"{dst}.k_proj.weight"] = parts["k.weight"]
        sd[f"{ln}.weight"], sd[f"{ln}.bias"] = parts["ln.weight"], parts["ln.bias"]

    def put_mlp(dst: str, src: str) -> None:
        sd[f"{dst}.fc1.weight"] = _f32(variables[f"{src}/ffn/linear_0/weight"])
        sd[f"{dst}.fc1.bias"] = _f32(variables[f"{src}/ffn/linear_0/bias"])
        sd[f"{dst}.fc2.weight"] = _f32(variables[f"{src}/ffn/linear_1/weight"])
        sd[f"{dst}.fc2.bias"] = _f32(variables[f"{src}/ffn/linear_1/bias"])
        sd[f"{dst}.final_layer_norm.weight"] = _f32(variables[f"{src}/ffn/layer_norm/gamma"])
        sd[f"{dst}.final_layer_norm.bias"] = _f32(variables[f"{src}/ffn/layer_norm/beta"])

    for i in range(dims.n_audio_layer):
        src, dst = f"encoder/layer_{i}", f"model.encoder.layers.{i}"
        put_attention(
            f"{dst}.self_attn", f"{dst}.self_attn_layer_norm", _attention(variables, f"{src}/self_attention", cross=False)
        )
        put_mlp(dst, src)
    for i in range(dims.n_text_layer):
        src, dst = f"decoder/layer_{i}", f"model.decoder.layers.{i}"
        put_attention(
            f"{dst}.self_attn", f"{dst}.self_attn_layer_norm", _attention(variables, f"{src}/self_attention", cross=False)
        )
        put_attention(
            f"{dst}.encoder_attn", f"{dst}.encoder_attn_layer_norm", _attention(variables, f"{src}/attention", cross=True)
        )
        put_mlp(dst, src)
    return dims, sd


def convert_ct2_to_transformers(model: str | os.PathLike, output_dir: str | os.PathLike) -> Path:
    """Write a CTranslate2 whisper model as a transformers model folder with its processor.

    The folder loads with ``WhisperForConditionalGeneration.from_pretrained``,
    ``WhisperProcessor.from_pretrained`` and ``transformers.pipeline("automatic-speech-recognition", ...)``,
    all offline. The generation config (language and task tokens, timestamp tokens, suppressed tokens,
    alignment heads) is rebuilt from the CTranslate2 ``config.json`` and ``tokenizer.json``.

    Args:
        model: A packaged model name (``"tiny.en"``, ``"base"``) or a CTranslate2 whisper folder.
        output_dir: The folder to write (created; files in it are overwritten).

    Returns:
        The output folder.
    """
    import torch
    from transformers import (
        GenerationConfig,
        WhisperConfig,
        WhisperFeatureExtractor,
        WhisperForConditionalGeneration,
        WhisperProcessor,
        WhisperTokenizer,
    )

    folder, variables, config = _load_ct2(model)
    dims, sd = transformers_state_dict(variables)
    tokenizer_file = folder / "tokenizer.json"
    if not tokenizer_file.is_file():
        raise ModelNotFoundError(f"{folder} has no tokenizer.json; it is needed to build the transformers tokenizer.")
    ids = _special_ids(tokenizer_file)
    multilingual = dims.n_vocab >= 51865
    eot, sot = ids["<|endoftext|>"], ids["<|startoftranscript|>"]
    no_timestamps = ids["<|notimestamps|>"]
    ffn_dim = int(variables["encoder/layer_0/ffn/linear_0/weight"].shape[0])
    suppress = [int(i) for i in config.get("suppress_ids", [])]
    begin_suppress = [int(i) for i in config.get("suppress_ids_begin", [220, eot])]
    hf_config = WhisperConfig(
        vocab_size=dims.n_vocab,
        num_mel_bins=dims.n_mels,
        d_model=dims.n_audio_state,
        encoder_layers=dims.n_audio_layer,
        encoder_attention_heads=dims.n_audio_head,
        decoder_layers=dims.n_text_layer,
        decoder_attention_heads=dims.n_text_head,
        encoder_ffn_dim=ffn_dim,
        decoder_ffn_dim=ffn_dim,
        max_source_positions=dims.n_audio_ctx,
        max_target_positions=dims.n_text_ctx,
        pad_token_id=eot,
        bos_token_id=eot,
        eos_token_id=eot,
        decoder_start_token_id=sot,
        tie_word_embeddings=True,
    )
    # Suppressed tokens live in the generation config only (setting both makes transformers warn).
    hf_config.suppress_tokens = None
    hf_config.begin_suppress_tokens = None
    hf_model = WhisperForConditionalGeneration(hf_config)
    state = {k: torch.from_numpy(v) for k, v in sd.items()}
    missing, unexpected = hf_model.load_state_dict(state, strict=False)
    missing = [m for m in missing if m != "proj_out.weight"]  # tied to the token embedding
    if missing or unexpected:
        raise ModelNotFoundError(
            f"Converting {folder} to transformers left weights unmatched (missing {missing[:3]}, unexpected "
            f"{unexpected[:3]}); this transformers version may name whisper's weights differently."
        )
    hf_model.tie_weights()

    lang_to_id = {}
    id_to_token = {v: k for k, v in ids.items()}
    for lang_id in config.get("lang_ids", []):
        token = id_to_token.get(int(lang_id))
        if token:
            lang_to_id[token] = int(lang_id)
    generation = GenerationConfig(
        decoder_start_token_id=sot,
        bos_token_id=eot,
        eos_token_id=eot,
        pad_token_id=eot,
        max_length=dims.n_text_ctx,
        suppress_tokens=suppress,
        begin_suppress_tokens=begin_suppress,
        no_timestamps_token_id=no_timestamps,
        is_multilingual=multilingual,
        return_timestamps=False,
    )
    if multilingual:
        generation.lang_to_id = lang_to_id
        generation.task_to_id = {"transcribe": ids["<|transcribe|>"], "translate": ids["<|translate|>"]}
    heads = config.get("alignment_heads")
    if heads:
        generation.alignment_heads = [[int(a), int(b)] for a, b in heads]
    hf_model.generation_config = generation

    target = Path(output_dir).expanduser()
    target.mkdir(parents=True, exist_ok=True)
    tokenizer = WhisperTokenizer(tokenizer_file=str(tokenizer_file), predict_timestamps=False)
    feature_extractor = WhisperFeatureExtractor(feature_size=dims.n_mels)
    WhisperProcessor(feature_extractor=feature_extractor, tokenizer=tokenizer).save_pretrained(target)
    hf_model.save_pretrained(target)
    return target
