"""ParalinGPT's modules: the speech-emotion prefix and the whole model around a frozen LLM.

The decoder input for one turn is::

    BOS, K soft prefix tokens, "User said: {transcript}\\n", "emotion: E | response emotion: R | reply: TEXT" + EOS

and the loss counts the target tokens only. The prefix comes from the frozen speech encoder: a learned
softmax-weighted sum of its hidden layers (:class:`~emotionlayer.models.common.layers.LayerWeightedSum`, as E-chat's,
each layer normalised per frame), mean and standard deviation over the clip's frames, and a small MLP that
writes ``K`` vectors in the LLM's embedding space. Only the layer weights and that MLP train (about 1.6 M
parameters for whisper tiny.en and SmolLM2-135M): the encoder and the LLM stay frozen.

With ``standardise`` on, every layer is pooled first, each pooled dimension is standardised with
statistics of the training set (saved with the weights), and the learned weights then mix the layers. The
pooled statistics of different clips share a large common part and differ by a few percent (where the
emotion is); without standardisation the projector learns a prefix that hardly depends on the audio (in a
350-step run on real data, a cosine similarity of 0.9998 between clips' prefixes), with it the prefix
follows the audio (0.33) but needs more steps to generalise (see docs/paralingpt.md).
"""

from __future__ import annotations

import copy
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from ...errors import ConfigError
from ..common.backbones import SpeechEncoder
from ..common.decoding import DecoderState, decode, feed, prefill
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
from .config import ParalinGPTConfig
from .fields import target_segments


class PrefixProjector(nn.Module):
    """Pooled speech-emotion features -> ``K`` soft tokens at the scale of the LLM's token embeddings.

    Args:
        in_dim: Width of the pooled features (twice the encoder width: mean and standard deviation).
        hidden: Hidden width.
        llm_dim: The LLM's embedding width.
        tokens: ``K``.
        dropout: Dropout after the hidden layer.
        scale: Typical norm-per-dimension of the LLM's token embeddings (the output's scale at the start).
        input_norm: Layer-normalise the input first (off when the features are already standardised).
    """

    def __init__(
        self, in_dim: int, hidden: int, llm_dim: int, tokens: int, dropout: float, scale: float, input_norm: bool = True
    ) -> None:
        super().__init__()
        self.tokens = tokens
        layers: list[nn.Module] = [nn.LayerNorm(in_dim)] if input_norm else []
        layers += [nn.Linear(in_dim, hidden), nn.GELU(), nn.Dropout(dropout), nn.Linear(hidden, tokens * llm_dim)]
        self.net = nn.Sequential(*layers)
        self.norm = nn.LayerNorm(llm_dim)
        self.register_buffer("scale", torch.tensor(float(scale)), persistent=False)

    def forward(self, pooled: torch.Tensor) -> torch.Tensor:
        """``(batch, in_dim)`` -> ``(batch, K, llm_dim)``."""
        out = self.net(pooled).view(pooled.shape[0], self.tokens, -1)
        return self.norm(out) * self.scale


class SoftPrompt(nn.Module):
    """``K`` learned tokens, the same for every input: ``LayerNorm(weight)`` at the LLM's embedding scale.

    The LayerNorm (as at the projector's output) keeps the tokens at the scale of real ones, and, with a
    small start, lets a step of the optimizer move them as fast as the projector moves the audio tokens (a
    plain table at the embeddings' scale moved about ten times slower in real runs).
    """

    def __init__(self, tokens: int, llm_dim: int, scale: float) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.randn(tokens, llm_dim) * 0.02)
        self.norm = nn.LayerNorm(llm_dim)
        self.register_buffer("scale", torch.tensor(float(scale)), persistent=False)

    def forward(self) -> torch.Tensor:
        """``(K, llm_dim)``."""
        return self.norm(self.weight) * self.scale


