"""E-chat's settings: the model and its emotion warm-up (:class:`EChatConfig`); the training run is the shared
:class:`~emotionlayer.models.common.config.TrainConfig`.

Both are frozen dataclasses of plain data, checked when built (every message says how to fix the value),
and written to / read from JSON with ``to_dict`` / ``from_dict``. A config file for ``emotionlayer echat
train --config`` holds either section or both::

    {"model": {"encoder": "base", "connector_layers": 4}, "train": {"batch_size": 16, "learning_rate": 5e-5}}
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass, replace
from typing import Any, ClassVar, Union

from ...labels import EMOTIONS, canonical_list
from ..common.config import ModelConfig, TrainConfig
from ..common.config import check as _check
from ..common.config import read_config_file as _read_config_file

__all__ = ["ASR_PROMPT", "REPLY_PROMPT", "EChatConfig", "TrainConfig", "read_config_file"]

PathLike = Union[str, os.PathLike]

#: Stage 1 (speech-text alignment) instruction, as in the E-chat paper.
ASR_PROMPT = "Transcribe the speech."
#: Stage 2 (emotional reply) instruction, as in the E-chat paper.
REPLY_PROMPT = "You are requested to provide a comforting response based on the emotion conveyed in this speech."
#: Weight ``a`` of the emotion loss in ``(1 - a) * L_decoder + a * L_emotion`` per stage.
DEFAULT_EMOTION_LOSS_WEIGHT = {1: 0.0, 2: 0.1}
#: Stage-1 objectives: the paper's LLM loss, or CTC onto the LLM's token embeddings (no LLM pass).
ALIGNMENTS = ("lm", "ctc")
#: What reaches the LLM: every connector frame, or one vector per token the CTC head reads.
SPEECH_TOKENS = ("frames", "ctc")
#: How stage 2 gives the LLM the emotion (``EChatConfig.emotion_input``).
EMOTION_INPUTS = ("projector", "words")


@dataclass(frozen=True)
class EChatConfig(ModelConfig):
    """The shape of an E-chat model and the prompts it answers.

    Attributes:
        encoder: Speech encoder: ``tiny.en`` or ``base`` (the packaged whisper encoders), a CTranslate2
            whisper folder, or a local Hugging Face HuBERT / wav2vec2 / WavLM / whisper folder (saved with
            ``save_pretrained``).
        llm: Frozen decoder: ``None`` for the packaged SmolLM2-135M-Instruct GGUF, a local Hugging Face
            causal-LM folder (model and tokenizer), or a ``.gguf`` file.
        stage: 1 (speech-text alignment: the target is the transcript) or 2 (emotional replies: the
            emotion embedding goes into the decoder and the target is the reply).
        stack_frames: Encoder frames stacked into one connector frame (frame-rate reduction ``k``).
        connector_dim: Width of the connector's Transformer encoder.
        connector_layers: Its depth (0 leaves only the stacking and the projections).
        connector_heads: Its attention heads (must divide ``connector_dim``).
        connector_ff_dim: Width of its feed-forward layers.
        dropout: Dropout in the connector and the emotion head.
        emotion_hidden_dim: Hidden width of the emotion head and of the emotion projection.
        labels: Emotion labels of the auxiliary head (canonical names; aliases are accepted).
        emotion_loss_weight: ``a`` in ``(1 - a) * L_decoder + a * L_emotion``; ``None`` means 0 in stage 1
            and 0.1 in stage 2.
        unfreeze_encoder: Train the speech encoder too (stage 1 only; features are then not cached).
        asr_prompt: The stage-1 instruction.
        reply_prompt: The stage-2 instruction.
        max_audio_seconds: Longest clip accepted (whisper encoders take at most 30 s per pass).
        max_target_tokens: Longest target (transcript or reply) in tokens; longer ones are cut.
        emotion_warmup_steps: Stage 2: before the first step of a fresh run, train the emotion layer weights
            and the emotion head alone on the emotion labels for this many steps (the LLM does not run; see
            :mod:`emotionlayer.models.echat.warmup`). 0 turns it off. (Older versions read it from the
            ``train`` section, where it stood beside the learning rate's ``warmup_steps``; it is still read
            there, with a deprecation message.)
        alignment: Stage 1's objective. ``"lm"`` (the paper's): the frozen LLM's next-token loss on the
            transcript, back-propagated through the LLM into the connector. ``"ctc"`` (not in the paper; a
            pre-alignment that fits a CPU budget): the connector's outputs are scored against the LLM's own
            token embeddings (cosine, plus a learned blank vector) and trained with CTC on the transcript's
            tokens, so the LLM does not run at all; a short ``"lm"`` run started from it with ``--init``
            then teaches the LLM to read them. See :mod:`emotionlayer.models.echat.ctc`.
        speech_tokens: What reaches the LLM. ``"frames"`` (the paper's): every connector frame. ``"ctc"``
            (not in the paper; needs a model pre-aligned with ``alignment="ctc"``, via ``--init``): the frames
            the CTC head reads as blank are dropped and each run of frames read as the same token is averaged
            into one, so the LLM gets about one vector per token, each near that token's embedding. Stage 1
            then adds the CTC loss to the LLM's, which keeps the alignment the compression relies on.
        emotion_input: How stage 2 gives the LLM the emotion. ``"projector"`` (the paper's): a learned MLP
            maps the pooled emotion embedding to one input vector, right after BOS. ``"words"`` (not in the
            paper): the emotion head's posterior weights the LLM's own embeddings of the label words,
            ``sum_l p_l * e_l``, and that vector goes on a line of its own after the instruction
            (``Tone: <vector>``), so the frozen LLM reads the emotion as (a mix of) words it knows, and the
            reply depends on the voice only through the head (which is trained on the emotion labels, and
            by the reply loss through the posterior). The projector is then not used or trained.
    """

    display_name: ClassVar[str] = "E-chat"

    encoder: str = "tiny.en"
    llm: str | None = None
    stage: int = 1
    stack_frames: int = 4
    connector_dim: int = 256
    connector_layers: int = 2
    connector_heads: int = 4
    connector_ff_dim: int = 1024
    dropout: float = 0.1
    emotion_hidden_dim: int = 256
    labels: tuple[str, ...] = EMOTIONS
    emotion_loss_weight: float | None = None
    unfreeze_encoder: bool = False
    asr_prompt: str = ASR_PROMPT
    reply_prompt: str = REPLY_PROMPT
    max_audio_seconds: float = 30.0
    max_target_tokens: int = 256
    emotion_warmup_steps: int = 0
    alignment: str = "lm"
    speech_tokens: str = "frames"
    emotion_input: str = "projector"

    def __post_init__(self) -> None:
        _check(
            bool(str(self.encoder).strip()),
            "EChatConfig.encoder is empty. Use 'tiny.en', 'base' or a local model folder.",
        )
        _check(self.stage in (1, 2), f"EChatConfig.stage must be 1 or 2, got {self.stage!r}.")
        _check(
            isinstance(self.stack_frames, int) and self.stack_frames >= 1,
            "EChatConfig.stack_frames must be an integer >= 1 (frames stacked per connector step), got "
            f"{self.stack_frames!r}.",
        )
        for name in ("connector_dim", "connector_ff_dim", "connector_heads", "emotion_hidden_dim", "max_target_tokens"):
            value = getattr(self, name)
            _check(
                isinstance(value, int) and value >= 1, f"EChatConfig.{name} must be a positive integer, got {value!r}."
            )
        for name in ("connector_layers", "emotion_warmup_steps"):
            value = getattr(self, name)
            _check(isinstance(value, int) and value >= 0, f"EChatConfig.{name} must be an integer >= 0, got {value!r}.")
        _check(
            self.connector_dim % self.connector_heads == 0,
            f"EChatConfig.connector_heads ({self.connector_heads}) must divide connector_dim ({self.connector_dim}); "
            "e.g. connector_dim=256 with connector_heads=4.",
        )
        _check(0.0 <= self.dropout < 1.0, f"EChatConfig.dropout must be in [0, 1), got {self.dropout!r}.")
        object.__setattr__(self, "labels", tuple(canonical_list(list(self.labels))))
        _check(len(self.labels) >= 2, f"EChatConfig.labels needs at least two emotions, got {list(self.labels)}.")
        if self.emotion_loss_weight is not None:
            _check(
                0.0 <= float(self.emotion_loss_weight) <= 1.0,
                "EChatConfig.emotion_loss_weight must be in [0, 1] (or null for the stage default), got "
                f"{self.emotion_loss_weight!r}.",
            )
        _check(
            not (self.unfreeze_encoder and self.stage == 2),
            "EChatConfig.unfreeze_encoder is for stage 1 only: stage 2 keeps the encoder frozen. Set it to false.",
        )
        _check(
            math.isfinite(self.max_audio_seconds) and self.max_audio_seconds > 0,
            f"EChatConfig.max_audio_seconds must be positive, got {self.max_audio_seconds!r}.",
        )
        _check(
            self.alignment in ALIGNMENTS,
            f"EChatConfig.alignment must be one of {', '.join(ALIGNMENTS)}, got {self.alignment!r}.",
        )
        _check(
            self.alignment == "lm" or self.stage == 1,
            "EChatConfig.alignment 'ctc' is a stage-1 objective (speech to the transcript's tokens); stage 2 "
            "learns replies through the LLM. Set alignment to 'lm' for stage 2.",
        )
        _check(
            self.speech_tokens in SPEECH_TOKENS,
            f"EChatConfig.speech_tokens must be one of {', '.join(SPEECH_TOKENS)}, got {self.speech_tokens!r}.",
        )
        _check(
            not (self.speech_tokens == "ctc" and self.alignment == "ctc"),
            "EChatConfig.speech_tokens 'ctc' is for the runs after a CTC pre-alignment (alignment 'lm', started "
            "with --init from the alignment 'ctc' run); the pre-alignment itself does not run the LLM.",
        )
        _check(
            self.emotion_input in EMOTION_INPUTS,
            f"EChatConfig.emotion_input must be one of {', '.join(EMOTION_INPUTS)}, got {self.emotion_input!r}.",
        )
        _check(bool(self.asr_prompt.strip()) and bool(self.reply_prompt.strip()), "E-chat prompts must not be empty.")

    @property
    def loss_weight(self) -> float:
        """The emotion loss weight ``a`` this config trains with."""
        if self.emotion_loss_weight is not None:
            return float(self.emotion_loss_weight)
        return DEFAULT_EMOTION_LOSS_WEIGHT[self.stage]

    @property
    def uses_emotion(self) -> bool:
        """Whether the emotion embedding goes into the decoder (stage 2)."""
        return self.stage == 2

    @property
    def prompt(self) -> str:
        """The instruction of this config's stage."""
        return self.asr_prompt if self.stage == 1 else self.reply_prompt

    def with_stage(self, stage: int) -> EChatConfig:
        """A copy for another stage (stage 2 keeps the encoder frozen)."""
        return replace(
            self,
            stage=stage,
            unfreeze_encoder=self.unfreeze_encoder and stage == 1,
            alignment=self.alignment if stage == 1 else "lm",
        )



def read_config_file(path: PathLike) -> tuple[dict[str, Any], dict[str, Any]]:
    """Read the ``model`` and ``train`` sections of an E-chat JSON config file (either may be missing).

    Returns:
        ``(model_overrides, train_overrides)``, plain dicts to merge over defaults.

    Raises:
        ConfigError: the file is missing, not JSON, or has unknown sections or keys.
    """
    return _read_config_file(path, EChatConfig, "E-chat", {"connector_layers": 4})
