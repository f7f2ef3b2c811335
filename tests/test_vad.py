"""Voice activity detection: the packaged silero VAD (ONNX) and the energy fallback, on real speech and on
synthetic silence, noise, music and hum."""

import sys
from pathlib import Path

import numpy as np
import pytest

from emotionlayer import registry
from emotionlayer.audio import load_audio
from emotionlayer.components.base import VoiceActivityDetector, VoiceActivityStream
from emotionlayer.components.vad.common import FRAME_SAMPLES, FRAME_SECONDS, segments_from_probabilities
from emotionlayer.errors import AudioError, ConfigError
from emotionlayer.testing import hum, music, tone, white_noise
from emotionlayer.types import Audio

SPEECH = sorted((Path(__file__).resolve().parents[1] / "examples" / "audio").glob("*.wav"))
NOT_SPEECH = {
    "white noise": lambda: white_noise(3.0),
    "loud white noise": lambda: white_noise(3.0, amplitude=0.3, seed=1),
    "music": lambda: music(3.0),
    "silence with hum": lambda: hum(3.0),
    "60 Hz hum at 44.1 kHz": lambda: hum(3.0, sample_rate=44100, frequency=60.0),
    "a 220 Hz tone": lambda: tone(3.0),
}


@pytest.fixture(scope="module")
def silero():
    return registry.create("vad", "silero")


def test_vad_is_a_registry_kind_with_both_backends():
    assert "vad" in registry.KINDS
    assert {"silero", "energy"} <= set(registry.available("vad"))
    assert registry.unusable_reason("vad", "silero") is None and registry.unusable_reason("vad", "energy") is None
    for name in ("silero", "energy"):
        vad = registry.create("vad", name)
        assert isinstance(vad, VoiceActivityDetector) and isinstance(vad.stream(), VoiceActivityStream)


@pytest.mark.parametrize("path", SPEECH, ids=lambda p: p.stem)
def test_silero_finds_the_speech_in_real_recordings(silero, path):
    audio = load_audio(path)
    segments = silero.speech_segments(audio)
    assert segments, f"no speech found in {path.name}"
    assert all(0.0 <= start < end <= audio.duration for start, end in segments)
    assert [s for s, _ in segments] == sorted(s for s, _ in segments)
    assert silero.speech_seconds(audio) > 0.5 * audio.duration  # these clips are mostly speech
    probabilities = silero.speech_probabilities(audio)
    assert probabilities.dtype == np.float32
    assert len(probabilities) == int(np.ceil(audio.duration * 16000 / FRAME_SAMPLES))
    assert probabilities.max() > 0.9 and ((0 <= probabilities) & (probabilities <= 1)).all()


@pytest.mark.parametrize("name", list(NOT_SPEECH))
def test_silero_finds_no_speech_in_noise_music_hum_or_a_tone(silero, name):
    audio = NOT_SPEECH[name]()
    assert silero.speech_segments(audio) == []
    assert silero.speech_probabilities(audio).max() < 0.5


def test_silero_finds_no_speech_in_digital_silence(silero):
    assert silero.speech_segments(Audio(np.zeros(16000, dtype=np.float32), 16000)) == []


def test_silero_finds_speech_between_silences_and_says_where(silero):
    speech = load_audio(SPEECH[0]).resample(16000)
    gap = np.zeros(32000, dtype=np.float32)
    audio = Audio(np.concatenate([gap, speech.samples, gap]), 16000)
    segments = silero.speech_segments(audio)
    assert segments and segments[0][0] >= 2.0 - 0.1 and segments[-1][1] <= 2.0 + speech.duration + 0.1


def test_the_stream_gives_the_batch_probabilities_frame_by_frame(silero):
    audio = load_audio(SPEECH[0]).resample(16000)
    batch = silero.speech_probabilities(audio)
    stream = silero.stream()
    samples = np.concatenate([audio.samples, np.zeros((-len(audio.samples)) % FRAME_SAMPLES, dtype=np.float32)])
    live = [stream.process(samples[i : i + FRAME_SAMPLES]) for i in range(0, len(samples), FRAME_SAMPLES)]
    np.testing.assert_allclose(live, batch, atol=1e-6)
    stream.reset()  # after a reset the stream starts afresh: the same frames give the same probabilities
    again = [stream.process(samples[i : i + FRAME_SAMPLES]) for i in range(0, len(samples), FRAME_SAMPLES)]
    np.testing.assert_allclose(again, live, atol=1e-6)


def test_streams_keep_their_own_state(silero):
    speech = load_audio(SPEECH[0]).resample(16000).samples
    noise = white_noise(3.0).samples
    frames = [speech[i : i + FRAME_SAMPLES] for i in range(0, len(speech) - FRAME_SAMPLES, FRAME_SAMPLES)]
    alone_stream = silero.stream()
    alone = [alone_stream.process(f) for f in frames]
    a, b = silero.stream(), silero.stream()
    interleaved = []
    for i, frame in enumerate(frames):  # b runs on noise between a's frames: a must not notice
        b.process(noise[i * FRAME_SAMPLES : (i + 1) * FRAME_SAMPLES])
        interleaved.append(a.process(frame))
    assert interleaved == pytest.approx(alone, abs=1e-6)


