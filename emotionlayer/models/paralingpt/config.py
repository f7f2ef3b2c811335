"""ParalinGPT's settings: the model (:class:`ParalinGPTConfig`); runs use the shared :class:`TrainConfig`.

The model config is a frozen dataclass of plain data, checked when built (every message says how to fix
the value) and written to / read from JSON. A config file for ``emotionlayer paralingpt train --config``
holds either section or both::

    {"model": {"prefix_tokens": 8, "projection_dim": 768}, "train": {"batch_size": 16, "learning_rate": 3e-4}}
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass
from typing import Any, ClassVar, Union

from ...labels import EMOTIONS, canonical_list
from ..common.config import ModelConfig, TrainConfig
from ..common.config import check as _check
from ..common.config import read_config_file as _read_config_file

PathLike = Union[str, os.PathLike]

#: The text prompt that carries the ASR transcript (``{transcript}`` is replaced by it).
USER_PROMPT = "User said: {transcript}"
#: What the prompt says when the ASR heard no words.
NO_WORDS = "(no words could be recognised)"


@dataclass(frozen=True)
class ParalinGPTConfig(ModelConfig):
    """The shape of a ParalinGPT model and the text it reads and writes.

    Attributes:
        encoder: Frozen speech encoder: ``tiny.en`` or ``base`` (the packaged whisper encoders, as the
            SER uses), a CTranslate2 whisper folder, or a local Hugging Face HuBERT / wav2vec2 / WavLM /
            whisper folder.
        llm: Frozen causal LM: ``None`` for the packaged SmolLM2-135M-Instruct GGUF, a local Hugging Face
            causal-LM folder, or a ``.gguf`` file.
        prefix_tokens: Soft prefix tokens the speech-emotion embedding becomes (``K``).
        projection_dim: Hidden width of the projection from the pooled features to the prefix.
        dropout: Dropout inside the projection.
        labels: Emotion labels the model writes (canonical names; aliases are accepted).
        prompt: The text prompt; ``{transcript}`` is replaced by the ASR transcript.
        emotion_weight: Loss weight of the current-turn emotion's label tokens relative to the other
            target tokens (1 is the plain language-model loss of the paper).
        standardise: Pool every layer first and standardise each pooled dimension with training-set
            statistics before the learned layer mix (the prefix then follows the audio more; see
            docs/paralingpt.md). Off: mix the layers frame by frame, then pool.
        emotion_aux_weight: Weight of an auxiliary loss (not in the paper): a linear classifier reads the
            soft prefix and its cross-entropy on the turn's emotion is added to the language-model loss, so
            the prefix must carry the emotion. 0 (the default) is the paper's loss alone.
        prefix_warmup_steps: Before the first step of a fresh run, train the layer weights, the projector
            and that classifier on the emotion labels alone for this many steps (the LLM does not run; needs
            ``standardise``, whose pooled features are computed once per clip). 0 turns it off.
        emotion_token: One more input token (not in the paper), placed after the transcript, just before
            the target: ``sum_l p_l * e_l``, where ``p`` is the auxiliary classifier's softmax over the labels
            (read from the K prefix tokens) and ``e_l`` the mean LLM input embedding of the tokens the target
            writes label ``l`` with. The frozen LLM then sees something close to the word it has to copy into
            the ``emotion`` field; the token stays differentiable, so the LM loss trains the classifier too.
            Off (the default) is the paper's prefix alone.
        emotion_token_text: The text before the emotion token; the two make a line of their own after the
            transcript's (``User said: ...\nTone: <token>\n``, then the target), where the frozen LLM reads
            a word naturally and goes on to a new line.
        soft_prompt: With ``emotion_token`` (not in the paper): the LLM reads K learned soft-prompt tokens,
            the same for every clip, in place of the K audio tokens; the audio then reaches the LLM only
            through the emotion token (the audio tokens feed the classifier). A fixed prompt lets the frozen
            LLM learn the answer's format in few steps (audio tokens that differ between clips slowed it).
        max_audio_seconds: Longest clip accepted (whisper encoders take at most 30 s per pass).
        max_transcript_tokens: Longest transcript in the prompt, in tokens (longer ones are cut).
        max_target_tokens: Longest serialised target in tokens (the reply is cut to fit).
    """

    display_name: ClassVar[str] = "ParalinGPT"

    encoder: str = "tiny.en"
    llm: str | None = None
    prefix_tokens: int = 4
    projection_dim: int = 512
    dropout: float = 0.1
    labels: tuple[str, ...] = EMOTIONS
    prompt: str = USER_PROMPT
    emotion_weight: float = 1.0
    standardise: bool = False
    emotion_aux_weight: float = 0.0
    prefix_warmup_steps: int = 0
    emotion_token: bool = False
    emotion_token_text: str = "Tone:"
    soft_prompt: bool = False
    max_audio_seconds: float = 30.0
    max_transcript_tokens: int = 96
    max_target_tokens: int = 128

    def __post_init__(self) -> None:
        _check(
            bool(str(self.encoder).strip()),
            "ParalinGPTConfig.encoder is empty. Use 'tiny.en', 'base' or a local model folder.",
        )
        for name in ("prefix_tokens", "projection_dim", "max_transcript_tokens", "max_target_tokens"):
            value = getattr(self, name)
            _check(
                isinstance(value, int) and value >= 1,
                f"ParalinGPTConfig.{name} must be a positive integer, got {value!r}.",
            )
        _check(0.0 <= self.dropout < 1.0, f"ParalinGPTConfig.dropout must be in [0, 1), got {self.dropout!r}.")
        object.__setattr__(self, "labels", tuple(canonical_list(list(self.labels))))
        _check(len(self.labels) >= 2, f"ParalinGPTConfig.labels needs at least two emotions, got {list(self.labels)}.")
        _check(
            "{transcript}" in self.prompt,
            f"ParalinGPTConfig.prompt must contain '{{transcript}}' (where the ASR transcript goes), got "
            f"{self.prompt!r}.",
        )
        _check(
            math.isfinite(self.emotion_weight) and self.emotion_weight > 0,
            f"ParalinGPTConfig.emotion_weight must be positive (1 = plain LM loss), got {self.emotion_weight!r}.",
        )
        _check(
            math.isfinite(self.emotion_aux_weight) and self.emotion_aux_weight >= 0,
            f"ParalinGPTConfig.emotion_aux_weight must be >= 0 (0 = off), got {self.emotion_aux_weight!r}.",
        )
        _check(
            isinstance(self.prefix_warmup_steps, int) and self.prefix_warmup_steps >= 0,
            f"ParalinGPTConfig.prefix_warmup_steps must be an integer >= 0, got {self.prefix_warmup_steps!r}.",
        )
        _check(
            not self.prefix_warmup_steps or self.standardise,
            "ParalinGPTConfig.prefix_warmup_steps needs standardise on (the warm-up reads the standardised pooled "
            "features of each clip). Set standardise to true or the warm-up to 0.",
        )
        _check(
            not self.soft_prompt or self.emotion_token,
            "ParalinGPTConfig.soft_prompt needs emotion_token on (the audio would not reach the LLM otherwise). Set "
            "emotion_token to true or soft_prompt to false.",
        )
        _check(
            math.isfinite(self.max_audio_seconds) and self.max_audio_seconds > 0,
            f"ParalinGPTConfig.max_audio_seconds must be positive, got {self.max_audio_seconds!r}.",
        )

    @property
    def has_emotion_head(self) -> bool:
        """Whether the model has the auxiliary emotion classifier on its prefix (an auxiliary loss, a warm-up or
        the emotion token)."""
        return self.emotion_aux_weight > 0 or self.prefix_warmup_steps > 0 or self.emotion_token

    def render_prompt(self, transcript: str) -> str:
        """The text prompt for one transcript (a placeholder when it is empty)."""
        text = " ".join(str(transcript).split()) or NO_WORDS
        return self.prompt.replace("{transcript}", text)


def default_train_config() -> TrainConfig:
    """The run defaults for ParalinGPT: :class:`TrainConfig`'s, with a higher learning rate (only a small
    projection trains)."""
    return TrainConfig(learning_rate=5e-4, warmup_steps=30)


def read_config_file(path: PathLike) -> tuple[dict[str, Any], dict[str, Any]]:
    """Read the ``model`` and ``train`` sections of a ParalinGPT JSON config file (either may be missing).

    Returns:
        ``(model_overrides, train_overrides)``, plain dicts to merge over the defaults.

    Raises:
        ConfigError: the file is missing, not JSON, or has unknown sections or keys.
    """
    return _read_config_file(path, ParalinGPTConfig, "ParalinGPT", {"prefix_tokens": 8})
