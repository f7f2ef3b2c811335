"""F5-TTS: zero-shot voice cloning whose emotion comes from a reference clip per emotion (a voice bank).

F5-TTS continues a reference recording: given a clip and its transcript, it says new text in the same
voice *and manner*. A voice bank maps each emotion to such a clip, so a ``sad`` speaking style is spoken
from a sad reference and a ``happy`` one from a happy reference. Rate maps to F5's duration (``speed``),
pitch is shifted by the tape-speed method (synthesise ``k`` times slower, resample ``k`` times faster),
and volume is a gain.

Nothing is downloaded: the checkpoint, the vocab and the Vocos vocoder load from local paths. To get
them on a machine with hub access::

    huggingface-cli download SWivid/F5-TTS F5TTS_v1_Base/model_1250000.safetensors \\
        F5TTS_v1_Base/vocab.txt --local-dir f5
    huggingface-cli download charactr/vocos-mel-24khz --local-dir vocos-mel-24khz

A voice bank file (YAML or JSON; audio paths are relative to the file)::

    neutral: {audio: neutral.wav, text: "Some call me nature, others call me mother nature."}
    happy:   {audio: happy.wav,   text: "What a lovely surprise to see you here!"}
    sad:     {audio: sad.wav,     text: "I really thought it would work out this time."}
"""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np

from ...errors import ConfigError, ModelNotFoundError
from ...files import check_not_pickle
from ...labels import EMOTIONS, canonical
from ...registry import register
from ...text import split_sentences
from ...types import SpeakingStyle
from .common import EventRenderer, SentenceSynthesizer, StyleLimits, pitch_ratio, resample_by_ratio

logger = logging.getLogger(__name__)

#: When the bank has no clip for an emotion, try these in order (then ``neutral``, then any clip).
NEAREST_EMOTION: dict[str, tuple[str, ...]] = {
    "neutral": ("calm",),
    "calm": ("neutral", "sad"),
    "happy": ("surprised", "neutral"),
    "sad": ("calm", "fearful", "neutral"),
    "angry": ("disgusted", "fearful", "neutral"),
    "fearful": ("sad", "surprised", "neutral"),
    "disgusted": ("angry", "sad", "neutral"),
    "surprised": ("happy", "fearful", "neutral"),
}

_MAX_REFERENCE_SECONDS = 12.0
_TARGET_RMS = 0.1
_CACHE: dict[str, Any] = {}
_CACHE_LOCK = threading.Lock()


def load_voice_bank(bank: dict[str, Any] | str) -> dict[str, dict[str, str]]:
    """Read a voice bank: ``emotion -> {"audio": path, "text": transcript}``.

    Args:
        bank: A dict, or the path of a YAML/JSON file holding one (relative audio paths are resolved
            against the file's folder). Emotion names may be aliases (``joy`` -> ``happy``).

    Returns:
        The bank with canonical emotion keys and absolute audio paths.

    Raises:
        ConfigError: a malformed entry (the message shows the expected shape).
        ModelNotFoundError: a reference clip that does not exist.
    """
    base = Path.cwd()
    if isinstance(bank, (str, Path)):
        path = Path(bank).expanduser()
        if not path.is_file():
            raise ModelNotFoundError(f"Voice bank file not found: {path}. Pass a YAML/JSON file or a dict.")
        import yaml

        with open(path, encoding="utf-8") as handle:
            bank = yaml.safe_load(handle) if path.suffix.lower() in (".yaml", ".yml") else json.load(handle)
        base = path.parent
    if not isinstance(bank, dict) or not bank:
        raise ConfigError(
            "A voice bank maps emotions to reference clips, e.g. "
            "{'neutral': {'audio': 'neutral.wav', 'text': 'What the clip says.'}}."
        )
    out: dict[str, dict[str, str]] = {}
    for emotion, entry in bank.items():
        if not isinstance(entry, dict) or not entry.get("audio") or not str(entry.get("text", "")).strip():
            raise ConfigError(
                f"Voice bank entry {emotion!r} needs 'audio' (a wav path) and 'text' (its exact transcript); "
                f"got {entry!r}."
            )
        audio = Path(str(entry["audio"])).expanduser()
        audio = audio if audio.is_absolute() else base / audio
        if not audio.is_file():
            raise ModelNotFoundError(f"Reference clip for {emotion!r} not found: {audio}.")
        out[canonical(emotion)] = {"audio": str(audio), "text": str(entry["text"]).strip()}
    return out


