"""E-chat training data: manifest rows, the frozen-encoder feature cache, and length-bucketed batches.

A manifest (CSV or JSONL, read by :func:`emotionlayer.data.manifest.read_manifest`) lists one clip per
row: ``path``, ``text`` (the transcript; stage 1's target), ``reply`` (or ``response``, as written by
``emotionlayer data generate``; stage 2's target) and ``emotion`` (optional; the emotion head's label).

The feature cache keeps the hidden states of every layer of a frozen encoder per clip, keyed by a hash
of the audio file's bytes and of the encoder's weights, as float16 safetensors files (never pickle). A
file is written under a temporary name and renamed into place, so a run killed mid-write leaves no
half file; a file that cannot be read is recomputed.
"""

from __future__ import annotations

import hashlib
import logging
import math
import os
import random
import tempfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Union

import numpy as np
import torch

from ...data.manifest import ManifestError, read_manifest
from ...errors import ConfigError
from ..common.backbones import SAMPLE_RATE, SpeechEncoder
from ..common.layers import IGNORE_INDEX
from .model import EChatBatch

logger = logging.getLogger(__name__)

PathLike = Union[str, os.PathLike]

#: Manifest columns accepted for the stage-2 target.
REPLY_COLUMNS: tuple[str, ...] = ("reply", "response")
_CACHE_VERSION = "echat-features-1"


@dataclass(frozen=True)
class EChatExample:
    """One training clip.

    Attributes:
        id: Name of the clip (file stem and manifest line).
        path: Audio file.
        target: What the decoder learns to say (transcript in stage 1, reply in stage 2).
        emotion: Canonical emotion label, if known.
        seconds: Length of the audio.
        line: Manifest line (for messages).
    """

    id: str
    path: str
    target: str
    emotion: str | None
    seconds: float
    line: int = 0


def _duration(path: str) -> float:
    import soundfile as sf

    try:
        return float(sf.info(path).duration)
    except Exception:  # noqa: BLE001 - formats soundfile cannot probe are decoded instead
        from ...audio import load_audio

        return load_audio(path, None, max_seconds=None, check=False).duration


def load_examples(
    manifest: PathLike,
    stage: int,
    max_seconds: float = 30.0,
    split: str | None = None,
) -> list[EChatExample]:
    """Read the clips of a manifest for one training stage.

    Args:
        manifest: CSV/TSV/JSONL manifest.
        stage: 1 (targets from ``text``) or 2 (targets from ``reply`` / ``response``).
        max_seconds: Longest clip accepted (the encoder's window).
        split: Keep only rows whose ``split`` column equals this (``None`` keeps all).

    Raises:
        ManifestError: a row lacks its target or is too long; the message names the line.
    """
    rows = read_manifest(manifest)
    if split is not None:
        rows = [r for r in rows if str(r.extra.get("split", "")) == split]
        if not rows:
            raise ManifestError(
                f"{manifest} has no rows with split={split!r}. Check the 'split' column or drop --split."
            )
    examples: list[EChatExample] = []
    for row in rows:
        where = f"{manifest} line {row.line}"
        if stage == 1:
            target = row.text
            if not target:
                raise ManifestError(f"{where} has no text. Stage 1 learns to transcribe: fill the 'text' column.")
        else:
            target = next(
                (str(row.extra[c]).strip() for c in REPLY_COLUMNS if str(row.extra.get(c) or "").strip()), None
            )
            if not target:
                raise ManifestError(
                    f"{where} has no reply. Stage 2 learns to answer: add a 'reply' (or 'response') column, e.g. with "
                    "`emotionlayer data generate`."
                )
        seconds = _duration(row.path)
        if seconds > max_seconds:
            raise ManifestError(
                f"{where}: {row.path} is {seconds:.1f} s long; the encoder takes at most {max_seconds:g} s. Cut it into "
                "shorter clips (each with its own text) or leave it out."
            )
        examples.append(
            EChatExample(f"{Path(row.path).stem}@{row.line}", row.path, target, row.emotion, seconds, row.line)
        )
    return examples


