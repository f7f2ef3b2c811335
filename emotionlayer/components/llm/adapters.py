"""Low-rank adapters of the reply writer: where they are, how they are written, how each backend loads one.

An adapter folder holds the same adapter twice, once per packaged backend:

    adapter_config.json + adapter_model.safetensors   peft (the ``transformers`` backend)
    adapter.gguf                                       GGUF LoRA (the ``llama-cpp`` backend)
    README.md, training.json                           model card and training summary

``llm.params.adapter`` in the config names one: ``packaged`` (the reply writer fine-tuned on StyleTalk that
ships in the package, see its model card ``emotionlayer/assets/llm/reply-writer/README.md``), a folder or
``.gguf`` file of your own, or ``null`` for the bare model.

The GGUF file is written here rather than by llama.cpp's converter: that script needs the base model as a
transformers folder, while the packaged model is a GGUF. The mapping is the converter's: tensor names
``blk.N.attn_q.weight.lora_a``..., ``lora_a`` ``(rank, in)`` and ``lora_b`` ``(out, rank)``, and the rows
of ``q_proj``'s and ``k_proj``'s ``lora_b`` permuted as llama.cpp permutes those weights for its rotary
embedding. ``tests/test_llm_adapters.py`` checks that both backends give the same next-token scores.
"""

from __future__ import annotations

import json
import os
import re
from pathlib import Path
from typing import Any, Union

from ...errors import ConfigError, ModelNotFoundError

PathLike = Union[str, os.PathLike]

#: The adapter that ships in the package.
PACKAGED_ADAPTER = Path(__file__).resolve().parents[2] / "assets" / "llm" / "reply-writer"
GGUF_FILE = "adapter.gguf"
PEFT_WEIGHTS = "adapter_model.safetensors"
PEFT_CONFIG = "adapter_config.json"

#: peft module name -> llama.cpp tensor name (inside ``blk.N.``).
GGUF_NAMES = {
    "self_attn.q_proj": "attn_q",
    "self_attn.k_proj": "attn_k",
    "self_attn.v_proj": "attn_v",
    "self_attn.o_proj": "attn_output",
    "mlp.gate_proj": "ffn_gate",
    "mlp.up_proj": "ffn_up",
    "mlp.down_proj": "ffn_down",
}
_PEFT_KEY = re.compile(r"layers\.(\d+)\.(self_attn\.[qkvo]_proj|mlp\.(?:gate|up|down)_proj)\.lora_([AB])\.weight$")


def resolve_adapter(value: Any) -> Path | None:
    """The adapter folder (or ``.gguf`` file) a config value names; ``None`` for no adapter.

    Raises:
        ModelNotFoundError: the named folder or file does not exist, or the packaged adapter is missing.
    """
    if value in (None, False, "", "none", "null"):
        return None
    if value is True or value == "packaged":
        if not (PACKAGED_ADAPTER / GGUF_FILE).is_file():
            raise ModelNotFoundError(
                f"The packaged reply-writer adapter is missing from {PACKAGED_ADAPTER}. Reinstall emotionlayer, "
                "or set llm.params.adapter: null to run the bare model."
            )
        return PACKAGED_ADAPTER
    path = Path(str(value)).expanduser()
    if not path.exists():
        raise ModelNotFoundError(
            f"Adapter {path} not found. Give a folder written by `emotionlayer llm finetune` (or a GGUF LoRA "
            "file), 'packaged', or null."
        )
    return path


def gguf_adapter(value: Any) -> Path | None:
    """The GGUF LoRA file of an adapter (for llama.cpp)."""
    path = resolve_adapter(value)
    if path is None:
        return None
    if path.is_file():
        return path
    if not (path / GGUF_FILE).is_file():
        raise ModelNotFoundError(f"Adapter folder {path} has no {GGUF_FILE} (the llama.cpp form of the adapter).")
    return path / GGUF_FILE


