"""E-chat's modules: layer-weighted sums, the connector, the emotion head, and the whole model.

The decoder input for one clip is::

    BOS, [emotion embedding (stage 2)], speech embeddings, prompt tokens, target tokens + EOS

(with ``emotion_input="words"``, not in the paper, the stage-2 emotion vector instead follows the prompt on
a line of its own: ``prompt tokens, "Tone:", emotion vector, newline``), and the decoder loss counts the
target tokens only. The speech and the emotion embedding come from two
separate learned softmax-weighted sums over every hidden layer of the speech encoder; an auxiliary
emotion head classifies the pooled emotion embedding, and its probabilities are reported, never given to
the decoder as a label.
"""

from __future__ import annotations

import inspect
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from ..common.backbones import SpeechEncoder
from ..common.decoding import decode, prefill
from ..common.layers import (
    IGNORE_INDEX,
    LayerWeightedSum,
    cache_argument,
    embed_ids,
    encoder_states,
    frame_mask,
    load_checked_weights,
    next_token,
    pad_rows,
    special_ids,
    target_labels,
)
from .config import EChatConfig
from .ctc import CTCHead, compress, ctc_loss

#: The text before the emotion vector with ``emotion_input="words"``: the line reads ``Tone: <vector>``.
EMOTION_WORDS_TEXT = "Tone:"

#: Checkpoint key of the CTC head's vocabulary (models with ``alignment`` or ``speech_tokens`` "ctc" only).
CTC_VOCAB_KEY = "ctc_vocab"


