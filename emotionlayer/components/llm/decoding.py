"""Token-by-token decoding shared by every torch causal LM the library drives: the ``transformers`` LLM
backend and the speech LLMs (E-chat, ParalinGPT).

- :func:`sample_token` picks the next token: greedy at temperature 0, else nucleus sampling.
- :func:`text_pieces` turns a stream of generated token ids into the text each one adds, holding back a
  token that ends in half of a multi-byte character until the rest arrives.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import Any


def sample_token(logits: Any, temperature: float, top_p: float, generator: Any) -> int:
    """The next token from one position's logits: greedy at ``temperature`` 0, else sampled (nucleus ``top_p``).

    Args:
        logits: A 1-D tensor of vocabulary logits.
        temperature: 0 (or less) decodes greedily; higher values flatten the distribution.
        top_p: Keep the smallest set of most likely tokens whose probability reaches ``top_p`` (1: all).
        generator: A ``torch.Generator`` for repeatable sampling, or ``None``.
    """
    import torch

    if temperature <= 0:
        return int(torch.argmax(logits))
    probs = torch.softmax(logits.float() / temperature, dim=-1)
    if top_p < 1.0:
        sorted_probs, order = torch.sort(probs, descending=True)
        keep = torch.cumsum(sorted_probs, dim=-1) - sorted_probs < top_p  # always keeps the most likely token
        sorted_probs = torch.where(keep, sorted_probs, torch.zeros_like(sorted_probs))
        choice = torch.multinomial(sorted_probs / sorted_probs.sum(), 1, generator=generator)
        return int(order[choice])
    return int(torch.multinomial(probs, 1, generator=generator))


def text_pieces(tokens: Iterable[int], tokenizer: Any) -> Iterator[str]:
    """Yield the text each generated token adds (special tokens skipped); empty additions are not yielded.

    The ids so far are decoded together, so tokens that only make sense joined (byte-level BPE pieces of
    one character, a leading space) come out right; byte-level BPE decodes prefix-stably, so the new text
    is what the token added. A decode ending in U+FFFD (half of a multi-byte character) waits for the
    next token.

    Args:
        tokens: Generated token ids, one at a time (closing this generator does not close ``tokens``).
        tokenizer: Anything with ``decode(ids, skip_special_tokens=True)`` (a Hugging Face tokenizer).
    """
    ids: list[int] = []
    text = ""
    for token in tokens:
        ids.append(token)
        new_text = tokenizer.decode(ids, skip_special_tokens=True)
        if new_text.endswith("\ufffd"):
            continue  # half of a multi-byte character; wait for the rest
        piece, text = new_text[len(text) :], new_text
        if piece:
            yield piece