def _model_config(model_config: dict[str, Any] | str) -> dict[str, Any]:
    """``{"backbone", "arch", "mel_spec"}`` from a packaged F5-TTS config name, a YAML path, or a dict."""
    if isinstance(model_config, str):
        from importlib.resources import files

        import yaml

        path = Path(model_config).expanduser()
        if not path.is_file():
            path = Path(str(files("f5_tts").joinpath(f"configs/{model_config}.yaml")))
        if not path.is_file():
            raise ConfigError(
                f"Unknown F5-TTS model_config {model_config!r}. Use a packaged name (F5TTS_v1_Base, F5TTS_Base, "
                "F5TTS_v1_Small, E2TTS_Base), a YAML path, or a dict with 'arch' (and optionally 'mel_spec')."
            )
        with open(path, encoding="utf-8") as handle:
            model_config = yaml.safe_load(handle)["model"]
    if not isinstance(model_config, dict) or "arch" not in model_config:
        raise ConfigError("model_config must hold 'arch' (the backbone's keyword arguments), as F5-TTS configs do.")
    mel = {
        "n_fft": 1024,
        "hop_length": 256,
        "win_length": 1024,
        "n_mel_channels": 100,
        "target_sample_rate": 24000,
        "mel_spec_type": "vocos",
    }
    mel.update(model_config.get("mel_spec") or {})
    return {"backbone": model_config.get("backbone", "DiT"), "arch": dict(model_config["arch"]), "mel_spec": mel}


def _read_state_dict(path: Path, use_ema: bool) -> dict[str, Any]:
    import torch

    if path.suffix == ".safetensors":
        from safetensors.torch import load_file

        checkpoint: dict[str, Any] = load_file(str(path), device="cpu")
    else:  # a pickle, loaded only when the user passed allow_pickle=True (checked in F5TTS.__init__)
        checkpoint = torch.load(str(path), map_location="cpu", weights_only=True)
    if use_ema and "ema_model_state_dict" in checkpoint:
        state = {
            k.replace("ema_model.", ""): v
            for k, v in checkpoint["ema_model_state_dict"].items()
            if k not in ("initted", "step")
        }
    elif "model_state_dict" in checkpoint:
        state = checkpoint["model_state_dict"]
    elif any(k.startswith("ema_model.") for k in checkpoint):  # released .safetensors hold the EMA weights
        state = {k.replace("ema_model.", ""): v for k, v in checkpoint.items() if k not in ("initted", "step")}
    else:
        state = checkpoint
    for key in ("mel_spec.mel_stft.mel_scale.fb", "mel_spec.mel_stft.spectrogram.window"):
        state.pop(key, None)
    return state


def _vocoder_weights(vocoder_dir: Path) -> Path | None:
    """The Vocos weights in ``vocoder_dir``: ``model.safetensors`` if there, else ``pytorch_model.bin``."""
    for name in ("model.safetensors", "pytorch_model.bin"):
        if (vocoder_dir / name).is_file():
            return vocoder_dir / name
    return None


