"""Checkpoint folders of the speech LLMs: the trainable weights (safetensors), the config, and the training state.

A model folder (what ``EChat.from_pretrained`` / ``ParalinGPT.from_pretrained`` read, and what a finished
run writes to ``--out``)::

    config.json          {"format": "emotionlayer-echat-1", "model": EChatConfig, "train": TrainConfig}
    model.safetensors    the weights the run trained (the encoder and LLM are named in the config)

A resumable checkpoint (``--out/checkpoints/step-00000500/``) adds::

    optimizer.safetensors + optimizer.json   optimizer tensors and hyper-parameters
    trainer_state.json                       step, losses so far, and a fingerprint of the data

Nothing is pickled: every tensor is in a safetensors file and everything else is JSON. Folders are
written under a temporary name and renamed into place, so a kill never leaves a half checkpoint.

Each model describes its folders with a :class:`ModelFolder` (its format tag, name and config class),
whose methods write and read them; the files, optimizer state and checkpoint listing are the same for all.
"""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Union

import torch

from ...errors import ConfigError, ModelNotFoundError
from .config import TrainConfig, move_train_keys

PathLike = Union[str, os.PathLike]

CONFIG_FILE = "config.json"
WEIGHTS_FILE = "model.safetensors"
OPTIMIZER_TENSORS = "optimizer.safetensors"
OPTIMIZER_JSON = "optimizer.json"
STATE_FILE = "trainer_state.json"
CHECKPOINTS = "checkpoints"


