"""Files: writing them so that a crash never leaves a half-written one, hashing them, and refusing pickles.

:func:`write_text_atomic` writes to a temporary file next to the target, fsyncs it, renames it into place
with ``os.replace`` and fsyncs the folder, so a reader sees either the old file or the whole new one.

:func:`check_not_pickle` and :func:`pickle_files` find Python pickles (``torch.save`` checkpoints,
``pickle``/``joblib`` dumps) by their content, not their name: loading a pickle can run any code, so
emotionlayer loads none unless the user opts in for a file they trust.

:func:`hash_file` hashes a file's bytes in blocks (cache keys, a model file's provenance).
"""

from __future__ import annotations

import hashlib
import os
import zipfile
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from .errors import UnsafeFileError

#: Suffixes of weight files that may be pickles (checked by content: a CTranslate2 ``model.bin`` is not).
PICKLE_SUFFIXES: tuple[str, ...] = (".bin", ".pt", ".pth", ".ckpt", ".pkl", ".pickle", ".joblib")


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


def hash_file(path: str | os.PathLike, digest: Any = None) -> Any:
    """``digest`` (a :mod:`hashlib` object; default a new SHA-256) updated with the bytes of the file at ``path``.

    The file is read in 1 MiB blocks, so a large model file is never held in memory. Pass a digest that has
    already seen a prefix (``hashlib.sha256(b"v1|")``) to hash that prefix and the file together.
    """
    digest = hashlib.sha256() if digest is None else digest
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest


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


def is_pickle(path: str | os.PathLike) -> bool:
    """Whether the file at ``path`` is a Python pickle: a raw pickle stream, or a ``torch.save`` zip archive.

    Decided from the first bytes (a pickle protocol 2-5 header, or a zip archive holding a ``data.pkl``),
    so the name does not matter: a CTranslate2 ``model.bin`` or a safetensors file is not a pickle.
    """
    file = Path(path)
    try:
        with open(file, "rb") as handle:
            head = handle.read(4)
    except OSError:
        return False
    if len(head) >= 2 and head[0] == 0x80 and 2 <= head[1] <= 5:
        return True
    if head[:4] == b"PK\x03\x04":
        try:
            with zipfile.ZipFile(file) as archive:
                return any(
                    name == "data.pkl" or name.endswith("/data.pkl") or name.endswith(".pkl")
                    for name in archive.namelist()
                )
        except zipfile.BadZipFile:
            return False
    return False


def pickle_files(folder: str | os.PathLike, suffixes: Iterable[str] = PICKLE_SUFFIXES) -> list[Path]:
    """The pickles among the files of ``folder`` (not its subfolders) whose names end in ``suffixes``."""
    root = Path(folder)
    if not root.is_dir():
        return []
    ends = tuple(suffixes)
    return sorted(p for p in root.iterdir() if p.is_file() and p.name.endswith(ends) and is_pickle(p))


def check_not_pickle(path: str | os.PathLike, what: str, fix: str, allow_pickle: bool = False) -> None:
    """Refuse a pickle: raise :class:`~emotionlayer.errors.UnsafeFileError` if ``path`` (a file, or the
    weight files of a folder) is one and ``allow_pickle`` is false.

    Args:
        path: A file, or a folder whose weight files (:data:`PICKLE_SUFFIXES`) are checked.
        what: What the file is, for the message (``"the SVM head"``, ``"the SpeechBrain checkpoint"``).
        fix: What to do instead, for the message (convert it, or the option that opts in).
        allow_pickle: The user trusts the file: do not refuse it.
    """
    if allow_pickle:
        return
    target = Path(path)
    found = pickle_files(target) if target.is_dir() else ([target] if is_pickle(target) else [])
    if found:
        names = ", ".join(str(p) for p in found)
        raise UnsafeFileError(
            f"{names} ({what}) is a Python pickle: loading it could run any code it holds, so emotionlayer "
            f"does not load it. {fix}"
        )


def check_weights_folder(folder: str | os.PathLike, what: str, allow_pickle: bool = False) -> None:
    """Refuse a local model folder (transformers layout) whose weights exist only as pickles.

    A folder with a ``*.safetensors`` file passes (loaders are told to use it); one whose weight files are
    all pickles (``pytorch_model.bin`` and the like) raises :class:`~emotionlayer.errors.UnsafeFileError`
    unless ``allow_pickle`` is true. A path that is not a folder (a hub id) is left to the loader.

    Args:
        folder: The model folder.
        what: What it holds, for the message (``"a transformers SER model"``).
        allow_pickle: The user trusts the folder.
    """
    root = Path(folder)
    if allow_pickle or not root.is_dir() or any(root.glob("*.safetensors")):
        return
    check_not_pickle(
        root,
        what,
        "Save the model again with save_pretrained() (which writes model.safetensors), or pass allow_pickle=True "
        "if you trust these files.",
    )