class Connector(nn.Module):
    """Frame-rate reduction (stack ``k`` frames), a small Transformer encoder, and a projection to the LLM.

    Args:
        in_dim: Encoder width.
        out_dim: LLM embedding width.
        stack: Frames stacked into one (``k``).
        dim: Transformer width.
        layers: Transformer depth (0: stacking and projections only).
        heads: Attention heads.
        ff_dim: Feed-forward width.
        dropout: Dropout rate.
    """

    def __init__(
        self, in_dim: int, out_dim: int, stack: int, dim: int, layers: int, heads: int, ff_dim: int, dropout: float
    ) -> None:
        super().__init__()
        self.stack = stack
        self.input = nn.Linear(in_dim * stack, dim)
        self.transformer: nn.TransformerEncoder | None = None
        if layers:
            layer = nn.TransformerEncoderLayer(
                dim, heads, ff_dim, dropout, activation="gelu", batch_first=True, norm_first=True
            )
            self.transformer = nn.TransformerEncoder(layer, layers, enable_nested_tensor=False)
        self.norm = nn.LayerNorm(dim)
        self.output = nn.Linear(dim, out_dim)

    def output_lengths(self, lengths: torch.Tensor) -> torch.Tensor:
        """Connector frames of clips with ``lengths`` encoder frames."""
        return torch.div(lengths + self.stack - 1, self.stack, rounding_mode="floor")

    def forward(self, x: torch.Tensor, lengths: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """``(batch, frames, in_dim)`` -> ``(batch, ceil(frames / k), out_dim)`` and the new lengths."""
        batch, frames, width = x.shape
        pad = (-frames) % self.stack
        if pad:
            x = F.pad(x, (0, 0, 0, pad))
        x = x.reshape(batch, (frames + pad) // self.stack, width * self.stack)
        out_lengths = self.output_lengths(lengths)
        x = self.input(x)
        if self.transformer is not None:
            x = self.transformer(x, src_key_padding_mask=~frame_mask(out_lengths, x.shape[1]))
        return self.output(self.norm(x)), out_lengths


class EmotionHead(nn.Module):
    """An MLP that classifies a pooled emotion embedding into the model's emotion labels."""

    def __init__(self, in_dim: int, hidden: int, n_labels: int, dropout: float) -> None:
        super().__init__()
        self.net = nn.Sequential(
            nn.LayerNorm(in_dim), nn.Linear(in_dim, hidden), nn.GELU(), nn.Dropout(dropout), nn.Linear(hidden, n_labels)
        )

    def forward(self, pooled: torch.Tensor) -> torch.Tensor:
        return self.net(pooled)


class EmotionProjector(nn.Module):
    """Maps a pooled emotion embedding to one input embedding of the LLM."""

    def __init__(self, in_dim: int, hidden: int, out_dim: int) -> None:
        super().__init__()
        self.net = nn.Sequential(nn.LayerNorm(in_dim), nn.Linear(in_dim, hidden), nn.GELU(), nn.Linear(hidden, out_dim))

    def forward(self, pooled: torch.Tensor) -> torch.Tensor:
        return self.net(pooled)


@dataclass
class EChatBatch:
    """One training batch (see :func:`emotionlayer.models.echat.data.collate`).

    Attributes:
        target_ids: Target token ids per clip, each ending with EOS.
        emotion: ``(batch,)`` label index per clip, ``-100`` where unknown.
        states: Cached hidden states ``(n_states, batch, frames, d)``, or ``None`` to run the encoder.
        lengths: Valid frames per clip when ``states`` is given.
        waves: 16 kHz waveforms when ``states`` is ``None``.
    """

    target_ids: list[list[int]]
    emotion: torch.Tensor
    states: torch.Tensor | None = None
    lengths: torch.Tensor | None = None
    waves: list[torch.Tensor] | None = None

    def to(self, device: torch.device | str) -> EChatBatch:
        return EChatBatch(
            target_ids=self.target_ids,
            emotion=self.emotion.to(device),
            states=None if self.states is None else self.states.to(device),
            lengths=None if self.lengths is None else self.lengths.to(device),
            waves=None if self.waves is None else [w.to(device) for w in self.waves],
        )


@dataclass
class EChatLoss:
    """What one training forward pass gives.

    Attributes:
        loss: ``(1 - a) * decoder + a * emotion``.
        decoder: Mean cross-entropy of the target tokens.
        emotion: Cross-entropy of the emotion head (0 when no clip has a label or ``a`` is 0).
        emotion_logits: ``(batch, n_labels)``.
        target_tokens: Target tokens counted in ``decoder``.
    """

    loss: torch.Tensor
    decoder: torch.Tensor
    emotion: torch.Tensor
    emotion_logits: torch.Tensor
    target_tokens: int


@dataclass
class SpeechInputs:
    """The encoder side of one forward pass."""

    speech: torch.Tensor  # (batch, tokens, llm_dim)
    speech_lengths: torch.Tensor  # (batch,)
    emotion_pooled: torch.Tensor  # (batch, encoder_dim)
    emotion_logits: torch.Tensor  # (batch, n_labels)
    frames: torch.Tensor | None = None  # with speech_tokens="ctc": the connector's frames before compression
    frame_lengths: torch.Tensor | None = None  # and their valid lengths


class EChatModel(nn.Module):
    """The E-chat network: speech encoder, two layer-weighted sums, connector, emotion branch, frozen LLM.

    Build it with :func:`build_model` (which loads the pretrained parts) or from parts for tests.

    Args:
        config: The model's shape and stage.
        encoder: A speech-encoder adapter.
        llm: A frozen Hugging Face causal LM.
        tokenizer: Its tokenizer.
    """

    def __init__(self, config: EChatConfig, encoder: SpeechEncoder, llm: Any, tokenizer: Any) -> None:
        super().__init__()
        self.config = config
        self.encoder = encoder
        self.llm = llm
        self.tokenizer = tokenizer
        llm_dim = int(llm.get_input_embeddings().weight.shape[1])
        n_states, enc_dim = encoder.num_hidden_states, encoder.hidden_size
        self.speech_weights = LayerWeightedSum(n_states)
        self.emotion_weights = LayerWeightedSum(n_states)
        self.connector = Connector(
            enc_dim,
            llm_dim,
            config.stack_frames,
            config.connector_dim,
            config.connector_layers,
            config.connector_heads,
            config.connector_ff_dim,
            config.dropout,
        )
        self.emotion_head = EmotionHead(enc_dim, config.emotion_hidden_dim, len(config.labels), config.dropout)
        self.emotion_projector = EmotionProjector(enc_dim, config.emotion_hidden_dim, llm_dim)
        self.ctc_head: CTCHead | None = None
        self.ctc_vocab: torch.Tensor | None = None
        self.ctc_index: torch.Tensor | None = None
        if config.alignment == "ctc" or config.speech_tokens == "ctc":
            table = llm.get_input_embeddings().weight.detach().float()
            self.ctc_head = CTCHead(llm_dim, float(table.pow(2).mean().sqrt()))
        self.bos_id, self.eos_ids = special_ids(tokenizer, llm)
        if config.emotion_input == "words":  # e_l: the mean input embedding of the tokens of " <label>"
            table = llm.get_input_embeddings().weight.detach().float()
            rows = [table[torch.tensor(self._ids(f" {label}"))].mean(0) for label in config.labels]
            self.register_buffer("label_embeddings", torch.stack(rows), persistent=False)
            self._tone_ids, self._newline_ids = self._ids(EMOTION_WORDS_TEXT), self._ids("\n")
        self._keeps_logits = "logits_to_keep" in inspect.signature(llm.forward).parameters
        self._cache_arg = cache_argument(llm)
        self.set_trainable()

    # ----------------------------------------------------------------------------------------------
    # which parameters train

    def trainable_modules(self) -> dict[str, nn.Module]:
        """The modules this config's stage trains, by attribute name.

        Stage 1: the speech layer weights and the connector (and the encoder if ``unfreeze_encoder``).
        Stage 2: those plus the emotion layer weights, the emotion head and the emotion projector (not with
        ``emotion_input="words"``, which does not use it). The LLM never trains.
        """
        modules: dict[str, nn.Module] = {"speech_weights": self.speech_weights, "connector": self.connector}
        if self.config.stage == 2:
            modules.update(
                emotion_weights=self.emotion_weights,
                emotion_head=self.emotion_head,
            )
            if self.config.emotion_input == "projector":
                modules["emotion_projector"] = self.emotion_projector
        if self.ctc_head is not None:  # in stage 2 no loss reaches it, but the checkpoint keeps it
            modules["ctc_head"] = self.ctc_head
        if self.config.unfreeze_encoder:
            modules["encoder"] = self.encoder
        return modules

    def set_ctc_vocab(self, token_ids: Sequence[int]) -> None:
        """The LLM tokens the CTC head scores against: those of the pre-alignment run's transcripts. EOS and
        other special tokens are left out."""
        special = set(self.eos_ids) | {self.bos_id}
        ids = sorted({int(t) for t in token_ids} - special)
        size = int(self.llm.get_input_embeddings().weight.shape[0])
        self.ctc_vocab = torch.tensor(ids, dtype=torch.long, device=self.device)
        index = torch.zeros(size, dtype=torch.long, device=self.device)
        index[self.ctc_vocab] = torch.arange(1, len(ids) + 1, device=self.device)
        self.ctc_index = index

    def set_trainable(self) -> None:
        """Turn gradients on for the stage's modules and off for everything else."""
        self.requires_grad_(False)
        for module in self.trainable_modules().values():
            module.requires_grad_(True)
        self.train(self.training)

    def train(self, mode: bool = True) -> EChatModel:
        """Like ``nn.Module.train``, but the frozen LLM (and a frozen encoder) always stay in eval mode."""
        super().train(mode)
        self.llm.eval()
        if not self.config.unfreeze_encoder:
            self.encoder.eval()
        return self

    def trainable_state_dict(self) -> dict[str, torch.Tensor]:
        """The weights a checkpoint holds: every parameter that trains in this stage (and, for a model with a CTC
        head, the CTC vocabulary as ``ctc_vocab``)."""
        state = {name: p.detach() for name, p in self.named_parameters() if p.requires_grad}
        if self.ctc_head is not None and self.ctc_vocab is not None:
            state[CTC_VOCAB_KEY] = self.ctc_vocab.detach()
        return state

    def load_trainable_state_dict(self, state: dict[str, torch.Tensor], partial: bool = False) -> list[str]:
        """Load checkpoint weights.

        Args:
            state: Parameter name -> tensor.
            partial: Allow weights this stage trains to be missing (a stage-1 checkpoint that starts
                stage 2); names outside this model are always an error.

        Returns:
            The names loaded.
        """
        state = dict(state)
        vocab = state.pop(CTC_VOCAB_KEY, None)
        if vocab is not None and self.ctc_head is not None:
            self.set_ctc_vocab(vocab.tolist())
        params = dict(self.named_parameters())
        expected = {k: v for k, v in self.trainable_state_dict().items() if k != CTC_VOCAB_KEY}
        return load_checked_weights(
            params,
            state,
            expected,
            allowed=params,
            partial=partial,
            made_for="another encoder or shape",
            missing_advice="Is it a stage-1 checkpoint? Start stage 2 from it with --init instead.",
        )

    # ----------------------------------------------------------------------------------------------
    # forward

    @property
    def device(self) -> torch.device:
        return self.speech_weights.logits.device

    def _ids(self, text: str) -> list[int]:
        return list(self.tokenizer(text, add_special_tokens=False)["input_ids"])

    def emotion_vector(self, speech: SpeechInputs) -> torch.Tensor:
        """Stage 2's emotion input, ``(batch, llm_dim)``: the projector's output, or with
        ``emotion_input="words"`` the label-word embeddings weighted by the emotion head's posterior
        (differentiable in the posterior)."""
        if self.config.emotion_input == "words":
            posterior = torch.softmax(speech.emotion_logits.float(), dim=-1)
            return posterior @ self.label_embeddings.float()
        return self.emotion_projector(speech.emotion_pooled)

    def prompt_ids(self, prompt: str | None = None) -> list[int]:
        """Token ids of an instruction (the stage's one by default), followed by a newline."""
        text = self.config.prompt if prompt is None else prompt
        return list(self.tokenizer(text + "\n", add_special_tokens=False)["input_ids"])

    def target_ids(self, text: str) -> list[int]:
        """Token ids of a target (cut to ``max_target_tokens``), ending with EOS."""
        ids = list(self.tokenizer(text, add_special_tokens=False)["input_ids"])
        return ids[: self.config.max_target_tokens - 1] + [self.eos_ids[0]]

    def encode_speech(
        self,
        states: torch.Tensor | None = None,
        lengths: torch.Tensor | None = None,
        waves: Sequence[torch.Tensor] | None = None,
    ) -> SpeechInputs:
        """Run the encoder side: layer weights, connector, emotion pooling and head.

        Pass either cached hidden ``states`` with their ``lengths`` or raw ``waves``.
        """
        states, lengths = encoder_states(
            self.encoder,
            states,
            lengths,
            waves,
            caller="encode_speech",
            with_grad=self.config.unfreeze_encoder and self.training,
        )
        states = states.float()
        speech, speech_lengths = self.connector(self.speech_weights(states), lengths)
        frames = frame_lengths = None
        if self.config.speech_tokens == "ctc":
            frames, frame_lengths = speech, speech_lengths
            speech, speech_lengths = compress(self, frames, frame_lengths)
        emotion_frames = self.emotion_weights(states)
        mask = frame_mask(lengths, emotion_frames.shape[1]).unsqueeze(-1).to(emotion_frames.dtype)
        pooled = (emotion_frames * mask).sum(1) / mask.sum(1).clamp(min=1.0)
        return SpeechInputs(speech, speech_lengths, pooled, self.emotion_head(pooled), frames, frame_lengths)

    def _embed(self, ids: Sequence[int]) -> torch.Tensor:
        return embed_ids(self.llm, ids, self.device)

    def build_inputs(
        self,
        speech: SpeechInputs,
        prompt_ids: Sequence[int],
        targets: Sequence[Sequence[int]] | None = None,
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """The decoder input of a batch, right-padded.

        Returns:
            ``(inputs_embeds, attention_mask, labels)``; ``labels[b, p]`` is the token at position ``p`` if it
            is a target token, else ``-100``.
        """
        dtype = self.llm.get_input_embeddings().weight.dtype
        bos = self._embed([self.bos_id])
        prompt = self._embed(prompt_ids)
        emotion = self.emotion_vector(speech) if self.config.uses_emotion else None
        words = self.config.emotion_input == "words"
        tone, newline = (self._embed(self._tone_ids), self._embed(self._newline_ids)) if words else (None, None)
        rows: list[torch.Tensor] = []
        labels: list[torch.Tensor] = []
        for b in range(speech.speech.shape[0]):
            parts = [bos]
            if emotion is not None and not words:
                parts.append(emotion[b : b + 1])
            parts += [speech.speech[b, : int(speech.speech_lengths[b])], prompt]
            if emotion is not None and words:
                parts += [tone, emotion[b : b + 1], newline]
            target = list(targets[b]) if targets is not None else []
            if target:
                parts.append(self._embed(target))
            row = torch.cat([p.to(dtype) for p in parts])
            rows.append(row)
            labels.append(target_labels(row.shape[0], target, self.device))
        embeds, mask, label_out, _ = pad_rows(rows, labels, self.device)
        return embeds, mask, label_out

    def forward(self, batch: EChatBatch) -> EChatLoss:
        """The training loss of a batch (with ``alignment="ctc"``, the CTC objective; the LLM does not run)."""
        speech = self.encode_speech(batch.states, batch.lengths, batch.waves)
        if self.config.alignment == "ctc":
            loss, ctc, tokens = ctc_loss(self, speech.speech, speech.speech_lengths, batch.target_ids)
            zero = loss.detach() * 0.0
            return EChatLoss(loss, ctc, zero, speech.emotion_logits.detach(), tokens)
        embeds, mask, labels = self.build_inputs(speech, self.prompt_ids(), batch.target_ids)
        # logits at position p predict the token at p + 1: keep only the positions that predict targets
        next_labels = next_token(labels, IGNORE_INDEX)
        rows = (next_labels != IGNORE_INDEX).any(0).nonzero().flatten()
        first, last = int(rows.min()), int(rows.max()) + 1
        kwargs: dict[str, Any] = {"inputs_embeds": embeds, "attention_mask": mask, "use_cache": False}
        if self._keeps_logits:
            kwargs["logits_to_keep"] = torch.arange(first, last, device=self.device)
            keep_labels = next_labels[:, first:last]
        else:
            keep_labels = next_labels
        logits = self.llm(**kwargs).logits
        decoder = F.cross_entropy(logits.float().flatten(0, 1), keep_labels.flatten(), ignore_index=IGNORE_INDEX)
        weight = self.config.loss_weight
        emotion_labels = batch.emotion.to(self.device)
        if weight > 0 and bool((emotion_labels != IGNORE_INDEX).any()):
            emotion = F.cross_entropy(speech.emotion_logits.float(), emotion_labels, ignore_index=IGNORE_INDEX)
        else:
            emotion = speech.emotion_logits.sum() * 0.0  # keeps every trainable parameter in the graph
        loss = (1.0 - weight) * decoder + weight * emotion
        if speech.frames is not None and self.config.stage == 1:  # keep the alignment the compression reads
            loss = loss + ctc_loss(self, speech.frames, speech.frame_lengths, batch.target_ids)[0]
        return EChatLoss(
            loss,
            decoder.detach(),
            emotion.detach(),
            speech.emotion_logits.detach(),
            int((keep_labels != IGNORE_INDEX).sum()),
        )

    # ----------------------------------------------------------------------------------------------
    # inference

    def emotion_probabilities(self, logits: torch.Tensor) -> dict[str, float]:
        """Canonical label -> probability from one clip's emotion logits."""
        probs = torch.softmax(logits.float().flatten(), dim=0).tolist()
        return dict(zip(self.config.labels, probs, strict=True))

    @torch.inference_mode()
    def generate_ids(
        self,
        speech: SpeechInputs,
        prompt: str | None = None,
        max_new_tokens: int = 128,
        temperature: float = 0.0,
        top_p: float = 1.0,
        generator: torch.Generator | None = None,
    ) -> Iterator[int]:
        """Yield generated token ids for one clip, with a key/value cache; stops at EOS.

        Args:
            speech: :meth:`encode_speech` of one clip.
            prompt: Instruction (the stage's one by default).
            max_new_tokens: Most tokens generated.
            temperature: 0 is greedy; higher samples.
            top_p: Nucleus sampling threshold.
            generator: Random generator for sampling.
        """
        embeds, mask, _ = self.build_inputs(speech, self.prompt_ids(prompt))
        state = prefill(self.llm, self._cache_arg, embeds, mask)
        yield from decode(self.llm, self._cache_arg, state, self.eos_ids, max_new_tokens, temperature, top_p, generator)


def build_model(config: EChatConfig, device: str = "cpu", llm_dtype: str = "float32") -> EChatModel:
    """Load the pretrained encoder and LLM named by ``config`` and build a fresh E-chat model on ``device``.

    The new modules are initialised from torch's random state: seed it first for a repeatable model.
    """
    from ..common.backbones import load_llm, load_speech_encoder

    encoder = load_speech_encoder(config.encoder, device, trainable=config.unfreeze_encoder)
    llm, tokenizer = load_llm(config.llm, device, llm_dtype)
    return EChatModel(config, encoder, llm, tokenizer).to(device)
