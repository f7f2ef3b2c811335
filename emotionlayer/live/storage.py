"""Bounded storage for the spoken replies a server hands out by URL.

:class:`ReplyAudioStore` writes each reply as a WAV under a generated name and keeps it while three limits
hold: a number of files, a total size and an age. When a new reply would break a limit, the oldest replies
are removed first; a reply older than the age limit is removed whatever the other limits say. Names are
generated here (32 hex digits + ``.wav``), never taken from a request, and :meth:`ReplyAudioStore.path`
refuses any other name, so a request cannot reach outside the folder.
"""

from __future__ import annotations

import re
import threading
import time
import uuid
from collections import OrderedDict
from collections.abc import Callable
from pathlib import Path
from typing import Any

#: Default limits: at most this many reply files ...
DEFAULT_MAX_FILES = 200
#: ... together at most this many bytes (200 MB) ...
DEFAULT_MAX_BYTES = 200 * 1000 * 1000
#: ... each kept at most this long (one hour).
DEFAULT_MAX_AGE_SECONDS = 3600.0

_NAME = re.compile(r"[0-9a-f]{32}\.wav")


def _limit(value: float | None) -> float | None:
    """``None`` or a value <= 0: no limit."""
    return None if value is None or value <= 0 else value


class ReplyAudioStore:
    """Reply WAVs in one folder, kept by count, bytes and age; oldest removed first. Thread-safe.

    Only the files this store wrote are tracked (and ever removed). The newest reply is kept even alone over
    ``max_bytes``, so the answer that names it can be fetched; it goes with the next save or when it ages out.

    Args:
        folder: Where the WAVs are written (created if missing).
        max_files: Most replies kept (``None`` or 0: no limit).
        max_bytes: Most bytes kept, all replies together (``None`` or 0: no limit).
        max_age_seconds: Longest a reply is kept (``None`` or 0: no limit).
        clock: Seconds now (default :func:`time.monotonic`); tests pass their own.
    """

    def __init__(
        self,
        folder: str | Path,
        max_files: int | None = DEFAULT_MAX_FILES,
        max_bytes: int | None = DEFAULT_MAX_BYTES,
        max_age_seconds: float | None = DEFAULT_MAX_AGE_SECONDS,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.folder = Path(folder)
        self.folder.mkdir(parents=True, exist_ok=True)
        self.max_files = _limit(max_files)
        self.max_bytes = _limit(max_bytes)
        self.max_age_seconds = _limit(max_age_seconds)
        self._clock = clock
        self._lock = threading.Lock()
        self._files: OrderedDict[str, tuple[float, int]] = OrderedDict()  # name -> (saved at, bytes), oldest first
        self._bytes = 0

    def save(self, audio: Any) -> str:
        """Write ``audio`` (an :class:`~emotionlayer.audio.Audio`) as a new reply; return its file name."""
        from ..audio import save_audio

        name = f"{uuid.uuid4().hex}.wav"
        path = self.folder / name
        save_audio(audio, path)
        size = path.stat().st_size
        with self._lock:
            self._files[name] = (self._clock(), size)
            self._bytes += size
            self._prune()
        return name

    @staticmethod
    def valid_name(name: Any) -> bool:
        """Whether ``name`` has the form of the names :meth:`save` gives (no folders, no ``..``)."""
        return isinstance(name, str) and _NAME.fullmatch(name) is not None

    def path(self, name: str) -> Path | None:
        """The file of a reply still kept; ``None`` when expired, removed, unknown or not a reply name."""
        if not self.valid_name(name):
            return None
        with self._lock:
            self._prune()
            if name not in self._files:
                return None
            path = self.folder / name
            if not path.is_file():  # removed behind our back
                self._forget(name)
                return None
            return path

    def prune(self) -> int:
        """Remove expired replies, then the oldest until every limit holds; return how many went."""
        with self._lock:
            return self._prune()

    def __len__(self) -> int:
        """The replies kept now (expired ones pruned first)."""
        with self._lock:
            self._prune()
            return len(self._files)

    @property
    def total_bytes(self) -> int:
        """The bytes of the replies kept now (expired ones pruned first)."""
        with self._lock:
            self._prune()
            return self._bytes

    def limits(self) -> str:
        """The limits in words, e.g. ``200 replies, 200 MB, 60 minutes``."""
        parts = [
            f"{self.max_files:g} replies" if self.max_files else "any number of replies",
            f"{self.max_bytes / 1e6:g} MB" if self.max_bytes else "any size",
            f"{self.max_age_seconds / 60:g} minutes" if self.max_age_seconds else "no time limit",
        ]
        return ", ".join(parts)

    def _over(self) -> bool:
        if len(self._files) <= 1:  # the newest reply stays until the next one or its age limit
            return False
        return bool(
            (self.max_files and len(self._files) > self.max_files) or (self.max_bytes and self._bytes > self.max_bytes)
        )

    def _prune(self) -> int:
        removed = 0
        if self.max_age_seconds:
            now = self._clock()
            expired = [n for n, (saved, _) in self._files.items() if now - saved >= self.max_age_seconds]
            for name in expired:
                self._remove(name)
                removed += 1
        while self._over():
            self._remove(next(iter(self._files)))  # the oldest
            removed += 1
        return removed

    def _remove(self, name: str) -> None:
        self._forget(name)
        try:
            (self.folder / name).unlink(missing_ok=True)
        except OSError:  # e.g. still open elsewhere on Windows: no longer served, the folder goes with the server
            pass

    def _forget(self, name: str) -> None:
        _, size = self._files.pop(name)
        self._bytes -= size
