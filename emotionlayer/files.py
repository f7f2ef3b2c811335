"""Writing files so that a crash never leaves a half-written one.

:func:`write_text_atomic` writes to a temporary file next to the target, fsyncs it, renames it into place
with ``os.replace`` and fsyncs the folder, so a reader sees either the old file or the whole new one.
"""

from __future__ import annotations

import os
from pathlib import Path


def fsync_dir(path: str | os.PathLike) -> None:
    """Flush a folder's entries (a rename into it, a new file) to disk, where the platform allows it."""
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:  # not possible on every platform
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def write_text_atomic(path: str | os.PathLike, text: str) -> None:
    """Write ``text`` to ``path`` so that a reader sees the old file or the whole new one, never a part.

    The text goes to ``.<name>.part`` in the same folder first, which is fsynced and then renamed over
    ``path``; a process killed before the rename leaves that temporary file behind and ``path`` untouched.
    """
    target = Path(path)
    tmp = target.with_name(f".{target.name}.part")
    with open(tmp, "w", encoding="utf-8") as handle:
        handle.write(text)
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(tmp, target)
    fsync_dir(target.parent)
