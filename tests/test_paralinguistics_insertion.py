"""Tagged text becomes speech with the events exactly where the returned events (and manifest) say."""

from __future__ import annotations

import json

import numpy as np
import pytest
import soundfile as sf

from emotionlayer.audio import load_audio
from emotionlayer.errors import ConfigError
from emotionlayer.paralinguistics.bank import EventBank, _read_clip
from emotionlayer.paralinguistics.dataset import build_dataset
from emotionlayer.paralinguistics.insertion import event_renderer, synthesize_with_events
from emotionlayer.paralinguistics.synthesis import synthesize_event
from emotionlayer.testing import DummyTTS

SR = 16000


@pytest.fixture()
def one_clip_bank(tmp_path):
    """A user bank with exactly one clip per label, so the inserted audio is known."""
    for label, seed in (("cough", 1), ("laugh", 2), ("sigh", 3)):
        (tmp_path / label).mkdir()
        recipe = "gasp" if label == "cough" else label
        sf.write(tmp_path / label / f"{label}.wav", synthesize_event(recipe, seed=seed), SR)
    return EventBank(tmp_path, include_packaged=False)


def _same_shape(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.dot(a, b) / (np.linalg.norm(a) * np.linalg.norm(b) + 1e-12))


def test_events_are_inserted_exactly_where_reported(one_clip_bank) -> None:
    tts = DummyTTS(SR)
    audio, events = synthesize_with_events(
        "Hello there [cough] how are you [pause 0.3s] fine [laugh]", tts, one_clip_bank
    )
    assert [e.label for e in events] == ["cough", "pause", "laugh"]
    assert [t for t, _ in tts.calls] == ["Hello there", "how are you", "fine"]  # the tags are never spoken
    for event in events:
        a, b = round(event.start * SR), round(event.end * SR)
        segment = audio.samples[a:b]
        if event.label == "pause":
            assert abs(event.end - event.start - 0.3) < 1e-6 and not segment.any()
            continue
        clip = _read_clip(one_clip_bank.clips(event.label)[0].path, SR)
        assert len(segment) == len(clip)
        assert _same_shape(segment, clip) > 0.9999  # the very clip, only scaled
        gap = int(0.07 * SR)
        assert not audio.samples[a - gap : a].any()  # silence right before and after the event
        assert not audio.samples[b : b + gap].any()
    assert events[-1].end < audio.duration
    assert events[0].start > 0.2 and all(e1.end <= e2.start for e1, e2 in zip(events, events[1:], strict=False))


def test_the_event_takes_the_loudness_of_the_speech_next_to_it(one_clip_bank) -> None:
    from emotionlayer.types import SpeakingStyle

    quiet, _ = synthesize_with_events(
        "Hello there [laugh]", DummyTTS(SR), one_clip_bank, style=SpeakingStyle(volume=0.1)
    )
    loud, events = synthesize_with_events(
        "Hello there [laugh]", DummyTTS(SR), one_clip_bank, style=SpeakingStyle(volume=0.3)
    )
    a, b = round(events[0].start * SR), round(events[0].end * SR)
    ratio = np.sqrt(np.mean(np.square(loud.samples[a:b]))) / np.sqrt(np.mean(np.square(quiet.samples[a:b])))
    assert 2.8 < ratio < 3.2  # speech 3x louder (0.09 vs 0.03 amplitude) -> the laugh 3x louder too


def test_leading_tag_only_tags_and_unknown_directions(one_clip_bank) -> None:
    audio, events = synthesize_with_events("[sigh] okay then", DummyTTS(SR), one_clip_bank)
    assert events[0].label == "sigh" and events[0].start < 0.05
    audio, events = synthesize_with_events("[laugh]", DummyTTS(SR), one_clip_bank)
    assert [e.label for e in events] == ["laugh"] and audio.duration > events[0].end
    audio, events = synthesize_with_events("Well [smiles] sure", DummyTTS(SR), one_clip_bank)
    assert events == []
    with pytest.raises(ConfigError, match="no 'gasp' clips"):
        synthesize_with_events("Oh [gasp] no", DummyTTS(SR), one_clip_bank)


def test_build_dataset_writes_audio_and_a_manifest_that_agree(tmp_path) -> None:
    manifest = build_dataset(tmp_path / "ds", DummyTTS(SR), EventBank(seed=0), count=4, seed=3)
    lines = [json.loads(line) for line in manifest.read_text().splitlines()]
    assert len(lines) == 4
    for record in lines:
        audio = load_audio(tmp_path / "ds" / record["path"], max_seconds=None)
        assert abs(audio.duration - record["duration"]) < 1e-3
        assert 1 <= len(record["events"]) <= 2 and record["label"] == record["events"][0]["label"]
        assert record["text"].count("[") == len(record["events"])
        for event in record["events"]:
            a, b = event["start_sample"], event["end_sample"]
            assert abs(a / SR - event["start"]) < 1e-4 and abs(b / SR - event["end"]) < 1e-4
            level = np.sqrt(np.mean(np.square(audio.samples[a:b])))
            assert level > 1e-3  # the event is audible where the manifest says
            assert not audio.samples[a - 400 : a - 10].any()  # and silent just before it
    again = build_dataset(tmp_path / "ds2", DummyTTS(SR), EventBank(seed=0), count=4, seed=3)
    assert again.read_text() == manifest.read_text()  # same seed, same dataset


def test_piper_renders_tags_with_the_bank() -> None:
    from emotionlayer import registry

    plain = registry.create("tts", "piper")
    tagged = registry.create("tts", "piper", event_renderer=event_renderer(seed=0))
    without = plain.synthesize("Well that was fun.")
    dropped = plain.synthesize("Well [cough] that was fun.")
    with_cough = tagged.synthesize("Well [cough] that was fun.")
    assert abs(dropped.duration - without.duration) < 0.5
    assert with_cough.duration > dropped.duration + 0.2  # the cough is really in there


def test_piper_paralinguistic_speech_has_events_where_it_says() -> None:
    from emotionlayer import registry

    tts = registry.create("tts", "piper")
    audio, events = synthesize_with_events("I honestly [cough] did not expect that [laugh]", tts, EventBank(seed=0))
    assert audio.sample_rate == tts.sample_rate
    assert [e.label for e in events] == ["cough", "laugh"]
    sr = audio.sample_rate
    for event in events:
        inside = audio.samples[int(event.start * sr) : int(event.end * sr)]
        before = audio.samples[int((event.start - 0.07) * sr) : int(event.start * sr)]
        assert np.sqrt(np.mean(np.square(inside))) > 0.005
        assert not before.any()
