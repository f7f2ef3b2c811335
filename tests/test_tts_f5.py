"""The f5-tts backend on a tiny randomly initialised F5-TTS (CFM + DiT) and Vocos built from their own
classes and saved to disk: loading, voice-bank choice, sample rate and duration control."""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("f5_tts")
pytest.importorskip("vocos")

import torch  # noqa: E402
import yaml  # noqa: E402

from emotionlayer import registry  # noqa: E402
from emotionlayer.audio import load_audio, save_audio  # noqa: E402
from emotionlayer.errors import ConfigError, ModelNotFoundError  # noqa: E402
from emotionlayer.types import Audio, SpeakingStyle  # noqa: E402

N_MELS = 24
ARCH = {"dim": 32, "depth": 1, "heads": 2, "dim_head": 16, "ff_mult": 1, "text_dim": 16, "conv_layers": 1}
MODEL_CONFIG = {"backbone": "DiT", "arch": ARCH, "mel_spec": {"n_mel_channels": N_MELS}}


@pytest.fixture(scope="module")
def tiny_f5(tmp_path_factory) -> dict[str, str]:
    """A tiny random F5-TTS checkpoint, Vocos vocoder and a two-emotion voice bank on disk."""
    from importlib.resources import files

    from f5_tts.model import CFM, DiT
    from f5_tts.model.utils import get_tokenizer
    from vocos import Vocos

    root = tmp_path_factory.mktemp("f5")
    torch.manual_seed(0)
    vocab = str(files("f5_tts").joinpath("infer/examples/vocab.txt"))
    vocab_map, vocab_size = get_tokenizer(vocab, "custom")
    model = CFM(
        transformer=DiT(**ARCH, text_num_embeds=vocab_size, mel_dim=N_MELS),
        mel_spec_kwargs={"n_mel_channels": N_MELS, "target_sample_rate": 24000, "hop_length": 256},
        vocab_char_map=vocab_map,
    )
    from safetensors.torch import save_file

    ema = {f"ema_model.{k}": v.contiguous() for k, v in model.state_dict().items()}
    save_file(ema, root / "model_tiny.safetensors")  # as F5-TTS releases its checkpoints
    torch.save({"ema_model_state_dict": ema}, root / "model_tiny.pt")  # a training checkpoint: a pickle

    vocos_config = {
        "feature_extractor": {
            "class_path": "vocos.feature_extractors.MelSpectrogramFeatures",
            "init_args": {
                "sample_rate": 24000,
                "n_fft": 1024,
                "hop_length": 256,
                "n_mels": N_MELS,
                "padding": "center",
            },
        },
        "backbone": {
            "class_path": "vocos.models.VocosBackbone",
            "init_args": {"input_channels": N_MELS, "dim": 16, "intermediate_dim": 32, "num_layers": 1},
        },
        "head": {
            "class_path": "vocos.heads.ISTFTHead",
            "init_args": {"dim": 16, "n_fft": 1024, "hop_length": 256, "padding": "center"},
        },
    }
    vocos_dir = root / "vocos"
    vocos_dir.mkdir()
    (vocos_dir / "config.yaml").write_text(yaml.safe_dump(vocos_config))
    vocos_state = {
        k: v.contiguous() for k, v in Vocos.from_hparams(str(vocos_dir / "config.yaml")).state_dict().items()
    }
    save_file(vocos_state, vocos_dir / "model.safetensors")
    pickled = root / "vocos-pickled"  # the vocoder as published (pytorch_model.bin, a pickle)
    pickled.mkdir()
    (pickled / "config.yaml").write_text(yaml.safe_dump(vocos_config))
    torch.save(vocos_state, pickled / "pytorch_model.bin")

    # Reference clips: 2 s and 3 s of a voiced tone (content does not matter to a random model).
    rate = 24000
    for name, seconds in (("neutral", 2.0), ("happy", 3.0)):
        t = np.arange(int(seconds * rate)) / rate
        save_audio(Audio((0.2 * np.sin(2 * np.pi * 150 * t)).astype(np.float32), rate), root / f"{name}.wav")
    bank = {
        "neutral": {"audio": "neutral.wav", "text": "Some call me nature."},
        "joy": {"audio": "happy.wav", "text": "What a lovely surprise this is!"},
    }
    (root / "bank.yaml").write_text(yaml.safe_dump(bank))
    return {
        "checkpoint": str(root / "model_tiny.safetensors"),
        "vocoder_path": str(vocos_dir),
        "voice_bank": str(root / "bank.yaml"),
    }


