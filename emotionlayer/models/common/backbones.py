"""The speech LLMs' pretrained parts: the speech encoder (every hidden layer) and the frozen causal LM.

Shared by E-chat and ParalinGPT, with :func:`choose_device` (the device a model is loaded on).

Speech encoders:

* ``tiny.en`` / ``base`` or a CTranslate2 whisper folder: :class:`emotionlayer.encoders.WhisperEncoder`
  (read from the packaged weights; takes clips shorter than 30 s without padding).
* A local Hugging Face folder: whisper (its encoder half; input padded to the model's 30 s window, output
  cut back to the clip's frames) or a self-supervised model (HuBERT, wav2vec2, WavLM, data2vec-audio).

Every adapter turns a list of 16 kHz waveforms into ``(hidden states, frame lengths)``, where the hidden
states are stacked as ``(n_states, batch, frames, width)``.

Both kinds of model are loaded once per process and shared, since they stay frozen (a trainable copy is
made when the encoder is fine-tuned).
"""

from __future__ import annotations

import copy
import hashlib
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from ...audio import SAMPLE_RATE
from ...errors import ConfigError, MissingDependencyError, ModelNotFoundError

_HOP = 160  # whisper mel hop: 100 frames per second


class SpeechEncoder(nn.Module):
    """Base class of the speech-encoder adapters.

    Attributes:
        name: What was loaded (reported in model cards and cache keys).
        hidden_size: Width of every hidden state.
        num_hidden_states: How many hidden states one pass returns (layers + embeddings).
        max_seconds: Longest clip one pass takes (``inf`` when unbounded).
        frames_per_second: Encoder frames per second of audio (about).
    """

    name: str = ""
    hidden_size: int = 0
    num_hidden_states: int = 0
    max_seconds: float = float("inf")
    frames_per_second: float = 50.0

    def forward(self, waves: Sequence[torch.Tensor]) -> tuple[torch.Tensor, torch.Tensor]:  # pragma: no cover
        """Encode 16 kHz mono waveforms.

        Args:
            waves: One 1-D float tensor per clip, on this module's device.

        Returns:
            ``(states, lengths)``: hidden states ``(n_states, batch, frames, hidden_size)`` (zero past each
            clip's end) and each clip's valid frame count ``(batch,)``.
        """
        raise NotImplementedError

    @property
    def device(self) -> torch.device:
        return next(self.parameters()).device

    def encode_one(self, samples: np.ndarray) -> torch.Tensor:
        """Hidden states of one clip, ``(n_states, frames, hidden_size)`` float32 on the CPU, without gradients."""
        with torch.inference_mode():
            states, lengths = self([torch.from_numpy(np.ascontiguousarray(samples, dtype=np.float32)).to(self.device)])
        return states[:, 0, : int(lengths[0])].float().cpu()

    def fingerprint(self) -> str:
        """A hash of the encoder's class, name and weights: equal fingerprints give equal hidden states."""
        digest = hashlib.sha256(f"{type(self).__name__}|{self.num_hidden_states}|{self.hidden_size}".encode())
        for key, tensor in sorted(self.state_dict().items()):
            digest.update(key.encode())
            digest.update(tensor.detach().to("cpu", torch.float32).contiguous().numpy().tobytes())
        return digest.hexdigest()


def _pad_states(states: Sequence[torch.Tensor], lengths: torch.Tensor) -> torch.Tensor:
    """Stack per-layer ``(batch, frames, d)`` states and zero the frames past each clip's end."""
    stacked = torch.stack(list(states))
    frames = stacked.shape[2]
    keep = torch.arange(frames, device=stacked.device)[None, :] < lengths.to(stacked.device)[:, None]
    return stacked * keep[None, :, :, None].to(stacked.dtype)


