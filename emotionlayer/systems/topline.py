"""The topline: the cascade's language model, prompt and voice, told the true words and the true emotion.

E-chat's paper compares its end-to-end model with a "topline": the same kind of LLM given what was
really said and how it was really said, so that no recognition error (ASR or SER) can hurt its reply.
:class:`ToplineSystem` is that system for emotionlayer. It *is* the cascade
(:class:`~emotionlayer.pipeline.CascadePipeline`: same LLM, prompt template, empathy strategies and TTS
from the config), with the hearing taken away: it answers an :class:`~emotionlayer.types.Utterance` that
carries ``text`` and ``emotion`` (from a manifest, typically) and ignores any audio it carries.

Example::

    from emotionlayer.systems import build_system
    from emotionlayer.types import Utterance

    topline = build_system(None, "topline")
    turn = topline.respond(Utterance(text="My phone won't turn on", emotion="sad"))
    turn.response.strategy        # the strategy of the *true* emotion ("comfort")

The dialogue evaluator (:mod:`emotionlayer.evaluation.dialogue`) reads :attr:`ToplineSystem.needs_truth`
and gives it the manifest's text and emotion, while the other systems get the audio alone; when the
manifest has no reference replies, the topline's replies are the reference, as in the paper.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace

from ..config import PipelineConfig
from ..errors import ConfigError
from ..pipeline import CascadePipeline
from ..registry import register
from ..types import Dialogue, Utterance
from .base import StreamEvent, UtteranceLike


@register("system", "topline")
class ToplineSystem(CascadePipeline):
    """The cascade given the true text and emotion instead of recognising them (no ASR, no SER).

    Build it with :meth:`from_config` (or ``build_system(config, "topline")``); it answers like the
    cascade, with ``turn.system == "topline"``, ``turn.transcript.model == "given"`` and
    ``turn.emotion.model == "given"``.
    """

    name = "topline"
    #: Read by evaluators: this system must be given the true ``text`` and ``emotion`` of each clip.
    needs_truth = True

    @classmethod
    def from_config(
        cls, config: PipelineConfig | str | dict | None = None, template: str | None = None, seed: int | None = None
    ) -> ToplineSystem:
        """Build the config's LLM, prompt renderer and TTS (its SER and ASR sections are not used).

        Args:
            config: A :class:`PipelineConfig`, a path to a YAML/JSON file, a dict, or ``None``.
            template: Another prompt template than the config's, e.g. ``topline.j2`` (the recipe that
                writes the replies of generated datasets: ``build_system(config, "topline:template=topline.j2")``).
                Default: the config's template, so that the topline differs from the cascade only in
                being told what the cascade has to recognise.
            seed: Another sampling seed for the LLM than the config's (``topline:seed=1``): a second
                sample of the reference, which shows how far two samples of the same answer differ.
        """
        config = PipelineConfig.coerce(config)
        if template:
            config = replace(config, prompt=replace(config.prompt, template=str(template)))
        if seed is not None:
            config = config.with_component("llm", config.llm.backend, **{**config.llm.params, "seed": int(seed)})
        cascade = CascadePipeline.from_config(config)  # components load their weights lazily: SER/ASR never do here
        return cls(ser=None, asr=None, llm=cascade.llm, tts=cascade.tts, renderer=cascade.renderer, config=cascade.config)

    def as_utterance(self, utterance: UtteranceLike) -> Utterance:
        """The utterance with its true text and emotion, and without audio.

        Raises:
            ConfigError: ``utterance`` is not an :class:`Utterance` with both ``text`` and ``emotion``.
        """
        if not isinstance(utterance, Utterance) or not (utterance.text and utterance.text.strip()) or utterance.emotion is None:
            given = type(utterance).__name__
            if isinstance(utterance, Utterance):
                given = f"an Utterance with text={utterance.text!r} and emotion={utterance.emotion!r}"
            raise ConfigError(
                "The topline needs the true text and the true emotion of what was said, e.g. "
                "Utterance(text=\"My phone won't turn on\", emotion=\"sad\") (a manifest's text and emotion "
                f"columns); it does not listen to audio. Got {given}."
            )
        return Utterance(
            text=utterance.text,
            emotion=utterance.emotion,
            id=utterance.id,
            speaker=utterance.speaker,
            language=utterance.language,
        )

    def warmup(self) -> None:
        """Load the LLM and the voice now (the topline has no recognisers to load)."""
        for part in (self.llm, self.tts):
            warm = getattr(part, "warmup", None)
            if callable(warm):
                warm()

    def stream(self, utterance: UtteranceLike, history: Dialogue | None = None) -> Iterator[StreamEvent]:
        """The cascade's turn on the true text and emotion; ``respond`` is built on it.

        Not a generator itself, so an utterance without text or emotion fails here, before any work.
        """
        return super().stream(self.as_utterance(utterance), history)