def peft_adapter(value: Any) -> Path | None:
    """The peft folder of an adapter (for transformers)."""
    path = resolve_adapter(value)
    if path is None:
        return None
    if path.is_file() or not (path / PEFT_CONFIG).is_file():
        raise ModelNotFoundError(
            f"Adapter {path} has no {PEFT_CONFIG}: the transformers backend needs the peft form of the adapter "
            "(a folder written by `emotionlayer llm finetune`)."
        )
    return path


def adapter_info(value: Any) -> dict[str, Any] | None:
    """Provenance of an adapter for turn records and reports: its path and the hash of its GGUF file."""
    from ...files import hash_file

    path = resolve_adapter(value)
    if path is None:
        return None
    gguf = path if path.is_file() else path / GGUF_FILE
    digest = hash_file(gguf).hexdigest()[:16] if gguf.is_file() else None
    return {"adapter": "packaged" if path == PACKAGED_ADAPTER else str(path), "sha256": digest}


def permute_rows(weights: Any, heads: int) -> Any:
    """llama.cpp's rotary permutation of a q/k projection's output rows (``heads`` = that projection's heads)."""
    return (
        weights.reshape(heads, 2, weights.shape[0] // heads // 2, *weights.shape[1:])
        .swapaxes(1, 2)
        .reshape(weights.shape)
    )


def lora_tensors(state: dict[str, Any], n_head: int, n_head_kv: int) -> dict[str, Any]:
    """peft LoRA weights -> llama.cpp GGUF LoRA tensors (name -> float16 numpy array)."""
    import numpy as np

    out: dict[str, Any] = {}
    for key, tensor in state.items():
        match = _PEFT_KEY.search(key)
        if match is None:
            continue
        layer, module, part = match.groups()
        array = tensor.detach().float().cpu().numpy()
        if part == "B" and module == "self_attn.q_proj":
            array = permute_rows(array, n_head)
        elif part == "B" and module == "self_attn.k_proj":
            array = permute_rows(array, n_head_kv)
        out[f"blk.{layer}.{GGUF_NAMES[module]}.weight.lora_{part.lower()}"] = np.ascontiguousarray(array, np.float16)
    if not out:
        raise ConfigError("No LoRA weights of a Llama-style decoder found in the adapter.")
    return out


def write_gguf_lora(
    state: dict[str, Any], path: PathLike, alpha: float, n_head: int, n_head_kv: int, architecture: str = "llama"
) -> Path:
    """Write peft LoRA weights as a llama.cpp GGUF LoRA adapter."""
    import gguf

    path = Path(path)
    tmp = path.with_suffix(".tmp")
    writer = gguf.GGUFWriter(str(tmp), architecture)
    writer.add_type(gguf.GGUFType.ADAPTER)
    writer.add_string(gguf.Keys.Adapter.TYPE, "lora")
    writer.add_float32(gguf.Keys.Adapter.LORA_ALPHA, float(alpha))
    for name, array in sorted(lora_tensors(state, n_head, n_head_kv).items()):
        writer.add_tensor(name, array)
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()
    os.replace(tmp, path)
    return path


def save_adapter(model: Any, out: PathLike, base_model: str, alpha: float) -> Path:
    """Write a trained peft model's adapter in both forms (peft, float16; GGUF LoRA) into ``out``.

    ``base_model`` is the name recorded as the adapter's base (peft's ``base_model_name_or_path``).
    """
    import torch
    from peft import get_peft_model_state_dict
    from safetensors.torch import save_file

    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    state = {k: v.detach().to(torch.float16).contiguous() for k, v in get_peft_model_state_dict(model).items()}
    save_file(state, str(out / PEFT_WEIGHTS), metadata={"format": "pt"})
    peft_config = model.peft_config["default"].to_dict()
    peft_config["base_model_name_or_path"] = base_model
    peft_config = {k: sorted(v) if isinstance(v, set) else v for k, v in peft_config.items()}
    (out / PEFT_CONFIG).write_text(json.dumps(peft_config, indent=1, default=str) + "\n")
    base = model.get_base_model().config
    write_gguf_lora(state, out / GGUF_FILE, alpha, base.num_attention_heads, base.num_key_value_heads)
    return out
