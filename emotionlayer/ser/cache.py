"""A disk cache of pooled whisper-encoder features, for choosing and training SER recipes.

Encoding a clip is the slow part of SER training; the pooled statistics of every encoder layer of a clip
are small (``(layers, 2 * d_model)`` float32), so they are computed once and kept under
``~/.cache/emotionlayer/ser-features`` (or ``$EMOTIONLAYER_CACHE/ser-features``), one ``.npy`` file per
clip, feature spec and augmentation, named by a hash of the file's bytes and the spec. The files are
plain arrays (read with ``allow_pickle=False``).

Example::

    from emotionlayer.ser.cache import layer_statistics

    stats = layer_statistics(rows, encoder="base")          # (clips, layers, 2 * d_model)
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from ..data.manifest import ManifestRow
from ..files import hash_file
from .augment import augment as apply_augmentation
from .features import DEFAULT_LEVEL_DB, WhisperFeatures


def cache_dir() -> Path:
    """Where cached features live (created on first use)."""
    root = os.environ.get("EMOTIONLAYER_CACHE") or os.path.join(os.path.expanduser("~"), ".cache", "emotionlayer")
    path = Path(root) / "ser-features"
    path.mkdir(parents=True, exist_ok=True)
    return path


def layer_statistics(
    rows: Sequence[ManifestRow],
    encoder: str = "tiny.en",
    level_db: float | None = DEFAULT_LEVEL_DB,
    augmentation: Sequence[str] = (),
    seed: int = 0,
    progress: bool = False,
) -> np.ndarray:
    """Mean and standard deviation over time of every hidden layer of the whisper encoder, per clip.

    Args:
        rows: Manifest rows.
        encoder: ``tiny.en`` or ``base`` (packaged) or a CTranslate2 folder.
        level_db: Active speech level the clip is scaled to first (as the SER's whisper features do).
        augmentation: Augmentation names applied to the clip first (one augmented copy); the strengths are
            drawn from a generator seeded by ``seed`` and the clip's hash, so they are the same every run.
        seed: Augmentation seed.
        progress: Show a progress bar.

    Returns:
        ``(clips, layers, 2 * d_model)`` float32: for each layer, the mean then the standard deviation.
    """
    extractor = WhisperFeatures(encoder=encoder, layers="all", pooling="meanstd", level_db=level_db)
    key = json.dumps({"spec": extractor.spec, "augmentation": list(augmentation), "seed": seed}, sort_keys=True)
    tag = hashlib.sha1(key.encode()).hexdigest()[:12]
    folder = cache_dir() / tag
    folder.mkdir(exist_ok=True)
    (folder / "spec.json").write_text(key + "\n")
    out = []
    iterator = rows
    if progress:
        from tqdm.auto import tqdm

        iterator = tqdm(rows, desc=f"{encoder} {'+'.join(augmentation) or 'clean'}", unit="clip")
    for row in iterator:
        clip_hash = hash_file(row.path, hashlib.sha1()).hexdigest()
        file = folder / f"{clip_hash}.npy"
        if file.is_file():
            out.append(np.load(file, allow_pickle=False))
            continue
        audio = row.load_audio(16000)
        if augmentation:
            rng = np.random.default_rng([seed, int(clip_hash[:8], 16)])
            audio = apply_augmentation(audio, augmentation, rng)
        frames = extractor.extract_frames(audio)
        stats = np.concatenate([frames.mean(axis=1), frames.std(axis=1)], axis=1).astype(np.float32)
        np.save(file, stats, allow_pickle=False)
        out.append(stats)
    return np.stack(out)
