"""Voice converters the user supplies: a TorchScript module or a Python function, so a neural converter fits.

Both are called with the event and the reference speech at the reference's sample rate, and return the
converted event's samples; emotionlayer then (optionally) sets its loudness against the speech by the
label's offset and turns it down if it would peak above 0.95, as the default converter does.

``torchscript``: ``module(event, reference, sample_rate) -> tensor``, with 1-D float32 tensors and an int::

    class Converter(torch.nn.Module):
        def forward(self, event: torch.Tensor, reference: torch.Tensor, sample_rate: int) -> torch.Tensor: ...
    torch.jit.script(Converter()).save("converter.pt")
    vc = registry.create("vc", "torchscript", path="converter.pt")

``callable``: ``"package.module:function"``, called as ``function(event, reference, sample_rate)`` with 1-D
float32 NumPy arrays; it returns anything ``numpy.asarray`` reads as 1-D samples.
"""

from __future__ import annotations

import importlib
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from ...errors import ConfigError, ModelNotFoundError
from ...registry import register
from ...types import Audio
from .common import PEAK, limit_peak, match_level

_MODULES: dict[tuple[str, str], Any] = {}  # (path, device) -> loaded TorchScript module
_LOCK = threading.Lock()


def _finish(out: Any, event: Audio, reference: Audio, label: str | None, level: bool, peak: float, who: str) -> Audio:
    samples = np.asarray(out, dtype=np.float32)
    if samples.ndim == 2 and 1 in samples.shape:
        samples = samples.reshape(-1)
    if samples.ndim != 1 or samples.size == 0:
        raise ConfigError(
            f"The voice converter {who} returned samples of shape {samples.shape}; it must return one 1-D "
            "array of samples at the reference's sample rate."
        )
    sr = int(reference.sample_rate)
    reference_samples = np.asarray(reference.samples, dtype=np.float32)
    samples = match_level(samples, sr, reference_samples, label, peak) if level else limit_peak(samples, peak)
    return Audio(samples, sr)


@register("vc", "torchscript")
class TorchScriptVoiceConverter:
    """A TorchScript voice converter: ``module(event, reference, sample_rate) -> tensor`` (1-D float32).

    Args:
        path: The saved TorchScript module (``torch.jit.save``).
        device: Where it runs (``cpu``, ``cuda``).
        match_level: Set the result's loudness against the speech by the label's offset (as ``default``).
        peak: Highest peak of the result.
    """

    requires = ("torch",)
    extra = None

    def __init__(self, path: str, device: str = "cpu", match_level: bool = True, peak: float = PEAK) -> None:
        if not Path(path).expanduser().is_file():
            raise ModelNotFoundError(
                f"TorchScript voice converter {path} not found. Save one with torch.jit.script(module).save(path); "
                "it is called as module(event, reference, sample_rate) with 1-D float32 tensors."
            )
        self.path = str(Path(path).expanduser())
        self.device = device
        self.match_level = bool(match_level)
        self.peak = float(peak)
        self.name = f"torchscript voice conversion ({Path(path).name})"

    def _module(self) -> Any:
        import torch

        key = (self.path, self.device)
        with _LOCK:
            if key not in _MODULES:
                try:
                    _MODULES[key] = torch.jit.load(self.path, map_location=self.device).eval()
                except (RuntimeError, ValueError) as exc:
                    raise ConfigError(
                        f"{self.path} is not a TorchScript module torch.jit.load can read: {exc}"
                    ) from exc
            return _MODULES[key]

    def convert(self, event: Audio, reference: Audio, label: str | None = None) -> Audio:
        """The event converted by the module, at ``reference``'s sample rate (see the module's description)."""
        import torch

        sr = int(reference.sample_rate)
        module = self._module()
        source = torch.from_numpy(np.ascontiguousarray(event.resample(sr).samples, dtype=np.float32)).to(self.device)
        target = torch.from_numpy(np.ascontiguousarray(reference.samples, dtype=np.float32)).to(self.device)
        with torch.inference_mode():
            out = module(source, target, sr)
        if not isinstance(out, torch.Tensor):
            raise ConfigError(
                f"The TorchScript voice converter {self.path} returned {type(out).__name__}, not a tensor."
            )
        return _finish(
            out.detach().float().cpu().numpy(), event, reference, label, self.match_level, self.peak, self.path
        )


def load_function(spec: str) -> Callable[..., Any]:
    """The function named by ``"package.module:function"`` (``module:Class.method`` also works)."""
    module_name, sep, attribute = spec.partition(":")
    if not sep or not module_name or not attribute:
        raise ConfigError(f"Name the voice-conversion function as 'package.module:function', not {spec!r}.")
    try:
        target: Any = importlib.import_module(module_name)
    except ImportError as exc:
        raise ConfigError(f"Cannot import {module_name!r} for the voice converter {spec!r}: {exc}") from exc
    for part in attribute.split("."):
        if not hasattr(target, part):
            raise ConfigError(f"{module_name!r} has no {attribute!r} (voice converter {spec!r}).")
        target = getattr(target, part)
    if not callable(target):
        raise ConfigError(f"The voice converter {spec!r} is not callable.")
    return target


@register("vc", "callable")
class CallableVoiceConverter:
    """A Python function as the voice converter: ``function(event, reference, sample_rate) -> samples``.

    Args:
        function: ``"package.module:function"``, or the function itself (in code).
        match_level: Set the result's loudness against the speech by the label's offset (as ``default``).
        peak: Highest peak of the result.
    """

    requires: tuple[str, ...] = ()
    extra = None

    def __init__(self, function: str | Callable[..., Any], match_level: bool = True, peak: float = PEAK) -> None:
        self.function = load_function(function) if isinstance(function, str) else function
        if not callable(self.function):
            raise ConfigError(f"The voice converter must be a function or 'module:function', not {function!r}.")
        self.spec = function if isinstance(function, str) else getattr(function, "__qualname__", repr(function))
        self.match_level = bool(match_level)
        self.peak = float(peak)
        self.name = f"callable voice conversion ({self.spec})"

    def convert(self, event: Audio, reference: Audio, label: str | None = None) -> Audio:
        """The event converted by the function, at ``reference``'s sample rate."""
        sr = int(reference.sample_rate)
        source = np.asarray(event.resample(sr).samples, dtype=np.float32)
        out = self.function(source, np.asarray(reference.samples, dtype=np.float32), sr)
        return _finish(out, event, reference, label, self.match_level, self.peak, str(self.spec))
