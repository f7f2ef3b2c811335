"""The event bank: packaged clips and attribution, user folders, loudness and pitch matching."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest
import soundfile as sf

from emotionlayer.errors import ConfigError
from emotionlayer.paralinguistics.bank import DEFAULT_BANK_DIR, EVENT_LABELS, RELATIVE_LEVEL_DB, EventBank
from emotionlayer.paralinguistics.dataset import segment_events
from emotionlayer.paralinguistics.dsp import active_level_db
from emotionlayer.paralinguistics.synthesis import synthesize_event

SR = 16000


def _voice(seconds: float = 1.0, f0: float = 120.0, level: float = 0.3) -> np.ndarray:
    """A vowel-like harmonic tone with syllable-rate loudness changes (stand-in for speech)."""
    t = np.arange(int(seconds * SR)) / SR
    tone = sum(np.sin(2 * np.pi * f0 * k * t) / k for k in range(1, 12))
    return (level * tone / np.max(np.abs(tone)) * (0.6 + 0.4 * np.sin(2 * np.pi * 4 * t) ** 2)).astype(np.float32)


def test_packaged_bank_has_every_label_small_and_attributed() -> None:
    bank = EventBank()
    assert set(bank.labels) == set(EVENT_LABELS)
    total = sum(p.stat().st_size for p in DEFAULT_BANK_DIR.rglob("*") if p.is_file() and "detector" not in p.parts)
    assert total < 3_000_000
    notice = (DEFAULT_BANK_DIR / "NOTICE.md").read_text()
    assert "CC BY 4.0" in notice and "Coswara" in notice and "Interspeech 2020" in notice
    provenance = json.loads((DEFAULT_BANK_DIR / "provenance.json").read_text())
    files = {item["file"] for item in provenance}
    for label in ("breath", "cough"):
        clips = bank.clips(label)
        assert len(clips) >= 10 and not any(c.synthetic for c in clips)
        for clip in clips:
            assert f"{label}/{clip.path.split('/')[-1]}" in files
    for item in provenance:
        assert item["licence"] == "CC-BY-4.0" and item["source_commit"] and item["source_path"]
    for label in ("laugh", "sigh", "gasp", "throat_clearing", "tsk"):
        assert all(c.synthetic and c.f0 for c in bank.clips(label))


def test_packaged_real_clips_are_16k_mono_single_events() -> None:
    for clip in EventBank().clips("cough")[:5]:
        samples, rate = sf.read(clip.path)
        assert rate == SR and samples.ndim == 1
        assert 0.1 < len(samples) / rate <= 2.7
        assert np.max(np.abs(samples)) > 0.5  # peak-normalised, not silent


def test_render_matches_the_loudness_of_the_speech_around_it() -> None:
    bank = EventBank(seed=0)
    for level in (0.05, 0.4):
        speech = _voice(level=level)
        speech_db = active_level_db(speech, SR)
        for label in ("cough", "breath", "laugh", "tsk"):
            clip = bank.render(label, speech, SR)
            error = active_level_db(clip, SR) - (speech_db + RELATIVE_LEVEL_DB[label])
            if np.max(np.abs(clip)) < 0.949:
                assert abs(error) < 1.0
            else:  # a peaky cough next to loud speech is limited rather than clipped
                assert -10.0 < error < 0.0
            assert np.max(np.abs(clip)) <= 0.9501


def test_render_without_context_uses_a_default_level_and_any_rate() -> None:
    clip = EventBank(seed=1).render("sigh", None, 22050)
    assert -35 < active_level_db(clip, 22050) < -20
    assert len(clip) > 0.5 * 22050


def test_voiced_synthetic_events_are_chosen_near_the_speakers_pitch() -> None:
    bank = EventBank(seed=0)
    rng = np.random.default_rng(0)
    low = [bank.choose("laugh", 95.0, rng).f0 for _ in range(20)]
    high = [bank.choose("laugh", 210.0, rng).f0 for _ in range(20)]
    assert max(low) < min(high)
    assert all(abs(12 * np.log2(f / 95.0)) <= 3.0 for f in low)


def test_user_folder_overrides_or_extends_a_label(tmp_path) -> None:
    (tmp_path / "laugh").mkdir()
    sf.write(tmp_path / "laugh" / "mine.wav", synthesize_event("laugh", seed=42), SR)
    override = EventBank(tmp_path)
    assert [c.path.split("/")[-1] for c in override.clips("laugh")] == ["mine.wav"]
    assert override.clips("laugh")[0].source == str(tmp_path)
    assert len(override.clips("cough")) == len(EventBank().clips("cough"))  # other labels untouched
    extend = EventBank(tmp_path, mode="extend")
    assert len(extend.clips("laugh")) == len(EventBank().clips("laugh")) + 1
    only = EventBank(tmp_path, include_packaged=False)
    assert only.labels == ("laugh",)


def test_user_folder_with_a_new_label_and_renderer(tmp_path) -> None:
    (tmp_path / "hum").mkdir()
    sf.write(tmp_path / "hum" / "hm.flac", _voice(0.5, 150.0), SR)
    bank = EventBank([tmp_path])
    render = bank.renderer(seed=0)
    assert render("hum", _voice(), SR) is not None
    assert render("yawn", _voice(), SR) is None  # unknown label: the TTS drops the tag


def test_bank_errors_say_how_to_fix(tmp_path) -> None:
    with pytest.raises(ConfigError, match="does not exist"):
        EventBank(tmp_path / "nope")
    with pytest.raises(ConfigError, match="sub-folders named by label"):
        EventBank(tmp_path)
    shutil.copy(next((DEFAULT_BANK_DIR / "tsk").glob("*.flac")), tmp_path / "loose.flac")
    with pytest.raises(ConfigError, match=f"e.g. {tmp_path}/laugh/"):  # a loose clip is not in a label folder
        EventBank(tmp_path)
    with pytest.raises(ConfigError, match="has no 'yawn' clips"):
        EventBank().choose("yawn")
    with pytest.raises(ConfigError, match="override"):
        EventBank(mode="replace")


def test_segment_events_finds_each_burst() -> None:
    rng = np.random.default_rng(0)
    x = rng.standard_normal(3 * SR).astype(np.float32) * 1e-3
    for start in (0.3, 1.2, 2.2):
        a = int(start * SR)
        x[a : a + int(0.4 * SR)] += rng.standard_normal(int(0.4 * SR)).astype(np.float32) * 0.3
    spans = segment_events(x, SR, pad=0.0)
    assert len(spans) == 3
    for (a, b), start in zip(spans, (0.3, 1.2, 2.2), strict=False):
        assert abs(a / SR - start) < 0.03 and abs((b - a) / SR - 0.4) < 0.05
