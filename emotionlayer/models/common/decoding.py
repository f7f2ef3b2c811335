"""The one key/value-cache decoding loop of the speech LLMs (E-chat, ParalinGPT).

A model reads its input once (:func:`prefill`, from input embeddings), may force a few tokens
(:func:`feed`), then :func:`decode` samples one token at a time (the sampler of
:mod:`emotionlayer.components.llm.decoding`), feeding each back through the cache, until an end token or
``max_new_tokens``. :class:`EncodedSpeech` is what a model's ``encode`` hands to its decoder, and
:func:`stream_pieces` turns the token ids into text pieces with the timings a caller reports.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import torch

from ...components.llm.decoding import sample_token, text_pieces
from ...errors import ConfigError
from ...types import EmotionPrediction


@dataclass(frozen=True)
class EncodedSpeech:
    """A clip after a model's encoder side: what its decoder starts from.

    Attributes:
        inputs: The model's decoder inputs for the clip (E-chat's ``SpeechInputs``, ParalinGPT's soft prefix).
        seconds: Time the encoding took.
        emotion: The emotion heard while encoding, where the model predicts one there (E-chat's head; ``None``
            otherwise).
    """

    inputs: Any
    seconds: float
    emotion: EmotionPrediction | None = None


@dataclass
class DecoderState:
    """The LLM's state while decoding one sequence.

    Attributes:
        logits: Next-token logits of every position fed last ``(positions, vocab)``.
        cache: The key/value cache.
        mask: The attention mask so far ``(1, positions)``.
    """

    logits: torch.Tensor
    cache: Any
    mask: torch.Tensor


def prefill(llm: Any, cache_arg: str, embeds: torch.Tensor, mask: torch.Tensor) -> DecoderState:
    """Read one sequence's input embeddings ``(1, positions, d)``, filling the cache."""
    out = llm(inputs_embeds=embeds, attention_mask=mask, use_cache=True)
    return DecoderState(out.logits[0], getattr(out, cache_arg), mask)


def feed(llm: Any, cache_arg: str, ids: Sequence[int], state: DecoderState) -> DecoderState:
    """Feed token ``ids`` after ``state`` (whose cache grows); the logits are those of the fed positions."""
    mask = torch.cat([state.mask, state.mask.new_ones(1, len(ids))], dim=1)
    out = llm(
        input_ids=torch.tensor([list(ids)], device=mask.device),
        attention_mask=mask,
        use_cache=True,
        **{cache_arg: state.cache},
    )
    return DecoderState(out.logits[0], getattr(out, cache_arg), mask)


def decode(
    llm: Any,
    cache_arg: str,
    state: DecoderState,
    eos_ids: Sequence[int],
    max_new_tokens: int,
    temperature: float = 0.0,
    top_p: float = 1.0,
    generator: torch.Generator | None = None,
) -> Iterator[int]:
    """Yield token ids sampled after ``state`` (used up) until an ``eos_ids`` token or ``max_new_tokens``."""
    logits = state.logits[-1]
    for _ in range(max_new_tokens):
        token = sample_token(logits, temperature, top_p, generator)
        if token in eos_ids:
            return
        yield token
        state = feed(llm, cache_arg, [token], state)
        logits = state.logits[-1]


def sampling_generator(device: Any, temperature: float, seed: int | None) -> torch.Generator | None:
    """The random generator of a sampled answer, seeded by ``seed`` (``None`` for greedy decoding at 0)."""
    if temperature <= 0:
        return None
    return torch.Generator(device=device).manual_seed(int(seed if seed is not None else 0))


def check_max_new_tokens(max_new_tokens: int) -> None:
    """Raise :class:`ConfigError` unless ``max_new_tokens`` is at least 1."""
    if max_new_tokens < 1:
        raise ConfigError(f"max_new_tokens must be at least 1, got {max_new_tokens}.")


def stream_pieces(
    tokens: Callable[[torch.Generator | None], Iterator[int]],
    tokenizer: Any,
    device: Any,
    max_new_tokens: int,
    temperature: float,
    seed: int | None,
    timings: dict[str, float] | None = None,
) -> Iterator[str]:
    """Text pieces of the token ids ``tokens(generator)`` yields; close the generator to stop early.

    ``timings`` (if given) receives ``first_token`` and ``generate``: seconds from the start of this call.
    """
    check_max_new_tokens(max_new_tokens)
    timings = timings if timings is not None else {}
    generator = sampling_generator(device, temperature, seed)
    start = time.perf_counter()

    def timed() -> Iterator[int]:
        for token in tokens(generator):
            timings.setdefault("first_token", time.perf_counter() - start)
            yield token

    yield from text_pieces(timed(), tokenizer)
    timings["generate"] = time.perf_counter() - start
    timings.setdefault("first_token", timings["generate"])
