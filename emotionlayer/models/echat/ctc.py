"""CTC pre-alignment of E-chat's connector onto the frozen LLM's token embeddings (``alignment="ctc"``).

Not in the E-chat paper. The paper's stage 1 teaches the connector through the frozen LLM's next-token
loss: every step runs and back-propagates through the whole LLM, and the loss stays on a plateau for
thousands of steps before the LLM starts to follow the speech (docs/echat.md). Here the connector is first
taught *where* in the LLM's input space each stretch of speech belongs, without running the LLM:

* every connector output frame ``o_t`` is scored against the LLM's input embeddings ``e_v`` of the
  transcript's vocabulary and one learned blank vector ``b``, by scaled cosine similarity
  (``CTC_SCALE * cos(o_t, e_v)``);
* CTC (Graves et al. 2006) over those scores with the transcript's LLM tokens as the label sequence, so the
  frames that carry a token point at that token's own embedding, and the others at the blank;
* a penalty on ``log(rms(o_t) / rms(e))`` keeps the outputs at the scale of real token embeddings (cosine
  alone leaves it free), so the LLM later receives vectors of the size it knows.

A step costs the connector and one matrix product with the vocabulary's embeddings: a fraction of a
second on a CPU, against seconds for an LLM step. A short ``alignment="lm"`` run started from the result
(``--init``) then teaches the frozen LLM to read the aligned frames. The model's architecture is the
paper's in both runs; only stage 1's objective differs. An ``lm`` run keeps the blank vector only with
``speech_tokens="ctc"`` (:func:`compress`), which reads the frames with it.

Training uses only the tokens that occur in the run's transcripts as classes (``EChatModel.set_ctc_vocab``;
the checkpoint keeps them), which keeps the product small; :func:`greedy_transcripts` reads with the same
classes.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

EChatModel = Any  # the model (emotionlayer.models.echat.model imports this module)

#: Temperature of the cosine scores: logits are ``CTC_SCALE * cos(output, embedding)``.
CTC_SCALE = 20.0
#: Weight of the penalty that keeps the outputs' RMS at the token embeddings' RMS.
NORM_WEIGHT = 1.0

__all__ = ["CTC_SCALE", "CTCHead", "compress", "ctc_logits", "ctc_loss", "greedy_transcripts"]


class CTCHead(nn.Module):
    """The learned blank vector of the CTC objective (one ``llm_dim`` vector)."""

    def __init__(self, dim: int, scale: float = 1.0) -> None:
        super().__init__()
        self.blank = nn.Parameter(torch.randn(dim) * scale)


def _classes(model: EChatModel, vocab: torch.Tensor | None) -> tuple[torch.Tensor, torch.Tensor]:
    """``(classes, table)``: the blank vector followed by the vocabulary's embeddings (unit length), and the
    vocabulary's raw embeddings."""
    table = model.llm.get_input_embeddings().weight.detach().float()
    if vocab is not None:
        table = table[vocab.to(table.device)]
    assert model.ctc_head is not None
    classes = torch.cat([model.ctc_head.blank.float()[None], table])
    return F.normalize(classes, dim=-1), table


def ctc_logits(model: EChatModel, frames: torch.Tensor, vocab: torch.Tensor | None) -> torch.Tensor:
    """``(batch, frames, 1 + len(vocab))`` scores of connector ``frames`` ``(batch, frames, llm_dim)``; class 0
    is the blank."""
    classes, _ = _classes(model, vocab)
    return _scores(frames, classes)


def _scores(frames: torch.Tensor, classes: torch.Tensor) -> torch.Tensor:
    return CTC_SCALE * F.normalize(frames.float(), dim=-1) @ classes.T


