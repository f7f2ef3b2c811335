"""The plan of a dataset: every row (seed utterance, emotion, voice, speaking style, split) up front.

Row ids (``<seed id>-<k>``), emotions, voices, styles and splits depend only on the seed utterances, the
voices, the rows per utterance and the seed, so rerunning a command plans exactly the same rows.
"""

from __future__ import annotations

import hashlib
import random
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass
from typing import Any

from ...errors import ConfigError
from ...types import SpeakingStyle
from .seeds import SeedUtterance
from .voices import VoiceSpec

#: Default fractions of seed utterances in train / dev / test.
DEFAULT_SPLITS: tuple[float, float, float] = (0.8, 0.1, 0.1)
SPLIT_NAMES: tuple[str, str, str] = ("train", "dev", "test")
#: Half-widths of the random jitter applied to each row's speaking style.
RATE_JITTER = 0.08
PITCH_JITTER = 1.0
VOLUME_JITTER = 0.1


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


def check_fractions(fractions: Sequence[float]) -> tuple[float, float, float]:
    """``fractions`` as three floats (train, dev, test).

    Raises:
        ConfigError: not three non-negative numbers summing to 1.
    """
    values = tuple(float(f) for f in fractions)
    if len(values) != 3 or any(f < 0 for f in values) or abs(sum(values) - 1.0) > 1e-6:
        raise ConfigError(
            f"Split fractions must be three non-negative numbers (train, dev, test) summing to 1; got {fractions!r}."
        )
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


def _held_out_voices(names: list[str], holdout_voices: Iterable[str]) -> set[str]:
    """The held-out voice names, checked: voice names are unique, and held-out ones exist and leave some."""
    if len(set(names)) != len(names):
        raise ConfigError(
            f"Voice names must be unique; got {names}. Give variants a name, e.g. piper:pitch=2,name=joe-high."
        )
    held = set(holdout_voices)
    unknown = held - set(names)
    if unknown:
        raise ConfigError(
            f"Held-out voice(s) {', '.join(sorted(unknown))} are not among the voices: {', '.join(names)}."
        )
    if held and held == set(names):
        raise ConfigError(
            "Every voice is held out, so train and dev would have none. Hold out fewer voices or add more."
        )
    return held


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
    fractions = check_fractions(splits)
    held = _held_out_voices([v.name for v in voices], holdout_voices)
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