def mean_std_pool(frames: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
    """``(..., batch, frames, d)`` -> ``(..., batch, 2d)``: mean and standard deviation over each clip's
    valid frames."""
    mask = frame_mask(lengths, frames.shape[-2]).unsqueeze(-1).to(frames.dtype)
    count = mask.sum(-2).clamp(min=1.0)
    mean = (frames * mask).sum(-2) / count
    var = (((frames - mean.unsqueeze(-2)) ** 2) * mask).sum(-2) / count
    return torch.cat([mean, torch.sqrt(var + 1e-5)], dim=-1)


def pool_layers(states: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
    """Hidden states ``(layers, batch, frames, d)`` -> ``(batch, layers, 2d)``: each layer normalised per
    frame, then its mean and standard deviation over the clip's valid frames."""
    normed = F.layer_norm(states.float(), states.shape[-1:])
    return mean_std_pool(normed, lengths.to(normed.device)).transpose(0, 1)


@dataclass
class ParalinGPTBatch:
    """One training batch (see :func:`emotionlayer.models.paralingpt.data.collate`).

    Attributes:
        prompt_ids: Token ids of each turn's text prompt (ending with a newline).
        target_ids: Token ids of each target (ending with EOS).
        target_weights: Loss weight of each target token.
        emotion: ``(batch,)`` index of each turn's emotion among the model's labels (for the auxiliary loss).
        states: Cached hidden states ``(n_states, batch, frames, d)``, or ``None`` to run the encoder.
        lengths: Valid frames per clip when ``states`` is given.
        waves: 16 kHz waveforms when ``states`` is ``None``.
    """

    prompt_ids: list[list[int]]
    target_ids: list[list[int]]
    target_weights: list[list[float]]
    emotion: torch.Tensor | None = None
    states: torch.Tensor | None = None
    lengths: torch.Tensor | None = None
    waves: list[torch.Tensor] | None = None

    def to(self, device: torch.device | str) -> ParalinGPTBatch:
        return ParalinGPTBatch(
            self.prompt_ids,
            self.target_ids,
            self.target_weights,
            emotion=None if self.emotion is None else self.emotion.to(device),
            states=None if self.states is None else self.states.to(device),
            lengths=None if self.lengths is None else self.lengths.to(device),
            waves=None if self.waves is None else [w.to(device) for w in self.waves],
        )


@dataclass
class ParalinGPTLoss:
    """The loss of a batch, the number of target tokens it counted, and its parts: the language-model loss and
    the auxiliary emotion loss (0 when off)."""

    loss: torch.Tensor
    tokens: int
    language: torch.Tensor | None = None
    emotion: torch.Tensor | None = None


@dataclass
class Prefill(DecoderState):
    """The LLM's state after reading one turn's input (see :meth:`ParalinGPTModel.prefill`): a decoder state
    (logits, cache, mask) and ``emotion_scores``, the log-probability of each label as the emotion field's
    value (label -> score)."""

    emotion_scores: dict[str, float] = field(default_factory=dict)


class ParalinGPTModel(nn.Module):
    """ParalinGPT: frozen speech encoder -> layer weights + mean/std pooling -> prefix projector -> frozen LLM.

    Args:
        config: The model's settings.
        encoder: A frozen speech encoder (:func:`emotionlayer.models.common.backbones.load_speech_encoder`).
        llm: A frozen causal LM (:func:`emotionlayer.models.common.backbones.load_llm`).
        tokenizer: Its tokenizer.
    """

    def __init__(self, config: ParalinGPTConfig, encoder: SpeechEncoder, llm: Any, tokenizer: Any) -> None:
        super().__init__()
        self.config = config
        self.encoder = encoder
        self.llm = llm
        self.tokenizer = tokenizer
        table = llm.get_input_embeddings().weight
        llm_dim = int(table.shape[1])
        scale = float(table.detach().float().pow(2).mean().sqrt())
        self.layer_weights = LayerWeightedSum(encoder.num_hidden_states)
        width = 2 * encoder.hidden_size
        if config.standardise:  # training-set statistics of the pooled features, saved with the trained weights
            self.register_buffer("feature_mean", torch.zeros(encoder.num_hidden_states, width))
            self.register_buffer("feature_std", torch.ones(encoder.num_hidden_states, width))
        self.projector = PrefixProjector(
            width,
            config.projection_dim,
            llm_dim,
            config.prefix_tokens,
            config.dropout,
            scale,
            input_norm=not config.standardise,
        )
        if config.has_emotion_head:  # the auxiliary classifier of the prefix (not in the paper)
            self.emotion_head = nn.Linear(config.prefix_tokens * llm_dim, len(config.labels))
        self.bos_id, self.eos_ids = special_ids(tokenizer, llm)
        self._cache_arg = cache_argument(llm)
        self._label_ids = {label: self.ids(f" {label}") for label in config.labels}
        if config.soft_prompt:  # K learned tokens, the same for every clip (see soft_prompt_tokens)
            self.soft_prompt = SoftPrompt(config.prefix_tokens, llm_dim, scale)
        if config.emotion_token:  # e_l: the mean input embedding of the tokens the target writes label l with
            rows = [table.detach()[torch.tensor(self._label_ids[label])].float().mean(0) for label in config.labels]
            self.register_buffer("label_embeddings", torch.stack(rows), persistent=False)
        self._field_ids = self.ids("emotion:")
        self._bar_ids = self.ids(" |")
        self._token_text_ids = self.ids(config.emotion_token_text)
        self._newline_ids = self.ids("\n")
        self.requires_grad_(False)
        for module in self.trainable_modules().values():
            module.requires_grad_(True)
        self.train(self.training)

    # ----------------------------------------------------------------------------------------------
    # which parameters train

    def trainable_modules(self) -> dict[str, nn.Module]:
        """The modules that train: the layer weights and the prefix projector, and the auxiliary emotion classifier
        when the config has one (the encoder and LLM never do)."""
        modules: dict[str, nn.Module] = {"layer_weights": self.layer_weights, "projector": self.projector}
        if self.config.has_emotion_head:
            modules["emotion_head"] = self.emotion_head
        if self.config.soft_prompt:
            modules["soft_prompt"] = self.soft_prompt
        return modules

    def train(self, mode: bool = True) -> ParalinGPTModel:
        """Like ``nn.Module.train``, but the frozen encoder and LLM always stay in eval mode."""
        super().train(mode)
        self.llm.eval()
        self.encoder.eval()
        return self

    @property
    def stats_names(self) -> tuple[str, ...]:
        """Buffers a checkpoint holds besides the trained parameters (the feature statistics, if standardised)."""
        return ("feature_mean", "feature_std") if self.config.standardise else ()

    def trainable_state_dict(self) -> dict[str, torch.Tensor]:
        """The weights a checkpoint holds: every parameter that trains (and the feature statistics)."""
        state = {name: p.detach() for name, p in self.named_parameters() if p.requires_grad}
        state.update({name: getattr(self, name).detach() for name in self.stats_names})
        return state

    def set_feature_stats(self, mean: torch.Tensor, std: torch.Tensor) -> None:
        """Set the standardisation of the pooled features: ``(layers, 2d)`` means and standard deviations.

        Raises:
            ConfigError: the model does not standardise (``standardise`` is off), or the shapes are wrong.
        """
        if not self.config.standardise:
            raise ConfigError("This ParalinGPT model does not standardise its features (standardise is off).")
        expected = tuple(self.feature_mean.shape)
        if tuple(mean.shape) != expected or tuple(std.shape) != expected:
            raise ConfigError(
                f"Feature statistics must have shape {expected}, got {tuple(mean.shape)} and {tuple(std.shape)}."
            )
        with torch.no_grad():
            self.feature_mean.copy_(mean)
            self.feature_std.copy_(std.clamp(min=1e-4))

    def load_trainable_state_dict(self, state: dict[str, torch.Tensor]) -> list[str]:
        """Load checkpoint weights (exactly the trainable ones and the feature statistics, with the same shapes).

        Raises:
            ConfigError: names or shapes differ (the checkpoint was made for another encoder, LLM or config).
        """
        params = {**dict(self.named_parameters()), **{name: getattr(self, name) for name in self.stats_names}}
        return load_checked_weights(
            params,
            state,
            self.trainable_state_dict(),
            made_for="another encoder, LLM or config",
            missing_advice="It was made for another encoder, LLM or config; use the config.json saved beside it.",
        )

    # ----------------------------------------------------------------------------------------------
    # text

    @property
    def device(self) -> torch.device:
        return self.layer_weights.logits.device

    def ids(self, text: str) -> list[int]:
        """Token ids of ``text`` without special tokens."""
        return list(self.tokenizer(text, add_special_tokens=False)["input_ids"])

    def prompt_ids(self, transcript: str) -> list[int]:
        """Token ids of the text prompt for a transcript (cut to ``max_transcript_tokens``), then a newline."""
        config = self.config
        text = config.render_prompt(transcript)
        ids = self.ids(text)
        limit = config.max_transcript_tokens + len(self.ids(config.render_prompt("x")))
        return ids[:limit] + self.ids("\n")

    def target_ids(self, emotion: str, response_emotion: str, reply: str) -> tuple[list[int], list[float]]:
        """Token ids of a serialised target (the reply cut to fit ``max_target_tokens``) + EOS, and their loss weights.

        The emotion label's tokens weigh ``emotion_weight``; every other token 1.
        """
        segments = [self.ids(piece) for piece in target_segments(emotion, response_emotion, reply)]
        head = [i for piece in segments[:-1] for i in piece]
        room = max(0, self.config.max_target_tokens - 1 - len(head))
        ids = head + segments[-1][:room] + [self.eos_ids[0]]
        weights = [1.0] * len(ids)
        start = len(segments[0])
        for i in range(start, start + len(segments[1])):
            weights[i] = float(self.config.emotion_weight)
        return ids, weights

    # ----------------------------------------------------------------------------------------------
    # forward

    def pooled_features(
        self,
        states: torch.Tensor | None = None,
        lengths: torch.Tensor | None = None,
        waves: Sequence[torch.Tensor] | None = None,
    ) -> torch.Tensor:
        """Per-layer pooled features ``(batch, layers, 2d)`` of cached hidden ``states`` (with ``lengths``) or raw
        ``waves``, before standardisation."""
        states, lengths = self._states(states, lengths, waves)
        return pool_layers(states, lengths)

    def _states(
        self, states: torch.Tensor | None, lengths: torch.Tensor | None, waves: Sequence[torch.Tensor] | None
    ) -> tuple[torch.Tensor, torch.Tensor]:
        states, lengths = encoder_states(self.encoder, states, lengths, waves, caller="ParalinGPT")
        layers = self.layer_weights.logits.shape[0]
        if states.shape[0] != layers:
            raise ConfigError(
                f"Expected {layers} hidden states, got {states.shape[0]}: the encoder does not match the one this "
                "model was built for."
            )
        return states, lengths

    def encode_prefix(
        self,
        states: torch.Tensor | None = None,
        lengths: torch.Tensor | None = None,
        waves: Sequence[torch.Tensor] | None = None,
    ) -> torch.Tensor:
        """What the LLM reads of cached hidden ``states`` (with ``lengths``) or raw ``waves``: the soft prefix
        ``(batch, K, llm_dim)`` (:meth:`llm_prefix` of :meth:`audio_prefix`).

        With ``emotion_token`` the result has one more token at the end, ``(batch, K + 1, llm_dim)``: the
        emotion token (:meth:`emotion_token`), which :meth:`build_inputs` places after the transcript.
        """
        return self.llm_prefix(self.audio_prefix(states, lengths, waves))

    def audio_prefix(
        self,
        states: torch.Tensor | None = None,
        lengths: torch.Tensor | None = None,
        waves: Sequence[torch.Tensor] | None = None,
    ) -> torch.Tensor:
        """The K soft tokens ``(batch, K, llm_dim)`` the adapter makes of the speech (what the classifier reads)."""
        states, lengths = self._states(states, lengths, waves)
        if self.config.standardise:
            return self.prefix_of_pooled(pool_layers(states, lengths))
        frames = self.layer_weights(states.float())
        return self.projector(mean_std_pool(frames, lengths.to(frames.device)))

    def llm_prefix(self, audio: torch.Tensor) -> torch.Tensor:
        """What the LLM reads of the audio tokens ``(batch, K, llm_dim)`` (:meth:`audio_prefix`): those tokens,
        or with ``soft_prompt`` the learned soft prompt in their place; then, with ``emotion_token``, the
        emotion token of the audio tokens."""
        prefix = audio
        if self.config.soft_prompt:
            prefix = self.soft_prompt().to(audio.dtype).unsqueeze(0).expand(audio.shape[0], -1, -1)
        if self.config.emotion_token:
            prefix = torch.cat([prefix, self.emotion_token(audio)], dim=1)
        return prefix

    def emotion_token(self, prefix: torch.Tensor) -> torch.Tensor:
        """With ``emotion_token``: ``(batch, 1, llm_dim)``, the label embeddings weighted by the auxiliary
        classifier's posterior, ``sum_l p_l * e_l`` (differentiable in ``p``), of soft prefixes
        ``(batch, K, llm_dim)``."""
        posterior = torch.softmax(self.emotion_logits(prefix).float(), dim=-1)
        return (posterior @ self.label_embeddings.float()).unsqueeze(1).to(prefix.dtype)

    def prefix_of_pooled(self, pooled: torch.Tensor) -> torch.Tensor:
        """With ``standardise``: the soft prefix ``(batch, K, llm_dim)`` of per-layer pooled features
        ``(batch, layers, 2d)`` (:meth:`pooled_features`): standardised, mixed by the layer weights, projected."""
        standard = (pooled - self.feature_mean) / self.feature_std
        return self.projector(torch.einsum("l,bld->bd", self.layer_weights.weights, standard))

    def emotion_logits(self, prefix: torch.Tensor) -> torch.Tensor:
        """The auxiliary classifier's ``(batch, labels)`` logits of soft prefixes ``(batch, K, llm_dim)`` (an
        emotion token after the K tokens is ignored)."""
        return self.emotion_head(prefix[:, : self.config.prefix_tokens].flatten(1) / self.projector.scale)

    def _embed(self, ids: Sequence[int]) -> torch.Tensor:
        return embed_ids(self.llm, ids, self.device)

    def build_inputs(
        self,
        prefix: torch.Tensor,
        prompt_ids: Sequence[Sequence[int]],
        targets: Sequence[Sequence[int]] | None = None,
        weights: Sequence[Sequence[float]] | None = None,
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
        """The decoder input of a batch, right-padded: BOS, the K prefix tokens, the prompt, the emotion token
        (when ``prefix`` has one after its K tokens) on a line of its own after ``emotion_token_text``
        (``Tone:`` token newline), the target.

        Returns:
            ``(inputs_embeds, attention_mask, labels, label_weights)``; ``labels[b, p]`` is the token at
            position ``p`` if it is a target token, else ``-100``.
        """
        dtype = self.llm.get_input_embeddings().weight.dtype
        bos = self._embed([self.bos_id])
        rows, labels, label_weights = [], [], []
        for b in range(prefix.shape[0]):
            target = list(targets[b]) if targets is not None else []
            k = self.config.prefix_tokens
            parts = [bos, prefix[b, :k], self._embed(prompt_ids[b])]
            if prefix.shape[1] > k:  # the emotion token, on its own line: "Tone:" token "\n"
                parts += [self._embed(self._token_text_ids), prefix[b, k:], self._embed(self._newline_ids)]
            if target:
                parts.append(self._embed(target))
            row = torch.cat([p.to(dtype) for p in parts])
            weight = torch.zeros(row.shape[0], device=self.device)
            if target:
                weight[-len(target) :] = torch.tensor(
                    list(weights[b]) if weights is not None else [1.0] * len(target), device=self.device
                )
            rows.append(row)
            labels.append(target_labels(row.shape[0], target, self.device))
            label_weights.append(weight)
        embeds, mask, label_out, weight_out = pad_rows(rows, labels, self.device, label_weights)
        assert weight_out is not None
        return embeds, mask, label_out, weight_out

    def _logits_at(self, embeds: torch.Tensor, mask: torch.Tensor, where: torch.Tensor) -> torch.Tensor:
        """Next-token logits at the positions ``where`` (a boolean ``(batch, positions)`` mask) only.

        The output layer runs on those positions alone: with a large vocabulary it is the costliest part.
        """
        base = getattr(self.llm, "base_model", None)
        head = self.llm.get_output_embeddings()
        if base is None or base is self.llm or head is None:
            return self.llm(inputs_embeds=embeds, attention_mask=mask, use_cache=False).logits[where]
        hidden = base(inputs_embeds=embeds, attention_mask=mask, use_cache=False).last_hidden_state
        return head(hidden[where])

    def forward(self, batch: ParalinGPTBatch) -> ParalinGPTLoss:
        """The training loss of a batch: weighted cross-entropy over the target tokens."""
        audio = self.audio_prefix(batch.states, batch.lengths, batch.waves)
        prefix = self.llm_prefix(audio)
        embeds, mask, labels, weights = self.build_inputs(
            prefix, batch.prompt_ids, batch.target_ids, batch.target_weights
        )
        # logits at position p predict the token at p + 1
        next_labels, next_weights = next_token(labels, IGNORE_INDEX), next_token(weights, 0.0)
        where = next_labels != IGNORE_INDEX
        logits = self._logits_at(embeds, mask, where)
        token_loss = F.cross_entropy(logits.float(), next_labels[where], reduction="none")
        w = next_weights[where]
        language = (token_loss * w).sum() / w.sum()
        weight = self.config.emotion_aux_weight
        if weight > 0 and batch.emotion is not None:
            emotion = F.cross_entropy(self.emotion_logits(audio).float(), batch.emotion.to(self.device))
        else:
            emotion = language.new_zeros(())
            if self.config.has_emotion_head:  # keeps every trainable parameter in the graph
                emotion = emotion + self.emotion_logits(audio).sum() * 0.0
        loss = language + weight * emotion
        return ParalinGPTLoss(loss, int(where.sum()), language.detach(), emotion.detach())

    # ----------------------------------------------------------------------------------------------
    # inference

    @torch.inference_mode()
    def prefill(self, prefix: torch.Tensor, transcript: str) -> Prefill:
        """Read one turn (its ``(1, K, d)`` prefix and transcript) up to ``emotion:`` and score every label.

        A label's score is the log-probability of its tokens as the value of the ``emotion`` field: the
        model's own distribution over the labels, which no garbled text can break.
        """
        embeds, mask, _, _ = self.build_inputs(prefix, [self.prompt_ids(transcript)], [self._field_ids])
        state = prefill(self.llm, self._cache_arg, embeds, mask)
        first = torch.log_softmax(state.logits[-1].float(), dim=-1)
        scores: dict[str, float] = {}
        for label, ids in self._label_ids.items():
            score = float(first[ids[0]])
            if len(ids) > 1:  # the label's later tokens, each after the ones before (on a copy of the cache)
                copy_state = DecoderState(state.logits, copy.deepcopy(state.cache), state.mask)
                rest = feed(self.llm, self._cache_arg, ids[:-1], copy_state).logits
                steps = torch.log_softmax(rest.float().reshape(len(ids) - 1, -1), dim=-1)
                score += float(sum(steps[i, ids[i + 1]] for i in range(len(ids) - 1)))
            scores[label] = score
        return Prefill(state.logits, state.cache, state.mask, scores)

    @torch.inference_mode()
    def generate_ids(
        self,
        state: Prefill,
        emotion: str,
        max_new_tokens: int = 64,
        temperature: float = 0.0,
        top_p: float = 1.0,
        generator: torch.Generator | None = None,
    ) -> Iterator[int]:
        """Force `` {emotion} |`` after the prefill, then yield generated token ids until EOS.

        ``state`` is used up (its cache grows).
        """
        forced = feed(self.llm, self._cache_arg, self._label_ids[emotion] + self._bar_ids, state)
        yield from decode(
            self.llm, self._cache_arg, forced, self.eos_ids, max_new_tokens, temperature, top_p, generator
        )


def build_model(config: ParalinGPTConfig, device: str = "cpu", llm_dtype: str = "float32") -> ParalinGPTModel:
    """Load the frozen encoder and LLM ``config`` names (cached per process) and build a fresh model on ``device``.

    The new modules are initialised from torch's random state: seed it first for a repeatable model.
    """
    from ..common.backbones import load_llm, load_speech_encoder

    encoder = load_speech_encoder(config.encoder, device)
    llm, tokenizer = load_llm(config.llm, device, llm_dtype)
    return ParalinGPTModel(config, encoder, llm, tokenizer).to(device)
