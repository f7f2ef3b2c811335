"""Prompts as jinja2 templates, with empathy strategies chosen from the recognised emotion.

Templates are looked up in the user's folders first, then in the packaged ``prompts/``. A template has
two blocks, ``system`` and ``user``, which become the chat messages sent to the LLM (a template without
blocks becomes one user message). Undefined variables are errors (``StrictUndefined``), so a typo in a
template fails loudly instead of sending an empty prompt.

Example::

    from emotionlayer.prompting import PromptRenderer
    from emotionlayer.types import EmotionPrediction

    renderer = PromptRenderer()
    prompt = renderer.render("My phone won't turn on.", EmotionPrediction.certain("sad"))
    prompt.messages   # [{"role": "system", ...}, {"role": "user", ...}]
    prompt.strategy   # Strategy(name="comfort", ...)
    prompt.style      # SpeakingStyle(name="warm", rate=0.88, pitch_semitones=-1.5, ...)

Languages: for a turn in language ``L`` (the transcript's language: ``run.language`` or what the ASR
detected) the renderer uses the template named with ``.L`` before its extension when one exists (the
packaged ``empathetic.zh.j2`` for Chinese), else the configured one, and the strategy's words in ``L``
(``languages: {L: {instruction, example}}`` in the config's strategies), else its English ones.

Vocal events: when the dialogue system heard some in the user's audio (the cascade with
``run.detect_events``) the template's ``events`` variable lists them (label, start, end, score, when, and
``phrase``: "laughed before speaking", in the turn's language); it is empty otherwise, and the packaged
templates mention events only inside ``{% if events %}``, so a turn without any renders as before.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .config import PipelineConfig, Strategy, primary_language
from .errors import ConfigError
from .types import Dialogue, EmotionPrediction, HeardEvent, SpeakingStyle, VocalEvent

#: How the ``phrase`` of an event in the template's ``events`` is written, per language: what the user did
#: (by event label) and where (by ``when``); ``{did}`` and ``{when}`` are filled in. Languages not here
#: get English.
EVENT_WORDS: dict[str, dict[str, Any]] = {
    "en": {
        "did": {
            "laugh": "laughed",
            "sigh": "sighed",
            "gasp": "gasped",
            "throat_clearing": "cleared their throat",
            "tsk": "clicked their tongue",
            "cough": "coughed",
            "breath": "took an audible breath",
        },
        "when": {"before": "before speaking", "during": "while speaking", "after": "after speaking", "": ""},
        "phrase": "{did} {when}",
    },
    "zh": {
        "did": {
            "laugh": "笑了",
            "sigh": "叹了口气",
            "gasp": "倒吸了一口气",
            "throat_clearing": "清了清嗓子",
            "tsk": "啧了一声",
            "cough": "咳嗽了",
            "breath": "深吸了一口气",
        },
        "when": {"before": "说话前", "during": "说话时", "after": "说完后", "": ""},
        "phrase": "{when}{did}",
    },
}

#: Below this probability the top label is reported to the template as uncertain.
UNCERTAIN_BELOW = 0.5


@dataclass(frozen=True)
class RenderedPrompt:
    """The chat messages for the LLM, and the strategy and speaking style chosen for the answer."""

    messages: list[dict[str, str]]
    strategy: Strategy
    style: SpeakingStyle
    template: str


def packaged_template_dir() -> Path:
    """Folder of the templates shipped with emotionlayer."""
    return Path(__file__).resolve().parent / "prompts"


def default_strategies() -> dict[str, Strategy]:
    """The empathy strategies of the packaged default config, by canonical emotion."""
    return PipelineConfig.default().strategies


def style_for(emotion: str, strategies: dict[str, Strategy] | None = None) -> SpeakingStyle:
    """The speaking style the default strategies give an answer to someone who sounds ``emotion``."""
    from .labels import canonical

    table = strategies or default_strategies()
    return table[canonical(emotion)].style


def template_environment(template_dirs: Sequence[str] = ()) -> Any:
    """The jinja2 environment every prompt template is rendered in.

    Templates are looked up in ``template_dirs`` first, then in the packaged prompts; an undefined variable
    is an error (``StrictUndefined``), and block tags leave no blank lines behind.
    """
    import jinja2

    return jinja2.Environment(
        loader=jinja2.FileSystemLoader([*template_dirs, str(packaged_template_dir())]),
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=False,
        autoescape=False,
    )


_CJK = re.compile(r"[\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff\uac00-\ud7af]")


def approx_tokens(text: str) -> int:
    """About how many LLM tokens ``text`` is: 4/3 per word, 1 per CJK character (no tokenizer needed)."""
    cjk = len(_CJK.findall(text))
    words = len(_CJK.sub(" ", text).split())
    return cjk + (4 * words + 2) // 3


def recent_turns(turns: Sequence[Any], max_tokens: int) -> list[Any]:
    """The most recent ``turns`` whose words and answers fit in about ``max_tokens`` (oldest dropped first)."""
    kept: list[Any] = []
    used = 0
    for turn in reversed(list(turns)):
        used += approx_tokens(turn.transcript.text) + approx_tokens(turn.response.text)
        if used > max_tokens:
            break
        kept.append(turn)
    return kept[::-1]


class PromptRenderer:
    """Renders the prompt for one turn from a jinja2 template.

    Args:
        template: Template file name (e.g. ``empathetic.j2``), searched in ``template_dirs`` then in the
            packaged prompts.
        template_dirs: User folders searched first.
        strategies: Emotion -> :class:`Strategy`; defaults to the packaged config's.
        history_turns: How many past turns the template sees.
        history_tokens: At most about this many tokens of past turns (words and answers); the oldest turns
            are dropped first. Counted as about 4/3 tokens a word, and a token a CJK character.
        few_shot: Put the strategy's example exchange (a user line and a good answer, rendered with the
            same template) before the real user message. Small LLMs follow an example far better
            than an instruction.
    """

    def __init__(
        self,
        template: str = "empathetic.j2",
        template_dirs: Sequence[str] = (),
        strategies: dict[str, Strategy] | None = None,
        history_turns: int = 4,
        few_shot: bool = True,
        history_tokens: int = 400,
    ) -> None:
        import jinja2

        for folder in template_dirs:
            if not Path(folder).is_dir():
                raise ConfigError(f"Template folder {folder} does not exist. Fix prompt.template_dirs in the config.")
        self.template_name = template
        self.strategies = strategies or default_strategies()
        self.history_turns = history_turns
        self.history_tokens = history_tokens
        self.few_shot = few_shot
        self.environment = template_environment(template_dirs)
        self._by_language: dict[str, Any] = {}
        try:
            self.template = self.environment.get_template(template)
        except jinja2.TemplateNotFound:
            raise ConfigError(
                f"Prompt template {template!r} not found in {[*template_dirs, 'packaged prompts']}. "
                f"Packaged templates: {', '.join(self.available())}."
            ) from None
        except jinja2.TemplateSyntaxError as exc:
            raise ConfigError(
                f"Prompt template {template!r} has a syntax error on line {exc.lineno}: {exc.message}"
            ) from exc

    @classmethod
    def from_config(cls, config: PipelineConfig) -> PromptRenderer:
        return cls(
            template=config.prompt.template,
            template_dirs=config.prompt.template_dirs,
            strategies=config.strategies,
            history_turns=config.prompt.history_turns,
            few_shot=config.prompt.few_shot,
            history_tokens=config.prompt.history_tokens,
        )

    def available(self) -> list[str]:
        """Template names this renderer can find."""
        return sorted(name for name in self.environment.list_templates() if name.endswith(".j2"))

    def strategy_for(self, emotion: EmotionPrediction, language: str | None = None) -> Strategy:
        """The empathy strategy for a recognised emotion (the strategy of its most probable label), with its
        words in ``language`` when the config gives them."""
        return self.strategies[emotion.label].in_language(language)

    def template_for(self, language: str | None) -> Any:
        """The template for a turn in ``language``: ``empathetic.zh.j2`` for ``zh`` when ``empathetic.j2`` is
        configured and a template folder has it, else the configured template."""
        import jinja2

        code = primary_language(language)
        if not code:
            return self.template
        if code not in self._by_language:
            try:
                name = language_template_name(self.template_name, code)
                self._by_language[code] = self.environment.get_template(name)
            except jinja2.TemplateNotFound:
                self._by_language[code] = self.template
        return self._by_language[code]

    def context(
        self,
        transcript: str,
        emotion: EmotionPrediction,
        history: Dialogue | None = None,
        language: str | None = None,
        events: Sequence[VocalEvent] = (),
        prosody: Mapping[str, str | None] | None = None,
    ) -> dict[str, Any]:
        """The variables a template sees. Past turns in which no speech was heard (``speech_detected``
        false: nothing was said, the user was asked again) are not part of ``history``."""
        strategy = self.strategy_for(emotion, language)
        ranked = emotion.top(len(emotion.probabilities))
        pad = [0.0, 0.0, 0.0]
        for label, p in emotion.probabilities.items():
            for i, value in enumerate(self.strategies[label].pad):
                pad[i] += p * value
        heard = [turn for turn in history.turns if turn.speech_detected] if history else []
        past = recent_turns(heard[-self.history_turns :] if self.history_turns > 0 else [], self.history_tokens)
        return {
            "transcript": transcript.strip(),
            "emotion": {
                "label": emotion.label,
                "confidence": emotion.confidence,
                "probabilities": dict(ranked),
                "top": ranked,
                "uncertain": emotion.confidence < UNCERTAIN_BELOW and len(ranked) > 1,
            },
            "pad": {"pleasure": pad[0], "arousal": pad[1], "dominance": pad[2]},
            "strategy": {"name": strategy.name, "instruction": strategy.instruction},
            "style": strategy.style.to_dict(),
            "history": [
                {
                    "text": turn.transcript.text,
                    "emotion": turn.emotion.label,
                    "response": turn.response.text,
                    "strategy": turn.response.strategy,
                }
                for turn in past
            ],
            "language": language or "en",
            "events": describe_events(events, language),
            "prosody": describe_prosody(prosody),
        }

    def render(
        self,
        transcript: str,
        emotion: EmotionPrediction,
        history: Dialogue | None = None,
        language: str | None = None,
        events: Sequence[VocalEvent] = (),
        prosody: Mapping[str, str | None] | None = None,
    ) -> RenderedPrompt:
        """Render the chat messages for one turn and pick the strategy and speaking style.

        ``language`` picks the template and the strategy's words (see the module's docs); ``events`` are
        the vocal events heard in the user's audio, for the template's ``events``; ``prosody`` how fast and
        loud the words were said (``rate``, ``loudness``; see :func:`describe_prosody`), for ``prosody``.
        """
        template = self.template_for(language)
        variables = self.context(transcript, emotion, history, language, events, prosody)
        messages = self._messages(variables, template)
        strategy = self.strategy_for(emotion, language)
        if self.few_shot and strategy.example is not None and "user" in template.blocks:
            example = self._messages(self.context(strategy.example[0], emotion, None, language), template)
            shot = [m for m in example if m["role"] == "user"] + [{"role": "assistant", "content": strategy.example[1]}]
            messages = (
                [m for m in messages if m["role"] == "system"] + shot + [m for m in messages if m["role"] != "system"]
            )
        return RenderedPrompt(messages=messages, strategy=strategy, style=strategy.style, template=self.template_name)

    def _messages(self, variables: dict[str, Any], template: Any = None) -> list[dict[str, str]]:
        import jinja2

        template = template if template is not None else self.template
        try:
            if "user" not in template.blocks:
                return [{"role": "user", "content": template.render(variables).strip()}]
            messages = []
            for role in ("system", "user"):
                if role in template.blocks:
                    content = "".join(template.blocks[role](template.new_context(variables))).strip()
                    if content:
                        messages.append({"role": role, "content": content})
            return messages
        except jinja2.UndefinedError as exc:
            raise ConfigError(
                f"Prompt template {self.template_name!r} uses an undefined variable ({exc.message}). "
                f"Available variables: {', '.join(sorted(variables))}."
            ) from exc


def language_template_name(template: str, language: str) -> str:
    """``empathetic.j2`` in ``zh`` is ``empathetic.zh.j2``: the language code before the extension."""
    stem, dot, suffix = template.rpartition(".")
    return f"{stem}.{language}.{suffix}" if dot else f"{template}.{language}"


RATE_WORDS = {"slow": "slowly", "fast": "quickly"}
LOUDNESS_WORDS = {"quiet": "quietly", "loud": "loudly"}


def describe_prosody(prosody: Mapping[str, str | None] | None) -> dict[str, Any]:
    """The template's ``prosody``: how fast and how loud the user spoke, as labels and a phrase.

    ``prosody`` maps ``rate`` to ``slow``/``normal``/``fast`` and ``loudness`` to ``quiet``/``normal``/``loud``
    (either may be missing or ``None``: not known). The phrase names only what is not normal
    ("speaking slowly and quietly"); it is empty when nothing unusual was heard or nothing is known.
    """
    rate = (prosody or {}).get("rate")
    loudness = (prosody or {}).get("loudness")
    for name, value, allowed in (("rate", rate, RATE_WORDS), ("loudness", loudness, LOUDNESS_WORDS)):
        if value is not None and value != "normal" and value not in allowed:
            raise ValueError(f"prosody {name} {value!r} is not one of normal, {', '.join(allowed)}.")
    words = [w for w in (RATE_WORDS.get(rate or ""), LOUDNESS_WORDS.get(loudness or "")) if w]
    return {"rate": rate, "loudness": loudness, "phrase": f"speaking {' and '.join(words)}" if words else ""}


def describe_events(events: Sequence[VocalEvent], language: str | None = None) -> list[dict[str, Any]]:
    """The template's ``events``: one dict per event, in time order, with ``label``, ``start``, ``end``,
    ``score`` (the detector's confidence), ``when`` (``before``/``during``/``after`` the words, or ``""``)
    and ``phrase``, what the user did in words of ``language`` (:data:`EVENT_WORDS`; English when the
    language has none): "laughed before speaking", "说话前笑了"."""
    words = EVENT_WORDS.get(primary_language(language) or "en", EVENT_WORDS["en"])
    described = []
    for event in sorted(events, key=lambda e: e.start):
        when = event.when if isinstance(event, HeardEvent) else ""
        did = words["did"].get(event.label, event.label.replace("_", " "))
        phrase = words["phrase"].format(did=did, when=words["when"].get(when, "")).strip()
        described.append(
            {
                "label": event.label,
                "start": event.start,
                "end": event.end,
                "score": event.confidence,
                "when": when,
                "phrase": phrase,
            }
        )
    return described
