"""Loading a trained speech LLM and checking its audio: the part E-chat's and ParalinGPT's runners share.

:class:`SpeechLLM` is the base of :class:`~emotionlayer.models.echat.EChat` and
:class:`~emotionlayer.models.paralingpt.ParalinGPT`: ``from_pretrained`` reads a model folder (or the
packaged checkpoint), checks it, loads the config and weights and builds the network on the chosen device
and dtype; ``_samples`` checks a clip and gives its 16 kHz samples. A subclass sets the class attributes
(its name, its folders, its builder, the hint when no checkpoint is packaged) and :meth:`packaged_dir`.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path
from typing import Any, ClassVar, TypeVar, Union

import numpy as np

from ...audio import SAMPLE_RATE
from ...errors import AudioError, ModelNotFoundError
from ...types import Audio
from .backbones import choose_device
from .checkpoint import CONFIG_FILE, ModelFolder, load_weights

PathLike = Union[str, os.PathLike]

T = TypeVar("T", bound="SpeechLLM")


class SpeechLLM:
    """A trained speech LLM, ready to answer speech (the common part of the models' runners).

    Class attributes (set by each subclass):
        display_name: The model's name in messages (``E-chat``).
        short_name: Its default name, and the prefix of a loaded folder's (``echat`` -> ``echat-<folder>``).
        train_command: The command that trains one (``emotionlayer echat train``).
        no_packaged_hint: The message when ``from_pretrained()`` finds no packaged checkpoint.
        folder: How its folders are read (:class:`~emotionlayer.models.common.checkpoint.ModelFolder`).
        build_model: ``build_model(config, device=..., llm_dtype=...)``: a fresh network.

    Args:
        model: The network (put in eval mode).
        name: Name reported in emotion predictions (default: ``short_name``).
    """

    display_name: ClassVar[str] = ""
    short_name: ClassVar[str] = ""
    train_command: ClassVar[str] = ""
    no_packaged_hint: ClassVar[str] = ""
    folder: ClassVar[ModelFolder]
    build_model: ClassVar[Callable[..., Any]]

    def __init__(self, model: Any, name: str = "") -> None:
        self.model = model.eval()
        self.name = name or self.short_name

    @property
    def config(self) -> Any:
        """The model's config."""
        return self.model.config

    @classmethod
    def packaged_dir(cls) -> Path:
        """Where the packaged checkpoint lives inside the installed package."""
        raise NotImplementedError

    @classmethod
    def from_pretrained(cls: type[T], path: PathLike | None = None, device: str = "auto", dtype: str = "auto") -> T:
        """Load a model folder written by the model's ``train`` command (or one of its checkpoints).

        Args:
            path: The folder; ``None`` is the checkpoint packaged with emotionlayer.
            device: ``auto`` (CUDA if available), ``cpu``, ``cuda``, ``cuda:1``...
            dtype: Dtype of the LLM: ``auto`` (bfloat16 on GPU, float32 on CPU), ``float32``, ``bfloat16``...

        Raises:
            ModelNotFoundError: no such folder, or no packaged checkpoint when ``path`` is ``None``.
        """
        if path is None:
            packaged = cls.packaged_dir()
            if not (packaged / CONFIG_FILE).is_file():
                raise ModelNotFoundError(cls.no_packaged_hint)
            path = packaged
        folder = Path(path).expanduser()
        if not folder.is_dir():
            raise ModelNotFoundError(
                f"No {cls.display_name} model folder at {folder}. Pass the --out folder of `{cls.train_command}`."
            )
        config, _ = cls.folder.read_config(folder)
        weights = load_weights(folder)
        device = choose_device(device)
        if dtype == "auto":
            dtype = "bfloat16" if device.startswith("cuda") else "float32"
        model = cls.build_model(config, device=device, llm_dtype=dtype)
        model.load_trainable_state_dict(weights)
        return cls(model, name=f"{cls.short_name}-{folder.name}")

    def _samples(self, audio: Audio) -> np.ndarray:
        """The clip's 16 kHz samples, checked: an :class:`Audio`, not empty, not longer than the encoder takes."""
        if not isinstance(audio, Audio):
            raise AudioError(
                f"{self.display_name} takes an emotionlayer Audio, got {type(audio).__name__}. Load it with "
                "load_audio()."
            )
        samples = audio.resample(SAMPLE_RATE).samples
        limit = min(self.config.max_audio_seconds, self.model.encoder.max_seconds)
        if len(samples) / SAMPLE_RATE > limit:
            raise AudioError(
                f"The audio is {len(samples) / SAMPLE_RATE:.1f} s long; this {self.display_name} model takes at most "
                f"{limit:g} s. Cut it into shorter turns."
            )
        if len(samples) == 0:
            raise AudioError("The audio is empty. Pass a recording that contains speech.")
        return samples

    def _waves(self, audio: Audio) -> list[Any]:
        """The clip as the encoder's batch of one waveform (a torch tensor on the model's device), checked."""
        import torch

        return [torch.from_numpy(np.ascontiguousarray(self._samples(audio))).to(self.model.device)]
