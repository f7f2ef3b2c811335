"""Emotional spoken-dialogue dataset generation, in the style of E-chat200.

Each row of a generated dataset is a (question text, emotion, question speech, response) tuple: a seed
utterance that means something different in different emotions ("We have another meeting tonight"), one
emotion it plausibly carries, the utterance spoken in that emotion by an emotional TTS voice, and an
LLM's reply given the true text and the true emotion (the E-chat topline recipe).

The run is built to survive being killed at any moment:

1. A **plan** of every row is computed up front from (seed utterances, rows per utterance, seed). Row
   ids (``<seed id>-<k>``), emotions, voices, speaking styles and splits depend only on those inputs,
   so a rerun of the same command plans exactly the same rows.
2. Workers (in-process, local processes or Ray actors) turn a planned row into a reply and a waveform.
   They touch no files; the main process writes each waveform atomically (temporary file, then
   ``os.replace``) and only then appends the finished row to ``journal.jsonl`` (one ``write`` + fsync).
3. On restart the journal is read (a torn last line is cut off), stray temporary files and audio files
   the journal does not reference are removed, and only unfinished rows are generated.
4. ``manifest.jsonl`` and the dataset card (``README.md`` + ``card.json``) are rebuilt atomically from
   the journal at the end of every run.

Example::

    from emotionlayer.data.generation import generate_dataset

    summary = generate_dataset("my_dataset", per_utterance=2, limit=20)
    print(summary.rows_total, summary.rows_per_second)
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import random
import sys
import time
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from ...errors import ConfigError
from ...files import write_text_atomic
from ...registry import unusable_reason
from ...labels import canonical_list
from ...types import SpeakingStyle

logger = logging.getLogger(__name__)

#: Folder of the packaged seed utterances (``en.jsonl``, ``zh.jsonl``).
SEED_DIR = Path(__file__).resolve().parent.parent / "seeds"
#: Languages with packaged seeds.
LANGUAGES: tuple[str, ...] = ("en", "zh")
#: Default fractions of seed utterances in train / dev / test.
DEFAULT_SPLITS: tuple[float, float, float] = (0.8, 0.1, 0.1)
SPLIT_NAMES: tuple[str, str, str] = ("train", "dev", "test")
#: The prompt template used for replies: true text and true emotion, no history.
DEFAULT_TEMPLATE = "topline.j2"
#: Half-widths of the random jitter applied to each row's speaking style.
RATE_JITTER = 0.08
PITCH_JITTER = 1.0
VOLUME_JITTER = 0.1

MANIFEST = "manifest.jsonl"
JOURNAL = "journal.jsonl"
SETTINGS = "settings.json"
AUDIO_DIR = "audio"
#: Manifest fields every row has.
MANIFEST_FIELDS: tuple[str, ...] = (
    "id",
    "seed_id",
    "text",
    "emotion",
    "response",
    "audio",
    "voice",
    "speaker",
    "style",
    "duration",
    "sample_rate",
    "split",
    "language",
    "strategy",
    "llm",
    "tts",
)


# ---------------------------------------------------------------------------------------------- seeds


@dataclass(frozen=True)
class SeedUtterance:
    """One seed utterance and the emotions it plausibly carries.

    Attributes:
        id: Stable identifier, unique in its file (row ids and splits derive from it).
        text: The utterance.
        emotions: Canonical emotion labels it can be said with.
        language: ISO 639-1 code.
    """

    id: str
    text: str
    emotions: tuple[str, ...]
    language: str = "en"


def packaged_seed_file(language: str = "en") -> Path:
    """Path of the packaged seed utterances for ``language`` (``en`` or ``zh``)."""
    if language not in LANGUAGES:
        raise ConfigError(
            f"No packaged seed utterances for language {language!r}; packaged: {', '.join(LANGUAGES)}. "
            "Pass your own seed file (JSONL with id, text, emotions) with --seeds."
        )
    return SEED_DIR / f"{language}.jsonl"


def load_seeds(path: str | os.PathLike | None = None, language: str = "en") -> list[SeedUtterance]:
    """Read seed utterances from a JSONL file (the packaged ones for ``language`` when ``path`` is None).

    Each line is an object with ``id``, ``text``, ``emotions`` (a list of labels or a comma-separated
    string; aliases such as ``joy`` are accepted) and optionally ``language`` (default: ``language``).
    Blank lines and lines starting with ``#`` are skipped.

    Raises:
        ConfigError: the file is missing, or a line is not valid (the message names the line).
    """
    file = Path(path) if path is not None else packaged_seed_file(language)
    if not file.is_file():
        raise ConfigError(f"Seed file {file} does not exist. Pass a JSONL file with one object per line: id, text, emotions.")
    seeds: list[SeedUtterance] = []
    seen_ids: set[str] = set()
    seen_texts: set[str] = set()
    with open(file, encoding="utf-8") as handle:
        for number, line in enumerate(handle, 1):
            line = line.strip()
            if not line or line.startswith("#"):
                continue
            where = f"{file}, line {number}"
            try:
                data = json.loads(line)
            except json.JSONDecodeError as exc:
                raise ConfigError(f"{where} is not valid JSON ({exc.msg}). Each line must be one JSON object.") from exc
            if not isinstance(data, dict) or not str(data.get("text", "")).strip() or not data.get("emotions"):
                raise ConfigError(f'{where} needs "text" and "emotions", e.g. {{"id": "s1", "text": "...", "emotions": ["happy", "sad"]}}.')
            seed_id = str(data.get("id") or f"{file.stem}-{number:05d}")
            if seed_id in seen_ids:
                raise ConfigError(f"{where}: id {seed_id!r} is used twice. Seed ids must be unique.")
            text = str(data["text"]).strip()
            if text in seen_texts:
                raise ConfigError(f"{where}: the text {text!r} appears twice. Remove the duplicate (it would leak across splits).")
            try:
                emotions = tuple(canonical_list(data["emotions"]))
            except ConfigError as exc:
                raise ConfigError(f"{where}: {exc}") from exc
            seen_ids.add(seed_id)
            seen_texts.add(text)
            seeds.append(SeedUtterance(seed_id, text, emotions, str(data.get("language") or language)))
    if not seeds:
        raise ConfigError(f"Seed file {file} holds no utterances. Add one JSON object per line: id, text, emotions.")
    return seeds


# --------------------------------------------------------------------------------------------- voices


@dataclass(frozen=True)
class VoiceSpec:
    """One TTS voice of a generated dataset: a backend, its parameters and voice-level style offsets.

    Written as a string ``BACKEND[:KEY=VALUE,...]``, e.g. ``piper``, ``espeak-ng:voice=en-gb-x-rp+f2`` or
    ``piper:pitch=-3,name=joe-low``. Three keys belong to the voice rather than the backend: ``name``
    (the label recorded in each row; default ``BACKEND`` or ``BACKEND/VOICE``), ``pitch`` (semitones
    added to every row's style) and ``rate`` (a factor on every row's speaking rate). Every other key is
    passed to ``registry.create("tts", BACKEND, ...)``.

    Attributes:
        tts: Registered TTS backend name.
        params: Backend constructor parameters.
        name: Voice label recorded in the manifest (used by ``holdout_voices``).
        pitch_offset: Semitones added to each row's pitch.
        rate_factor: Factor applied to each row's speaking rate.
    """

    tts: str
    params: dict[str, Any] = field(default_factory=dict)
    name: str = ""
    pitch_offset: float = 0.0
    rate_factor: float = 1.0

    def __post_init__(self) -> None:
        if not self.name:
            voice = self.params.get("voice")
            object.__setattr__(self, "name", f"{self.tts}/{voice}" if voice else self.tts)

    @classmethod
    def parse(cls, spec: str) -> VoiceSpec:
        """Build a voice from its string form (see the class docstring)."""
        from ...registry import parse_spec

        backend, params = parse_spec(spec.strip())
        name = params.pop("name", "")
        pitch = params.pop("pitch", 0.0)
        rate = params.pop("rate", 1.0)
        try:
            return cls(backend, params, str(name) if name is not None else "", float(pitch), float(rate))
        except (TypeError, ValueError):
            raise ConfigError(f"Voice {spec!r}: pitch and rate must be numbers, e.g. piper:pitch=-2,rate=1.1.") from None

    def to_string(self) -> str:
        """The string form, which :meth:`parse` reads back."""
        items = [f"{k}={json.dumps(v) if not isinstance(v, str) else v}" for k, v in sorted(self.params.items())]
        if self.pitch_offset:
            items.append(f"pitch={self.pitch_offset:g}")
        if self.rate_factor != 1.0:
            items.append(f"rate={self.rate_factor:g}")
        items.append(f"name={self.name}")
        return f"{self.tts}:{','.join(items)}"

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


#: Default voices per language, in order of preference; those whose backend is not usable are skipped.
#: piper's packaged voice is one speaker, so pitch-shifted variants of it count as further voices.
DEFAULT_VOICES: dict[str, tuple[str, ...]] = {
    "en": (
        "piper:name=piper-joe",
        "piper:pitch=-2,name=piper-joe-low",
        "piper:pitch=2,rate=1.05,name=piper-joe-high",
        "espeak-ng:voice=en-us",
        "espeak-ng:voice=en-gb-x-rp+f2",
        "espeak-ng:voice=en-us+m4",
        "espeak-ng:voice=en-gb-scotland+f4",
    ),
    "zh": (
        "espeak-ng:voice=cmn",
        "espeak-ng:voice=cmn+f3",
        "espeak-ng:voice=cmn+m3",
        "espeak-ng:voice=cmn+f4",
    ),
}


def default_voices(language: str = "en") -> list[VoiceSpec]:
    """The default voices for ``language`` whose TTS backends are usable on this machine.

    Raises:
        ConfigError: none is usable (the message says what to install or pass instead).
    """
    specs = [VoiceSpec.parse(s) for s in DEFAULT_VOICES.get(language, DEFAULT_VOICES["en"])]
    reasons: dict[str, str] = {}
    usable = []
    for spec in specs:
        reason = reasons.setdefault(spec.tts, unusable_reason("tts", spec.tts) or "")
        if not reason:
            usable.append(spec)
    if not usable:
        why = "; ".join(f"{k}: {v}" for k, v in reasons.items())
        raise ConfigError(
            f"No default TTS voice for language {language!r} is usable here ({why}). Install one "
            "(e.g. `apt-get install espeak-ng`) or pass voices with --tts BACKEND[:KEY=VALUE,...]."
        )
    return usable


#: Short texts each voice speaks once before a new dataset is started, to catch a bad voice early.
PREFLIGHT_TEXT: dict[str, str] = {"en": "Hello there.", "zh": "你好。"}


def check_voices(voices: Sequence[VoiceSpec], language: str = "en", imports: Sequence[str] = ()) -> None:
    """Build each voice and have it speak a short sentence.

    Raises:
        ConfigError: a voice that cannot be built or does not speak (the message names it and why).
    """
    from ... import registry
    from ...audio import validate

    for module in imports:
        __import__(module)
    for voice in voices:
        try:
            tts = registry.create("tts", voice.tts, **voice.params)
            validate(tts.synthesize(PREFLIGHT_TEXT.get(language, "Hello."), SpeakingStyle()), max_seconds=None)
        except Exception as exc:
            raise ConfigError(
                f"Voice {voice.name!r} ({voice.to_string()}) does not work: {exc} Fix or drop it (--tts), then run again."
            ) from exc


# ----------------------------------------------------------------------------------------------- plan


@dataclass(frozen=True)
class PlannedRow:
    """One row of the plan: everything about it except the reply and the audio.

    Attributes:
        id: Row id, ``<seed id>-<k>``.
        seed_id: Id of its seed utterance.
        text: The utterance to speak.
        emotion: The emotion it is spoken (and answered) with.
        language: Language code.
        voice: Index into the run's voice list.
        voice_name: The voice's label.
        style: Speaking style for the utterance (the emotion's style, jittered, plus voice offsets).
        split: ``train``, ``dev`` or ``test``.
        seed: Per-row random seed (passed to backends that take one).
    """

    id: str
    seed_id: str
    text: str
    emotion: str
    language: str
    voice: int
    voice_name: str
    style: SpeakingStyle
    split: str
    seed: int

    def to_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out["style"] = self.style.to_dict()
        return out

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> PlannedRow:
        data = dict(data)
        data["style"] = SpeakingStyle.from_dict(data["style"])
        return cls(**data)


def _unit_hash(text: str) -> float:
    """A stable number in [0, 1) from a string (the same on every machine and Python run)."""
    digest = hashlib.sha256(text.encode("utf-8")).digest()
    return int.from_bytes(digest[:8], "big") / 2.0**64


def split_for(seed_id: str, fractions: Sequence[float] = DEFAULT_SPLITS) -> str:
    """The split of a seed utterance: a hash of its id against cumulative ``fractions`` (train, dev, test).

    Every row of one seed utterance lands in the same split, so no text leaks across splits, and the
    split of an utterance never changes with the run's seed, the voices or the number of rows.
    """
    u = _unit_hash(f"split:{seed_id}")
    edge = 0.0
    for name, fraction in zip(SPLIT_NAMES, fractions, strict=True):
        edge += fraction
        if u < edge:
            return name
    return SPLIT_NAMES[-1]


def _check_fractions(fractions: Sequence[float]) -> tuple[float, float, float]:
    values = tuple(float(f) for f in fractions)
    if len(values) != 3 or any(f < 0 for f in values) or abs(sum(values) - 1.0) > 1e-6:
        raise ConfigError(f"Split fractions must be three non-negative numbers (train, dev, test) summing to 1; got {fractions!r}.")
    return values  # type: ignore[return-value]


def _base_styles(emotions: Iterable[str]) -> dict[str, SpeakingStyle]:
    """The acted speaking style of each emotion: how a voice sounds happy, sad, angry... by prosody.

    These are the styles of *saying* something in an emotion (:func:`~emotionlayer.components.tts.styles.acted_style`),
    not the styles of *answering* someone who feels it (the pipeline's empathy strategies).
    """
    from ...components.tts.styles import acted_style

    return {emotion: acted_style(emotion) for emotion in sorted(set(emotions))}


def _jittered(style: SpeakingStyle, voice: VoiceSpec, rng: random.Random) -> SpeakingStyle:
    return SpeakingStyle(
        name=style.name,
        rate=round(style.rate * voice.rate_factor * (1.0 + rng.uniform(-RATE_JITTER, RATE_JITTER)), 3),
        pitch_semitones=round(style.pitch_semitones + voice.pitch_offset + rng.uniform(-PITCH_JITTER, PITCH_JITTER), 2),
        volume=round(style.volume * (1.0 + rng.uniform(-VOLUME_JITTER, VOLUME_JITTER)), 3),
        emotion=style.emotion,
    )


def plan_rows(
    seeds: Sequence[SeedUtterance],
    voices: Sequence[VoiceSpec],
    per_utterance: int = 2,
    seed: int = 0,
    splits: Sequence[float] = DEFAULT_SPLITS,
    holdout_voices: Iterable[str] = (),
) -> list[PlannedRow]:
    """Plan every row of a dataset, deterministically, in generation order.

    Each seed utterance gives ``per_utterance`` rows. Its emotions are shuffled (per utterance, from
    ``seed``) and taken in turn, cycling when ``per_utterance`` exceeds them; its rows get distinct voices
    where there are enough. The rows of all utterances are then shuffled together, so that the first N
    rows (``limit``) cover many utterances, emotions and voices.

    With ``holdout_voices``, those voices speak only test-split utterances and test utterances are
    spoken only by them: the test set then has unseen texts *and* unseen voices.

    Args:
        seeds: Seed utterances.
        voices: Voices to draw from (the row records the index and name).
        per_utterance: Rows per seed utterance.
        seed: Random seed; the same inputs and seed give the same plan.
        splits: Fractions of seed utterances in train, dev and test.
        holdout_voices: Names of voices reserved for the test split.

    Returns:
        The planned rows in generation order.
    """
    if per_utterance < 1:
        raise ConfigError(f"per_utterance must be at least 1; got {per_utterance}.")
    if not voices:
        raise ConfigError("At least one TTS voice is needed. Pass one with --tts, e.g. --tts piper.")
    fractions = _check_fractions(splits)
    names = [v.name for v in voices]
    if len(set(names)) != len(names):
        raise ConfigError(f"Voice names must be unique; got {names}. Give variants a name, e.g. piper:pitch=2,name=joe-high.")
    held = set(holdout_voices)
    unknown = held - set(names)
    if unknown:
        raise ConfigError(f"Held-out voice(s) {', '.join(sorted(unknown))} are not among the voices: {', '.join(names)}.")
    if held and held == set(names):
        raise ConfigError("Every voice is held out, so train and dev would have none. Hold out fewer voices or add more.")
    test_voices = [i for i, v in enumerate(voices) if v.name in held] if held else list(range(len(voices)))
    seen_voices = [i for i, v in enumerate(voices) if v.name not in held]

    styles = _base_styles(emotion for s in seeds for emotion in s.emotions)
    rows: list[PlannedRow] = []
    for utterance in seeds:
        rng = random.Random(f"{seed}:{utterance.id}")
        emotions = list(utterance.emotions)
        rng.shuffle(emotions)
        split = split_for(utterance.id, fractions)
        pool = list(test_voices if split == "test" else seen_voices)
        rng.shuffle(pool)
        for k in range(per_utterance):
            emotion = emotions[k % len(emotions)]
            voice_index = pool[k % len(pool)]
            voice = voices[voice_index]
            rows.append(
                PlannedRow(
                    id=f"{utterance.id}-{k}",
                    seed_id=utterance.id,
                    text=utterance.text,
                    emotion=emotion,
                    language=utterance.language,
                    voice=voice_index,
                    voice_name=voice.name,
                    style=_jittered(styles[emotion], voice, rng),
                    split=split,
                    seed=rng.randrange(2**31),
                )
            )
    random.Random(f"order:{seed}").shuffle(rows)
    return rows


# --------------------------------------------------------------------------------------------- worker


@dataclass(frozen=True)
class WorkerConfig:
    """Everything a worker needs to build its backends (plain data, so it crosses process boundaries)."""

    llm: str
    llm_params: dict[str, Any]
    voices: tuple[VoiceSpec, ...]
    template: str = DEFAULT_TEMPLATE
    template_dirs: tuple[str, ...] = ()
    max_tokens: int = 48
    sample_rate: int | None = None
    imports: tuple[str, ...] = ()
    threads: int | None = None


@dataclass
class RowResult:
    """What a worker returns for one planned row: the manifest fields it computed and the waveform."""

    row: PlannedRow
    response: str
    strategy: str
    samples: np.ndarray
    sample_rate: int
    llm: str
    tts: str
    seconds: float


_THREAD_PARAMETERS = ("n_threads", "num_threads", "threads")


def _with_threads(kind: str, name: str, params: dict[str, Any], threads: int | None) -> dict[str, Any]:
    """``params`` plus the backend's thread-count parameter set to ``threads``, unless the user set it."""
    if not threads:
        return dict(params)
    import inspect

    from ... import registry

    accepted = inspect.signature(registry.get_class(kind, name).__init__).parameters
    out = dict(params)
    for key in _THREAD_PARAMETERS:
        if key in accepted and key not in out:
            out[key] = threads
            break
    return out


class RowWorker:
    """Turns planned rows into replies and speech. Builds its LLM and TTS voices once, on first use.

    Args:
        config: Backends and prompt settings.
    """

    def __init__(self, config: WorkerConfig) -> None:
        import importlib

        self.config = config
        if config.threads:
            # Several workers share the CPU: keep each one's thread pools small.
            for variable in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS"):
                os.environ.setdefault(variable, str(config.threads))
            if "torch" in sys.modules:
                sys.modules["torch"].set_num_threads(config.threads)
        for module in config.imports:
            importlib.import_module(module)
        self._llm: Any = None
        self._renderer: Any = None
        self._tts: dict[int, Any] = {}
        self._llm_options: set[str] | None = None

    @property
    def llm(self) -> Any:
        if self._llm is None:
            from ... import registry

            params = _with_threads("llm", self.config.llm, self.config.llm_params, self.config.threads)
            self._llm = registry.create("llm", self.config.llm, **params)
        return self._llm

    @property
    def renderer(self) -> Any:
        if self._renderer is None:
            from ...prompting import PromptRenderer

            self._renderer = PromptRenderer(template=self.config.template, template_dirs=self.config.template_dirs)
        return self._renderer

    def tts(self, index: int) -> Any:
        """The TTS backend of voice ``index`` (built once)."""
        if index not in self._tts:
            from ... import registry

            voice = self.config.voices[index]
            params = _with_threads("tts", voice.tts, voice.params, self.config.threads)
            self._tts[index] = registry.create("tts", voice.tts, **params)
        return self._tts[index]

    def _options(self, seed: int) -> dict[str, Any]:
        """Per-call LLM options: ``max_tokens`` and ``seed``, each where the backend's ``generate`` takes it."""
        if self._llm_options is None:
            import inspect

            parameters = inspect.signature(self.llm.generate).parameters
            takes_any = any(p.kind is inspect.Parameter.VAR_KEYWORD for p in parameters.values())
            self._llm_options = {name for name in ("max_tokens", "seed") if takes_any or name in parameters}
        values = {"max_tokens": self.config.max_tokens, "seed": seed}
        return {name: values[name] for name in sorted(self._llm_options)}

    def _reply(self, messages: list[dict[str, str]], row: PlannedRow) -> str:
        """The LLM's reply with the row's seed; an empty reply is retried with the next two seeds."""
        text = ""
        for attempt in range(3):
            options = self._options(row.seed + attempt)
            text = " ".join(str(self.llm.generate(messages, **options)).split())
            if text or "seed" not in options:
                break
        if not text:
            logger.warning("Row %s: the LLM gave an empty reply.", row.id)
        return text

    def __call__(self, row: PlannedRow) -> RowResult:
        """Generate the reply and the speech of one row."""
        from ...audio import resample, validate
        from ...types import EmotionPrediction

        start = time.perf_counter()
        prompt = self.renderer.render(row.text, EmotionPrediction.certain(row.emotion), language=row.language)
        response = self._reply(prompt.messages, row)
        tts = self.tts(row.voice)
        audio = tts.synthesize(row.text, row.style)
        if self.config.sample_rate:
            audio = resample(audio, self.config.sample_rate)
        validate(audio, f"Speech for row {row.id} ({row.voice_name})", max_seconds=None)
        strategy = getattr(prompt.strategy, "name", str(prompt.strategy))
        return RowResult(
            row=row,
            response=response,
            strategy=strategy,
            samples=audio.samples,
            sample_rate=audio.sample_rate,
            llm=str(getattr(self.llm, "name", self.config.llm)),
            tts=str(getattr(tts, "name", self.config.voices[row.voice].tts)),
            seconds=time.perf_counter() - start,
        )


_PROCESS_WORKER: RowWorker | None = None


def _init_process_worker(config: WorkerConfig) -> None:
    global _PROCESS_WORKER
    _PROCESS_WORKER = RowWorker(config)


def _run_in_process_worker(row: PlannedRow) -> RowResult:
    assert _PROCESS_WORKER is not None, "worker process was not initialised"
    return _PROCESS_WORKER(row)


def _bounded(submit, rows: Sequence[PlannedRow], window: int, wait_one) -> Iterator[RowResult]:
    """Keep at most ``window`` rows in flight; yield results as they finish."""
    pending: set = set()
    queue = iter(rows)
    exhausted = False
    while True:
        while not exhausted and len(pending) < window:
            try:
                pending.add(submit(next(queue)))
            except StopIteration:
                exhausted = True
        if not pending:
            return
        done, pending = wait_one(pending)
        yield from done


def _run_serial(config: WorkerConfig, rows: Sequence[PlannedRow]) -> Iterator[RowResult]:
    worker = RowWorker(config)
    for row in rows:
        yield worker(row)


def _run_processes(config: WorkerConfig, rows: Sequence[PlannedRow], workers: int) -> Iterator[RowResult]:
    import multiprocessing
    from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait

    def wait_one(pending):
        done, rest = wait(pending, return_when=FIRST_COMPLETED)
        return [f.result() for f in done], rest

    # spawn: a fresh interpreter per worker, so no thread pools or model handles are inherited by fork.
    context = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(workers, mp_context=context, initializer=_init_process_worker, initargs=(config,)) as pool:
        try:
            yield from _bounded(lambda row: pool.submit(_run_in_process_worker, row), rows, 2 * workers, wait_one)
        except BaseException:
            pool.shutdown(wait=False, cancel_futures=True)
            raise


def _run_ray(config: WorkerConfig, rows: Sequence[PlannedRow], workers: int, address: str) -> Iterator[RowResult]:
    try:
        import ray
    except ImportError:
        from ...errors import MissingDependencyError

        raise MissingDependencyError("ray", "ray", purpose="generating with --ray") from None

    started = False
    if not ray.is_initialized():
        if address == "local":
            ray.init(num_cpus=workers, include_dashboard=False, log_to_driver=False)
        else:
            ray.init(address=address, log_to_driver=False)
        started = True
    try:
        actor_class = ray.remote(num_cpus=1)(_RayRowWorker)
        actors = [actor_class.remote(config) for _ in range(workers)]
        free = list(actors)
        owner: dict[Any, Any] = {}

        def submit(row: PlannedRow):
            actor = free.pop()
            ref = actor.run.remote(row)
            owner[ref] = actor
            return ref

        def wait_one(pending):
            done, rest = ray.wait(list(pending), num_returns=1)
            results = []
            for ref in done:
                free.append(owner.pop(ref))
                results.append(ray.get(ref))
            return results, set(rest)

        yield from _bounded(submit, rows, len(actors), wait_one)
    finally:
        if started:
            ray.shutdown()


class _RayRowWorker:
    """A Ray actor holding one :class:`RowWorker` (its backends load once per actor)."""

    def __init__(self, config: WorkerConfig) -> None:
        self.worker = RowWorker(config)

    def run(self, row: PlannedRow) -> RowResult:
        return self.worker(row)


# -------------------------------------------------------------------------------------------- storage


class Journal:
    """Append-only JSONL record of finished rows; each append is one write followed by fsync.

    Opening it cuts off a torn last line (from a process killed mid-write), so appends always start on a
    fresh line. When a row id appears more than once the last record wins.
    """

    def __init__(self, path: Path) -> None:
        self.path = path
        self.records: dict[str, dict[str, Any]] = {}
        self._recover()
        self._handle = open(self.path, "ab")

    def _recover(self) -> None:
        if not self.path.exists():
            return
        data = self.path.read_bytes()
        good = 0
        position = 0
        while position < len(data):
            end = data.find(b"\n", position)
            if end < 0:
                break  # a torn last line with no newline
            line = data[position:end]
            try:
                record = json.loads(line.decode("utf-8"))
                self.records[record["id"]] = record
                good = end + 1
            except (ValueError, KeyError, TypeError):
                logger.warning("Ignoring an unreadable journal line at byte %d of %s", position, self.path)
                good = end + 1  # a complete but bad line is skipped, not fatal
            position = end + 1
        if good < len(data):
            logger.info("Cutting a torn last line (%d bytes) off %s", len(data) - good, self.path)
            with open(self.path, "r+b") as handle:
                handle.truncate(good)
                handle.flush()
                os.fsync(handle.fileno())

    def append(self, record: dict[str, Any]) -> None:
        """Record a finished row durably."""
        self._handle.write((json.dumps(record, ensure_ascii=False) + "\n").encode("utf-8"))
        self._handle.flush()
        os.fsync(self._handle.fileno())
        self.records[record["id"]] = record

    def close(self) -> None:
        self._handle.close()


# ------------------------------------------------------------------------------------------ the run


@dataclass
class GenerationSummary:
    """What a run did.

    Attributes:
        out_dir: The dataset folder.
        rows_total: Rows in the manifest.
        rows_generated: Rows generated by this run (the rest were finished before).
        seconds: Wall time of the generation phase (backends loading included).
        workers: Worker count.
        backend: ``serial``, ``processes`` or ``ray``.
        first_row_seconds: Wall time until the first row was written (start-up and model loading).
    """

    out_dir: str
    rows_total: int
    rows_generated: int
    seconds: float
    workers: int
    backend: str
    first_row_seconds: float = 0.0

    @property
    def rows_per_second(self) -> float:
        """Rows generated per second of wall time in this run."""
        return self.rows_generated / self.seconds if self.seconds > 0 else 0.0

    @property
    def steady_rows_per_second(self) -> float:
        """Rows per second after the first row (start-up and model loading excluded)."""
        rest = self.seconds - self.first_row_seconds
        return (self.rows_generated - 1) / rest if self.rows_generated > 1 and rest > 0 else 0.0

    def to_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out["rows_per_second"] = round(self.rows_per_second, 4)
        out["steady_rows_per_second"] = round(self.steady_rows_per_second, 4)
        return out


def _seed_source(path: str | os.PathLike | None, language: str) -> dict[str, Any]:
    file = Path(path) if path is not None else packaged_seed_file(language)
    digest = hashlib.sha256(file.read_bytes()).hexdigest()[:16] if file.is_file() else ""
    return {"file": f"packaged:{language}" if path is None else str(path), "sha256": digest}


def _row_record(result: RowResult, audio_rel: str) -> dict[str, Any]:
    row = result.row
    return {
        "id": row.id,
        "seed_id": row.seed_id,
        "text": row.text,
        "emotion": row.emotion,
        "response": result.response,
        "audio": audio_rel,
        "voice": row.voice_name,
        "style": row.style.to_dict(),
        "duration": round(len(result.samples) / float(result.sample_rate), 3),
        "sample_rate": result.sample_rate,
        "split": row.split,
        "language": row.language,
        "strategy": result.strategy,
        "llm": result.llm,
        "tts": result.tts,
    }


def _manifest_row(record: dict[str, Any]) -> dict[str, Any]:
    """A journal record as a manifest row: fields in :data:`MANIFEST_FIELDS` order, ``speaker`` = voice.

    ``speaker`` repeats the voice so that tools which hold speakers out (e.g. SER cross-validation with
    :func:`emotionlayer.data.read_manifest`) hold voices out.
    """
    row = {**record, "speaker": record.get("voice")}
    return {key: row.get(key) for key in MANIFEST_FIELDS}


def _clean_stray_files(out: Path, finished: set[str]) -> int:
    """Remove temporary files and audio no finished row references; return how many were removed."""
    removed = 0
    for tmp in out.glob(".*.part"):
        tmp.unlink(missing_ok=True)
        removed += 1
    audio_dir = out / AUDIO_DIR
    if audio_dir.is_dir():
        for file in audio_dir.iterdir():
            if file.name.startswith(".") or file.stem not in finished:
                file.unlink(missing_ok=True)
                removed += 1
    return removed


def _audio_ok(out: Path, record: dict[str, Any]) -> bool:
    file = out / record.get("audio", "")
    return file.is_file() and file.stat().st_size > 44


def read_manifest(path: str | os.PathLike) -> list[dict[str, Any]]:
    """Rows of a generated ``manifest.jsonl`` (a folder is read as ``folder/manifest.jsonl``)."""
    file = Path(path)
    if file.is_dir():
        file = file / MANIFEST
    if not file.is_file():
        raise ConfigError(f"No manifest at {file}. Generate a dataset first: emotionlayer data generate --out DIR.")
    with open(file, encoding="utf-8") as handle:
        return [json.loads(line) for line in handle if line.strip()]


def generate_dataset(
    out_dir: str | os.PathLike,
    seeds: str | os.PathLike | None = None,
    language: str = "en",
    per_utterance: int = 2,
    limit: int | None = None,
    llm: str = "llama-cpp",
    tts: Sequence[str] | None = None,
    workers: int = 1,
    ray_address: str | None = None,
    seed: int = 0,
    holdout_voices: Sequence[str] = (),
    splits: Sequence[float] = DEFAULT_SPLITS,
    template: str = DEFAULT_TEMPLATE,
    template_dirs: Sequence[str] = (),
    max_tokens: int = 48,
    sample_rate: int | None = None,
    imports: Sequence[str] = (),
    progress: bool = True,
) -> GenerationSummary:
    """Generate (or finish) an emotional spoken-dialogue dataset in ``out_dir``.

    Running the same call again after an interruption (even ``kill -9``) generates only the missing rows
    and leaves every planned row in the manifest exactly once. Settings that change the plan or the
    content (seeds, language, rows per utterance, seed, voices, LLM, template, splits, sample rate) must
    match the folder's; ``limit``, ``workers`` and ``ray_address`` may differ between runs.

    Args:
        out_dir: Dataset folder (created if needed).
        seeds: Seed JSONL file (id, text, emotions); the packaged seeds of ``language`` when None.
        language: ``en`` or ``zh`` (packaged seeds, default voices, prompt language).
        per_utterance: Rows per seed utterance (its emotions are cycled).
        limit: Stop after this many rows of the plan (the first rows in plan order).
        llm: LLM backend as ``NAME[:KEY=VALUE,...]``, e.g. ``llama-cpp`` or ``dummy:reply="Oh no"``.
        tts: Voices as ``BACKEND[:KEY=VALUE,...]`` (see :class:`VoiceSpec`); usable defaults when None.
        workers: Worker processes (or Ray actors with ``ray_address``).
        ray_address: Ray cluster address, or ``local`` to start a local Ray instance with ``workers`` CPUs.
        seed: Random seed of the plan and of backends that take one.
        holdout_voices: Voice names reserved for the test split.
        splits: Fractions of seed utterances in train, dev and test.
        template: Prompt template for replies.
        template_dirs: Folders searched for templates before the packaged ones.
        max_tokens: Reply length limit passed to the LLM.
        sample_rate: Resample speech to this rate (the TTS rate when None).
        imports: Modules each worker imports first (to register custom backends).
        progress: Show a progress bar.

    Returns:
        A :class:`GenerationSummary`.

    Raises:
        ConfigError: invalid options, or ``out_dir`` holds a dataset made with other settings.
    """
    from ...registry import parse_spec
    from .card import write_card

    if workers < 1:
        raise ConfigError(f"workers must be at least 1; got {workers}.")
    if limit is not None and limit < 0:
        raise ConfigError(f"limit must be positive; got {limit}.")
    for module in imports:
        __import__(module)
    seed_list = load_seeds(seeds, language)
    voices = [VoiceSpec.parse(v) for v in tts] if tts else default_voices(language)
    for spec in {v.tts for v in voices}:
        reason = unusable_reason("tts", spec)
        if reason:
            raise ConfigError(f"TTS backend {spec!r} cannot run here: {reason}")
    llm_name, llm_params = parse_spec(llm)
    reason = unusable_reason("llm", llm_name)
    if reason:
        raise ConfigError(f"LLM backend {llm_name!r} cannot run here: {reason}")

    plan = plan_rows(seed_list, voices, per_utterance, seed, splits, holdout_voices)
    rows = plan if limit is None else plan[:limit]
    settings = {
        "format": 1,
        "language": language,
        "seeds": _seed_source(seeds, language),
        "seed_utterances": len(seed_list),
        "per_utterance": per_utterance,
        "seed": seed,
        "llm": llm,
        "voices": [v.to_string() for v in voices],
        "holdout_voices": sorted(holdout_voices),
        "splits": dict(zip(SPLIT_NAMES, _check_fractions(splits), strict=True)),
        "template": template,
        "max_tokens": max_tokens,
        "sample_rate": sample_rate,
        "style_jitter": {"rate": RATE_JITTER, "pitch_semitones": PITCH_JITTER, "volume": VOLUME_JITTER},
        "planned_rows": len(plan),
    }

    out = Path(out_dir)
    (out / AUDIO_DIR).mkdir(parents=True, exist_ok=True)
    settings_file = out / SETTINGS
    if settings_file.exists():
        previous = json.loads(settings_file.read_text(encoding="utf-8"))
        differences = sorted(k for k in set(previous) | set(settings) if previous.get(k) != settings.get(k))
        if differences:
            raise ConfigError(
                f"{out} holds a dataset generated with other settings ({', '.join(differences)} differ). "
                "Rerun with the same options to finish it, or choose a new --out folder."
            )
    else:
        check_voices(voices, language)
        write_text_atomic(settings_file, json.dumps(settings, indent=2, ensure_ascii=False) + "\n")

    journal = Journal(out / JOURNAL)
    try:
        planned_ids = {row.id for row in plan}
        finished = {rid for rid, rec in journal.records.items() if rid in planned_ids and _audio_ok(out, rec)}
        removed = _clean_stray_files(out, finished)
        if removed:
            logger.info("Removed %d leftover temporary or unreferenced files from %s", removed, out)
        todo = [row for row in rows if row.id not in finished]
        config = WorkerConfig(
            llm=llm_name,
            llm_params=llm_params,
            voices=tuple(voices),
            template=template,
            template_dirs=tuple(template_dirs),
            max_tokens=max_tokens,
            sample_rate=sample_rate,
            imports=tuple(imports),
            threads=max(1, (os.cpu_count() or 1) // workers) if workers > 1 or ray_address else None,
        )
        if ray_address:
            backend = "ray"
            results = _run_ray(config, todo, workers, ray_address)
        elif workers > 1:
            backend = "processes"
            results = _run_processes(config, todo, workers)
        else:
            backend = "serial"
            results = _run_serial(config, todo)

        from ...audio import save_audio
        from ...types import Audio

        start = time.perf_counter()
        generated = 0
        first_row = 0.0
        bar = None
        if progress:
            from tqdm.auto import tqdm

            bar = tqdm(total=len(rows), initial=len(rows) - len(todo), unit="row", desc=f"generating {out.name}")
        try:
            for result in results:
                rel = f"{AUDIO_DIR}/{result.row.id}.wav"
                save_audio(Audio(result.samples, result.sample_rate), out / rel)
                journal.append(_row_record(result, rel))
                finished.add(result.row.id)
                generated += 1
                if generated == 1:
                    first_row = time.perf_counter() - start
                if bar is not None:
                    bar.update(1)
        finally:
            if bar is not None:
                bar.close()
            close = getattr(results, "close", None)
            if close is not None:
                close()
        seconds = time.perf_counter() - start
    finally:
        journal.close()

    order = {row.id: i for i, row in enumerate(plan)}
    records = [_manifest_row(r) for r in sorted((journal.records[rid] for rid in finished), key=lambda r: order[r["id"]])]
    write_text_atomic(out / MANIFEST, "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in records))
    write_card(out, records, settings)
    return GenerationSummary(str(out), len(records), generated, seconds, workers, backend, first_row)
