"""Training data the speech LLMs share: the frozen-encoder feature cache, audio, manifest rows and
length-bucketed batches.

The feature cache keeps the hidden states of every layer of a frozen encoder per clip, keyed by a hash
of the audio file's bytes and of the encoder's weights, as float16 safetensors files (never pickle). A
file is written under a temporary name and renamed into place, so a run killed mid-write leaves no
half file; a file that cannot be read is recomputed. E-chat and ParalinGPT runs with the same encoder
share the files.

A training item (:func:`clip_features`) carries a clip's cached ``states`` or, without a cache, its
``wave``; :func:`stack_states` pads the states of a batch.
"""

from __future__ import annotations

import hashlib
import logging
import math
import os
import random
import tempfile
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, Protocol, Union

import numpy as np
import torch

from ...audio import SAMPLE_RATE
from ...data.manifest import ManifestError
from ...errors import ConfigError
from ...files import hash_file
from .backbones import SpeechEncoder

logger = logging.getLogger(__name__)

PathLike = Union[str, os.PathLike]

#: Manifest columns accepted for the reply (``response`` is what ``emotionlayer data generate`` writes).
REPLY_COLUMNS: tuple[str, ...] = ("reply", "response")
#: Part of every cache key: a new value invalidates every cached file. (It keeps the name the format had when
#: E-chat alone used it, so the caches written since stay valid.)
_CACHE_VERSION = "echat-features-1"
#: The cache's folder inside the emotionlayer cache folder.
CACHE_FOLDER = "encoder-features"
#: Where the cache lived before it was shared; used while it exists and the new folder does not.
_OLD_CACHE_FOLDER = "echat-features"


class Clip(Protocol):
    """What the feature cache needs of a training example: its name and its audio file."""

    @property
    def id(self) -> str: ...

    @property
    def path(self) -> str: ...


def rows_of_split(rows: list[Any], manifest: PathLike, split: str | None) -> list[Any]:
    """The manifest rows whose ``split`` column equals ``split`` (all rows when it is ``None``).

    Raises:
        ManifestError: no row has that split.
    """
    if split is None:
        return rows
    kept = [r for r in rows if str(r.split or "") == split]
    if not kept:
        raise ManifestError(f"{manifest} has no rows with split={split!r}. Check the 'split' column or drop --split.")
    return kept


def reply_of(row: Any) -> str | None:
    """A manifest row's reply: the first non-empty :data:`REPLY_COLUMNS` value, stripped (``None``: none)."""
    return row.reply.strip() if row.reply and row.reply.strip() else None  # ManifestRow reads REPLY_COLUMNS


def feature_cache_dir(configured: PathLike | None = None) -> Path:
    """The feature cache folder: ``configured`` if given, else :data:`CACHE_FOLDER` in the emotionlayer cache
    folder (or the cache folder of older versions, if only that one exists)."""
    if configured:
        return Path(configured).expanduser()
    from ...assets import cache_dir

    root = cache_dir()
    if not (root / CACHE_FOLDER).exists() and (root / _OLD_CACHE_FOLDER).is_dir():
        return root / _OLD_CACHE_FOLDER
    return root / CACHE_FOLDER


def audio_seconds(path: str) -> float:
    """Length of an audio file in seconds (read from its header when soundfile can, else decoded)."""
    import soundfile as sf

    try:
        return float(sf.info(path).duration)
    except Exception:  # noqa: BLE001 - formats soundfile cannot probe are decoded instead
        from ...audio import load_audio

        return load_audio(path, None, max_seconds=None, check=False).duration


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
        return hash_file(audio_path, digest).hexdigest()

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
        examples: Sequence[Clip],
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


def check_cache_keys(examples: Sequence[Clip], cache: FeatureCache | None, keys: dict[str, str]) -> None:
    """Raise :class:`ConfigError` when a cache is used and a clip has no key (``prepare`` was not run)."""
    if cache is not None and any(e.id not in keys for e in examples):
        raise ConfigError("Every clip needs a cache key: run FeatureCache.prepare on the examples first.")


def clip_features(example: Clip, cache: FeatureCache | None, keys: dict[str, str]) -> dict[str, Any]:
    """A clip's ``{"states": ...}`` from the cache (computed and cached if missing), or ``{"wave": ...}``
    without a cache."""
    if cache is not None:
        states = cache.load(keys[example.id])
        if states is None:
            states = cache.encoder.encode_one(load_samples(example.path))
            cache.save(keys[example.id], states)
        return {"states": states}
    return {"wave": torch.from_numpy(load_samples(example.path))}


def stack_states(items: Sequence[dict[str, Any]]) -> tuple[torch.Tensor, torch.Tensor]:
    """The items' states zero-padded into ``(n_states, batch, frames, d)`` float32, and their frame counts."""
    lengths = torch.tensor([item["states"].shape[1] for item in items], dtype=torch.long)
    first = items[0]["states"]
    states = torch.zeros(first.shape[0], len(items), int(lengths.max()), first.shape[2], dtype=torch.float32)
    for b, item in enumerate(items):
        states[:, b, : item["states"].shape[1]] = item["states"].float()
    return states, lengths


def clip_id(row: Any) -> str:
    """The name of a manifest row's clip: its file stem and manifest line (``sad_phone@3``)."""
    return f"{Path(row.path).stem}@{row.line}"


def clip_seconds(row: Any, where: str, max_seconds: float, hint: str = "") -> float:
    """The length of a manifest row's audio, checked against the encoder's window.

    Raises:
        ManifestError: the clip is longer than ``max_seconds``; ``hint`` is added to the advice.
    """
    seconds = audio_seconds(row.path)
    if seconds > max_seconds:
        raise ManifestError(
            f"{where}: {row.path} is {seconds:.1f} s long; the encoder takes at most {max_seconds:g} s. Cut it into "
            f"shorter clips{hint} or leave it out."
        )
    return seconds


def data_fingerprint(examples: Sequence[Any], fields: Sequence[str]) -> str:
    """A hash of the training examples' ``fields`` (a resumed run must see the same data)."""
    digest = hashlib.sha256()
    for example in examples:
        digest.update(("|".join(str(getattr(example, name)) for name in fields) + "\n").encode())
    return digest.hexdigest()


def audio_inputs(items: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """The audio side of a batch: cached ``states`` (zero-padded) and ``lengths``, or the raw ``waves``."""
    if "states" in items[0]:
        states, lengths = stack_states(items)
        return {"states": states, "lengths": lengths}
    return {"waves": [item["wave"] for item in items]}
