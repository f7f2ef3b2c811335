"""What the backends share to load weights: a per-process model cache, and where a model comes from (a local
folder, or a hub id only when the backend may reach a hub)."""

from __future__ import annotations

import threading
from collections.abc import Callable, Hashable
from pathlib import Path
from typing import Any

from ..errors import ModelNotFoundError


def model_source(model: str, local_files_only: bool, missing: str) -> tuple[Path, str]:
    """The local folder of ``model`` and what to load it from (the folder if it exists, else ``model`` as a hub id).

    Raises:
        ModelNotFoundError: no such folder while ``local_files_only`` (its message is ``missing``).
    """
    path = Path(model).expanduser()
    if not path.exists() and local_files_only:
        raise ModelNotFoundError(missing)
    return path, str(path) if path.exists() else model


class ModelCache:
    """A per-process cache of loaded models keyed by their loading parameters (thread-safe)."""

    def __init__(self) -> None:
        self._models: dict[Hashable, Any] = {}
        self._lock = threading.Lock()

    def get(self, key: Hashable, load: Callable[[], Any]) -> Any:
        with self._lock:
            if key not in self._models:
                self._models[key] = load()
            return self._models[key]

    def clear(self) -> None:
        with self._lock:
            self._models.clear()

    def __len__(self) -> int:
        return len(self._models)