def write_json_atomic(path: Path, data: Any) -> None:
    """Write JSON to ``path`` through a temporary file and a rename."""
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    tmp.write_text(json.dumps(data, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    os.replace(tmp, path)


@dataclass(frozen=True)
class ModelFolder:
    """How one model's folders are tagged and read: the format tag, the names in messages, the config class.

    Attributes:
        format: The ``format`` tag of its ``config.json`` (and of its weights' metadata).
        name: The model's name in messages, with its article (``an E-chat``).
        command: The command that trains one (``emotionlayer echat train``).
        model_class: Its config dataclass (``to_dict`` / ``from_dict``).
    """

    format: str
    name: str
    command: str
    model_class: type

    def config_dict(self, model: Any, train: TrainConfig | None) -> dict[str, Any]:
        """The ``config.json`` content of a model config and (optionally) its run's config."""
        data: dict[str, Any] = {"format": self.format, "model": model.to_dict()}
        if train is not None:
            data["train"] = train.to_dict()
        return data

    def read_config(self, folder: PathLike) -> tuple[Any, TrainConfig | None]:
        """The configs saved in a model or checkpoint folder.

        Raises:
            ModelNotFoundError: the folder has no ``config.json``.
            ConfigError: the file is not this model's config.
        """
        file = Path(folder).expanduser() / CONFIG_FILE
        if not file.is_file():
            raise ModelNotFoundError(
                f"{Path(folder)} has no {CONFIG_FILE}; it is not {self.name} model folder. Pass the --out folder of "
                f"`{self.command}` (or one of its checkpoints/step-* folders)."
            )
        data = json.loads(file.read_text(encoding="utf-8"))
        if not isinstance(data, dict) or data.get("format") != self.format or "model" not in data:
            raise ConfigError(f'{file} is not {self.name} config (expected "format": "{self.format}").')
        model, train = move_train_keys(self.model_class, data["model"], data.get("train", {}))
        return self.model_class.from_dict(model), TrainConfig.from_dict(train) if "train" in data else None

    def save_model_folder(
        self, folder: PathLike, weights: dict[str, torch.Tensor], model: Any, train: TrainConfig | None
    ) -> Path:
        """Write ``config.json`` and ``model.safetensors`` into ``folder`` (created if needed)."""
        from safetensors.torch import save_file

        out = Path(folder)
        out.mkdir(parents=True, exist_ok=True)
        tmp = out / f".{WEIGHTS_FILE}.tmp-{os.getpid()}"
        tensors = {k: v.detach().to("cpu").contiguous() for k, v in weights.items()}
        save_file(tensors, str(tmp), metadata={"format": self.format})
        os.replace(tmp, out / WEIGHTS_FILE)
        write_json_atomic(out / CONFIG_FILE, self.config_dict(model, train))
        return out

    def save_checkpoint(
        self,
        out: PathLike,
        step: int,
        weights: dict[str, torch.Tensor],
        optimizer_state: dict[str, Any],
        trainer_state: dict[str, Any],
        model: Any,
        train: TrainConfig,
    ) -> Path:
        """Write ``out/checkpoints/step-NNNNNNNN`` with this model's files, keeping the ``train.keep_checkpoints``
        newest (see :func:`write_checkpoint`)."""
        return write_checkpoint(
            out,
            step,
            lambda folder: self.save_model_folder(folder, weights, model, train),
            optimizer_state,
            trainer_state,
            train.keep_checkpoints,
        )


def load_weights(folder: PathLike) -> dict[str, torch.Tensor]:
    """The tensors of ``model.safetensors`` in a model or checkpoint folder."""
    from safetensors.torch import load_file

    file = Path(folder).expanduser() / WEIGHTS_FILE
    if not file.is_file():
        raise ModelNotFoundError(
            f"{Path(folder)} has no {WEIGHTS_FILE}. A run writes it when it ends; to use an unfinished run, pass one "
            f"of its {CHECKPOINTS}/step-* folders."
        )
    return load_file(str(file))


def optimizer_to_files(state: dict[str, Any]) -> tuple[dict[str, torch.Tensor], dict[str, Any]]:
    """Split ``optimizer.state_dict()`` into tensors (for safetensors) and JSON."""
    tensors: dict[str, torch.Tensor] = {}
    plain: dict[str, dict[str, Any]] = {}
    for index, values in state["state"].items():
        for name, value in values.items():
            if isinstance(value, torch.Tensor):
                tensors[f"{index}.{name}"] = value.detach().to("cpu").contiguous()
            else:
                plain.setdefault(str(index), {})[name] = value
    return tensors, {"param_groups": state["param_groups"], "plain": plain}


def optimizer_from_files(tensors: dict[str, torch.Tensor], data: dict[str, Any]) -> dict[str, Any]:
    """Rebuild an optimizer state dict from :func:`optimizer_to_files` output."""
    state: dict[int, dict[str, Any]] = {}
    for key, tensor in tensors.items():
        index, name = key.split(".", 1)
        state.setdefault(int(index), {})[name] = tensor
    for index, values in data.get("plain", {}).items():
        state.setdefault(int(index), {}).update(values)
    return {"state": state, "param_groups": data["param_groups"]}


def write_checkpoint(
    out: PathLike,
    step: int,
    write_model: Callable[[Path], Any],
    optimizer_state: dict[str, Any],
    trainer_state: dict[str, Any],
    keep: int,
) -> Path:
    """Write ``out/checkpoints/step-NNNNNNNN`` atomically and delete all but the ``keep`` newest.

    ``write_model(folder)`` writes the model files (each trainable model's own ``save_model_folder``);
    the optimizer state (safetensors + JSON, no pickle) and ``trainer_state`` go beside them. Everything
    is written into a temporary folder, fsynced and renamed into place, so a kill never leaves half a
    checkpoint.
    """
    from safetensors.torch import save_file

    root = Path(out) / CHECKPOINTS
    root.mkdir(parents=True, exist_ok=True)
    final = root / f"step-{step:08d}"
    tmp = root / f".step-{step:08d}.tmp-{os.getpid()}"
    if tmp.exists():
        shutil.rmtree(tmp)
    write_model(tmp)
    tensors, plain = optimizer_to_files(optimizer_state)
    save_file(tensors, str(tmp / OPTIMIZER_TENSORS))
    (tmp / OPTIMIZER_JSON).write_text(json.dumps(plain), encoding="utf-8")
    (tmp / STATE_FILE).write_text(json.dumps(trainer_state, indent=2), encoding="utf-8")
    for file in tmp.iterdir():
        with open(file, "rb") as handle:
            os.fsync(handle.fileno())
    if final.exists():
        shutil.rmtree(final)
    os.replace(tmp, final)
    for old in list_checkpoints(out)[:-keep]:
        shutil.rmtree(old, ignore_errors=True)
    return final


def list_checkpoints(out: PathLike) -> list[Path]:
    """Complete checkpoints of a run, oldest first (half-written ones are never listed)."""
    root = Path(out) / CHECKPOINTS
    if not root.is_dir():
        return []
    found = [p for p in root.glob("step-*") if p.is_dir() and (p / STATE_FILE).is_file()]
    return sorted(found, key=lambda p: p.name)


def load_checkpoint(folder: PathLike) -> tuple[dict[str, torch.Tensor], dict[str, Any], dict[str, Any]]:
    """``(weights, optimizer state dict, trainer state)`` of a resumable checkpoint."""
    from safetensors.torch import load_file

    path = Path(folder)
    weights = load_weights(path)
    optimizer = optimizer_from_files(
        load_file(str(path / OPTIMIZER_TENSORS)), json.loads((path / OPTIMIZER_JSON).read_text(encoding="utf-8"))
    )
    state = json.loads((path / STATE_FILE).read_text(encoding="utf-8"))
    return weights, optimizer, state