@pytest.fixture(scope="module")
def tts(tiny_f5):
    return registry.create("tts", "f5-tts", **tiny_f5, model_config=MODEL_CONFIG, nfe_step=2, seed=0)


def test_loads_local_tiny_model_and_reports_rate(tts):
    audio = tts.synthesize("Hello there, how are you?")
    assert tts.sample_rate == audio.sample_rate == 24000
    assert np.all(np.isfinite(audio.samples)) and audio.samples.size > 0
    assert tts.name == "f5-tts:model_tiny"


def test_length_follows_the_requested_duration(tts):
    text = "I am sure we can fix your phone today."
    _, frames = tts.frames_for(text, "neutral", speed=1.0)
    normal = tts.synthesize(text)
    assert len(normal.samples) == pytest.approx(frames * tts.hop_length, abs=tts.hop_length)
    fast = tts.synthesize(text, SpeakingStyle("fast", rate=2.0))
    assert fast.duration == pytest.approx(normal.duration / 2, rel=0.05)
    longer = tts.synthesize(text + " " + text)
    assert longer.duration > 1.7 * normal.duration


def test_pitch_keeps_the_duration(tts):
    text = "I am sure we can fix your phone today."
    normal = tts.synthesize(text)
    higher = tts.synthesize(text, SpeakingStyle("high", pitch_semitones=3.0))
    assert higher.duration == pytest.approx(normal.duration, rel=0.05)


def test_emotion_picks_the_bank_clip_or_the_nearest(tts, caplog):
    assert tts.reference_for("happy") == "happy"  # "joy" in the file is an alias
    assert tts.reference_for("neutral") == "neutral"
    with caplog.at_level(logging.INFO, logger="emotionlayer.components.tts"):
        assert tts.reference_for("surprised") == "happy"
        assert tts.reference_for("sad") == "neutral"
    assert sum("voice bank has no" in r.getMessage() for r in caplog.records) == 2
    # The happy clip is longer per byte of transcript, so the same text gets a different length.
    text = "I am sure we can fix your phone today."
    assert tts.frames_for(text, "happy", 1.0)[1] != tts.frames_for(text, "neutral", 1.0)[1]


def test_tags_are_not_spoken(tts):
    plain = tts.synthesize("Thank you.")
    tagged = tts.synthesize("Thank you. [sigh] [pause 0.5s]")
    assert tagged.duration == pytest.approx(plain.duration + 0.5, abs=0.01)


def test_missing_files_say_how_to_fix(tiny_f5, tmp_path):
    with pytest.raises(ModelNotFoundError, match="huggingface-cli download SWivid"):
        registry.create("tts", "f5-tts", **{**tiny_f5, "checkpoint": str(tmp_path / "none.pt")})
    with pytest.raises(ModelNotFoundError, match="vocos-mel-24khz"):
        registry.create("tts", "f5-tts", **{**tiny_f5, "vocoder_path": str(tmp_path)})
    with pytest.raises(ConfigError, match="'audio'"):
        registry.create("tts", "f5-tts", **{**tiny_f5, "voice_bank": {"neutral": {"audio": "x.wav"}}})
    assert Path(tiny_f5["voice_bank"]).is_file() and load_audio(Path(tiny_f5["voice_bank"]).parent / "happy.wav")


def test_pickled_weights_are_refused_unless_allowed(tiny_f5):
    from emotionlayer.errors import UnsafeFileError

    root = Path(tiny_f5["checkpoint"]).parent
    pickled_checkpoint = {**tiny_f5, "checkpoint": str(root / "model_tiny.pt")}
    with pytest.raises(UnsafeFileError, match=r"model_tiny\.pt .*pickle.*allow_pickle=True"):
        registry.create("tts", "f5-tts", **pickled_checkpoint)
    pickled_vocoder = {**tiny_f5, "vocoder_path": str(root / "vocos-pickled")}
    with pytest.raises(UnsafeFileError, match=r"pytorch_model\.bin .*pickle.*save_file"):
        registry.create("tts", "f5-tts", **pickled_vocoder)
    trusted = registry.create(
        "tts",
        "f5-tts",
        **{**pickled_checkpoint, "vocoder_path": pickled_vocoder["vocoder_path"]},
        model_config=MODEL_CONFIG,
        nfe_step=2,
        seed=0,
        allow_pickle=True,
    )
    safe = registry.create("tts", "f5-tts", **tiny_f5, model_config=MODEL_CONFIG, nfe_step=2, seed=0)
    assert np.allclose(trusted.synthesize("Hello.").samples, safe.synthesize("Hello.").samples, atol=1e-5)
