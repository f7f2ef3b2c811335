"""Plain-data pipeline configuration (YAML or JSON).

A config names the dialogue system that answers (``system``: the cascade by default), a backend and its
parameters for each component (``ser``, ``asr``, ``llm``, ``tts``, and the ``vad`` of the speech gate), the
prompt template, and the empathy strategies. It is data only: YAML is read with ``yaml.safe_load``, so no
tag can construct objects.

Example::

    from emotionlayer.config import PipelineConfig

    config = PipelineConfig.load("my.yaml")        # missing sections keep the packaged defaults
    config = config.with_component("llm", "openai", base_url="http://127.0.0.1:8080/v1")
    config.save("out.yaml")                        # round-trips: PipelineConfig.load("out.yaml") == config
"""

from __future__ import annotations

import copy
import functools
import json
import os
import warnings
from dataclasses import dataclass, field, replace
from importlib import resources
from pathlib import Path
from typing import Any

from .audio import NO_SPEECH_THRESHOLD
from .errors import ConfigError
from .labels import EMOTIONS, canonical
from .types import SpeakingStyle

COMPONENT_KINDS: tuple[str, ...] = ("ser", "asr", "llm", "tts", "vad", "guard")
# Every config needs these; a config without a `vad` section gets the packaged speech detector.
_REQUIRED_KINDS: tuple[str, ...] = ("ser", "asr", "llm", "tts")
#: The speech detector of a config that names none.
DEFAULT_VAD = "silero"
#: The reply guard of a config that names none: ``none`` (every reply is spoken as written).
DEFAULT_GUARD = "none"
_TOP_LEVEL_KEYS = set(COMPONENT_KINDS) | {"system", "prompt", "run", "strategies"}
#: The detector confidence at which an event in the user's audio is reported (``run.event_threshold``): the
#: lowest at which at most 2% of plain-speech clips get any event (benchmarks/events_in_turn.py).
EVENT_THRESHOLD = 0.84
#: Values of ``run.chinese_script``.
CHINESE_SCRIPTS: tuple[str | None, ...] = (None, "simplified", "traditional")
#: Old section names, read with a deprecation message: old name -> new name.
RENAMED_SECTIONS: dict[str, str] = {"pipeline": "run"}


def _named_section(data: Any, section: str, key: str, example: str) -> tuple[str, dict[str, Any]]:
    """The name under ``key`` and the ``params`` of a config section ``{key: NAME, params: {...}}``.

    Raises:
        ConfigError: ``key`` is missing, a key other than ``key`` and ``params`` is there, or ``params`` is
            not a mapping (the messages show ``example`` as the name).
    """
    if not isinstance(data, dict) or key not in data:
        raise ConfigError(
            f"The '{section}' section needs a '{key}', e.g. `{section}: {{{key}: {example}, params: {{}}}}`."
        )
    unknown = set(data) - {key, "params"}
    if unknown:
        raise ConfigError(
            f"The '{section}' section has unknown keys {sorted(unknown)}; only '{key}' and 'params' are allowed."
        )
    params = data.get("params") or {}
    if not isinstance(params, dict):
        raise ConfigError(f"'{section}.params' must be a mapping of parameter names to values.")
    return str(data[key]), dict(params)


@dataclass(frozen=True)
class ComponentConfig:
    """Which backend to build for one component kind, and its constructor parameters."""

    backend: str
    params: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {"backend": self.backend, "params": copy.deepcopy(self.params)}

    @classmethod
    def from_dict(cls, data: Any, kind: str) -> ComponentConfig:
        if isinstance(data, str):  # shorthand: `asr: faster-whisper`
            return cls(backend=data)
        name, params = _named_section(data, kind, "backend", "NAME")
        return cls(backend=name, params=params)


