"""Run a trained ParalinGPT model: the emotion heard, the response emotion, and the reply (whole or streamed).

Example::

    from emotionlayer.audio import load_audio
    from emotionlayer.models.paralingpt import ParalinGPT

    model = ParalinGPT.from_pretrained()                    # the packaged checkpoint
    out = model.reply(load_audio("sad_phone.wav"), "my phone won't turn on")
    print(out.emotion.label, out.response_emotion, out.text)
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Union

from ...errors import ConfigError
from ...types import Audio, EmotionPrediction
from ..common.decoding import EncodedSpeech, check_max_new_tokens, stream_pieces
from ..common.inference import SpeechLLM
from .checkpoint import FOLDER
from .config import ParalinGPTConfig
from .fields import parse_fields, reply_pieces
from .model import build_model

PathLike = Union[str, os.PathLike]

#: Where the packaged ParalinGPT checkpoint lives inside the installed package.
PACKAGED_DIR = Path(__file__).resolve().parents[2] / "assets" / "paralingpt" / "default"


@dataclass(frozen=True)
class ParalinGPTOutput:
    """One ParalinGPT answer.

    Attributes:
        text: The reply.
        emotion: The current turn's emotion: the model's probability of each label as the ``emotion``
            field's value.
        response_emotion: The emotion the reply should be spoken with (the ``response emotion`` field;
            ``None`` when the model wrote none that is a label).
        raw: Everything the model wrote, fields included.
        timings: Seconds spent: ``encode`` (audio to prefix), ``generate`` (reading the prompt, scoring
            the labels and writing), ``total``.
    """

    text: str
    emotion: EmotionPrediction
    response_emotion: str | None
    raw: str
    timings: dict[str, float] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {
            "text": self.text,
            "emotion": self.emotion.to_dict(),
            "response_emotion": self.response_emotion,
            "raw": self.raw,
            "timings": dict(self.timings),
        }


class Reading:
    """One turn read by the model: the emotion heard, and the rest of the answer on demand.

    Made by :meth:`ParalinGPT.read`. :meth:`pieces` yields the raw text after the forced emotion field
    (`` response emotion: R | reply: ...``); :meth:`reply_pieces` only the reply. Either can be taken once.

    Attributes:
        emotion: The turn's emotion, with a probability per label.
        prompt: The text prompt the model read.
        seconds: Time spent reading the prompt and scoring the labels.
    """

    def __init__(self, model: ParalinGPT, state: Any, emotion: EmotionPrediction, prompt: str, seconds: float) -> None:
        self._model = model
        self._state = state
        self.emotion = emotion
        self.prompt = prompt
        self.seconds = seconds
        self.response_emotion: str | None = None
        self.generated = ""

    @property
    def raw(self) -> str:
        """The whole serialised answer so far, with the forced emotion field."""
        return f"emotion: {self.emotion.label} |{self.generated}"

    def pieces(
        self, max_new_tokens: int = 64, temperature: float = 0.0, top_p: float = 1.0, seed: int | None = 0
    ) -> Iterator[str]:
        """Yield the text the model writes after `` {emotion} |``, piece by piece; close to stop early."""
        if self._state is None:
            raise ConfigError("This reading was already used; call ParalinGPT.read again for another answer.")
        check_max_new_tokens(max_new_tokens)
        state, self._state = self._state, None
        inner = self._model.model

        def tokens(generator: Any) -> Iterator[int]:
            return inner.generate_ids(state, self.emotion.label, max_new_tokens, temperature, top_p, generator)

        for piece in stream_pieces(tokens, inner.tokenizer, inner.device, max_new_tokens, temperature, seed):
            self.generated += piece
            yield piece

    def reply_pieces(self, max_new_tokens: int = 64, temperature: float = 0.0, seed: int | None = 0) -> Iterator[str]:
        """Yield only the reply, as soon as its field starts; sets :attr:`response_emotion` before the first piece."""

        def header(_emotion: str | None, response: str | None) -> None:
            self.response_emotion = response

        return reply_pieces(self.pieces(max_new_tokens, temperature, seed=seed), header, self._model.config.labels)


class ParalinGPT(SpeechLLM):
    """A trained ParalinGPT model, ready to answer a turn (speech plus its transcript).

    Build it with :meth:`from_pretrained`. The encoder and the LLM are shared with other models of the same
    process; the small trained adapter belongs to this object.

    Args:
        model: A :class:`~emotionlayer.models.paralingpt.model.ParalinGPTModel` (in eval mode).
        name: Name reported in emotion predictions.
    """

    display_name = "ParalinGPT"
    short_name = "paralingpt"
    train_command = "emotionlayer paralingpt train"
    no_packaged_hint = (
        "No packaged ParalinGPT checkpoint is installed (emotionlayer/assets/paralingpt/default is missing). "
        "Train one: `emotionlayer paralingpt train --manifest replies.jsonl --out paralingpt`, and load it "
        "with ParalinGPT.from_pretrained('paralingpt') or --system paralingpt:model=paralingpt."
    )
    folder = FOLDER
    build_model = staticmethod(build_model)

    @property
    def config(self) -> ParalinGPTConfig:
        return self.model.config

    @classmethod
    def packaged_dir(cls) -> Path:
        """Where the packaged checkpoint lives (``emotionlayer/assets/paralingpt/default``)."""
        return PACKAGED_DIR

    # ------------------------------------------------------------------------------------------------

    def encode(self, audio: Audio) -> EncodedSpeech:
        """Run the frozen encoder and the adapter once: the soft prefix of the clip (``inputs``)."""
        import torch

        start = time.perf_counter()
        with torch.inference_mode():
            prefix = self.model.encode_prefix(waves=self._waves(audio))
        return EncodedSpeech(prefix, time.perf_counter() - start)

    def read(self, encoded: EncodedSpeech, transcript: str) -> Reading:
        """Read the prefix and the transcript, and score every label as the ``emotion`` field's value.

        The label with the highest probability is the turn's emotion; the answer then continues after it
        (:meth:`Reading.pieces`).
        """
        import torch

        start = time.perf_counter()
        state = self.model.prefill(encoded.inputs, transcript)
        labels = list(state.emotion_scores)
        probs = torch.softmax(torch.tensor([state.emotion_scores[k] for k in labels], dtype=torch.float64), dim=0)
        emotion = EmotionPrediction.from_probabilities(dict(zip(labels, probs.tolist(), strict=True)), model=self.name)
        prompt = self.config.render_prompt(transcript)
        return Reading(self, state, emotion, prompt, time.perf_counter() - start)

    def predict_emotion(self, audio: Audio, transcript: str = "") -> EmotionPrediction:
        """The turn's emotion (a probability per label) without writing an answer."""
        return self.read(self.encode(audio), transcript).emotion

    def reply(
        self,
        audio: Audio,
        transcript: str = "",
        max_new_tokens: int = 64,
        temperature: float = 0.0,
        top_p: float = 1.0,
        seed: int | None = 0,
    ) -> ParalinGPTOutput:
        """Answer one turn: the emotion heard, the response emotion, the reply and timings.

        Args:
            audio: The speech.
            transcript: What was said (from an ASR, or given).
            max_new_tokens: Most tokens written after the emotion field.
            temperature: 0 (default) decodes greedily; higher values sample.
            top_p: Nucleus sampling threshold when sampling.
            seed: Sampling seed.
        """
        start = time.perf_counter()
        encoded = self.encode(audio)
        reading = self.read(encoded, transcript)
        generated = "".join(reading.pieces(max_new_tokens, temperature, top_p, seed))
        fields = parse_fields(reading.raw, self.config.labels)
        total = time.perf_counter() - start
        return ParalinGPTOutput(
            text=fields.reply,
            emotion=reading.emotion,
            response_emotion=fields.response_emotion,
            raw=f"emotion: {reading.emotion.label} |{generated}",
            timings={"encode": encoded.seconds, "generate": total - encoded.seconds, "total": total},
        )