class CT2WhisperEncoder(SpeechEncoder):
    """The whisper encoder of :mod:`emotionlayer.encoders.whisper` (packaged or CTranslate2 weights).

    Args:
        encoder: A :class:`~emotionlayer.encoders.whisper.WhisperEncoder`.
        name: What it is (``tiny.en``, a folder...).
    """

    def __init__(self, encoder: nn.Module, name: str) -> None:
        super().__init__()
        self.encoder = encoder
        self.name = name
        self.hidden_size = int(encoder.config.d_model)
        self.num_hidden_states = int(encoder.num_hidden_states)
        self.max_seconds = 2 * encoder.config.n_ctx * _HOP / SAMPLE_RATE

    def forward(self, waves: Sequence[torch.Tensor]) -> tuple[torch.Tensor, torch.Tensor]:
        from ...encoders.whisper import log_mel_spectrogram

        n_mels = self.encoder.config.n_mels
        mels = [log_mel_spectrogram(w.float(), n_mels) for w in waves]
        mel_lengths = torch.tensor([m.shape[-1] for m in mels], device=self.device)
        batch = torch.zeros(len(mels), n_mels, int(mel_lengths.max()), device=self.device)
        for i, mel in enumerate(mels):
            batch[i, :, : mel.shape[-1]] = mel
        out = self.encoder(batch, output_hidden_states=True, lengths=mel_lengths if len(mels) > 1 else None)
        lengths = (mel_lengths - 1) // 2 + 1
        return _pad_states(out.hidden_states, lengths), lengths