@dataclass(frozen=True)
class SystemConfig:
    """Which dialogue system answers (a name in the ``system`` registry) and its parameters.

    The cascade (``cascade``, the default) builds its components from the ``ser``/``asr``/``llm``/``tts``
    sections; other systems (``echat``, ``paralingpt``, ``topline``, plugins) read what they need from
    the same config and take their own parameters here (e.g. ``{name: echat, params: {model: DIR}}``).
    """

    name: str = "cascade"
    params: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "params": copy.deepcopy(self.params)}

    @classmethod
    def from_dict(cls, data: Any) -> SystemConfig:
        if data is None:
            return cls()
        if isinstance(data, str):  # shorthand: `system: echat`
            return cls(name=data)
        name, params = _named_section(data, "system", "name", "cascade")
        return cls(name=name, params=params)


@dataclass(frozen=True)
class Strategy:
    """An empathy strategy: what the answer should do, and how it should sound.

    ``languages`` holds the strategy's words in other languages: language code -> ``{instruction: ...,
    example: [...], openers: [...]}`` (any key may be left out; the English one is used then).
    :meth:`in_language` gives the strategy as a prompt in that language should see it; the name and style
    do not change.

    ``openers`` are short first words of a reply in this strategy ("Oh,", "Yeah,"): with
    ``run.opener`` the cascade speaks one as soon as the strategy is known (its audio synthesised ahead of
    time) and the LLM writes the rest of the reply after it.
    """

    name: str
    instruction: str
    style: SpeakingStyle
    pad: tuple[float, float, float] = (0.0, 0.0, 0.0)
    example: tuple[str, str] | None = None
    languages: dict[str, dict[str, Any]] = field(default_factory=dict, compare=True)
    openers: tuple[str, ...] = ()

    def in_language(self, language: str | None) -> Strategy:
        """This strategy with its ``instruction`` and ``example`` in ``language`` (as given in
        ``languages``, by primary code: ``zh-CN`` finds ``zh``); itself when there is none."""
        words = self.languages.get(primary_language(language) or "", {})
        if not words:
            return self
        example = words.get("example", self.example)
        return replace(
            self,
            instruction=str(words.get("instruction", self.instruction)),
            example=tuple(example) if example is not None else None,  # type: ignore[arg-type]
            openers=tuple(words.get("openers", self.openers)),
        )

    def to_dict(self) -> dict[str, Any]:
        style = self.style.to_dict()
        out: dict[str, Any] = {"name": self.name, "instruction": self.instruction, "pad": list(self.pad)}
        if self.example is not None:
            out["example"] = list(self.example)
        out["style"] = style
        if self.openers:
            out["openers"] = list(self.openers)
        if self.languages:
            out["languages"] = {
                code: {k: list(v) if k in ("example", "openers") else v for k, v in words.items()}
                for code, words in self.languages.items()
            }
        return out

    @classmethod
    def from_dict(cls, data: dict[str, Any], emotion: str) -> Strategy:
        for key in ("name", "instruction"):
            if key not in data:
                raise ConfigError(f"Strategy for '{emotion}' needs '{key}'.")
        # The voice's emotion is the strategy's choice (a calm voice for an angry user); the user's by default.
        style = SpeakingStyle.from_dict({"emotion": emotion, **(data.get("style") or {})})
        pad = tuple(float(x) for x in data.get("pad", (0.0, 0.0, 0.0)))
        if len(pad) != 3:
            raise ConfigError(f"Strategy for '{emotion}': 'pad' must be three numbers (pleasure, arousal, dominance).")
        example = _example(data.get("example"), emotion)
        languages = {}
        for code, words in (data.get("languages") or {}).items():
            unknown = set(words or {}) - {"instruction", "example", "openers"}
            if not isinstance(words, dict) or unknown:
                extra = f"; unknown keys {sorted(unknown)}" if isinstance(words, dict) else ""
                raise ConfigError(
                    f"Strategy for '{emotion}': 'languages.{code}' must be a mapping with 'instruction', "
                    f"'example' and/or 'openers'{extra}."
                )
            entry: dict[str, Any] = {}
            if "instruction" in words:
                entry["instruction"] = str(words["instruction"])
            if words.get("example") is not None:
                entry["example"] = _example(words["example"], f"{emotion}' ('languages.{code}")
            if words.get("openers") is not None:
                entry["openers"] = _openers(words["openers"], f"{emotion}' ('languages.{code}")
            languages[primary_language(str(code)) or str(code)] = entry
        return cls(
            name=str(data["name"]),
            instruction=str(data["instruction"]),
            style=style,
            pad=pad,  # type: ignore[arg-type]
            example=example,
            languages=languages,
            openers=_openers(data.get("openers"), emotion),
        )


