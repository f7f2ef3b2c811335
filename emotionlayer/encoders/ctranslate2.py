"""Read CTranslate2 ``model.bin`` files with NumPy alone, and infer a whisper model's dimensions from them.

The packaged whisper models ship only in CTranslate2 format. This module is the one reader of that
format in emotionlayer: the PyTorch encoder (:mod:`.whisper`) and the converters to openai-whisper and
transformers (:mod:`.convert`) build on it. CTranslate2 itself is not needed.

The file layout (written by ``ctranslate2.specs.ModelSpec.save``; binary versions 1 to 6) is::

    uint32 binary_version
    string spec_name                 (version >= 2; uint16 length incl. NUL, bytes)
    uint32 spec_revision             (version >= 2)
    uint32 n_variables
    n_variables x { string name, uint8 rank, rank x uint32 dim,
                    uint8 dtype, uint32 n_bytes,          (version >= 4)
                    uint8 item_size, uint32 n_items,      (older versions)
                    bytes }
    uint32 n_aliases                 (version >= 3)
    n_aliases x { string alias, string target }

A model may be stored in several files (e.g. split into parts to fit a package size limit); pass all
parts in order and they are read as one byte stream, so no joined copy is ever written.

Example::

    from emotionlayer.encoders.ctranslate2 import read_ctranslate2_model, whisper_dims

    spec, variables = read_ctranslate2_model("path/to/whisper-ct2")   # "WhisperSpec", float32 arrays
    whisper_dims(variables).n_audio_layer                              # 4 for tiny
"""

from __future__ import annotations

import os
import struct
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import BinaryIO, Union

import numpy as np

from ..errors import ModelNotFoundError

PathLike = Union[str, os.PathLike]

#: The newest ``model.bin`` binary version this reader knows (CTranslate2's ``current_binary_version``).
MAX_BINARY_VERSION = 6

# CTranslate2's DataType enum (include/ctranslate2/types.h).
_DTYPES: dict[int, str] = {
    0: "float32",
    1: "int8",
    2: "int16",
    3: "int32",
    4: "float16",
    5: "bfloat16",
}
# Binary versions before 4 store an item size instead of a dtype.
_DTYPE_OF_ITEM_SIZE: dict[int, int] = {4: 0, 2: 2, 1: 1}

_PASS_A_MODEL = (
    "Pass a CTranslate2 model folder, its model.bin file, or the parts of a split model.bin in order."
)


def model_bin_parts(path: PathLike | Sequence[PathLike]) -> list[Path]:
    """The file(s) holding a CTranslate2 model's weights.

    Args:
        path: A CTranslate2 model folder (holding ``model.bin``, or ``model.bin.part1``, ``.part2``...),
            a ``model.bin`` file, or a list of the parts of a split ``model.bin`` in order.

    Returns:
        The ``model.bin`` file, or its parts in order.

    Raises:
        ModelNotFoundError: a path does not exist, or a folder holds no ``model.bin``.
    """
    if not isinstance(path, (str, os.PathLike)):
        parts = [Path(p) for p in path]
        if not parts:
            raise ModelNotFoundError(f"No CTranslate2 model files were given. {_PASS_A_MODEL}")
        for part in parts:
            if not part.is_file():
                raise ModelNotFoundError(
                    f"No CTranslate2 model.bin part at {part}: the file does not exist. {_PASS_A_MODEL}"
                )
        return parts
    p = Path(path).expanduser()
    if p.is_dir():
        if (p / "model.bin").is_file():
            return [p / "model.bin"]
        parts = sorted(p.glob("model.bin.part*"), key=lambda f: (len(f.name), f.name))  # part2 before part10
        if parts:
            return parts
        raise ModelNotFoundError(f"{p} has no model.bin. {_PASS_A_MODEL}")
    if not p.is_file():
        raise ModelNotFoundError(f"No CTranslate2 model.bin at {p}: the path does not exist. {_PASS_A_MODEL}")
    return [p]


class _ConcatReader:
    """A read-only stream over several files, one after the other."""

    def __init__(self, paths: Sequence[Path]) -> None:
        self._paths = list(paths)
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


