"""E-chat as a dialogue system: ``respond``/``stream`` like the cascade (registered as ``echat``).

The model hears the speech end to end (no transcript, no separate SER): its emotion head's prediction is
the turn's emotion, and picks the speaking style of the reply from the config's empathy strategies, as
the cascade's SER does; the reply text streams from the frozen LLM and is spoken sentence by sentence by
the config's TTS. E-chat answers one turn at a time (the paper's model has no dialogue history).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from ...config import PipelineConfig
from ...labels import EMOTIONS
from ...registry import register
from ...systems.base import Perceived, Perception, TurnEvent, TurnFinished, UtteranceLike
from ...systems.speech import FALLBACK_REPLY, build_tts, speak_as_written
from ...types import Dialogue, EmotionPrediction, Response, Transcript, Turn
from ..common.system import SpeechLLMSystem, first_sentences


@register("system", "echat")
class EChatSystem(SpeechLLMSystem):
    """E-chat (Xu et al. 2024): speech encoder + connector + frozen LLM, answering speech end to end.

    Args:
        model: An :class:`~emotionlayer.models.echat.EChat`.
        tts: The voice (anything with ``synthesize(text, style)``).
        config: The pipeline config (strategies pick the voice's style; limits).
        max_new_tokens: Most tokens a reply may have.
        max_sentences: Stop after this many sentences (a spoken answer); ``None`` for no limit.
        temperature: 0 decodes greedily; higher values sample.
        seed: The sampling seed of every turn (when ``temperature`` is above 0).
    """

    name = "echat"
    needs_audio = (
        "E-chat answers speech, and this utterance has only text. Give it audio, or use a text-capable "
        "system (--system cascade)."
    )

    def __init__(
        self,
        model: Any,
        tts: Any,
        config: PipelineConfig | None = None,
        max_new_tokens: int = 48,
        max_sentences: int | None = 2,
        temperature: float = 0.0,
        seed: int = 0,
    ) -> None:
        super().__init__(model, tts, config, max_new_tokens, max_sentences, temperature, seed)

    @classmethod
    def from_config(
        cls,
        config: PipelineConfig | None = None,
        model: str | None = None,
        device: str = "auto",
        max_new_tokens: int = 48,
        max_sentences: int | None = 2,
        temperature: float = 0.0,
        seed: int = 0,
    ) -> EChatSystem:
        """Load the model (``model``: a folder from ``emotionlayer echat train``; default: the packaged one)
        and the config's TTS."""
        from .inference import EChat

        config = PipelineConfig.coerce(config)
        echat = EChat.from_pretrained(model, device=device)
        return cls(echat, build_tts(config), config, max_new_tokens, max_sentences, temperature, seed)

    def stream(self, utterance: UtteranceLike, history: Dialogue | None = None) -> Iterator[TurnEvent]:
        """Answer one spoken turn as events: perceived (the emotion heard), text pieces, spoken sentences, turn.

        ``history`` is accepted for the common seam and not used: E-chat answers each turn on its own.
        Closing the iterator early stops the decoder and the voice.
        """
        now = self._clock()
        utt = self._spoken(utterance)
        encoded = self.model.encode(utt.audio)
        emotion = encoded.emotion
        if emotion is None:  # a stage-1 model has no trained emotion head
            emotion = EmotionPrediction.from_probabilities(
                {e: 1.0 for e in EMOTIONS}, model=f"{self.model.name} (stage 1)"
            )
        perception = Perception(
            Transcript("", utt.language, model=self.model.name), emotion, {"encode": encoded.seconds}
        )
        yield Perceived(now(), perception=perception)

        strategy = self.config.strategy_for(emotion.label)
        decode: dict[str, float] = {}
        pieces = first_sentences(
            self.model.stream_encoded(
                encoded,
                max_new_tokens=self.max_new_tokens,
                temperature=self.temperature,
                seed=self.seed,
                timings=decode,
            ),
            self.max_sentences,
        )
        spoken = yield from speak_as_written(
            pieces,
            lambda sentence: self.tts.synthesize(sentence, strategy.style),
            self._tts_pool(),
            now,
            fallback=FALLBACK_REPLY,
        )
        turn = Turn(
            transcript=perception.transcript,
            emotion=emotion,
            response=Response(text=spoken.text, style=strategy.style, strategy=strategy.name),
            audio=spoken.audio,
            timings=self._turn_timings(spoken, now, {"encode": encoded.seconds}),
            system=self.name,
        )
        yield TurnFinished(now(), turn=turn)
