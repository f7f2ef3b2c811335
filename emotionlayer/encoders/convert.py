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
from dataclasses import asdict, dataclass
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


@dataclass(frozen=True)
class WhisperNames:
    """How one library names whisper's parameters: the whole names of the model-wide ones, and the names of a
    block's parts (the block's index goes into ``encoder_block`` / ``decoder_block``).

    Attributes:
        conv: Prefix of the two encoder convolutions (``{conv}{1,2}.weight``).
        encoder_positions: The encoder's positional embedding.
        encoder_norm: The encoder's final layer norm (``.weight`` / ``.bias`` appended).
        tokens: The decoder's token embedding.
        decoder_positions: The decoder's positional embedding.
        decoder_norm: The decoder's final layer norm.
        encoder_block: An encoder block (``{i}``: its index).
        decoder_block: A decoder block.
        self_attention: A block's self-attention and its layer norm.
        cross_attention: A decoder block's cross-attention and its layer norm.
        projections: The query, key, value and output projections (in that order).
        mlp: A block's two feed-forward layers and their layer norm.
    """

    conv: str
    encoder_positions: str
    encoder_norm: str
    tokens: str
    decoder_positions: str
    decoder_norm: str
    encoder_block: str
    decoder_block: str
    self_attention: tuple[str, str]
    cross_attention: tuple[str, str]
    projections: tuple[str, str, str, str]
    mlp: tuple[str, str, str]


#: openai-whisper's ``Whisper`` module.
OPENAI_WHISPER = WhisperNames(
    conv="encoder.conv",
    encoder_positions="encoder.positional_embedding",
    encoder_norm="encoder.ln_post",
    tokens="decoder.token_embedding.weight",
    decoder_positions="decoder.positional_embedding",
    decoder_norm="decoder.ln",
    encoder_block="encoder.blocks.{i}",
    decoder_block="decoder.blocks.{i}",
    self_attention=("attn", "attn_ln"),
    cross_attention=("cross_attn", "cross_attn_ln"),
    projections=("query", "key", "value", "out"),
    mlp=("mlp.0", "mlp.2", "mlp_ln"),
)

#: transformers' ``WhisperForConditionalGeneration``.
TRANSFORMERS_WHISPER = WhisperNames(
    conv="model.encoder.conv",
    encoder_positions="model.encoder.embed_positions.weight",
    encoder_norm="model.encoder.layer_norm",
    tokens="model.decoder.embed_tokens.weight",
    decoder_positions="model.decoder.embed_positions.weight",
    decoder_norm="model.decoder.layer_norm",
    encoder_block="model.encoder.layers.{i}",
    decoder_block="model.decoder.layers.{i}",
    self_attention=("self_attn", "self_attn_layer_norm"),
    cross_attention=("encoder_attn", "encoder_attn_layer_norm"),
    projections=("q_proj", "k_proj", "v_proj", "out_proj"),
    mlp=("fc1", "fc2", "final_layer_norm"),
)


def whisper_state_dict(
    variables: dict[str, np.ndarray], names: WhisperNames
) -> tuple[WhisperDims, dict[str, np.ndarray]]:
    """Map CTranslate2 whisper variables to a state dict with ``names`` (the one mapper of both converters).

    Args:
        variables: Float variables of a CTranslate2 whisper model (:func:`.read_ctranslate2_model`).
        names: The target library's names (:data:`OPENAI_WHISPER`, :data:`TRANSFORMERS_WHISPER`).

    Returns:
        ``(dims, state_dict)``: the model's dimensions and parameter name -> float32 NumPy array. Whisper's key
        projections have no bias, so none is written for them.
    """
    dims = whisper_dims(variables)
    sd: dict[str, np.ndarray] = {}

    def put_norm(dst: str, src: str) -> None:
        sd[f"{dst}.weight"] = _f32(variables[f"{src}/gamma"])
        sd[f"{dst}.bias"] = _f32(variables[f"{src}/beta"])

    def put_attention(block: str, src: str, which: tuple[str, str], cross: bool) -> None:
        parts = _attention(variables, src, cross=cross)
        dst, norm = f"{block}.{which[0]}", f"{block}.{which[1]}"
        query, key, value, out = names.projections
        for ours, theirs in (("q", query), ("v", value), ("o", out)):
            sd[f"{dst}.{theirs}.weight"] = parts[f"{ours}.weight"]
            sd[f"{dst}.{theirs}.bias"] = parts[f"{ours}.bias"]
        sd[f"{dst}.{key}.weight"] = parts["k.weight"]
        sd[f"{norm}.weight"], sd[f"{norm}.bias"] = parts["ln.weight"], parts["ln.bias"]

    def put_mlp(block: str, src: str) -> None:
        first, second, norm = names.mlp
        for dst, linear in ((first, "linear_0"), (second, "linear_1")):
            sd[f"{block}.{dst}.weight"] = _f32(variables[f"{src}/ffn/{linear}/weight"])
            sd[f"{block}.{dst}.bias"] = _f32(variables[f"{src}/ffn/{linear}/bias"])
        put_norm(f"{block}.{norm}", f"{src}/ffn/layer_norm")

    for i in (1, 2):
        sd[f"{names.conv}{i}.weight"] = _f32(variables[f"encoder/conv{i}/weight"])
        sd[f"{names.conv}{i}.bias"] = _f32(variables[f"encoder/conv{i}/bias"])
    sd[names.encoder_positions] = _f32(variables["encoder/position_encodings/encodings"])
    put_norm(names.encoder_norm, "encoder/layer_norm")
    sd[names.tokens] = _f32(variables["decoder/embeddings/weight"])
    sd[names.decoder_positions] = _f32(variables["decoder/position_encodings/encodings"])
    put_norm(names.decoder_norm, "decoder/layer_norm")
    for i in range(dims.n_audio_layer):
        src, block = f"encoder/layer_{i}", names.encoder_block.format(i=i)
        put_attention(block, f"{src}/self_attention", names.self_attention, cross=False)
        put_mlp(block, src)
    for i in range(dims.n_text_layer):
        src, block = f"decoder/layer_{i}", names.decoder_block.format(i=i)
        put_attention(block, f"{src}/self_attention", names.self_attention, cross=False)
        put_attention(block, f"{src}/attention", names.cross_attention, cross=True)
        put_mlp(block, src)
    return dims, sd