class HFWhisperEncoder(SpeechEncoder):
    """The encoder half of a Hugging Face whisper model (input padded to its window, output cut back).

    Args:
        encoder: ``WhisperModel(...).get_encoder()``.
        name: The folder it came from.
    """

    def __init__(self, encoder: nn.Module, name: str) -> None:
        super().__init__()
        self.encoder = encoder
        self.name = name
        config = encoder.config
        self.n_mels = int(config.num_mel_bins)
        self.window_frames = 2 * int(config.max_source_positions)  # mel frames per pass
        self.hidden_size = int(config.d_model)
        self.max_seconds = self.window_frames * _HOP / SAMPLE_RATE
        self.num_hidden_states = _count_states(self)

    def forward(self, waves: Sequence[torch.Tensor]) -> tuple[torch.Tensor, torch.Tensor]:
        from ...encoders.whisper import log_mel_spectrogram

        window = self.window_frames * _HOP
        mels = []
        for wave in waves:
            padded = torch.zeros(window, device=wave.device)
            padded[: min(len(wave), window)] = wave[:window].float()
            mels.append(log_mel_spectrogram(padded, self.n_mels)[:, : self.window_frames])
        out = self.encoder(torch.stack(mels).to(self.device), output_hidden_states=True)
        mel_lengths = torch.tensor([max(1, min(len(w), window) // _HOP) for w in waves], device=self.device)
        lengths = (mel_lengths - 1) // 2 + 1
        return _pad_states(out.hidden_states, lengths)[:, :, : int(lengths.max())], lengths


class HFSSLEncoder(SpeechEncoder):
    """A Hugging Face self-supervised speech model (HuBERT, wav2vec2, WavLM, data2vec-audio).

    Args:
        model: The loaded model (``AutoModel``).
        name: The folder it came from.
        normalize: Scale each clip to zero mean and unit variance first (as their feature extractors do).
    """

    def __init__(self, model: nn.Module, name: str, normalize: bool = True) -> None:
        super().__init__()
        self.model = model
        self.name = name
        self.normalize = normalize
        config = model.config
        self.hidden_size = int(config.hidden_size)
        self._use_mask = getattr(config, "feat_extract_norm", "layer") == "layer"
        self._convs = list(zip(config.conv_kernel, config.conv_stride, strict=True))
        stride = int(np.prod(config.conv_stride))
        self.frames_per_second = SAMPLE_RATE / stride
        self.num_hidden_states = _count_states(self)

    def output_lengths(self, lengths: torch.Tensor) -> torch.Tensor:
        """Frames the convolutional front end makes of ``lengths`` samples."""
        for kernel, stride in self._convs:
            lengths = torch.div(lengths - kernel, stride, rounding_mode="floor") + 1
        return lengths.clamp(min=1)

    def forward(self, waves: Sequence[torch.Tensor]) -> tuple[torch.Tensor, torch.Tensor]:
        minimum = sum(k for k, _ in self._convs)  # the front end needs at least this many samples
        sample_lengths = torch.tensor([max(len(w), minimum) for w in waves], device=self.device)
        batch = torch.zeros(len(waves), int(sample_lengths.max()), device=self.device)
        mask = torch.zeros_like(batch, dtype=torch.long)
        for i, wave in enumerate(waves):
            wave = wave.float()
            if self.normalize:
                wave = (wave - wave.mean()) / (wave.std(unbiased=False) + 1e-7)
            batch[i, : len(wave)] = wave
            mask[i, : int(sample_lengths[i])] = 1
        kwargs: dict[str, Any] = {"output_hidden_states": True}
        if self._use_mask and len(waves) > 1:
            kwargs["attention_mask"] = mask
        out = self.model(batch, **kwargs)
        lengths = self.output_lengths(sample_lengths)
        states = _pad_states(out.hidden_states, lengths)
        return states[:, :, : int(lengths.max())], lengths


def _count_states(adapter: SpeechEncoder) -> int:
    """Hidden states one pass returns, counted on a short silent clip (transformers versions differ)."""
    adapter.eval()
    with torch.inference_mode():
        states, _ = adapter.forward([torch.zeros(SAMPLE_RATE // 2, device=next(adapter.parameters()).device)])
    return int(states.shape[0])


def _no_layerdrop(model: nn.Module) -> nn.Module:
    """Turn LayerDrop off: a fine-tuned encoder must return the same number of hidden states every pass."""
    for config in {id(m.config): m.config for m in model.modules() if hasattr(m, "config")}.values():
        for name in ("layerdrop", "encoder_layerdrop"):
            if hasattr(config, name):
                setattr(config, name, 0.0)
    for module in model.modules():
        if isinstance(getattr(module, "layerdrop", None), float):
            module.layerdrop = 0.0
    return model


_ENCODERS: dict[tuple[str, str], SpeechEncoder] = {}
_LLMS: dict[tuple[str, str | None, str, str], tuple[Any, Any]] = {}
_LOCK = threading.Lock()


def clear_cache() -> None:
    """Forget every cached encoder and LLM."""
    with _LOCK:
        _ENCODERS.clear()
        _LLMS.clear()


def _is_ct2_folder(path: Path) -> bool:
    if path.is_file():
        return path.name.startswith("model.bin")
    return path.is_dir() and ((path / "model.bin").is_file() or any(path.glob("model.bin.part*")))


def _load_encoder_uncached(spec: str, device: str) -> SpeechEncoder:
    from ...assets import packaged_whisper_models

    if spec in packaged_whisper_models() or _is_ct2_folder(Path(spec).expanduser()):
        from ...encoders.whisper import load_whisper_encoder

        source = spec if spec in packaged_whisper_models() else str(Path(spec).expanduser())
        return CT2WhisperEncoder(load_whisper_encoder(source, device), spec)
    folder = Path(spec).expanduser()
    if not (folder / "config.json").is_file():
        raise ModelNotFoundError(
            f"No speech encoder at {spec!r}. Use 'tiny.en' or 'base' (packaged whisper), a CTranslate2 whisper "
            "folder (with model.bin), or a local Hugging Face HuBERT / wav2vec2 / WavLM / whisper folder saved "
            "with save_pretrained()."
        )
    try:
        from transformers import AutoConfig, AutoModel
    except ImportError as exc:
        raise MissingDependencyError("transformers", "transformers", "Hugging Face speech encoders") from exc
    try:
        config = AutoConfig.from_pretrained(str(folder), local_files_only=True)
        model = AutoModel.from_pretrained(str(folder), config=config, local_files_only=True)
    except (OSError, ValueError) as exc:
        raise ModelNotFoundError(
            f"transformers could not load a speech model from {folder}: {exc}. Pass a folder with config.json and "
            "weights (model.save_pretrained(folder))."
        ) from exc
    model = _no_layerdrop(model.to(device).eval())
    if config.model_type == "whisper":
        return HFWhisperEncoder(model.get_encoder(), str(folder))
    if not hasattr(config, "conv_kernel"):
        raise ConfigError(
            f"{folder} holds a {config.model_type!r} model; E-chat takes whisper or a self-supervised speech model "
            "with a convolutional front end (HuBERT, wav2vec2, WavLM, data2vec-audio)."
        )
    normalize = True
    if (folder / "preprocessor_config.json").is_file():
        import json

        normalize = bool(json.loads((folder / "preprocessor_config.json").read_text()).get("do_normalize", True))
    return HFSSLEncoder(model, str(folder), normalize=normalize)


def load_speech_encoder(spec: str, device: str = "cpu", trainable: bool = False) -> SpeechEncoder:
    """Load a speech encoder adapter (cached per process unless ``trainable``).

    Args:
        spec: ``tiny.en``, ``base``, a CTranslate2 whisper folder, or a local Hugging Face folder.
        device: torch device string.
        trainable: Return a private copy that may be trained (the shared one is never modified).

    Raises:
        ModelNotFoundError: nothing usable at ``spec``.
    """
    key = (str(spec), str(device))
    with _LOCK:
        if key not in _ENCODERS:
            _ENCODERS[key] = _load_encoder_uncached(str(spec), str(device)).eval()
        encoder = _ENCODERS[key]
    if trainable:
        encoder = copy.deepcopy(encoder)
    encoder.requires_grad_(trainable)
    return encoder


def resolve_llm(spec: str | None) -> tuple[str, str | None]:
    """Turn an LLM spec into ``(folder, gguf file name or None)``.

    ``None`` is the packaged SmolLM2-135M-Instruct GGUF; a ``.gguf`` file or a folder holding exactly one
    is read from its GGUF file; any other folder must hold a model and tokenizer saved with
    ``save_pretrained``.
    """
    if spec is None:
        from ...components.llm.packaged import packaged_gguf

        path = packaged_gguf()
        return str(path.parent), path.name
    path = Path(spec).expanduser()
    if path.is_file() and path.suffix == ".gguf":
        return str(path.parent), path.name
    if path.is_dir():
        if (path / "config.json").is_file():
            return str(path), None
        ggufs = sorted(path.glob("*.gguf"))
        if len(ggufs) == 1:
            return str(path), ggufs[0].name
    raise ModelNotFoundError(
        f"No causal LM at {spec!r}. Use null (the packaged SmolLM2), a .gguf file, or a local folder with a model "
        "and tokenizer saved with save_pretrained()."
    )


def load_llm(spec: str | None, device: str = "cpu", dtype: str = "float32") -> tuple[Any, Any]:
    """Load a frozen causal LM and its tokenizer (cached per process; never train the result).

    Args:
        spec: See :func:`resolve_llm`.
        device: torch device string.
        dtype: ``float32``, ``bfloat16`` or ``float16``.

    Returns:
        ``(model, tokenizer)``; the model is in eval mode with gradients off.
    """
    folder, gguf_file = resolve_llm(spec)
    key = (folder, gguf_file, str(device), dtype)
    with _LOCK:
        if key in _LLMS:
            return _LLMS[key]
        try:
            from transformers import AutoModelForCausalLM, AutoTokenizer
        except ImportError as exc:
            raise MissingDependencyError("transformers", "transformers", "the E-chat decoder") from exc
        kwargs: dict[str, Any] = {"local_files_only": True}
        if gguf_file:
            kwargs["gguf_file"] = gguf_file
        try:
            tokenizer = AutoTokenizer.from_pretrained(folder, **kwargs)
            model = AutoModelForCausalLM.from_pretrained(folder, dtype=getattr(torch, dtype), **kwargs)
        except ImportError as exc:
            raise MissingDependencyError(
                getattr(exc, "name", None) or "gguf", "transformers", "loading this LLM"
            ) from exc
        except (OSError, ValueError) as exc:
            where = f"{folder}{' / ' + gguf_file if gguf_file else ''}"
            raise ModelNotFoundError(
                f"transformers could not load a causal LM from {where}: {exc}. It must hold a model and a tokenizer "
                "saved with save_pretrained(), or be a GGUF file."
            ) from exc
        model = model.to(device).eval()
        model.requires_grad_(False)
        _LLMS[key] = (model, tokenizer)
        return _LLMS[key]


def llm_name(spec: str | None) -> str:
    """A short name of the LLM a spec points to."""
    if spec is None:
        from ...components.llm.packaged import PACKAGED_LLM_NAME

        return PACKAGED_LLM_NAME
    return Path(spec).name


def choose_device(device: str) -> str:
    """The torch device for ``device``: ``auto`` is CUDA when available, else the CPU.

    Raises:
        ConfigError: a CUDA device is asked for and none is available.
    """
    if device == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    if device.startswith("cuda") and not torch.cuda.is_available():
        raise ConfigError(f"device={device!r} but no CUDA device is available here; use device='cpu'.")
    return device
