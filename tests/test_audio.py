import numpy as np
import pytest
import soundfile as sf

from emotionlayer.audio import load_audio, save_audio
from emotionlayer.errors import AudioError
from emotionlayer.testing import tone


def write(path, samples, rate, **kw):
    sf.write(str(path), samples, rate, **kw)
    return path


def put(path, data: bytes):
    path.write_bytes(data)
    return path


@pytest.mark.parametrize("fmt", ["wav", "flac", "ogg", "mp3"])
def test_loads_common_formats(tmp_path, fmt):
    samples = tone(1.0, 16000).samples
    subtype = {"ogg": "VORBIS", "mp3": "MPEG_LAYER_III"}.get(fmt)
    path = (
        write(tmp_path / f"a.{fmt}", samples, 16000, subtype=subtype)
        if subtype
        else write(tmp_path / f"a.{fmt}", samples, 16000)
    )
    audio = load_audio(path)
    assert audio.sample_rate == 16000
    assert abs(audio.duration - 1.0) < 0.1
    assert audio.path == str(path)


def test_stereo_is_mixed_down_and_8khz_resampled(tmp_path):
    left = tone(1.0, 8000, 300).samples
    stereo = np.stack([left, 0.5 * left], axis=1)
    path = write(tmp_path / "stereo8k.wav", stereo, 8000)
    audio = load_audio(path, sample_rate=16000)
    assert audio.samples.ndim == 1
    assert audio.sample_rate == 16000
    assert len(audio.samples) == pytest.approx(16000, abs=10)
    np.testing.assert_allclose(load_audio(path).samples, 0.75 * left, atol=1e-3)


def test_bytes_and_arrays(tmp_path):
    path = write(tmp_path / "a.wav", tone(0.5).samples, 16000)
    from_bytes = load_audio(path.read_bytes())
    assert from_bytes.duration == pytest.approx(0.5, abs=0.01)
    pcm = (tone(0.5).samples * 32767).astype(np.int16)
    assert load_audio(pcm, source_rate=16000).samples.max() == pytest.approx(0.3, abs=0.01)
    with pytest.raises(AudioError, match="sample rate"):
        load_audio(pcm)


@pytest.mark.parametrize(
    "make, message",
    [
        (lambda d: d / "missing.wav", "No such audio file"),
        (lambda d: put(d / "empty.wav", b""), "empty"),
        (lambda d: put(d / "text.wav", b"this is not audio at all" * 10), "Could not read"),
        (lambda d: write(d / "silent.wav", np.zeros(16000, dtype=np.float32), 16000), "silent"),
        (lambda d: write(d / "zero.wav", np.zeros(0, dtype=np.float32), 16000), "no audio samples"),
        (lambda d: d, "folder"),
    ],
)
def test_bad_files_raise_clear_errors(tmp_path, make, message):
    with pytest.raises(AudioError, match=message):
        load_audio(make(tmp_path))


def test_nan_and_inf_are_refused():
    samples = tone(1.0).samples.copy()
    samples[100] = np.nan
    samples[200] = np.inf
    with pytest.raises(AudioError, match="2 NaN or infinite"):
        load_audio(samples, source_rate=16000)


def test_long_file_refused_before_decoding(tmp_path):
    # 10 minutes at 8 kHz: refused from the header, with the limit stated.
    path = tmp_path / "long.wav"
    with sf.SoundFile(str(path), "w", samplerate=8000, channels=1, subtype="PCM_16") as f:
        block = (tone(10.0, 8000).samples * 0.5).astype(np.float32)
        for _ in range(60):
            f.write(block)
    with pytest.raises(AudioError, match="600.0 s long; the limit is 120 s"):
        load_audio(path)
    assert load_audio(path, max_seconds=None, check=False).duration == pytest.approx(600.0)


def test_save_audio_is_atomic_and_readable(tmp_path):
    target = tmp_path / "sub" / "out.wav"
    save_audio(tone(0.3), target)
    assert target.exists() and not list(target.parent.glob(".*.part"))
    assert load_audio(target).duration == pytest.approx(0.3, abs=0.01)