def _openers(openers: Any, emotion: str) -> tuple[str, ...]:
    if openers is None:
        return ()
    if isinstance(openers, str) or not isinstance(openers, (list, tuple)):
        raise ConfigError(f"Strategy for '{emotion}': 'openers' must be a list of short phrases, e.g. [\"Oh no.\"].")
    out = tuple(str(o).strip() for o in openers)
    if any(not o for o in out):
        raise ConfigError(f"Strategy for '{emotion}': an opener is empty.")
    return out


def _example(example: Any, emotion: str) -> tuple[str, str] | None:
    if example is None:
        return None
    if not isinstance(example, (list, tuple)) or len(example) != 2:
        raise ConfigError(
            f"Strategy for '{emotion}': 'example' must be two strings: [what a user says, a good answer]."
        )
    return (str(example[0]), str(example[1]))


def primary_language(language: str | None) -> str | None:
    """The primary language code: ``zh-CN``, ``zh_TW`` and ``ZH`` give ``zh``; ``None`` stays ``None``."""
    if not language:
        return None
    return str(language).strip().lower().replace("_", "-").split("-")[0] or None


@dataclass(frozen=True)
class PromptConfig:
    """Which jinja2 template renders the prompt and where to look for it.

    ``prosody``: also give the template how fast and how loud the sentence was said (its ``prosody``
    variable) where a turn carries that: StyleTalk's rows do, for ``llm finetune`` and ``llm evaluate``. The
    pipeline does not measure them from audio, so its live turns render without them. Tried for the packaged
    adapter and not kept (docs/llm.md).
    """

    template: str = "empathetic.j2"
    template_dirs: tuple[str, ...] = ()
    history_turns: int = 4
    few_shot: bool = True
    history_tokens: int = 400
    prosody: bool = False

    def to_dict(self) -> dict[str, Any]:
        out = {
            "template": self.template,
            "template_dirs": list(self.template_dirs),
            "history_turns": self.history_turns,
            "history_tokens": self.history_tokens,
            "few_shot": self.few_shot,
        }
        if self.prosody:  # only when on, so configs written before it keep their hash (and cached replies)
            out["prosody"] = True
        return out