def openai_whisper_state_dict(variables: dict[str, np.ndarray]) -> tuple[WhisperDims, dict[str, np.ndarray]]:
    """Map CTranslate2 whisper variables to an openai-whisper ``Whisper`` state dict.

    Args:
        variables: Float variables of a CTranslate2 whisper model (:func:`.read_ctranslate2_model`).

    Returns:
        ``(dims, state_dict)``: the model's dimensions (``ModelDimensions(**asdict(dims))``) and parameter
        name -> float32 NumPy array, every parameter of ``whisper.model.Whisper`` included.
    """
    return whisper_state_dict(variables, OPENAI_WHISPER)


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
    return whisper_state_dict(variables, TRANSFORMERS_WHISPER)


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
    folder, variables, config = _load_ct2(model)
    tokenizer_file = folder / "tokenizer.json"
    if not tokenizer_file.is_file():
        raise ModelNotFoundError(f"{folder} has no tokenizer.json; it is needed to build the transformers tokenizer.")
    ids = _special_ids(tokenizer_file)
    dims, sd = transformers_state_dict(variables)
    hf_model = _transformers_model(folder, dims, sd, _transformers_config(dims, ids, variables))
    hf_model.generation_config = _generation_config(dims, ids, config)
    return _save_transformers(Path(output_dir).expanduser(), hf_model, tokenizer_file, dims)


def _transformers_config(dims: WhisperDims, ids: dict[str, int], variables: dict[str, np.ndarray]) -> Any:
    """The ``WhisperConfig`` of the model's shape and special tokens (suppressed tokens left to the generation
    config: setting both makes transformers warn)."""
    from transformers import WhisperConfig

    eot = ids["<|endoftext|>"]
    ffn_dim = int(variables["encoder/layer_0/ffn/linear_0/weight"].shape[0])
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
        decoder_start_token_id=ids["<|startoftranscript|>"],
        tie_word_embeddings=True,
    )
    hf_config.suppress_tokens = None
    hf_config.begin_suppress_tokens = None
    return hf_config


def _transformers_model(folder: Path, dims: WhisperDims, sd: dict[str, np.ndarray], hf_config: Any) -> Any:
    """A ``WhisperForConditionalGeneration`` holding the weights ``sd`` (every one matched, the output tied).

    Raises:
        ModelNotFoundError: a weight is left unmatched (transformers named whisper's weights differently).
    """
    import torch
    from transformers import WhisperForConditionalGeneration

    hf_model = WhisperForConditionalGeneration(hf_config)
    missing, unexpected = hf_model.load_state_dict({k: torch.from_numpy(v) for k, v in sd.items()}, strict=False)
    missing = [m for m in missing if m != "proj_out.weight"]  # tied to the token embedding
    if missing or unexpected:
        raise ModelNotFoundError(
            f"Converting {folder} to transformers left weights unmatched (missing {missing[:3]}, unexpected "
            f"{unexpected[:3]}); this transformers version may name whisper's weights differently."
        )
    hf_model.tie_weights()
    return hf_model


def _generation_config(dims: WhisperDims, ids: dict[str, int], config: dict[str, Any]) -> Any:
    """The ``GenerationConfig`` rebuilt from CTranslate2's ``config.json``: special, suppressed, language and task
    tokens, and the alignment heads."""
    from transformers import GenerationConfig

    eot = ids["<|endoftext|>"]
    multilingual = dims.n_vocab >= 51865
    generation = GenerationConfig(
        decoder_start_token_id=ids["<|startoftranscript|>"],
        bos_token_id=eot,
        eos_token_id=eot,
        pad_token_id=eot,
        max_length=dims.n_text_ctx,
        suppress_tokens=[int(i) for i in config.get("suppress_ids", [])],
        begin_suppress_tokens=[int(i) for i in config.get("suppress_ids_begin", [220, eot])],
        no_timestamps_token_id=ids["<|notimestamps|>"],
        is_multilingual=multilingual,
        return_timestamps=False,
    )
    if multilingual:
        id_to_token = {v: k for k, v in ids.items()}
        generation.lang_to_id = {
            id_to_token[int(i)]: int(i) for i in config.get("lang_ids", []) if id_to_token.get(int(i))
        }
        generation.task_to_id = {"transcribe": ids["<|transcribe|>"], "translate": ids["<|translate|>"]}
    heads = config.get("alignment_heads")
    if heads:
        generation.alignment_heads = [[int(a), int(b)] for a, b in heads]
    return generation


def _save_transformers(target: Path, hf_model: Any, tokenizer_file: Path, dims: WhisperDims) -> Path:
    """Write the processor (tokenizer and feature extractor) and the model into ``target`` (created)."""
    from transformers import WhisperFeatureExtractor, WhisperProcessor, WhisperTokenizer

    target.mkdir(parents=True, exist_ok=True)
    tokenizer = WhisperTokenizer(tokenizer_file=str(tokenizer_file), predict_timestamps=False)
    feature_extractor = WhisperFeatureExtractor(feature_size=dims.n_mels)
    WhisperProcessor(feature_extractor=feature_extractor, tokenizer=tokenizer).save_pretrained(target)
    hf_model.save_pretrained(target)
    return target