def _load(checkpoint: Path, vocab: Path, config: dict[str, Any], vocoder: Path, device: str, use_ema: bool) -> Any:
    key = json.dumps([str(checkpoint), str(vocab), config, str(vocoder), device, use_ema], sort_keys=True)
    with _CACHE_LOCK:
        if key in _CACHE:
            return _CACHE[key]
        import torch
        from f5_tts.model import CFM, DiT, MMDiT, UNetT
        from f5_tts.model.utils import get_tokenizer
        from vocos import Vocos

        backbones = {"DiT": DiT, "MMDiT": MMDiT, "UNetT": UNetT}
        if config["backbone"] not in backbones:
            raise ConfigError(f"Unknown F5-TTS backbone {config['backbone']!r}; use one of {', '.join(backbones)}.")
        vocab_map, vocab_size = get_tokenizer(str(vocab), "custom")
        arch = {k: v for k, v in config["arch"].items() if k not in ("checkpoint_activations",)}
        transformer = backbones[config["backbone"]](
            **arch, text_num_embeds=vocab_size, mel_dim=config["mel_spec"]["n_mel_channels"]
        )
        model = CFM(
            transformer=transformer,
            mel_spec_kwargs=config["mel_spec"],
            odeint_kwargs={"method": "euler"},
            vocab_char_map=vocab_map,
        )
        try:
            model.load_state_dict(_read_state_dict(checkpoint, use_ema))
        except RuntimeError as exc:
            raise ConfigError(
                f"The F5-TTS checkpoint {checkpoint} does not match model_config/vocab ({str(exc)[:300]}...). "
                "Pass the model_config the checkpoint was trained with and its own vocab.txt."
            ) from exc
        model = model.to(device).eval()
        weights = vocoder
        vocoder = Vocos.from_hparams(str(weights.parent / "config.yaml"))
        if weights.suffix == ".safetensors":
            from safetensors.torch import load_file

            vocoder.load_state_dict(load_file(str(weights), device="cpu"))
        else:  # a pickle, loaded only when the user passed allow_pickle=True (checked in F5TTS.__init__)
            vocoder.load_state_dict(torch.load(str(weights), map_location="cpu", weights_only=True))
        vocoder = vocoder.to(device).eval()
        _CACHE[key] = (model, vocoder)
        return model, vocoder


