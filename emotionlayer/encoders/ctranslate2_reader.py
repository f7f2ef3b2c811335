"""Read the variables of a CTranslate2 ``model.bin`` without CTranslate2.

The file layout (written by ``ctranslate2.specs.ModelSpec.save``) is::

    uint32 binary_version
    string spec_name                 (uint16 length incl. NUL, bytes)
    uint32 spec_revision
    uint32 n_variables
    n_variables x { string name, uint8 rank, rank x uint32 dim, uint8 dtype, uint32 n_bytes, bytes }
    uint32 n_aliases
    n_aliases x { string alias, string target }

A model may be stored in several files (e.g. split into parts to fit a package size limit); pass all
parts in order and they are read as one byte stream, so no joined copy is ever written.
"""

from __future__ import annotations

import os
import struct
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import BinaryIO, Union

import numpy as np

from ..errors import ModelNotFoundError

PathLike = Union[str, os.PathLike]

# CTranslate2's DataType enum (include/ctranslate2/types.h).
_DTYPES: dict[int, str] = {
    0: "float32",
    1: "int8",
    2: "int16",
    3: "int32",
    4: "float16",
    5: "bfloat16",
}


class _ConcatReader:
    """A read-only stream over several files, one after the other."""

    def __init__(self, paths: Sequence[PathLike]) -> None:
        self._paths = [Path(p) for p in paths]
        self._index = 0
        self._file: BinaryIO | None = None
        self._open_next()

    def _open_next(self) -> None:
        if self._file is not None:
            self._file.close()
            self._file = None
        if self._index < len(self._paths):
            self._file = open(self._paths[self._index], "rb")  # noqa: SIM115 - closed in _open_next/close
            self._index += 1

    def read(self, n: int) -> bytes:
        chunks: list[bytes] = []
        remaining = n
        while remaining > 0 and self._file is not None:
            data = self._file.read(remaining)
            if not data:
                self._open_next()
                continue
            chunks.append(data)
            remaining -= len(data)
        return b"".join(chunks)

    def skip(self, n: int) -> None:
        remaining = n
        while remaining > 0 and self._file is not None:
            here = self._file.tell()
            end = self._file.seek(0, os.SEEK_END)
            if end - here >= remaining:
                self._file.seek(here + remaining)
                return
            remaining -= end - here
            self._open_next()

    def close(self) -> None:
        if self._file is not None:
            self._file.close()
            self._file = None


def _read_exact(stream: _ConcatReader, n: int, what: str) -> bytes:
    data = stream.read(n)
    if len(data) != n:
        raise ModelNotFoundError(
            f"The CTranslate2 model file ended early while reading {what}. The file is truncated or a part is "
            "missing; reinstall the package that ships it."
        )
    return data


def _read_string(stream: _ConcatReader) -> str:
    (length,) = struct.unpack("<H", _read_exact(stream, 2, "a name length"))
    return _read_exact(stream, length, "a name").rstrip(b"\0").decode("utf-8")


def read_ctranslate2_variables(
    paths: PathLike | Sequence[PathLike],
    keep: Callable[[str], bool] | None = None,
) -> dict[str, np.ndarray]:
    """Read the (selected) variables of a CTranslate2 ``model.bin``.

    Args:
        paths: The ``model.bin`` file, or its parts in order.
        keep: A predicate on variable names; variables it rejects are skipped without being read into
            memory. ``None`` keeps every variable.

    Returns:
        Variable name -> array (float16/bfloat16 are returned as float32; int8 stays int8). Aliases are
        resolved to the arrays they point at.

    Raises:
        ModelNotFoundError: a file is missing, truncated or not a CTranslate2 model.
    """
    parts: list[PathLike] = [paths] if isinstance(paths, (str, os.PathLike)) else list(paths)
    for part in parts:
        if not Path(part).is_file():
            raise ModelNotFoundError(f"CTranslate2 model file {part} does not exist. Check the path or reinstall it.")
    stream = _ConcatReader(parts)
    out: dict[str, np.ndarray] = {}
    try:
        (version,) = struct.unpack("<I", _read_exact(stream, 4, "the binary version"))
        if not 1 <= version <= 10:
            raise ModelNotFoundError(
                f"{parts[0]} does not look like a CTranslate2 model.bin (binary version {version})."
            )
        if version >= 2:
            _read_string(stream)  # spec name
            _read_exact(stream, 4, "the spec revision")
        (count,) = struct.unpack("<I", _read_exact(stream, 4, "the variable count"))
        for _ in range(count):
            name = _read_string(stream)
            (rank,) = struct.unpack("<B", _read_exact(stream, 1, "a rank"))
            shape = struct.unpack(f"<{rank}I", _read_exact(stream, 4 * rank, "a shape")) if rank else ()
            if version >= 4:
                (type_id,) = struct.unpack("<B", _read_exact(stream, 1, "a dtype"))
                (n_bytes,) = struct.unpack("<I", _read_exact(stream, 4, "a byte count"))
            else:  # old layout: item size then element count
                (item_size,) = struct.unpack("<B", _read_exact(stream, 1, "an item size"))
                (n_items,) = struct.unpack("<I", _read_exact(stream, 4, "an item count"))
                type_id = {4: 0, 2: 2, 1: 1}[item_size]
                n_bytes = item_size * n_items
            if keep is not None and not keep(name):
                stream.skip(n_bytes)
                continue
            dtype = _DTYPES.get(type_id)
            if dtype is None:
                raise ModelNotFoundError(f"Variable {name} has an unsupported CTranslate2 dtype id {type_id}.")
            raw = _read_exact(stream, n_bytes, f"variable {name}")
            if dtype == "bfloat16":
                bits = np.frombuffer(raw, dtype=np.uint16).astype(np.uint32) << 16
                array = bits.view(np.float32)
            else:
                array = np.frombuffer(raw, dtype=np.dtype(dtype))
                if dtype == "float16":
                    array = array.astype(np.float32)
            out[name] = array.reshape(shape) if shape else array.reshape(())
        if version >= 3:
            header = stream.read(4)
            if len(header) == 4:
                (n_aliases,) = struct.unpack("<I", header)
                for _ in range(n_aliases):
                    alias, target = _read_string(stream), _read_string(stream)
                    if target in out and (keep is None or keep(alias)):
                        out[alias] = out[target]
    finally:
        stream.close()
    return out


def dequantize(variables: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """Turn int8/int16 weights with a ``<name>_scale`` companion back into float32 (``w / scale``)."""
    out: dict[str, np.ndarray] = {}
    for name, value in variables.items():
        if name.endswith("_scale"):
            continue
        scale = variables.get(f"{name}_scale")
        if scale is not None and value.dtype in (np.int8, np.int16):
            scale = np.asarray(scale, dtype=np.float32)
            if scale.ndim == 1 and value.ndim == 2:
                scale = scale[:, None]
            value = value.astype(np.float32) / scale
        out[name] = value
    return out
