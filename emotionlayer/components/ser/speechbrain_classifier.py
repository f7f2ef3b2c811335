"""SER with a SpeechBrain ``EncoderClassifier`` from a local folder.

The folder holds ``hyperparams.yaml`` (with ``modules``, ``label_encoder`` and ``pretrainer`` entries),
the checkpoints it names, and ``label_encoder.txt``. It is used in place (nothing is copied or fetched).

Safety: a SpeechBrain folder is code as much as data. Its checkpoints (``*.ckpt``) are Python pickles
(``torch.save``), and ``hyperparams.yaml`` names the classes to build (``!new:``). Such a folder is
refused unless ``allow_pickle=True`` is passed for a folder you trust; SpeechBrain has no other weight
format to convert to. Some published models also ship their own Python interface
(``custom_interface.py``, loaded with ``foreign_class``); such Python files are **never** run unless
``allow_custom_code=True`` is passed as well.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from ...audio import SAMPLE_RATE
from ...errors import ConfigError, ModelNotFoundError
from ...files import check_not_pickle
from ...registry import register
from ...types import Audio, EmotionPrediction
from ..loading import ModelCache
from .classes import MappedClassifierSER

_CACHE = ModelCache()


@register("ser", "speechbrain")
class SpeechBrainSER(MappedClassifierSER):
    """A SpeechBrain EncoderClassifier (e.g. an emotion-recognition recipe) loaded from a local folder.

    Args:
        model: Local folder with ``hyperparams.yaml``, its checkpoints and ``label_encoder.txt``.
        device: torch device.
        label_map: Class name -> canonical label (or ``None`` to drop it) for names that are not known
            aliases (``neu``, ``hap``, ``ang``, ``sad`` and the like are mapped already).
        labels: Decide among these labels only.
        hparams_file: Name of the hyperparameters file in the folder.
        allow_custom_code: Allow a folder that ships Python code (``custom_interface.py`` with
            ``custom_class``): that code is imported and run. Off by default.
        custom_class: Class name inside ``custom_interface.py`` (only with ``allow_custom_code``).
        sample_rate: Rate the model expects.
        allow_pickle: Load the folder's pickled checkpoints (``*.ckpt``), which could run code. Off by
            default; pass it only for a folder you trust.
    """

    requires = ("speechbrain", "torch", "torchaudio")
    extra = "speechbrain"

    def __init__(
        self,
        model: str,
        device: str = "cpu",
        label_map: dict[str, str | None] | None = None,
        labels: Sequence[str] | None = None,
        hparams_file: str = "hyperparams.yaml",
        allow_custom_code: bool = False,
        custom_class: str | None = None,
        sample_rate: int = SAMPLE_RATE,
        allow_pickle: bool = False,
    ) -> None:
        super().__init__(model, "speechbrain", device, label_map, labels)
        self.hparams_file = hparams_file
        self.allow_custom_code = bool(allow_custom_code)
        self.custom_class = custom_class
        self.sample_rate = int(sample_rate)
        self.allow_pickle = bool(allow_pickle)

    def _check_folder(self) -> Path:
        folder = Path(self.model_path).expanduser()
        if not (folder / self.hparams_file).is_file():
            raise ModelNotFoundError(
                f"No SpeechBrain model at {folder} (no {self.hparams_file}). Pass a local folder holding "
                "hyperparams.yaml, its checkpoints and label_encoder.txt; models are never fetched from a hub."
            )
        code = sorted(p.name for p in folder.glob("*.py"))
        if code and not self.allow_custom_code:
            raise ConfigError(
                f"{folder} ships Python code ({', '.join(code)}), which loading it would run. Inspect it and pass "
                "allow_custom_code=True (with custom_class='ClassName' for a custom interface) if you trust it."
            )
        check_not_pickle(
            folder,
            "SpeechBrain checkpoints",
            "SpeechBrain stores its weights only as pickles (and builds the classes its hyperparams.yaml names), "
            "so loading this folder means trusting it: pass allow_pickle=True if you do.",
            self.allow_pickle,
        )
        return folder

    def _load(self) -> Any:
        folder = self._check_folder()

        def load() -> Any:
            from speechbrain.utils.fetching import LocalStrategy

            options = {
                "source": str(folder),
                "savedir": str(folder),
                "hparams_file": self.hparams_file,
                "run_opts": {"device": self.device},
                "local_strategy": LocalStrategy.NO_LINK,
            }
            try:
                if self.custom_class:
                    from speechbrain.inference.interfaces import foreign_class

                    module = next(iter(sorted(folder.glob("*.py")))).name
                    classifier = foreign_class(pymodule_file=module, classname=self.custom_class, **options)
                else:
                    from speechbrain.inference.classifiers import EncoderClassifier

                    classifier = EncoderClassifier.from_hparams(**options)
            except (OSError, KeyError, ValueError) as exc:
                raise ModelNotFoundError(
                    f"Could not load a SpeechBrain EncoderClassifier from {folder} ({type(exc).__name__}: {exc}). "
                    "Its hyperparams.yaml needs modules (compute_features, mean_var_norm, embedding_model, "
                    "classifier), label_encoder and a pretrainer whose paths exist."
                ) from exc
            if classifier is None:
                raise ModelNotFoundError(f"SpeechBrain returned no model for {folder}.")
            classifier.mods.eval()
            return classifier

        classifier = _CACHE.get((str(folder.resolve()), self.device, self.hparams_file), load)
        encoder = classifier.hparams.label_encoder
        self._map_classes([encoder.ind2lab[i] for i in range(len(encoder.ind2lab))])
        return classifier

    def predict(self, audio: Audio) -> EmotionPrediction:
        """The emotion of one clip."""
        import torch

        classifier = self._load()
        samples = torch.from_numpy(audio.resample(self.sample_rate).samples.copy())[None]
        with torch.inference_mode():
            scores = classifier.classify_batch(samples)[0][0].float().cpu().numpy()
        scores = np.asarray(scores, dtype=np.float64).reshape(-1)
        if np.all(scores <= 1e-6) and abs(np.log(np.exp(scores).sum())) < 1e-3:
            probs = np.exp(scores)  # already log-probabilities (the usual log-softmax output)
        else:
            probs = np.exp(scores - scores.max())
        probs /= probs.sum()
        return self._prediction(probs)
