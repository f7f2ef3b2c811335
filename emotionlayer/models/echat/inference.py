"""Run a trained E-chat model: one reply (with the emotion it heard and timings) or a stream of text.

Example::

    from emotionlayer.audio import load_audio
    from emotionlayer.models.echat import EChat

    echat = EChat.from_pretrained("echat-stage2")          # None: the packaged checkpoint, if installed
    out = echat.reply(load_audio("sad_phone.wav"))
    print(out.text, out.emotion.label, out.timings)
    for piece in echat.stream_reply(load_audio("sad_phone.wav")):
        print(piece, end="", flush=True)
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
from ..common.decoding import EncodedSpeech, stream_pieces
from ..common.inference import SpeechLLM
from .checkpoint import FOLDER
from .config import EChatConfig
from .model import build_model

PathLike = Union[str, os.PathLike]

#: Where a packaged E-chat checkpoint would live inside the installed package.
PACKAGED_DIR = Path(__file__).resolve().parents[2] / "assets" / "echat" / "default"


@dataclass(frozen=True)
class EChatOutput:
    """One E-chat answer.

    Attributes:
        text: The generated text (a reply in stage 2, a transcript in stage 1).
        emotion: The emotion head's prediction (probabilities over the model's labels); ``None`` for a
            stage-1 model, whose emotion head is not trained.
        timings: Seconds spent: ``encode`` (audio to decoder input), ``first_token`` (from the start),
            ``generate`` (all decoding) and ``total``.
    """

    text: str
    emotion: EmotionPrediction | None
    timings: dict[str, float] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {
            "text": self.text,
            "emotion": self.emotion.to_dict() if self.emotion is not None else None,
            "timings": dict(self.timings),
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> EChatOutput:
        emotion = data.get("emotion")
        return cls(
            text=str(data["text"]),
            emotion=EmotionPrediction.from_dict(emotion) if emotion else None,
            timings={k: float(v) for k, v in (data.get("timings") or {}).items()},
        )


class EChat(SpeechLLM):
    """A trained E-chat model, ready to answer speech.

    Build it with :meth:`from_pretrained`. The encoder and the LLM are shared with other E-chat models of
    the same process; the small trained parts belong to this object.

    Args:
        model: An :class:`~emotionlayer.models.echat.model.EChatModel` (in eval mode).
        name: Name reported in emotion predictions.
    """

    display_name = "E-chat"
    short_name = "echat"
    train_command = "emotionlayer echat train"
    no_packaged_hint = (
        "No packaged E-chat checkpoint is installed. Train one: `emotionlayer echat train --stage 1 "
        "--manifest asr.csv --out echat-s1`, then `emotionlayer echat train --stage 2 --manifest replies.jsonl "
        "--init echat-s1 --out echat-s2`, and load it with EChat.from_pretrained('echat-s2')."
    )
    folder = FOLDER
    build_model = staticmethod(build_model)

    @property
    def config(self) -> EChatConfig:
        return self.model.config

    @classmethod
    def packaged_dir(cls) -> Path:
        """Where the packaged checkpoint lives (``emotionlayer/assets/echat/default``)."""
        return PACKAGED_DIR

    # ------------------------------------------------------------------------------------------------

    def _encode(self, audio: Audio) -> Any:
        import torch

        with torch.inference_mode():
            return self.model.encode_speech(waves=self._waves(audio))

    def _prediction(self, speech: Any) -> EmotionPrediction | None:
        if self.config.stage != 2:
            return None
        return EmotionPrediction.from_probabilities(
            self.model.emotion_probabilities(speech.emotion_logits[0]), model=self.name
        )

    def predict_emotion(self, audio: Audio) -> EmotionPrediction:
        """The emotion head's prediction for a clip (stage-2 models only).

        Raises:
            ConfigError: the model is a stage-1 model (its emotion head is not trained).
        """
        prediction = self._prediction(self._encode(audio))
        if prediction is None:
            raise ConfigError("This is a stage-1 E-chat model; its emotion head is untrained. Use a stage-2 model.")
        return prediction

    def ctc_transcribe(self, audio: Audio) -> str:
        """What a model with a CTC head (``alignment`` or ``speech_tokens`` "ctc") reads in a clip, without the
        LLM: the best CTC path over the CTC classes, repeats merged and blanks dropped. A check of the
        pre-alignment before (or beside) the LLM's reading.

        Raises:
            ConfigError: the model has no CTC head.
        """
        if self.model.ctc_head is None:
            raise ConfigError(
                "ctc_transcribe() needs a model trained with alignment='ctc' (emotionlayer echat train --stage 1 "
                "--alignment ctc) or started from one with speech_tokens='ctc'; this one reads speech through its "
                "LLM only: use reply()."
            )
        from .ctc import greedy_transcripts

        speech = self._encode(audio)  # with speech_tokens="ctc", the compressed tokens the LLM receives
        return greedy_transcripts(self.model, speech.speech, speech.speech_lengths)[0]

    def encode(self, audio: Audio) -> EncodedSpeech:
        """Run the encoder and connector once: what generation starts from (``inputs``), and the emotion heard
        (``emotion``; ``None`` for a stage-1 model).

        Use it with :meth:`stream_encoded` when the emotion is needed before the reply is written (a
        dialogue system shows what it heard first, then speaks).
        """
        start = time.perf_counter()
        speech = self._encode(audio)
        return EncodedSpeech(speech, time.perf_counter() - start, self._prediction(speech))

    def stream_encoded(
        self,
        encoded: EncodedSpeech,
        prompt: str | None = None,
        max_new_tokens: int = 128,
        temperature: float = 0.0,
        top_p: float = 1.0,
        seed: int | None = 0,
        timings: dict[str, float] | None = None,
    ) -> Iterator[str]:
        """Yield the answer to already encoded speech piece by piece; close the generator to stop early.

        Args: as :meth:`stream_reply`; ``timings`` (if given) receives ``first_token`` and ``generate``
        (seconds from the start of this call).
        """

        def tokens(generator: Any) -> Iterator[int]:
            return self.model.generate_ids(encoded.inputs, prompt, max_new_tokens, temperature, top_p, generator)

        model = self.model
        yield from stream_pieces(tokens, model.tokenizer, model.device, max_new_tokens, temperature, seed, timings)

    def _stream(
        self,
        audio: Audio,
        prompt: str | None,
        max_new_tokens: int,
        temperature: float,
        top_p: float,
        seed: int | None,
        report: dict[str, Any],
    ) -> Iterator[str]:
        start = time.perf_counter()
        encoded = self.encode(audio)
        report["emotion"] = encoded.emotion
        timings = report["timings"]
        timings["encode"] = encoded.seconds
        decode: dict[str, float] = {}
        yield from self.stream_encoded(encoded, prompt, max_new_tokens, temperature, top_p, seed, decode)
        timings["first_token"] = timings["encode"] + decode["first_token"]
        timings["generate"] = decode["generate"]
        timings["total"] = time.perf_counter() - start

    def stream_reply(
        self,
        audio: Audio,
        prompt: str | None = None,
        max_new_tokens: int = 128,
        temperature: float = 0.0,
        top_p: float = 1.0,
        seed: int | None = 0,
    ) -> Iterator[str]:
        """Yield the answer piece by piece as it is generated; close the generator to stop early.

        Args:
            audio: The speech.
            prompt: The instruction (default: the model's stage prompt).
            max_new_tokens: Most tokens generated.
            temperature: 0 (default) decodes greedily; higher values sample.
            top_p: Nucleus sampling threshold when sampling.
            seed: Sampling seed.
        """
        yield from self._stream(audio, prompt, max_new_tokens, temperature, top_p, seed, {"timings": {}})

    def reply(
        self,
        audio: Audio,
        prompt: str | None = None,
        max_new_tokens: int = 128,
        temperature: float = 0.0,
        top_p: float = 1.0,
        seed: int | None = 0,
    ) -> EChatOutput:
        """Answer one clip: the generated text, the emotion heard, and timings.

        Args: as :meth:`stream_reply`.
        """
        report: dict[str, Any] = {"timings": {}}
        text = "".join(self._stream(audio, prompt, max_new_tokens, temperature, top_p, seed, report))
        return EChatOutput(text=text.strip(), emotion=report["emotion"], timings=report["timings"])
