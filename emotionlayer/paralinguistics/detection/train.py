"""Training the event detector on synthesised paralinguistic speech (and isolated bank clips).

Training data:

1. Utterances from a paralinguistic-speech manifest (``manifest.jsonl`` written by
   :func:`emotionlayer.paralinguistics.dataset.build_dataset`), whose event times are exact. Windows mostly
   covered by an event take its label; other windows are ``speech`` or ``silence`` by level.
2. Isolated-event recordings made on the fly from the event bank: two to four clips of one label with
   background noise between them, like a recording of someone coughing into a phone.
3. Clip-level manifests (``path,label`` CSV): the loud part of each clip is taken as the event. Real
   recordings of another corpus can be given as ``clips`` with a label map (:data:`LABEL_MAPS`): their
   classes are renamed to the detector's labels and every unmapped class becomes :data:`OTHER_LABEL`, a
   sound the detector has no label for (``classify`` may answer it, ``detect`` never reports it).
4. Background noise alone (``silence`` throughout) and, optionally, plain speech recordings.

Every recording is augmented (background noise of a random colour and level, gain, occasional band
limiting and spectral tilt) so that the detector does not learn the clean studio sound of the TTS voice.
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Mapping, Sequence
from dataclasses import replace
from typing import Any

import numpy as np

from ...data.manifest import EventRow, read_event_manifest
from ...errors import ConfigError
from ...types import VocalEvent
from .detector import OTHER_LABEL
from .features import FeatureConfig, frame_features, reference_level, window_features, window_starts
from .model import BACKGROUND_LABELS, WindowClassifier, combine, fit_classifier

logger = logging.getLogger(__name__)

IGNORE = -1

#: Class names of real corpora -> the detector's labels. Classes a map does not name become
#: :data:`OTHER_LABEL` when the map is used (:func:`map_clip_labels`).
LABEL_MAPS: dict[str, dict[str, str]] = {
    # Deeply Nonverbal Vocalization dataset (13 classes; the rest, e.g. lip popping, teeth chattering, nose
    # blowing, screaming, moaning, yawning, are sounds the detector has no label for).
    "deeply-nonverbal": {
        "coughing": "cough",
        "sighing": "sigh",
        "throat-clearing": "throat_clearing",
        "tongue-clicking": "tsk",
        "panting": "breath",
    },
}


def map_clip_labels(rows: Sequence[EventRow], label_map: Mapping[str, str] | str | None) -> list[EventRow]:
    """Clip-level rows with their labels renamed by ``label_map`` (unmapped labels -> :data:`OTHER_LABEL`).

    Args:
        rows: Rows of a clip-level event manifest.
        label_map: A mapping, the name of one in :data:`LABEL_MAPS`, or ``None`` (labels kept as they are).

    Raises:
        ConfigError: ``label_map`` names no known map, or a row has timed events instead of a clip label.
    """
    if label_map is None:
        return list(rows)
    if isinstance(label_map, str):
        if label_map not in LABEL_MAPS:
            raise ConfigError(f"Unknown label map {label_map!r}. Known maps: {', '.join(sorted(LABEL_MAPS))}.")
        label_map = LABEL_MAPS[label_map]
    out = []
    for row in rows:
        if row.events is not None:
            raise ConfigError(f"{row.path} has timed events; a label map applies to clip-level rows (path,label) only.")
        out.append(replace(row, label=label_map.get(row.label, OTHER_LABEL)))
    return out


def _coloured_noise(n: int, rng: np.random.Generator, colour: str) -> np.ndarray:
    white = rng.standard_normal(n)
    if colour == "white":
        return white
    spectrum = np.fft.rfft(white)
    freqs = np.fft.rfftfreq(n)
    freqs[0] = freqs[1] if n > 1 else 1.0
    spectrum /= freqs ** (0.5 if colour == "pink" else 1.0)
    noise = np.fft.irfft(spectrum, n)
    return noise / (np.std(noise) + 1e-12)


def augment(
    samples: np.ndarray, sample_rate: int, rng: np.random.Generator, noise_db: tuple[float, float] = (15.0, 50.0)
) -> np.ndarray:
    """A randomly degraded copy: background noise below the active level, gain, band limit, tilt."""
    from ..dsp import active_level_db

    x = np.asarray(samples, dtype=np.float64).copy()
    level = active_level_db(x.astype(np.float32), sample_rate) or -30.0
    if rng.random() < 0.3:  # spectral tilt: a brighter or duller microphone
        coefficient = rng.uniform(-0.6, 0.6)
        x[1:] = x[1:] - coefficient * x[:-1]
    if rng.random() < 0.3:  # band limit (phone, low-rate recording)
        from scipy.signal import butter, sosfilt

        cutoff = rng.uniform(3400.0, 7000.0)
        x = sosfilt(butter(6, cutoff, fs=sample_rate, output="sos"), x)
    if rng.random() < 0.9:
        noise = _coloured_noise(len(x), rng, str(rng.choice(["white", "pink", "brown"])))
        noise_level = level - rng.uniform(*noise_db)
        x = x + noise * 10 ** (noise_level / 20.0)
    x *= 10 ** (rng.uniform(-12.0, 6.0) / 20.0)
    peak = float(np.max(np.abs(x))) or 1.0
    if peak > 0.99:
        x *= 0.99 / peak
    return x.astype(np.float32)


def window_targets(
    n_frames: int,
    level_db: np.ndarray,
    events: Sequence[VocalEvent],
    label_index: dict[str, int],
    config: FeatureConfig,
    has_speech: bool,
) -> np.ndarray:
    """Training class of every window (``IGNORE`` for windows half in an event).

    A window takes an event's label when the event covers 40% of it, or 70% of the event lies in it
    (short events such as clicks). Other windows are ``speech`` (``has_speech`` recordings, when a
    quarter of the frames are loud) or ``silence``.
    """
    starts = window_starts(n_frames, config)
    seconds_per_frame = config.hop_length / config.sample_rate
    ref = reference_level(level_db)
    targets = np.full(len(starts), IGNORE, dtype=int)
    sounding = [e for e in events if e.label not in ("pause", "silence", "speech")]
    for i, start in enumerate(starts):
        w0 = start * seconds_per_frame
        w1 = w0 + config.window
        best_label, best_cover, any_cover = None, 0.0, 0.0
        for event in sounding:
            overlap = max(0.0, min(w1, event.end) - max(w0, event.start))
            if overlap <= 0:
                continue
            cover_w = overlap / config.window
            cover_e = overlap / max(event.end - event.start, 1e-3)
            any_cover = max(any_cover, cover_w)
            if (cover_w >= 0.4 or cover_e >= 0.7) and cover_w > best_cover:
                best_label, best_cover = event.label, cover_w
        if best_label is not None:
            if best_label in label_index:
                targets[i] = label_index[best_label]
            continue
        if any_cover > 0.1:
            continue
        levels = level_db[start : start + config.window_frames]
        loud = float(np.mean(levels >= ref - 30.0)) if levels.size else 0.0
        if has_speech and loud >= 0.25:
            targets[i] = label_index["speech"]
        elif not has_speech or loud < 0.05:
            targets[i] = label_index["silence"]
    return targets


def _examples(
    samples: np.ndarray,
    events: Sequence[VocalEvent],
    has_speech: bool,
    label_index: dict[str, int],
    config: FeatureConfig,
) -> tuple[np.ndarray, np.ndarray]:
    frames = frame_features(samples, config)
    feats = window_features(frames, config)
    targets = window_targets(len(frames["level_db"]), frames["level_db"], events, label_index, config, has_speech)
    keep = targets != IGNORE
    return feats[keep], targets[keep]


def isolated_recording(
    bank: Any, label: str, rng: np.random.Generator, sample_rate: int = 16000, speed_perturb: bool = False
) -> tuple[np.ndarray, list[VocalEvent]]:
    """Two to four clips of ``label`` from ``bank`` separated by quiet gaps (events timed exactly).

    With ``speed_perturb`` each clip is played 0.9-1.1 times as fast (a standard augmentation that makes
    a few recorded speakers sound like more).
    """
    pieces: list[np.ndarray] = [np.zeros(int(rng.uniform(0.2, 0.8) * sample_rate), np.float32)]
    events: list[VocalEvent] = []
    cursor = len(pieces[0])
    for _ in range(int(rng.integers(2, 5))):
        clip = bank.render(label, None, sample_rate, rng) * 10 ** (rng.uniform(-6.0, 6.0) / 20.0)
        if speed_perturb:  # play 10% faster or slower (tempo and pitch): more speakers than the bank has
            factor = rng.uniform(0.9, 1.1)
            positions = np.arange(0.0, len(clip) - 1, factor)
            clip = np.interp(positions, np.arange(len(clip)), clip).astype(np.float32)
        events.append(VocalEvent(label, cursor / sample_rate, (cursor + len(clip)) / sample_rate))
        gap = np.zeros(int(rng.uniform(0.2, 1.0) * sample_rate), np.float32)
        pieces.extend([clip, gap])
        cursor += len(clip) + len(gap)
    return np.concatenate(pieces), events


def background_recording(rng: np.random.Generator, sample_rate: int = 16000) -> np.ndarray:
    """One to four seconds of steady or slowly swelling noise of a random colour and level (no events)."""
    n = int(rng.uniform(1.0, 4.0) * sample_rate)
    noise = _coloured_noise(n, rng, str(rng.choice(["white", "pink", "brown"])))
    swell = 1.0 + rng.uniform(0.0, 0.5) * np.sin(2 * np.pi * rng.uniform(0.1, 0.5) * np.arange(n) / sample_rate)
    return (noise * swell * 10 ** (rng.uniform(-70.0, -25.0) / 20.0)).astype(np.float32)


def _energy_events(samples: np.ndarray, label: str, sample_rate: int, below_peak_db: float = 25.0) -> list[VocalEvent]:
    """The loud stretches of a clip (within ``below_peak_db`` of its loudest 10 ms), as events."""
    frame = int(0.01 * sample_rate)
    usable = len(samples) // frame * frame
    power = np.mean(np.square(samples[:usable].reshape(-1, frame), dtype=np.float64), axis=1)
    if power.size == 0:
        return []
    loud = 10 * np.log10(power + 1e-12) >= 10 * np.log10(power.max() + 1e-12) - below_peak_db
    events, i = [], 0
    while i < len(loud):
        if loud[i]:
            j = i
            while j + 1 < len(loud) and (loud[j + 1] or (j + 10 < len(loud) and loud[j + 1 : j + 11].any())):
                j += 1
            events.append(VocalEvent(label, i * 0.01, (j + 1) * 0.01))
            i = j + 1
        else:
            i += 1
    return events


def train_detector(
    manifests: Sequence[str | os.PathLike],
    out_dir: str | os.PathLike | None = None,
    bank_folders: Sequence[str | os.PathLike] = (),
    include_packaged_bank: bool = True,
    isolated_per_label: int = 40,
    background: int = 30,
    copies: int = 2,
    speed_perturb: bool = False,
    extra_speech: Sequence[str | os.PathLike] = (),
    hidden: tuple[int, ...] = (128, 64),
    seed: int = 0,
    max_recordings: int | None = None,
    clips: Sequence[str | os.PathLike] = (),
    label_map: Mapping[str, str] | str | None = None,
    clip_copies: int | None = None,
) -> WindowClassifier:
    """Train an event detector and (with ``out_dir``) save it.

    Args:
        manifests: Paralinguistic-speech JSONL manifests (with ``events``) and/or clip-level CSV manifests
            (``path,label``). At least one manifest or ``isolated_per_label > 0`` is needed.
        out_dir: Where to write ``model.npz`` and ``config.json``.
        bank_folders: User event-bank folders for the isolated-event recordings.
        include_packaged_bank: Use the packaged bank for isolated-event recordings.
        isolated_per_label: Isolated-event recordings made per bank label.
        background: Recordings of background noise alone (all ``silence``), so steady noise is not an event.
        copies: Augmented copies of every recording.
        speed_perturb: Play isolated bank clips 0.9-1.1 times as fast (off by default: it did not help on
            held-out real recordings, see docs/paralinguistics.md).
        extra_speech: Audio files of plain speech (no events) to add as ``speech``/``silence`` windows.
        hidden: MLP hidden layer sizes.
        seed: Random seed.
        max_recordings: Use at most this many manifest rows (for quick experiments).
        clips: Clip-level manifests (``path,label``) of real recordings whose labels go through ``label_map``.
        label_map: How to rename the ``clips`` labels: a mapping or a name in :data:`LABEL_MAPS` (unmapped
            labels become :data:`OTHER_LABEL`); ``None`` keeps them.
        clip_copies: Augmented copies of every ``clips`` recording (``copies`` if ``None``).

    Returns:
        The trained :class:`WindowClassifier` (its ``info`` says what it was trained on).
    """
    started = time.perf_counter()
    rng = np.random.default_rng(seed)
    records, real_clips = _read_rows(manifests, clips, label_map, max_recordings)
    bank = None
    if isolated_per_label > 0:
        from ..bank import EventBank

        bank = EventBank(list(bank_folders), include_packaged=include_packaged_bank, seed=seed, match_pitch=False)
    windows = TrainingWindows(_label_names(bank, [*records, *real_clips]))
    # The same random generator feeds every step, in this order: the order is part of the seed's result.
    windows.add_rows(records, copies, rng)
    windows.add_rows(real_clips, copies if clip_copies is None else clip_copies, rng)
    windows.add_speech_files(extra_speech, copies, rng)
    if bank is not None:
        windows.add_isolated(bank, isolated_per_label, rng, speed_perturb)
    windows.add_background(background, rng)
    x, y = windows.arrays()
    counts = {name: int(np.sum(y == i)) for i, name in enumerate(windows.label_names)}
    logger.info("Training on %d windows: %s", len(y), counts)
    model = fit_classifier(x, y, windows.label_names, hidden=hidden, seed=seed, feature_config=windows.config)
    model.info.update(
        {
            "trained_on": windows.sources,
            "windows_per_label": counts,
            "augmented_copies": copies,
            "real_clips": len(real_clips),
            "real_clip_copies": copies if clip_copies is None else clip_copies,
            "speed_perturb": speed_perturb,
            "seconds": round(time.perf_counter() - started, 1),
            "seed": seed,
        }
    )
    if out_dir is not None:
        model.save(out_dir)
    return model


def _read_rows(
    manifests: Sequence[str | os.PathLike],
    clips: Sequence[str | os.PathLike],
    label_map: Mapping[str, str] | str | None,
    max_recordings: int | None,
) -> tuple[list[EventRow], list[EventRow]]:
    """The manifests' rows (at most ``max_recordings``) and the real clips' rows with their labels mapped."""
    records: list[EventRow] = []
    for manifest in manifests:
        records.extend(read_event_manifest(manifest))
    if max_recordings is not None:
        records = records[:max_recordings]
    real_clips: list[EventRow] = []
    for manifest in clips:
        real_clips.extend(map_clip_labels(read_event_manifest(manifest), label_map))
    return records, real_clips


def _label_names(bank: Any, rows: Sequence[EventRow]) -> tuple[str, ...]:
    """The detector's classes: the background labels, then every event label of the bank and the rows, sorted.

    Raises:
        ConfigError: there is no event label at all.
    """
    event_labels = set(bank.labels if bank is not None else ())
    for row in rows:
        if row.events is not None:
            event_labels.update(e.label for e in row.events if e.label not in ("pause",))
        elif row.label:
            event_labels.add(row.label)
    event_labels -= set(BACKGROUND_LABELS)
    if not event_labels:
        raise ConfigError("No event labels to train on: give a manifest with events or labels, or use the bank.")
    return BACKGROUND_LABELS + tuple(sorted(event_labels))


class TrainingWindows:
    """The training set of a detector, built recording by recording: feature windows and their classes.

    Each ``add_*`` step makes its recordings (augmented copies drawn from ``rng``), cuts them into windows
    with :func:`window_targets`, and counts them in :attr:`sources`.

    Args:
        label_names: The detector's classes (the background labels first).
        config: The feature settings.
    """

    def __init__(self, label_names: Sequence[str], config: FeatureConfig | None = None) -> None:
        self.label_names = tuple(label_names)
        self.label_index = {name: i for i, name in enumerate(self.label_names)}
        self.config = config or FeatureConfig()
        self.sources = {"utterances": 0, "clips": 0, "isolated": 0, "speech_files": 0, "background": 0}
        self._xs: list[np.ndarray] = []
        self._ys: list[np.ndarray] = []

    def add(self, samples: np.ndarray, events: Sequence[VocalEvent], has_speech: bool) -> None:
        """One recording's windows (those half in an event are left out)."""
        x, y = _examples(samples, events, has_speech, self.label_index, self.config)
        self._xs.append(x)
        self._ys.append(y)

    def add_rows(self, rows: Sequence[EventRow], copies: int, rng: np.random.Generator) -> None:
        """Manifest rows: utterances with timed events, or clips whose loud part is the event; ``copies``
        copies each, all but the first augmented (the only one, augmented, when ``copies`` is 1)."""
        from ...audio import load_audio

        sr = self.config.sample_rate
        for row in rows:
            audio = load_audio(row.path, sr, max_seconds=None)
            if row.events is not None:
                events, has_speech = list(row.events), True
                self.sources["utterances"] += 1
            else:
                events, has_speech = _energy_events(audio.samples, row.label, sr), False
                self.sources["clips"] += 1
            for copy in range(copies):
                samples = augment(audio.samples, sr, rng) if copy or copies == 1 else audio.samples
                self.add(samples, events, has_speech)

    def add_speech_files(self, paths: Sequence[str | os.PathLike], copies: int, rng: np.random.Generator) -> None:
        """Plain speech recordings (no events), augmented ``copies`` times (at least once)."""
        from ...audio import load_audio

        sr = self.config.sample_rate
        for path in paths:
            audio = load_audio(path, sr, max_seconds=None)
            self.sources["speech_files"] += 1
            for _ in range(max(copies, 1)):
                self.add(augment(audio.samples, sr, rng), [], True)

    def add_isolated(self, bank: Any, per_label: int, rng: np.random.Generator, speed_perturb: bool = False) -> None:
        """``per_label`` isolated-event recordings (:func:`isolated_recording`) of every bank label, augmented."""
        sr = self.config.sample_rate
        for label in bank.labels:
            for _ in range(per_label):
                samples, events = isolated_recording(bank, label, rng, sr, speed_perturb=speed_perturb)
                self.add(augment(samples, sr, rng, noise_db=(10.0, 45.0)), events, False)
                self.sources["isolated"] += 1

    def add_background(self, count: int, rng: np.random.Generator) -> None:
        """``count`` recordings of background noise alone (:func:`background_recording`)."""
        for _ in range(count):
            self.add(background_recording(rng, self.config.sample_rate), [], False)
            self.sources["background"] += 1

    def arrays(self) -> tuple[np.ndarray, np.ndarray]:
        """Every window's features and class.

        Raises:
            ConfigError: no window was made.
        """
        if not self._xs:
            raise ConfigError("No training windows were made. Give a manifest or keep isolated_per_label > 0.")
        return np.concatenate(self._xs), np.concatenate(self._ys)


def train_ensemble(
    members: int = 1, seed: int = 0, out_dir: str | os.PathLike | None = None, **options: Any
) -> WindowClassifier:
    """Train ``members`` detectors with seeds ``seed``, ``seed + 1``, ... and average them (:func:`combine`).

    Args:
        members: How many detectors to train (1: a single detector, as :func:`train_detector`).
        seed: Seed of the first member.
        out_dir: Where to save the ensemble.
        **options: Everything else :func:`train_detector` takes (``out_dir`` and ``seed`` aside).

    Returns:
        The ensemble (its ``info`` is the first member's, with ``ensemble_seeds`` added).
    """
    if members < 1:
        raise ConfigError(f"members must be at least 1, not {members}.")
    seeds = [seed + k for k in range(members)]
    models = [train_detector(seed=s, **options) for s in seeds]
    info = dict(models[0].info)
    if members > 1:
        info["ensemble_seeds"] = seeds
        info["member_seconds"] = [m.info.get("seconds") for m in models]
    model = combine(models, info) if members > 1 else models[0]
    model.info = info
    if out_dir is not None:
        model.save(out_dir)
    return model