@dataclass(frozen=True)
class RunConfig:
    """How a dialogue system runs a turn (the config's ``run`` section; ``pipeline`` in older configs).

    Attributes:
        max_seconds: Longer input is refused, with a message saying how to split it.
        concurrent_perception: Run SER and ASR at the same time.
        stream_tts: Speak each sentence as soon as the LLM has finished it.
        first_clause_words: With ``stream_tts``, speak the first clause of the reply on its own as soon as
            it is written (at a comma, semicolon, colon or dash after at least this many words), so the
            first audio does not wait for the whole first sentence. 0 waits for the sentence.
        language: Language of the input (``None``: the ASR decides).
        render_events: Play ``[laugh]``-style cues in a reply from the event bank (never read aloud).
        event_bank: The user's own per-label folders of event clips, searched before the packaged bank.
        speech_gate: Before the LLM, check that the input holds speech (the ``vad`` component, then the
            ASR's own no-speech signal); when it does not, answer with a fixed request to say it again
            instead of making a reply up. See docs/pipeline.md.
        no_speech_threshold: The gate also finds no speech when the ASR's no-speech probability (whisper's)
            is at least this.
        detect_events: Run the vocal event detector (the ``events`` component: laugh, sigh, cough, breath,
            throat clearing, tsk, gasp) on the user's audio in every turn; the events go on the turn and to
            the prompt template (variable ``events``). See docs/paralinguistics.md#events-in-the-turn.
        event_threshold: Report an event only when the detector's confidence is at least this (chosen on
            plain speech so that it stays silent there; see the same page).
        chinese_script: ``simplified`` or ``traditional``: write Chinese in that script in the transcript
            the prompt sees and in the reply (OpenCC); ``None`` leaves it as the ASR and the LLM wrote it.
        opener: Start each reply with one of its strategy's ``openers`` ("Oh,", "Yeah,"), spoken
            from audio synthesised ahead of time as soon as the strategy is known, while the LLM writes the
            rest of the reply after it (the opener is given to the LLM as the start of its answer, so the
            words stay one reply). Needs an LLM that can continue a reply (the llama.cpp backend); a strategy
            without openers, or another LLM, answers as without it. See docs/live.md#first-words-sooner.
    """

    max_seconds: float = 120.0
    concurrent_perception: bool = True
    stream_tts: bool = True
    first_clause_words: int = 4
    language: str | None = None
    render_events: bool = True
    event_bank: tuple[str, ...] = ()
    speech_gate: bool = True
    no_speech_threshold: float = NO_SPEECH_THRESHOLD
    detect_events: bool = False
    event_threshold: float = EVENT_THRESHOLD
    chinese_script: str | None = None
    opener: bool = True

    def __post_init__(self) -> None:
        if not 0.0 <= float(self.event_threshold) <= 1.0:
            raise ConfigError(f"run.event_threshold must be in [0, 1], got {self.event_threshold}.")
        if self.chinese_script not in CHINESE_SCRIPTS:
            raise ConfigError(
                f"run.chinese_script must be one of simplified, traditional or null; got {self.chinese_script!r}."
            )
        if int(self.first_clause_words) < 0:
            raise ConfigError(f"run.first_clause_words must be 0 or more, got {self.first_clause_words}.")
        if not 0.0 < float(self.no_speech_threshold) <= 1.0:
            raise ConfigError(f"run.no_speech_threshold must be in (0, 1], got {self.no_speech_threshold}.")

    def to_dict(self) -> dict[str, Any]:
        return {
            "max_seconds": self.max_seconds,
            "concurrent_perception": self.concurrent_perception,
            "stream_tts": self.stream_tts,
            "first_clause_words": self.first_clause_words,
            "language": self.language,
            "render_events": self.render_events,
            "event_bank": list(self.event_bank),
            "speech_gate": self.speech_gate,
            "no_speech_threshold": self.no_speech_threshold,
            "detect_events": self.detect_events,
            "event_threshold": self.event_threshold,
            "chinese_script": self.chinese_script,
            "opener": self.opener,
        }


def _dataclass_from(cls: type, data: Any, section: str) -> Any:
    if data is None:
        return cls()
    if not isinstance(data, dict):
        raise ConfigError(f"The '{section}' section must be a mapping.")
    valid = set(cls.__dataclass_fields__)
    unknown = set(data) - valid
    if unknown:
        raise ConfigError(f"The '{section}' section has unknown keys {sorted(unknown)}; valid keys: {sorted(valid)}.")
    values = dict(data)
    for key in ("template_dirs", "event_bank"):
        if key in values:
            values[key] = tuple(str(p) for p in values[key] or ())
    return cls(**values)