@register("tts", "f5-tts")
class F5TTS(SentenceSynthesizer):
    """F5-TTS flow-matching voice cloning; the emotion comes from a per-emotion reference clip.

    Args:
        checkpoint: Local F5-TTS checkpoint: ``.safetensors`` (as released), or a ``.pt`` training
            checkpoint with ``allow_pickle=True``.
        voice_bank: ``emotion -> {"audio": wav, "text": transcript}`` as a dict or a YAML/JSON path.
        vocoder_path: Folder with the Vocos vocoder's ``config.yaml`` and ``model.safetensors`` (or, with
            ``allow_pickle=True``, the ``pytorch_model.bin`` it is published as).
        vocab_file: The checkpoint's ``vocab.txt``; ``None`` uses the one packaged with f5-tts.
        model_config: Packaged config name (``F5TTS_v1_Base``), a config YAML path, or a dict with
            ``arch`` (backbone kwargs), optional ``backbone`` (``DiT``) and ``mel_spec``.
        nfe_step: Flow-matching steps (32 is F5's default; 16 is about twice as fast).
        cfg_strength: Classifier-free guidance strength.
        sway_sampling_coef: Sway sampling coefficient.
        seed: Fix the sampling noise for reproducible output (``None``: random).
        device: ``"cpu"``, ``"cuda"``, or ``"auto"`` (CUDA when available).
        use_ema: Load the EMA weights of a training checkpoint.
        event_renderer: Optional ``(label, context_audio, sample_rate) -> np.ndarray | None`` supplying the
            audio of tags such as ``[laugh]``; without it they are dropped with a logged note.
        pause_seconds: Length of a bare ``[pause]``.
        sentence_silence: Silence between sentences, in seconds.
        allow_pickle: Load ``.pt`` / ``.bin`` weights, which are Python pickles (loading one could run
            code); only for files you trust. Off by default: such a file is refused with a message saying
            how to convert it to safetensors.
    """

    requires = ("f5_tts", "torch", "vocos")
    extra = "f5-tts"
    limits = StyleLimits(rate=(0.5, 2.0), pitch_semitones=(-6.0, 6.0), volume=(0.0, 2.0))

    def __init__(
        self,
        checkpoint: str,
        voice_bank: dict[str, Any] | str,
        vocoder_path: str,
        vocab_file: str | None = None,
        model_config: dict[str, Any] | str = "F5TTS_v1_Base",
        nfe_step: int = 32,
        cfg_strength: float = 2.0,
        sway_sampling_coef: float = -1.0,
        seed: int | None = None,
        device: str = "cpu",
        use_ema: bool = True,
        event_renderer: EventRenderer | None = None,
        pause_seconds: float = 0.5,
        sentence_silence: float = 0.12,
        allow_pickle: bool = False,
    ) -> None:
        super().__init__(event_renderer=event_renderer, pause_seconds=pause_seconds, sentence_silence=sentence_silence)
        self.allow_pickle = bool(allow_pickle)
        self.checkpoint = Path(checkpoint).expanduser()
        if not self.checkpoint.is_file():
            raise ModelNotFoundError(
                f"F5-TTS checkpoint not found: {self.checkpoint}. Download it where a model hub is reachable "
                "(huggingface-cli download SWivid/F5-TTS F5TTS_v1_Base/model_1250000.safetensors) and pass its path."
            )
        check_not_pickle(
            self.checkpoint,
            "an F5-TTS checkpoint",
            "Use the released .safetensors checkpoint (F5TTS_v1_Base/model_1250000.safetensors), or pass "
            "allow_pickle=True if you trust this file.",
            self.allow_pickle,
        )
        self.vocoder_path = Path(vocoder_path).expanduser()
        weights = _vocoder_weights(self.vocoder_path)
        if not (self.vocoder_path / "config.yaml").is_file() or weights is None:
            raise ModelNotFoundError(
                f"No Vocos vocoder in {self.vocoder_path} (config.yaml and model.safetensors or pytorch_model.bin "
                "are needed). Get it with: huggingface-cli download charactr/vocos-mel-24khz --local-dir "
                "vocos-mel-24khz"
            )
        check_not_pickle(
            weights,
            "the Vocos vocoder weights",
            'Convert them once to safetensors: python -c "import torch; from safetensors.torch import save_file; '
            f"save_file(torch.load('{weights}', weights_only=True), '{self.vocoder_path / 'model.safetensors'}')\", "
            "or pass allow_pickle=True if you trust the file.",
            self.allow_pickle,
        )
        self.vocoder_weights = weights
        if vocab_file is None:
            from importlib.resources import files

            vocab_file = str(files("f5_tts").joinpath("infer/examples/vocab.txt"))
        self.vocab_file = Path(vocab_file).expanduser()
        if not self.vocab_file.is_file():
            raise ModelNotFoundError(
                f"F5-TTS vocab file not found: {self.vocab_file}. Pass the checkpoint's vocab.txt."
            )
        self.config = _model_config(model_config)
        self.bank = load_voice_bank(voice_bank)
        if nfe_step < 1:
            raise ConfigError(f"nfe_step must be at least 1; got {nfe_step}.")
        self.nfe_step = int(nfe_step)
        self.cfg_strength = float(cfg_strength)
        self.sway_sampling_coef = float(sway_sampling_coef)
        self.seed = seed
        if device == "auto":
            import torch

            device = "cuda" if torch.cuda.is_available() else "cpu"
        self.device = device
        self.use_ema = bool(use_ema)
        self.name = f"f5-tts:{self.checkpoint.stem}"
        self._references: dict[str, tuple[Any, float, str]] = {}

    @property
    def sample_rate(self) -> int:  # type: ignore[override]
        """Output rate of the mel/vocoder configuration (24000 Hz for released models)."""
        return int(self.config["mel_spec"]["target_sample_rate"])

    @property
    def hop_length(self) -> int:
        """Samples per mel frame."""
        return int(self.config["mel_spec"]["hop_length"])

    def _models(self) -> Any:
        return _load(self.checkpoint, self.vocab_file, self.config, self.vocoder_weights, self.device, self.use_ema)

    def warmup(self) -> None:
        """Load the model and vocoder."""
        self._models()

    def reference_for(self, emotion: str) -> str:
        """The bank emotion whose clip speaks ``emotion`` (itself, else the nearest one; logged)."""
        try:
            wanted = canonical(emotion)
        except ConfigError:
            wanted = "neutral"
        if wanted in self.bank:
            return wanted
        for candidate in (*NEAREST_EMOTION.get(wanted, ()), "neutral", *EMOTIONS):
            if candidate in self.bank:
                self._note(
                    f"the voice bank has no {wanted!r} clip; speaking {wanted!r} styles from the {candidate!r} clip"
                )
                return candidate
        return next(iter(self.bank))

    def _reference(self, emotion: str) -> tuple[Any, float, str]:
        """(waveform tensor (1, n) at the model rate, its original RMS, its transcript) for a bank emotion."""
        if emotion not in self._references:
            import torch

            from ...audio import load_audio

            entry = self.bank[emotion]
            audio = load_audio(entry["audio"], sample_rate=self.sample_rate, max_seconds=60.0)
            samples = audio.samples
            limit = int(_MAX_REFERENCE_SECONDS * self.sample_rate)
            if samples.size > limit:
                self._note(
                    f"reference clip {entry['audio']} is longer than {_MAX_REFERENCE_SECONDS:g} s; using its start"
                )
                samples = samples[:limit]
            rms = float(np.sqrt(np.mean(np.square(samples))))
            if rms < _TARGET_RMS:
                samples = samples * (_TARGET_RMS / max(rms, 1e-8))
            text = entry["text"]
            text = text + " " if text.endswith(".") else text + ". "
            wave = torch.from_numpy(np.ascontiguousarray(samples, dtype=np.float32)).unsqueeze(0)
            self._references[emotion] = (wave, rms, text)
        return self._references[emotion]

    def frames_for(self, text: str, emotion: str, speed: float) -> tuple[int, int]:
        """(reference frames, generated frames) F5 will produce for ``text`` at ``speed`` (F5's own rule:
        the reference's frames per UTF-8 byte of its transcript, times the new text's bytes, over speed)."""
        wave, _, ref_text = self._reference(self.reference_for(emotion))
        ref_frames = wave.shape[-1] // self.hop_length
        text_bytes = len(text.encode("utf-8"))
        if text_bytes < 10:  # F5 slows very short texts down, or they come out clipped
            speed = 0.3 * speed
        generated = int(ref_frames / len(ref_text.encode("utf-8")) * text_bytes / speed)
        return ref_frames, max(generated, 1)

    def _synthesize_text(self, text: str, style: SpeakingStyle) -> Iterator[np.ndarray]:
        import torch
        from f5_tts.model.utils import convert_char_to_pinyin

        model, vocoder = self._models()
        emotion = self.reference_for(style.emotion)
        wave, rms, ref_text = self._reference(emotion)
        ratio = pitch_ratio(style.pitch_semitones)
        speed = style.rate / ratio
        for sentence in split_sentences(text):
            ref_frames, gen_frames = self.frames_for(sentence, emotion, speed)
            tokens = convert_char_to_pinyin([ref_text + sentence])
            with torch.inference_mode():
                mel, _ = model.sample(
                    cond=wave.to(self.device),
                    text=tokens,
                    duration=ref_frames + gen_frames,
                    steps=self.nfe_step,
                    cfg_strength=self.cfg_strength,
                    sway_sampling_coef=self.sway_sampling_coef,
                    seed=self.seed,
                )
                mel = mel.to(torch.float32)[:, ref_frames:, :].permute(0, 2, 1)
                samples = vocoder.decode(mel).squeeze().cpu().numpy().astype(np.float32)
            if rms < _TARGET_RMS:
                samples = samples * (rms / _TARGET_RMS)
            yield resample_by_ratio(samples, ratio)