def load_samples(path: str) -> np.ndarray:
    """16 kHz mono float32 samples of an audio file."""
    from ...audio import load_audio

    return load_audio(path, SAMPLE_RATE, max_seconds=None).samples


class FeatureCache:
    """Hidden states of a frozen encoder, one safetensors file per clip.

    Args:
        folder: Where the files go (shared by runs; one sub-folder per encoder fingerprint).
        encoder: The encoder whose states are cached.
    """

    def __init__(self, folder: PathLike, encoder: SpeechEncoder) -> None:
        self.encoder = encoder
        self.fingerprint = encoder.fingerprint()
        self.folder = Path(folder).expanduser() / self.fingerprint[:16]
        self.hits = 0
        self.misses = 0

    def key(self, audio_path: str) -> str:
        """The cache key of a clip: a hash of its file's bytes, the encoder and the cache format."""
        digest = hashlib.sha256(f"{_CACHE_VERSION}|{self.fingerprint}|{SAMPLE_RATE}|".encode())
        with open(audio_path, "rb") as handle:
            for block in iter(lambda: handle.read(1 << 20), b""):
                digest.update(block)
        return digest.hexdigest()

    def file(self, key: str) -> Path:
        return self.folder / key[:2] / f"{key}.safetensors"

    def load(self, key: str) -> torch.Tensor | None:
        """The cached ``(n_states, frames, d)`` float16 states, or ``None`` (missing or unreadable)."""
        from safetensors.torch import load_file

        file = self.file(key)
        if not file.is_file():
            return None
        try:
            states = load_file(str(file))["states"]
        except Exception:  # noqa: BLE001 - a torn or foreign file is recomputed
            logger.warning("Unreadable cached features %s; recomputing them.", file)
            file.unlink(missing_ok=True)
            return None
        if states.dim() != 3 or states.shape[0] != self.encoder.num_hidden_states:
            file.unlink(missing_ok=True)
            return None
        return states

    def save(self, key: str, states: torch.Tensor) -> Path:
        """Write states atomically (temporary file in the same folder, fsync, rename)."""
        from safetensors.torch import save_file

        file = self.file(key)
        file.parent.mkdir(parents=True, exist_ok=True)
        handle, tmp = tempfile.mkstemp(prefix=".tmp-", suffix=".safetensors", dir=file.parent)
        os.close(handle)
        try:
            save_file({"states": states.to(torch.float16).contiguous()}, tmp, metadata={"encoder": self.encoder.name})
            with open(tmp, "rb") as written:
                os.fsync(written.fileno())
            os.replace(tmp, file)
        finally:
            if os.path.exists(tmp):
                os.unlink(tmp)
        return file

    def prepare(
        self,
        examples: Sequence[EChatExample],
        rank: int = 0,
        world_size: int = 1,
        progress: Callable[[int], Any] | None = None,
    ) -> dict[str, str]:
        """Make sure every clip's states are cached; compute only this process's share of the missing ones.

        Args:
            examples: The clips.
            rank: This process's index (clips ``i % world_size == rank`` are its share).
            world_size: Processes sharing the work.
            progress: Called with 1 after each clip of this process's share.

        Returns:
            Clip id -> cache key, for every clip.
        """
        keys: dict[str, str] = {}
        for i, example in enumerate(examples):
            key = self.key(example.path)
            keys[example.id] = key
            if i % world_size != rank:
                continue
            if self.file(key).is_file():  # an unreadable file is recomputed when it is read
                self.hits += 1
            else:
                self.misses += 1
                self.save(key, self.encoder.encode_one(load_samples(example.path)))
            if progress is not None:
                progress(1)
        return keys


