"""The topline: the config's language model and voice, told the true words and the true emotion.

E-chat's paper compares its end-to-end model with a "topline": an LLM given what was really said and how
it was really said, so that no recognition error (ASR or SER) can hurt its reply. In the paper one writer
(GPT-3.5) wrote both the training replies and the reference replies. :class:`ToplineSystem` is that
writer for emotionlayer: the cascade's machinery (:class:`~emotionlayer.pipeline.CascadePipeline`: the
config's LLM, empathy strategies and TTS) with the hearing taken away, prompted with its **own template**,
``topline.j2`` -- the template ``emotionlayer data generate`` writes the training replies of E-chat and
ParalinGPT with -- not the cascade's ``empathetic.j2``, so no contestant is scored against its own prompt.
It answers an :class:`~emotionlayer.types.Utterance` that carries ``text`` and ``emotion`` (from a
manifest, typically) and ignores any audio it carries.

Example::

    from emotionlayer.systems import build_system
    from emotionlayer.types import Utterance

    topline = build_system(None, "topline")
    turn = topline.respond(Utterance(text="My phone won't turn on", emotion="sad"))
    turn.response.strategy        # the strategy of the *true* emotion ("comfort")

The dialogue evaluator (:mod:`emotionlayer.evaluation.dialogue`) reads :attr:`ToplineSystem.needs_truth`
and gives it the manifest's text and emotion, while the other systems get the audio alone; ``evaluate
dialogue --write-references topline`` freezes its replies into a manifest as the reference set, with
:meth:`ToplineSystem.provenance`.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

from ..components.llm.adapters import adapter_info
from ..config import PipelineConfig
from ..errors import ConfigError
from ..files import hash_file
from ..pipeline import CascadePipeline
from ..registry import register
from ..types import Dialogue, Utterance
from .base import TurnEvent, UtteranceLike


def _llm_takes_seed(config: PipelineConfig) -> bool:
    import inspect

    from .. import registry

    try:
        return "seed" in inspect.signature(registry.get_class("llm", config.llm.backend)).parameters
    except Exception:  # an unknown backend fails with its own message when it is built
        return True


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
    #: Its prompt template unless told another: the writer's recipe, shared with ``emotionlayer data generate``.
    TEMPLATE = "topline.j2"

    @classmethod
    def from_config(
        cls, config: PipelineConfig | str | dict | None = None, template: str | None = None, seed: int | None = None
    ) -> ToplineSystem:
        """Build the config's LLM, prompt renderer and TTS (its SER and ASR sections are not used).

        Args:
            config: A :class:`PipelineConfig`, a path to a YAML/JSON file, a dict, or ``None``.
            template: The prompt template (default :data:`TEMPLATE`, ``topline.j2``: the recipe that writes
                the replies of generated datasets). ``topline:template=empathetic.j2`` gives the cascade's
                prompt, so that the topline differs from the cascade only in being told what it recognises.
            seed: Another sampling seed for the LLM than the config's (``topline:seed=1``): a second
                sample, which shows how far two samples of the same answer differ. Ignored by an LLM
                backend that takes no seed (it has none to change).
        """
        config = PipelineConfig.coerce(config)
        config = replace(config, prompt=replace(config.prompt, template=str(template or cls.TEMPLATE)))
        if seed is not None and _llm_takes_seed(config):
            config = config.with_component("llm", config.llm.backend, **{**config.llm.params, "seed": int(seed)})
        cascade = CascadePipeline.from_config(config)  # components load their weights lazily: SER/ASR never do here
        return cls(
            ser=None, asr=None, llm=cascade.llm, tts=cascade.tts, renderer=cascade.renderer, config=cascade.config
        )

    def as_utterance(self, utterance: UtteranceLike) -> Utterance:
        """The utterance with its true text and emotion, and without audio.

        Raises:
            ConfigError: ``utterance`` is not an :class:`Utterance` with both ``text`` and ``emotion``.
        """
        if (
            not isinstance(utterance, Utterance)
            or not (utterance.text and utterance.text.strip())
            or utterance.emotion is None
        ):
            given = type(utterance).__name__
            if isinstance(utterance, Utterance):
                given = f"an Utterance with text={utterance.text!r} and emotion={utterance.emotion!r}"
            raise ConfigError(
                "The topline needs the true text and the true emotion of what was said, e.g. "
                'Utterance(text="My phone won\'t turn on", emotion="sad") (a manifest\'s text and emotion '
                f"columns); it does not listen to audio. Got {given}."
            )
        return Utterance(
            text=utterance.text,
            emotion=utterance.emotion,
            id=utterance.id,
            speaker=utterance.speaker,
            language=utterance.language,
        )

    def provenance(self) -> dict[str, Any]:
        """Who writes this topline's replies, as a reference set records it: the template, the LLM (its name,
        backend and parameters), the SHA-256 of its model file when it has one (a local GGUF) and, with an
        adapter (``llm.params.adapter``), which adapter and the hash of its file."""
        params = dict(self.config.llm.params)
        out: dict[str, Any] = {
            "template": self.config.prompt.template,
            "llm": str(getattr(self.llm, "name", self.config.llm.backend)),
            "llm_backend": self.config.llm.backend,
            "llm_params": params,
        }
        model_file = getattr(self.llm, "model_path", None)
        if model_file is not None and Path(model_file).is_file():
            out["model_file"] = Path(model_file).name
            out["model_sha256"] = hash_file(model_file).hexdigest()
        if params.get("adapter"):
            out["adapter"] = adapter_info(params["adapter"])
        return out

    def warmup(self) -> None:
        """Load the LLM and the voice now (the topline has no recognisers to load)."""
        for part in (self.llm, self.tts):
            warm = getattr(part, "warmup", None)
            if callable(warm):
                warm()

    def stream(self, utterance: UtteranceLike, history: Dialogue | None = None) -> Iterator[TurnEvent]:
        """The cascade's turn on the true text and emotion; ``respond`` is built on it.

        Not a generator itself, so an utterance without text or emotion fails here, before any work.
        """
        return super().stream(self.as_utterance(utterance), history)
