"""ParalinGPT as a dialogue system: ``respond``/``stream`` like the cascade (registered as ``paralingpt``).

Per turn: the config's ASR writes the transcript; the frozen encoder and the trained adapter turn the audio
into soft prefix tokens; the frozen LLM reads both, and its probability of each label as the ``emotion``
field's value is the turn's emotion; it then writes the response emotion and the reply, which streams
into the config's TTS sentence by sentence.

The voice: the model's predicted *response* emotion decides how the reply sounds. The style is that of the
empathy strategy for the user's emotion when that strategy's voice carries the predicted response emotion
(the usual case: the model learns exactly that mapping), else that of the strategy for the response
emotion itself, with that emotion. A missing or garbled response emotion falls back to the user's
emotion's strategy.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Iterator
from typing import Any

from ...config import PipelineConfig, Strategy
from ...registry import register
from ...systems.base import Perceived, Perception, PromptRendered, TurnEvent, TurnFinished, UtteranceLike
from ...systems.speech import FALLBACK_REPLY, build_tts, speak_as_written
from ...types import Dialogue, EmotionPrediction, Response, SpeakingStyle, Transcript, Turn
from ..common.system import SpeechLLMSystem, first_sentences


def voice_for(config: PipelineConfig, emotion: str, response_emotion: str | None) -> tuple[Strategy, SpeakingStyle]:
    """The strategy and speaking style a reply is spoken with (see the module docstring).

    Args:
        config: The pipeline config (its empathy strategies).
        emotion: The user's emotion.
        response_emotion: The model's response emotion, or ``None`` when it wrote none.
    """
    strategy = config.strategy_for(emotion)
    if response_emotion is None or strategy.style.emotion == response_emotion:
        return strategy, strategy.style
    other = config.strategy_for(response_emotion)
    return other, dataclasses.replace(other.style, emotion=response_emotion)


@register("system", "paralingpt")
class ParalinGPTSystem(SpeechLLMSystem):
    """ParalinGPT (Lin et al., ICASSP 2024): ASR transcript + speech-emotion prefix into a frozen LLM.

    Args:
        model: A :class:`~emotionlayer.models.paralingpt.ParalinGPT`.
        asr: The speech recogniser (``transcribe``).
        tts: The voice (anything with ``synthesize(text, style)``).
        config: The pipeline config (strategies pick the voice's style; limits; language).
        max_new_tokens: Most tokens written after the emotion field (response emotion and reply).
        max_sentences: Stop after this many sentences (a spoken answer); ``None`` for no limit.
        temperature: 0 decodes greedily; higher values sample.
        seed: The sampling seed of every turn (when ``temperature`` is above 0).
    """

    name = "paralingpt"
    needs_audio = (
        "ParalinGPT hears how things were said, and this utterance has only text. Give it audio, or use a "
        "text-capable system (--system cascade)."
    )

    def __init__(
        self,
        model: Any,
        asr: Any,
        tts: Any,
        config: PipelineConfig | None = None,
        max_new_tokens: int = 64,
        max_sentences: int | None = 2,
        temperature: float = 0.0,
        seed: int = 0,
    ) -> None:
        super().__init__(model, tts, config, max_new_tokens, max_sentences, temperature, seed)
        self.asr = asr

    @classmethod
    def from_config(
        cls,
        config: PipelineConfig | None = None,
        model: str | None = None,
        device: str = "auto",
        max_new_tokens: int = 64,
        max_sentences: int | None = 2,
        temperature: float = 0.0,
        seed: int = 0,
    ) -> ParalinGPTSystem:
        """Build the config's ASR (the cascade's ``asr`` section) and TTS, and load the model.

        Args:
            config: The pipeline config (``None``: the packaged default).
            model: A folder from ``emotionlayer paralingpt train``; ``None`` is the packaged checkpoint.
            device: ``auto``, ``cpu``, ``cuda``...
            max_new_tokens: See the class.
            max_sentences: See the class.
            temperature: See the class.
            seed: See the class.
        """
        from ... import registry
        from .inference import ParalinGPT

        config = PipelineConfig.coerce(config)
        paralingpt = ParalinGPT.from_pretrained(model, device=device)
        asr = registry.create("asr", config.asr.backend, **config.asr.params)
        return cls(paralingpt, asr, build_tts(config), config, max_new_tokens, max_sentences, temperature, seed)

    def stream(self, utterance: UtteranceLike, history: Dialogue | None = None) -> Iterator[TurnEvent]:
        """Answer one spoken turn as events: perceived, prompt, text pieces, spoken sentences, turn.

        ``history`` is accepted for the common seam and not used: the model was trained on single turns.
        Text given on the utterance is used as the transcript (the ASR is skipped). Closing the iterator
        early stops the LLM and the voice.
        """
        now = self._clock()
        utt = self._spoken(utterance)
        language = utt.language or self.config.run.language
        t = time.perf_counter()
        if utt.text is not None and utt.text.strip():
            transcript = Transcript(utt.text.strip(), language, model="given")
        else:
            transcript = self.asr.transcribe(utt.audio, language=language)
        asr_seconds = time.perf_counter() - t
        encoded = self.model.encode(utt.audio)
        reading = self.model.read(encoded, transcript.text)
        emotion: EmotionPrediction = reading.emotion
        perception = Perception(transcript, emotion, {"asr": asr_seconds, "encode": encoded.seconds})
        yield Perceived(now(), perception=perception)
        messages = ({"role": "user", "content": reading.prompt},)
        yield PromptRendered(now(), messages=messages, detail=reading)

        voice: dict[str, Any] = {}

        def spoken_style() -> SpeakingStyle:
            if "style" not in voice:  # decided once, when the first sentence is spoken
                voice["strategy"], voice["style"] = voice_for(self.config, emotion.label, reading.response_emotion)
            return voice["style"]

        pieces = first_sentences(
            reading.reply_pieces(self.max_new_tokens, self.temperature, seed=self.seed), self.max_sentences
        )
        spoken = yield from speak_as_written(
            pieces,
            lambda sentence: self.tts.synthesize(sentence, spoken_style()),
            self._tts_pool(),
            now,
            fallback=FALLBACK_REPLY,
        )
        spoken_style()
        turn = Turn(
            transcript=transcript,
            emotion=emotion,
            prompt=messages,
            response=Response(text=spoken.text, style=voice["style"], strategy=voice["strategy"].name),
            audio=spoken.audio,
            timings=self._turn_timings(spoken, now, {"asr": asr_seconds, "encode": encoded.seconds}, reading.seconds),
            system=self.name,
        )
        yield TurnFinished(now(), turn=turn)