@dataclass(frozen=True)
class PipelineConfig:
    """Everything a dialogue system (by default the :class:`~emotionlayer.pipeline.CascadePipeline`) needs
    to build itself."""

    ser: ComponentConfig
    asr: ComponentConfig
    llm: ComponentConfig
    tts: ComponentConfig
    prompt: PromptConfig = field(default_factory=PromptConfig)
    run: RunConfig = field(default_factory=RunConfig)
    strategies: dict[str, Strategy] = field(default_factory=dict)
    system: SystemConfig = field(default_factory=SystemConfig)
    vad: ComponentConfig = field(default_factory=lambda: ComponentConfig(DEFAULT_VAD))
    guard: ComponentConfig = field(default_factory=lambda: ComponentConfig(DEFAULT_GUARD))

    @property
    def pipeline(self) -> RunConfig:
        """The old name of :attr:`run` (deprecated)."""
        warnings.warn("PipelineConfig.pipeline is now PipelineConfig.run.", DeprecationWarning, stacklevel=2)
        return self.run

    # -- construction -------------------------------------------------------------------------
    @classmethod
    def default(cls) -> PipelineConfig:
        """The packaged offline default."""
        return cls.from_dict(_packaged_default())

    @classmethod
    def coerce(cls, config: PipelineConfig | str | os.PathLike[str] | dict[str, Any] | None) -> PipelineConfig:
        """Accept a config, a path to a YAML/JSON file, a dict, or ``None`` (the packaged default)."""
        if config is None:
            return cls.default()
        if isinstance(config, PipelineConfig):
            return config
        if isinstance(config, dict):
            return cls.from_dict(config)
        return cls.load(config)

    @classmethod
    def from_dict(cls, data: dict[str, Any], *, base: dict[str, Any] | None = None) -> PipelineConfig:
        """Build from a mapping. Sections missing from ``data`` come from ``base`` (the packaged default)."""
        if not isinstance(data, dict):
            raise ConfigError(
                "A pipeline config must be a mapping with sections system, ser, asr, llm, tts, vad, guard, prompt, "
                "run, strategies."
            )
        data = _renamed_sections(data)
        unknown = set(data) - _TOP_LEVEL_KEYS
        if unknown:
            raise ConfigError(f"Unknown config sections {sorted(unknown)}. Valid sections: {sorted(_TOP_LEVEL_KEYS)}.")
        data = copy.deepcopy(data)  # never alias the caller's (or the cached default's) mutable values
        merged = copy.deepcopy(base if base is not None else _packaged_default())
        for key, value in data.items():
            if key == "strategies":
                merged.setdefault("strategies", {})
                for emotion, strategy in (value or {}).items():
                    name = canonical(emotion)
                    current = merged["strategies"].get(name, {})
                    merged["strategies"][name] = {**current, **strategy}
            elif key in ("prompt", "run") and isinstance(value, dict):
                merged[key] = {**merged.get(key, {}), **value}
            else:
                merged[key] = value
        for kind in _REQUIRED_KINDS:
            if kind not in merged:
                raise ConfigError(f"The config has no '{kind}' section.")
        strategies = {
            canonical(k): Strategy.from_dict(v, canonical(k)) for k, v in (merged.get("strategies") or {}).items()
        }
        missing = [e for e in EMOTIONS if e not in strategies]
        if missing:
            raise ConfigError(f"The config has no strategy for {', '.join(missing)}; every emotion needs one.")
        return cls(
            ser=ComponentConfig.from_dict(merged["ser"], "ser"),
            asr=ComponentConfig.from_dict(merged["asr"], "asr"),
            llm=ComponentConfig.from_dict(merged["llm"], "llm"),
            tts=ComponentConfig.from_dict(merged["tts"], "tts"),
            prompt=_dataclass_from(PromptConfig, merged.get("prompt"), "prompt"),
            run=_dataclass_from(RunConfig, merged.get("run"), "run"),
            strategies=strategies,
            system=SystemConfig.from_dict(merged.get("system")),
            vad=ComponentConfig.from_dict(merged.get("vad") or DEFAULT_VAD, "vad"),
            guard=ComponentConfig.from_dict(merged.get("guard") or DEFAULT_GUARD, "guard"),
        )

    @classmethod
    def load(cls, path: str | os.PathLike[str]) -> PipelineConfig:
        """Read a YAML (``.yaml``/``.yml``) or JSON (``.json``) config file."""
        file = Path(path)
        if not file.is_file():
            raise ConfigError(f"Config file {file} does not exist. Start from `emotionlayer config show > my.yaml`.")
        text = file.read_text(encoding="utf-8")
        try:
            if file.suffix.lower() == ".json":
                data = json.loads(text)
            else:
                import yaml

                data = yaml.safe_load(text)
        except Exception as exc:
            raise ConfigError(f"Could not parse {file}: {exc}") from exc
        config = cls.from_dict(data or {})

        # Folders named in a config file are relative to that file.
        def resolve(folders: tuple[str, ...]) -> tuple[str, ...]:
            return tuple(d if Path(d).is_absolute() else str((file.parent / d).resolve()) for d in folders)

        return replace(
            config,
            prompt=replace(config.prompt, template_dirs=resolve(config.prompt.template_dirs)),
            run=replace(config.run, event_bank=resolve(config.run.event_bank)),
        )

    # -- output -------------------------------------------------------------------------------
    def to_dict(self) -> dict[str, Any]:
        return {
            "system": self.system.to_dict(),
            "ser": self.ser.to_dict(),
            "asr": self.asr.to_dict(),
            "llm": self.llm.to_dict(),
            "tts": self.tts.to_dict(),
            "vad": self.vad.to_dict(),
            "guard": self.guard.to_dict(),
            "prompt": self.prompt.to_dict(),
            "run": self.run.to_dict(),
            "strategies": {k: v.to_dict() for k, v in self.strategies.items()},
        }

    def to_yaml(self) -> str:
        import yaml

        return yaml.safe_dump(self.to_dict(), sort_keys=False, allow_unicode=True)

    def save(self, path: str | os.PathLike[str]) -> None:
        """Write as YAML or JSON (by suffix)."""
        file = Path(path)
        text = json.dumps(self.to_dict(), indent=2) if file.suffix.lower() == ".json" else self.to_yaml()
        file.write_text(text, encoding="utf-8")

    # -- edits --------------------------------------------------------------------------------
    def component(self, kind: str) -> ComponentConfig:
        if kind not in COMPONENT_KINDS:
            raise ConfigError(f"Unknown component kind {kind!r}; valid: {', '.join(COMPONENT_KINDS)}.")
        return getattr(self, kind)

    def with_component(self, kind: str, backend: str, **params: Any) -> PipelineConfig:
        """A copy with one component swapped (its params replaced by ``params``)."""
        self.component(kind)
        return replace(self, **{kind: ComponentConfig(backend, dict(params))})

    def with_system(self, name: str, **params: Any) -> PipelineConfig:
        """A copy that answers with another dialogue system (its params replaced by ``params``)."""
        return replace(self, system=SystemConfig(name, dict(params)))

    def strategy_for(self, emotion: str) -> Strategy:
        return self.strategies[canonical(emotion)]


def _renamed_sections(data: dict[str, Any]) -> dict[str, Any]:
    """``data`` with the old section names of :data:`RENAMED_SECTIONS` read as the new ones (with a
    deprecation message; a config that has both is refused)."""
    old = [key for key in RENAMED_SECTIONS if key in data]
    if not old:
        return data
    data = dict(data)
    for key in old:
        new = RENAMED_SECTIONS[key]
        if new in data:
            raise ConfigError(
                f"The config has both '{key}' and '{new}' sections; '{key}' is the old name of '{new}'. Keep one."
            )
        warnings.warn(
            f"The config section '{key}' is now called '{new}'; it was read as '{new}'. Rename it in your config file.",
            FutureWarning,
            stacklevel=4,
        )
        data[new] = data.pop(key)
    return data


@functools.lru_cache(maxsize=1)
def _packaged_default() -> dict[str, Any]:
    """The packaged default config, parsed once per process (callers deep-copy before changing it)."""
    import yaml

    text = resources.files("emotionlayer").joinpath("configs/default.yaml").read_text(encoding="utf-8")
    return yaml.safe_load(text)