@pytest.mark.parametrize("name", ["silero", "energy"])
def test_a_stream_refuses_a_frame_of_the_wrong_size(name):
    stream = registry.create("vad", name).stream()
    with pytest.raises(AudioError, match="exactly 512 samples"):
        stream.process(np.zeros(480, dtype=np.float32))


def test_silero_matches_the_packages_own_onnx_wrapper(silero):
    """Our frame loop feeds the ONNX model exactly as silero's OnnxWrapper does."""
    import torch

    from emotionlayer.components.vad.silero import _import_silero

    wrapper = _import_silero()(onnx=True)
    samples = load_audio(SPEECH[1]).resample(16000).samples
    reference = wrapper.audio_forward(torch.from_numpy(samples.copy())[None], 16000).numpy().reshape(-1)
    np.testing.assert_allclose(
        silero.speech_probabilities(Audio(samples, 16000)),
        reference[: int(np.ceil(len(samples) / FRAME_SAMPLES))],
        atol=1e-5,
    )


def test_silero_runs_the_onnx_model_not_the_torchscript_pickle(silero):
    from emotionlayer.components.vad.silero import onnx_session

    session = onnx_session()
    assert type(session).__name__ == "InferenceSession"
    assert session._model_path.endswith(".onnx")


def test_importing_silero_leaves_torchs_thread_count_alone(monkeypatch):
    import torch

    from emotionlayer.components.vad.silero import _import_silero

    for name in [m for m in sys.modules if m == "silero_vad" or m.startswith("silero_vad.")]:
        monkeypatch.delitem(sys.modules, name)  # so the import (and its set_num_threads(1)) runs again
    before = torch.get_num_threads()
    torch.set_num_threads(3)
    try:
        _import_silero()
        assert "silero_vad.model" in sys.modules
        assert torch.get_num_threads() == 3
    finally:
        torch.set_num_threads(before)


def test_energy_vad_hears_sound_not_speech():
    vad = registry.create("vad", "energy")
    assert vad.speech_segments(tone(1.0)) == [(0.0, 1.0)]
    assert vad.speech_segments(Audio(np.zeros(16000, dtype=np.float32), 16000)) == []
    assert vad.speech_segments(white_noise(1.0))  # loud, so "speech": the energy VAD cannot tell
    quiet = Audio((0.001 * np.random.default_rng(0).standard_normal(16000)).astype(np.float32), 16000)
    assert vad.speech_segments(quiet) == []  # -60 dBFS hiss is under the -45 dBFS threshold
    speech = load_audio(SPEECH[0])
    assert vad.speech_segments(speech)


def test_energy_vad_resamples_and_finds_a_burst_between_silences():
    vad = registry.create("vad", "energy")
    samples = np.zeros(48000 * 2, dtype=np.float32)
    samples[48000 : 48000 + 24000] = tone(0.5, sample_rate=48000).samples
    segments = vad.speech_segments(Audio(samples, 48000))
    assert len(segments) == 1
    start, end = segments[0]
    assert start == pytest.approx(1.0, abs=0.07) and end == pytest.approx(1.5, abs=0.07)


def test_vad_parameters_are_checked():
    with pytest.raises(ConfigError, match="threshold"):
        registry.create("vad", "energy", threshold=1.5)
    with pytest.raises(ConfigError, match="min_speech_seconds"):
        registry.create("vad", "silero", min_speech_seconds=-1)
    with pytest.raises(ConfigError, match="does not take"):
        registry.create("vad", "silero", treshold=0.4)


def _frames(*runs):
    return np.concatenate([np.full(int(round(seconds / FRAME_SECONDS)), p) for p, seconds in runs])


def test_segments_need_enough_speech_and_enough_silence_to_split():
    # a 0.128 s blip is too short to be speech
    assert segments_from_probabilities(_frames((0.0, 1.0), (0.9, 0.128), (0.0, 1.0)), 2.128) == []
    # a 0.064 s dip inside speech does not split it; a 0.32 s silence does
    one = segments_from_probabilities(_frames((0.9, 0.64), (0.1, 0.064), (0.9, 0.64)), 1.344, pad_seconds=0.0)
    assert len(one) == 1
    two = segments_from_probabilities(_frames((0.9, 0.64), (0.1, 0.32), (0.9, 0.64)), 1.6, pad_seconds=0.0)
    assert len(two) == 2 and two[0] == pytest.approx((0.0, 0.64), abs=1e-3)


def test_segments_use_hysteresis_and_are_padded_and_clipped():
    # probabilities between the low (0.35) and high (0.5) thresholds keep speech going once it started
    kept = segments_from_probabilities(_frames((0.9, 0.32), (0.4, 0.64), (0.0, 0.32)), 1.28, pad_seconds=0.0)
    assert kept == [pytest.approx((0.0, 0.96), abs=1e-3)]
    padded = segments_from_probabilities(_frames((0.0, 0.32), (0.9, 0.64), (0.0, 0.32)), 1.28, pad_seconds=0.1)
    assert padded == [pytest.approx((0.22, 1.06), abs=1e-3)]
    clipped = segments_from_probabilities(_frames((0.9, 0.64)), 0.6, pad_seconds=0.1)
    assert clipped == [(0.0, 0.6)]
