"""The voice-conversion component kind (``vc``): the default converter measured on packaged bank clips against
two real voices (the piper voice of the example clips, a Mandarin speaker), and the converters a user supplies."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from emotionlayer import registry
from emotionlayer.audio import load_audio
from emotionlayer.components.vc import VoiceConverter, envelope_distance, spectral_envelope, voiced_f0
from emotionlayer.errors import ConfigError, ModelNotFoundError
from emotionlayer.paralinguistics.bank import RELATIVE_LEVEL_DB, EventBank
from emotionlayer.paralinguistics.dsp import active_level_db
from emotionlayer.types import Audio

ROOT = Path(__file__).resolve().parents[1]
SPEAKERS = {
    "low": ROOT / "examples" / "audio" / "neutral_phone.wav",  # piper en_US-joe, about 90 Hz
    "high": ROOT / "tests" / "data" / "zh_this_is_me.flac",  # a Mandarin speaker, about 240 Hz
}


def semitones(a: float, b: float) -> float:
    return abs(12.0 * np.log2(a / b))


@pytest.fixture(scope="module")
def bank():
    return EventBank()


@pytest.fixture(scope="module")
def speech():
    return {name: load_audio(path, 16000) for name, path in SPEAKERS.items()}


def clip(bank, label: str, index: int) -> Audio:
    return load_audio(bank.clips(label)[index].path, 16000, check=False)


def test_vc_is_a_registry_kind_with_three_backends():
    assert "vc" in registry.KINDS
    assert {"default", "torchscript", "callable"} <= set(registry.available("vc"))
    assert registry.unusable_reason("vc", "default") is None
    assert isinstance(registry.create("vc", "default"), VoiceConverter)
    with pytest.raises(ConfigError, match="max_gain_db"):
        registry.create("vc", "default", max_gain_db=-1)


def pyin_f0(samples: np.ndarray, fmax: float = 800.0) -> float:
    """Median pitch of the voiced frames by probabilistic YIN (librosa): a measure the converter does not use."""
    import librosa

    f0, voiced, _ = librosa.pyin(samples, fmin=60.0, fmax=fmax, sr=16000, frame_length=1024)
    assert voiced.any()
    return float(np.median(f0[voiced]))


@pytest.mark.parametrize(("speaker", "index"), [("low", 1), ("low", 3), ("low", 6), ("high", 0), ("high", 1)])
def test_a_laugh_moves_toward_the_speakers_pitch(bank, speech, speaker, index):
    event, reference = clip(bank, "laugh", index), speech[speaker]
    voice, before = pyin_f0(reference.samples, 400.0), pyin_f0(event.samples)
    pitch_only = registry.create("vc", "default", match_envelope=False, match_level=False)
    after = pyin_f0(pitch_only.convert(event, reference, "laugh").samples)
    # closer to the voice by at least a semitone, by the shift the converter meant (within +-8 semitones)
    assert semitones(after, voice) <= semitones(before, voice) - 1.0
    assert abs(12.0 * np.log2(after / before) - pitch_only.last.shift_semitones) <= 0.7
    assert 1.0 <= abs(pitch_only.last.shift_semitones) <= 8.0 + 1e-9
    # the whole conversion (envelope and level too) keeps the new pitch, by the converter's own measure
    full = registry.create("vc", "default")
    converted = full.convert(event, reference, "laugh")
    assert semitones(voiced_f0(converted.samples, 16000)[0], voice) <= semitones(before, voice) - 1.0


def test_a_laugh_made_for_this_voice_keeps_its_pitch(bank, speech):
    # bank laugh 0 was synthesised for a 90 Hz voice, and the piper voice is at about 90 Hz
    vc = registry.create("vc", "default", match_envelope=False, match_level=False)
    event = clip(bank, "laugh", 0)
    out = vc.convert(event, speech["low"], "laugh")
    assert abs(vc.last.shift_semitones) < 0.5
    assert semitones(pyin_f0(out.samples), pyin_f0(event.samples)) < 0.5


@pytest.mark.parametrize("speaker", ["low", "high"])
@pytest.mark.parametrize(("label", "index"), [("laugh", 2), ("sigh", 1), ("cough", 0), ("breath", 3), ("gasp", 5)])
def test_the_long_term_envelope_moves_toward_the_speakers(bank, speech, speaker, label, index):
    vc = registry.create("vc", "default")
    event, reference = clip(bank, label, index), speech[speaker]
    target = spectral_envelope(reference.samples, 16000, frames="voiced")
    out = vc.convert(event, reference, label)
    before = envelope_distance(spectral_envelope(event.samples, 16000, frames="active"), target, 16000)
    after = envelope_distance(spectral_envelope(out.samples, 16000, frames="active"), target, 16000)
    assert after < before - 0.5, (before, after)


def test_a_clip_recorded_at_a_lower_rate_keeps_its_top_band_when_shifted_down(bank, speech):
    # a 16 kHz bank clip against a 22.05 kHz voice: shifting it down must not leave a hole under 8 kHz
    reference = speech["low"].resample(22050)
    event = clip(bank, "laugh", 3).resample(22050)
    vc = registry.create("vc", "default")
    out = vc.convert(event, reference, "laugh")
    assert vc.last.shift_semitones < -4.0
    target = spectral_envelope(reference.samples, 22050, frames="voiced")
    before = envelope_distance(spectral_envelope(event.samples, 22050, frames="active"), target, 22050)
    after = envelope_distance(spectral_envelope(out.samples, 22050, frames="active"), target, 22050)
    assert after < before - 1.0, (before, after)


@pytest.mark.parametrize("speaker", ["low", "high"])
def test_the_level_sits_at_the_labels_offset_without_clipping(bank, speech, speaker):
    vc = registry.create("vc", "default")
    reference = speech[speaker]
    voice_level = active_level_db(reference.samples, 16000)
    checked = 0
    for label in ("laugh", "sigh", "gasp", "throat_clearing", "tsk", "cough", "breath"):
        for index in (0, 3):
            out = vc.convert(clip(bank, label, index), reference, label)
            peak = float(np.max(np.abs(out.samples)))
            assert peak <= 0.95 + 1e-6
            if peak < 0.949:  # not turned down by the peak limit
                difference = active_level_db(out.samples, 16000) - voice_level
                assert abs(difference - RELATIVE_LEVEL_DB[label]) <= 1.0, (label, index, difference)
                checked += 1
    assert checked >= 10


def test_a_loud_voice_never_makes_the_event_clip(bank, speech):
    loud = speech["high"].samples / float(np.max(np.abs(speech["high"].samples)))
    vc = registry.create("vc", "default")
    peaks = []
    for label in ("cough", "laugh", "throat_clearing", "tsk"):
        for index in (1, 2):
            out = vc.convert(clip(bank, label, index), Audio(loud, 16000), label)
            peaks.append(float(np.max(np.abs(out.samples))))
    assert max(peaks) <= 0.95 + 1e-6
    assert sum(p >= 0.949 for p in peaks) >= 2, peaks  # some were turned down to the limit, not clipped


def test_the_clip_starts_and_ends_at_zero(bank, speech):
    out = registry.create("vc", "default").convert(clip(bank, "cough", 1), speech["low"], "cough")
    assert abs(float(np.mean(out.samples))) < 1e-4
    assert abs(float(out.samples[0])) < 1e-4 and abs(float(out.samples[-1])) < 1e-4


@pytest.mark.parametrize(("label", "index"), [("tsk", 0), ("tsk", 4), ("gasp", 2)])
def test_unvoiced_events_are_not_pitch_shifted(bank, speech, label, index):
    vc = registry.create("vc", "default", match_envelope=False, match_level=False)
    event = clip(bank, label, index)
    out = vc.convert(event, speech["high"], label)
    assert vc.last.shift_semitones == 0.0
    inner = slice(100, -100)  # the converter fades the first and last 5 ms and removes any DC offset
    np.testing.assert_allclose(out.samples[inner], (event.samples - event.samples.mean())[inner], atol=1e-5)
    # the same settings do move a laugh (so the comparison above can fail)
    laugh = clip(bank, "laugh", 1)
    moved = vc.convert(laugh, speech["high"], "laugh")
    assert vc.last.shift_semitones > 1.0 and not np.allclose(moved.samples, laugh.samples, atol=1e-3)


def test_unlabelled_events_are_judged_by_their_voicing(bank, speech):
    vc = registry.create("vc", "default", match_envelope=False, match_level=False)
    vc.convert(clip(bank, "tsk", 1), speech["high"])
    assert vc.last.shift_semitones == 0.0 and vc.last.event_f0 is None
    vc.convert(clip(bank, "laugh", 1), speech["high"])
    assert vc.last.shift_semitones > 1.0


def test_the_output_is_at_the_references_rate(bank, speech):
    reference = speech["high"].resample(22050)
    event = clip(bank, "laugh", 2)
    out = registry.create("vc", "default").convert(event, reference, "laugh")
    assert out.sample_rate == 22050
    assert abs(out.duration - event.duration) < 0.02
    assert np.all(np.isfinite(out.samples))


def test_a_silent_event_is_refused(speech):
    with pytest.raises(ConfigError, match="silent"):
        registry.create("vc", "default").convert(Audio(np.zeros(1600, np.float32), 16000), speech["low"], "laugh")


def test_a_torchscript_converter(tmp_path, bank, speech):
    torch = pytest.importorskip("torch")

    class Halve(torch.nn.Module):
        def forward(self, event: torch.Tensor, reference: torch.Tensor, sample_rate: int) -> torch.Tensor:
            return torch.flip(event, [0]) * 0.5 + 0.0 * reference.mean() + 0.0 * float(sample_rate)

    path = tmp_path / "halve.pt"
    torch.jit.script(Halve()).save(str(path))
    event, reference = clip(bank, "laugh", 1), speech["low"]

    plain = registry.create("vc", "torchscript", path=str(path), match_level=False)
    out = plain.convert(event, reference, "laugh")
    assert isinstance(plain, VoiceConverter) and out.sample_rate == 16000
    np.testing.assert_allclose(out.samples, event.samples[::-1] * 0.5, atol=1e-6)

    levelled = registry.create("vc", "torchscript", path=str(path)).convert(event, reference, "sigh")
    difference = active_level_db(levelled.samples, 16000) - active_level_db(reference.samples, 16000)
    assert abs(difference - RELATIVE_LEVEL_DB["sigh"]) <= 1.0

    with pytest.raises(ModelNotFoundError, match="not found"):
        registry.create("vc", "torchscript", path=str(tmp_path / "missing.pt"))


def test_a_python_function_converter(tmp_path, monkeypatch, bank, speech):
    (tmp_path / "my_vc.py").write_text(
        "import numpy as np\n"
        "def louder(event, reference, sample_rate):\n"
        "    return np.asarray(event) * 2.0\n"
        "def flat(event, reference, sample_rate):\n"
        "    return np.stack([event, event])\n",
        encoding="utf-8",
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    event, reference = clip(bank, "cough", 2), speech["low"].resample(22050)

    out = registry.create("vc", "callable", function="my_vc:louder", match_level=False).convert(event, reference)
    expected = event.resample(22050).samples * 2.0
    expected = expected * min(1.0, 0.95 / float(np.max(np.abs(expected))))
    assert out.sample_rate == 22050
    np.testing.assert_allclose(out.samples, expected, atol=1e-5)

    with pytest.raises(ConfigError, match="1-D"):
        registry.create("vc", "callable", function="my_vc:flat").convert(event, reference)
    with pytest.raises(ConfigError, match="has no"):
        registry.create("vc", "callable", function="my_vc:missing")
    with pytest.raises(ConfigError, match="package.module:function"):
        registry.create("vc", "callable", function="my_vc")