class EChatDataset(torch.utils.data.Dataset):
    """Training items: target ids, emotion index, and cached states (or the waveform).

    Args:
        examples: The clips.
        target_ids: Token ids of each clip's target (ending with EOS).
        labels: The model's emotion labels.
        cache: Feature cache, or ``None`` to give waveforms (the encoder then runs in the model).
        keys: Clip id -> cache key (from :meth:`FeatureCache.prepare`).
    """

    def __init__(
        self,
        examples: Sequence[EChatExample],
        target_ids: Sequence[Sequence[int]],
        labels: Sequence[str],
        cache: FeatureCache | None = None,
        keys: dict[str, str] | None = None,
    ) -> None:
        self.examples = list(examples)
        self.target_ids = [list(t) for t in target_ids]
        self.label_index = {label: i for i, label in enumerate(labels)}
        unknown = sorted({e.emotion for e in self.examples if e.emotion and e.emotion not in self.label_index})
        if unknown:
            logger.warning(
                "Emotions %s are not among the model's labels; those clips train without an emotion label.", unknown
            )
        self.cache = cache
        self.keys = keys or {}
        if cache is not None and any(e.id not in self.keys for e in self.examples):
            raise ConfigError("Every clip needs a cache key: run FeatureCache.prepare on the examples first.")

    def __len__(self) -> int:
        return len(self.examples)

    def __getitem__(self, index: int) -> dict[str, Any]:
        example = self.examples[index]
        item: dict[str, Any] = {
            "target_ids": self.target_ids[index],
            "emotion": self.label_index.get(example.emotion or "", IGNORE_INDEX),
        }
        if self.cache is not None:
            states = self.cache.load(self.keys[example.id])
            if states is None:
                states = self.cache.encoder.encode_one(load_samples(example.path))
                self.cache.save(self.keys[example.id], states)
            item["states"] = states
        else:
            item["wave"] = torch.from_numpy(load_samples(example.path))
        return item


def collate(items: Sequence[dict[str, Any]]) -> EChatBatch:
    """Stack items into an :class:`~emotionlayer.models.echat.model.EChatBatch` (states zero-padded)."""
    emotion = torch.tensor([item["emotion"] for item in items], dtype=torch.long)
    targets = [item["target_ids"] for item in items]
    if "states" in items[0]:
        lengths = torch.tensor([item["states"].shape[1] for item in items], dtype=torch.long)
        first = items[0]["states"]
        states = torch.zeros(first.shape[0], len(items), int(lengths.max()), first.shape[2], dtype=torch.float32)
        for b, item in enumerate(items):
            states[:, b, : item["states"].shape[1]] = item["states"].float()
        return EChatBatch(targets, emotion, states=states, lengths=lengths)
    return EChatBatch(targets, emotion, waves=[item["wave"] for item in items])


def bucketed_batches(
    lengths: Sequence[float], batch_size: int, seed: int, epoch: int, bucket_size: int = 50
) -> list[list[int]]:
    """Batches of similar-length clips in a random order that depends only on ``(seed, epoch)``.

    The clips are shuffled, cut into pools of ``batch_size * bucket_size``, each pool is sorted by length
    and cut into batches, and the batches are shuffled: little padding, yet a different mix every epoch.
    """
    rng = random.Random(f"{seed}:{epoch}")
    order = list(range(len(lengths)))
    rng.shuffle(order)
    pool = batch_size * bucket_size
    batches: list[list[int]] = []
    for start in range(0, len(order), pool):
        chunk = sorted(order[start : start + pool], key=lambda i: (lengths[i], i))
        batches.extend(chunk[i : i + batch_size] for i in range(0, len(chunk), batch_size))
    rng.shuffle(batches)
    return batches


def shard_batches(batches: list[list[int]], rank: int, world_size: int) -> list[list[int]]:
    """This process's batches: every ``world_size``-th one, the tail cut so that all processes get as many."""
    usable = (len(batches) // world_size) * world_size
    if usable == 0:
        raise ConfigError(
            f"{len(batches)} batch(es) cannot feed {world_size} processes. Lower batch_size or add clips."
        )
    return batches[rank:usable:world_size]


def batches_per_epoch(n_examples: int, batch_size: int, bucket_size: int, world_size: int) -> int:
    """How many batches each process gets per epoch."""
    pool = batch_size * bucket_size
    full, rest = divmod(n_examples, pool)
    total = full * math.ceil(pool / batch_size) + math.ceil(rest / batch_size)
    return total // world_size
