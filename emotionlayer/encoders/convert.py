"""Convert CTranslate2 whisper weights for openai-whisper and transformers.

The packaged whisper models ship only in CTranslate2 format (``model.bin``). Built on the reader in
:mod:`.ctranslate2` (NumPy only), this module rewrites the weights as

* an openai-whisper checkpoint (``{"dims": ..., "model_state_dict": ...}``) that
  ``whisper.load_model(path)`` loads: :func:`convert_ct2_to_openai_whisper`;
* a transformers ``WhisperForConditionalGeneration`` folder with its processor:
  :func:`convert_ct2_to_transformers`.

CTranslate2 fuses the self-attention query/key/value projections into one matrix (and the
cross-attention key/value into another); the converters split them again. Whisper's key projections
have no bias, so the fused bias's key part is zero and is dropped.

Example::

    from emotionlayer.encoders.convert import convert_ct2_to_openai_whisper, convert_ct2_to_transformers

    convert_ct2_to_openai_whisper("tiny.en", "models/tiny.en.pt")   # whisper.load_model("models/tiny.en.pt")
    convert_ct2_to_transformers("base", "models/whisper-base-hf")   # pipeline("automatic-speech-recognition", ...)
"""

from __future__ import annotations

import json
import os
from dataclasses import asdict
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import ConfigError, ModelNotFoundError
from .ctranslate2 import WhisperDims, read_ctranslate2_model, resolve_ct2_model, whisper_dims


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
    """The folder, float32 variables and ``config.json`` of a packaged name or a CTranslate2 whisper folder."""
    folder = resolve_ct2_model(str(model))
    if not isinstance(folder, Path):
        raise ModelNotFoundError(
            f"{model!r} is neither a packaged whisper model ('tiny.en', 'base') nor a CTranslate2 whisper folder."
        )
    spec, variables = read_ctranslate2_model(folder)
    if "Whisper" not in spec:
        raise ModelNotFoundError(f"{folder} holds a CTranslate2 {spec}, not a whisper model.")
    config_file = folder / "config.json"
    config = json.loads(config_file.read_text()) if config_file.is_file() else {}
    return folder, variables, config


def openai_whisper_state_dict(variables: dict[str, np.ndarray]) -> tuple[WhisperDims, dict[str, np.ndarray]]:
    """Map CTranslate2 whisper variables to an openai-whisper ``Whisper`` state dict.

    Args:
        variables: Float variables of a CTranslate2 whisper model (:func:`.read_ctranslate2_model`).

    Returns:
        ``(dims, state_dict)``: the model's dimensions (``ModelDimensions(**asdict(dims))``) and parameter
        name -> float32 NumPy array, every parameter of ``whisper.model.Whisper`` included.
    """
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
    """Map CTranslate2 whisper variables to a transformers ``WhisperForConditionalGeneration`` state dict.

    Args:
        variables: Float variables of a CTranslate2 whisper model (:func:`.read_ctranslate2_model`).

    Returns:
        ``(dims, state_dict)``: the model's dimensions and parameter name -> float32 NumPy array, every
        parameter but ``proj_out.weight`` (tied to the token embedding) included.
    """
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
