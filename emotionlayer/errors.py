"""The one exception family of emotionlayer.

Every error says what was wrong and what to do about it, so that the CLI can print it as one line.
"""

from __future__ import annotations


class EmotionLayerError(Exception):
    """Base class of every error emotionlayer raises on purpose."""


class AudioError(EmotionLayerError, ValueError):
    """Audio that cannot be read or used (missing, empty, silent, corrupt, too long...)."""


class ConfigError(EmotionLayerError, ValueError):
    """A pipeline configuration or option that is not valid."""


class UnknownComponentError(EmotionLayerError, KeyError):
    """A component name that is not in the registry."""

    def __str__(self) -> str:  # KeyError would quote the message
        return str(self.args[0]) if self.args else ""


class MissingDependencyError(EmotionLayerError, ImportError):
    """A backend whose optional dependency is not installed."""

    def __init__(self, package: str, extra: str | None = None, purpose: str = "") -> None:
        install = f'pip install "emotionlayer[{extra}]"' if extra else f"pip install {package}"
        what = f" for {purpose}" if purpose else ""
        super().__init__(f"{package} is needed{what} but is not installed. Install it with: {install}")
        self.package = package
        self.extra = extra
        self.install_command = install


class ModelNotFoundError(EmotionLayerError, FileNotFoundError):
    """Model weights that cannot be found locally (and no hub is reachable)."""


class BackendError(EmotionLayerError, RuntimeError):
    """A backend failed at run time (a server down, a timeout, a bad reply)."""


class TrainingError(EmotionLayerError, RuntimeError):
    """Training that cannot go on (a loss that is no longer a number); the last good checkpoint is kept."""


class UnsafeFileError(EmotionLayerError, ValueError):
    """A model, head, checkpoint or cache file that is a Python pickle, refused because loading it could run code.

    The message names the file and says what to do: convert it to safetensors / npz, or, for a file you
    trust, pass ``allow_pickle=True`` where the loader offers it.
    """