def _read(parts: list[Path], keep: Callable[[str], bool] | None) -> tuple[str, dict[str, np.ndarray]]:
    """The spec name and the (kept) raw variables of a ``model.bin`` stored in ``parts``."""
    stream = _ConcatReader(parts)
    spec = ""
    out: dict[str, np.ndarray] = {}
    try:
        (version,) = struct.unpack("<I", _read_exact(stream, 4, "the binary version"))
        if not 1 <= version <= MAX_BINARY_VERSION:
            raise ModelNotFoundError(
                f"{parts[0]} does not look like a CTranslate2 model.bin (binary version {version}; this reader "
                f"knows versions 1 to {MAX_BINARY_VERSION})."
            )
        if version >= 2:
            spec = _read_string(stream)
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
                if item_size not in _DTYPE_OF_ITEM_SIZE:
                    raise ModelNotFoundError(f"Variable {name} has an unsupported CTranslate2 item size {item_size}.")
                type_id = _DTYPE_OF_ITEM_SIZE[item_size]
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
    return spec, out


def read_ctranslate2_variables(
    paths: PathLike | Sequence[PathLike],
    keep: Callable[[str], bool] | None = None,
) -> dict[str, np.ndarray]:
    """Read the (selected) variables of a CTranslate2 ``model.bin`` as they are stored.

    Args:
        paths: A CTranslate2 model folder, its ``model.bin`` file, or the parts of a split ``model.bin``
            in order (read as one stream, never joined on disk).
        keep: A predicate on variable names; variables it rejects are skipped without being read into
            memory. ``None`` keeps every variable.

    Returns:
        Variable name -> array. float16/bfloat16 are returned as float32; int8 weights stay int8 next to
        their ``<name>_scale`` (see :func:`dequantize`). Aliases are resolved to the arrays they point at.

    Raises:
        ModelNotFoundError: a file is missing, truncated or not a CTranslate2 model.
    """
    return _read(model_bin_parts(paths), keep)[1]


def read_ctranslate2_model(
    paths: PathLike | Sequence[PathLike],
    keep: Callable[[str], bool] | None = None,
) -> tuple[str, dict[str, np.ndarray]]:
    """Read a CTranslate2 model's spec name and its variables as floating-point weights.

    Args:
        paths: A CTranslate2 model folder, its ``model.bin`` file, or the parts of a split ``model.bin``
            in order.
        keep: A predicate on variable names (see :func:`read_ctranslate2_variables`).

    Returns:
        ``(spec_name, variables)``: the spec name (e.g. ``"WhisperSpec"``; ``""`` for binary version 1)
        and variable name (``"encoder/layer_0/self_attention/linear_0/weight"``) -> array. float16 and
        bfloat16 arrays are returned as float32, quantized weights are dequantized (:func:`dequantize`)
        and aliases are resolved.

    Raises:
        ModelNotFoundError: a file is missing, truncated or not a CTranslate2 model.
    """
    spec, variables = _read(model_bin_parts(paths), keep)
    return spec, dequantize(variables)