def ctc_loss(
    model: EChatModel, frames: torch.Tensor, lengths: torch.Tensor, targets: Sequence[Sequence[int]]
) -> tuple[torch.Tensor, torch.Tensor, int]:
    """The CTC objective of a batch.

    Args:
        model: A stage-1 model with a CTC head whose vocabulary was set with ``set_ctc_vocab``.
        frames: The connector's output ``(batch, frames, llm_dim)`` (before any compression).
        lengths: Valid frames per clip.
        targets: Each clip's target token ids (a trailing EOS is dropped: CTC needs no end token).

    Returns:
        ``(loss, ctc, tokens)``: CTC plus the scale penalty, the CTC part alone (mean per target token),
        and the number of target tokens.
    """
    vocab = model.ctc_vocab
    if vocab is None:
        raise RuntimeError("set_ctc_vocab() must be called before training with alignment='ctc'.")
    classes, table = _classes(model, vocab)
    out = frames.float()
    logits = _scores(out, classes)
    index = model.ctc_index
    assert index is not None
    eos = set(model.eos_ids)
    labels: list[torch.Tensor] = []
    for ids in targets:
        ids = [t for t in ids if t not in eos]
        mapped = index[torch.tensor(ids, dtype=torch.long, device=index.device)] if ids else index[:0]
        labels.append(mapped[mapped > 0])
    target_lengths = torch.tensor([len(x) for x in labels], dtype=torch.long)
    flat = torch.cat(labels).cpu() if labels else torch.zeros(0, dtype=torch.long)
    log_probs = logits.log_softmax(-1).transpose(0, 1)  # (frames, batch, classes)
    ctc = F.ctc_loss(
        log_probs,
        flat,
        lengths.cpu(),
        target_lengths,
        blank=0,
        reduction="sum",
        zero_infinity=True,
    ) / max(1, int(target_lengths.sum()))
    mask = torch.arange(out.shape[1], device=out.device)[None, :] < lengths[:, None]
    rms = out.pow(2).mean(-1).clamp(min=1e-12).sqrt()
    target_rms = table.pow(2).mean(-1).sqrt().mean()
    penalty = (torch.log(rms / target_rms)[mask] ** 2).mean()
    return ctc + NORM_WEIGHT * penalty, ctc.detach(), int(target_lengths.sum())


@torch.inference_mode()
def greedy_transcripts(model: EChatModel, frames: torch.Tensor, lengths: torch.Tensor) -> list[str]:
    """Best-path CTC reading of each clip's connector ``frames`` over the classes the model was trained with
    (the LLM's whole vocabulary if none were set): repeats merged, blanks dropped."""
    vocab = model.ctc_vocab
    best = ctc_logits(model, frames, vocab).argmax(-1).cpu()
    lookup = vocab.cpu() if vocab is not None else None
    texts = []
    for b in range(best.shape[0]):
        path = best[b, : int(lengths[b])].tolist()
        ids = [p - 1 for i, p in enumerate(path) if p != 0 and (i == 0 or p != path[i - 1])]
        if lookup is not None:
            ids = lookup[ids].tolist() if ids else []
        texts.append(model.tokenizer.decode(ids, skip_special_tokens=True).strip())
    return texts


def compress(model: EChatModel, frames: torch.Tensor, lengths: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """One LLM input per token the CTC head reads in the connector's ``frames`` (``speech_tokens="ctc"``).

    Frames whose best class is the blank are dropped, and each run of consecutive frames with the same best
    token becomes the mean of its frames (the kept values stay differentiable; which frames are kept is
    decided without gradient). A clip read as all blank keeps the mean of its frames, so no clip is empty.

    Returns:
        ``(speech, lengths)``: ``(batch, tokens, llm_dim)`` right-padded, and the tokens per clip.
    """
    with torch.no_grad():
        best = ctc_logits(model, frames, model.ctc_vocab).argmax(-1).cpu()
    rows: list[torch.Tensor] = []
    for b in range(best.shape[0]):
        length = int(lengths[b])
        clip = frames[b, :length]
        path = best[b, :length].tolist()
        pieces, start = [], 0
        for i in range(1, length + 1):
            if i == length or path[i] != path[start]:
                if path[start] != 0:
                    pieces.append(clip[start:i].mean(0))
                start = i
        rows.append(torch.stack(pieces) if pieces else clip.mean(0, keepdim=True))
    out_lengths = torch.tensor([len(r) for r in rows], dtype=torch.long, device=frames.device)
    out = frames.new_zeros(len(rows), int(out_lengths.max()), frames.shape[-1])
    for b, row in enumerate(rows):
        out[b, : len(row)] = row
    return out, out_lengths