def dequantize(variables: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """Turn int8/int16 weights that have a ``<name>_scale`` companion back into float32.

    CTranslate2 stores ``round(w * scale)`` with one scale per output row (or a single scale), so the
    weight is ``value / scale``, the scale broadcast along the first axis.

    Args:
        variables: Variables as :func:`read_ctranslate2_variables` returns them.

    Returns:
        The same variables with quantized weights as float32 and their scales left out; everything else
        is passed through unchanged.
    """
    out: dict[str, np.ndarray] = {}
    used_scales: set[str] = set()
    for name, value in variables.items():
        scale = variables.get(f"{name}_scale")
        if scale is not None and value.dtype in (np.int8, np.int16):
            scale = np.asarray(scale, dtype=np.float32)
            if scale.ndim >= 1 and value.ndim >= 1:
                scale = scale.reshape(-1, *([1] * (value.ndim - 1)))
            value = value.astype(np.float32) / scale
            used_scales.add(f"{name}_scale")
        out[name] = value
    return {name: value for name, value in out.items() if name not in used_scales}


@dataclass(frozen=True)
class WhisperAudioDims:
    """The dimensions of a whisper audio encoder, named as in openai-whisper's ``ModelDimensions``.

    Attributes:
        n_mels: Mel bins of the input.
        n_audio_ctx: Encoder positions (1500 = 30 s).
        n_audio_state: Hidden width.
        n_audio_head: Attention heads.
        n_audio_layer: Transformer blocks.
    """

    n_mels: int
    n_audio_ctx: int
    n_audio_state: int
    n_audio_head: int
    n_audio_layer: int


@dataclass(frozen=True)
class WhisperDims(WhisperAudioDims):
    """The dimensions of a whole whisper model, as openai-whisper's ``ModelDimensions``.

    ``asdict(dims)`` is the ``"dims"`` entry of an openai-whisper checkpoint.

    Attributes:
        n_vocab: Vocabulary size (51864 for English-only models, 51865+ for multilingual ones).
        n_text_ctx: Decoder positions.
        n_text_state: Decoder hidden width.
        n_text_head: Decoder attention heads.
        n_text_layer: Decoder blocks.
    """

    n_vocab: int
    n_text_ctx: int
    n_text_state: int
    n_text_head: int
    n_text_layer: int


def _count_layers(variables: dict[str, np.ndarray], prefix: str) -> int:
    n = 0
    while f"{prefix}/layer_{n}/ffn/linear_0/weight" in variables:
        n += 1
    return n


def _heads(variables: dict[str, np.ndarray], prefix: str, d_model: int) -> int:
    value = variables.get(f"{prefix}/num_heads")
    if value is not None:
        return int(np.asarray(value).reshape(-1)[0])
    return d_model // 64  # every whisper size uses 64-dimensional heads


def _require(variables: dict[str, np.ndarray], name: str, part: str) -> np.ndarray:
    value = variables.get(name)
    if value is None:
        raise ModelNotFoundError(
            f"These CTranslate2 variables hold no whisper {part} (no {name}). Pass the variables of a "
            "CTranslate2 conversion of a whisper model."
        )
    return value


def whisper_audio_dims(variables: dict[str, np.ndarray]) -> WhisperAudioDims:
    """Infer a whisper encoder's dimensions from CTranslate2 variables (the ``encoder/`` ones suffice).

    Raises:
        ModelNotFoundError: the variables hold no whisper encoder.
    """
    conv1 = _require(variables, "encoder/conv1/weight", "encoder")
    positions = _require(variables, "encoder/position_encodings/encodings", "encoder")
    return WhisperAudioDims(
        n_mels=int(conv1.shape[1]),
        n_audio_ctx=int(positions.shape[0]),
        n_audio_state=int(conv1.shape[0]),
        n_audio_head=_heads(variables, "encoder", int(conv1.shape[0])),
        n_audio_layer=_count_layers(variables, "encoder"),
    )


def whisper_dims(variables: dict[str, np.ndarray]) -> WhisperDims:
    """Infer a whole whisper model's dimensions from its CTranslate2 variables.

    Raises:
        ModelNotFoundError: the variables hold no whisper encoder or decoder.
    """
    audio = whisper_audio_dims(variables)
    positions = _require(variables, "decoder/position_encodings/encodings", "decoder")
    embeddings = _require(variables, "decoder/embeddings/weight", "decoder")
    return WhisperDims(
        **asdict(audio),
        n_vocab=int(embeddings.shape[0]),
        n_text_ctx=int(positions.shape[0]),
        n_text_state=int(embeddings.shape[1]),
        n_text_head=_heads(variables, "decoder", int(embeddings.shape[1])),
        n_text_layer=_count_layers(variables, "decoder"),
    )


def resolve_ct2_model(model: str) -> Path | str:
    """A packaged model name -> its folder; an existing folder -> itself; anything else is returned as is.

    Args:
        model: A packaged whisper model name (``"tiny.en"``, ``"base"``), a CTranslate2 whisper folder,
            or another name (a hub id, say) that the caller resolves itself.

    Raises:
        ModelNotFoundError: an existing path that is not a CTranslate2 folder, or a packaged model whose
            package is not installed (the message gives the pip command).
    """
    from ..assets import packaged_whisper_models, whisper_ct2_dir

    if model in packaged_whisper_models():
        return whisper_ct2_dir(model)
    path = Path(model).expanduser()
    if path.exists():
        if not (path / "model.bin").is_file():
            raise ModelNotFoundError(
                f"{path} is not a CTranslate2 whisper folder (no model.bin in it). Convert a model with "
                "`ct2-transformers-converter --model openai/whisper-tiny.en --output_dir DIR` or use one of the "
                f"packaged models: {', '.join(packaged_whisper_models())}."
            )
        return path
    return model
