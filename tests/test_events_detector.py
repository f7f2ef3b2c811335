"""The packaged event detector: registered, finds events where they are, quiet on noise."""

from __future__ import annotations

import numpy as np
import pytest

from emotionlayer import registry
from emotionlayer.components.base import EventDetector
from emotionlayer.paralinguistics.bank import EventBank
from emotionlayer.paralinguistics.detection.train import background_recording, isolated_recording
from emotionlayer.paralinguistics.insertion import synthesize_with_events
from emotionlayer.types import Audio, VocalEvent

SR = 16000


@pytest.fixture(scope="module")
def detector():
    det = registry.create("events", "default")
    det.warmup()
    return det


def _overlap(a: VocalEvent, start: float, end: float) -> float:
    return max(0.0, min(a.end, end) - max(a.start, start))


def test_default_backend_is_registered_usable_and_a_protocol_detector(detector) -> None:
    assert "default" in registry.available("events")
    info = {c.name: c for c in registry.describe("events")}["default"]
    assert info.usable, info.reason
    assert isinstance(detector, EventDetector)
    assert {"laugh", "sigh", "gasp", "throat_clearing", "tsk", "cough", "breath", "pause"} <= set(detector.labels)
    assert detector.name


@pytest.mark.parametrize("label", ["cough", "laugh", "breath"])
def test_finds_isolated_events_where_they_are(detector, label: str) -> None:
    rng = np.random.default_rng(11)
    samples, truth = isolated_recording(EventBank(seed=3), label, rng, SR)
    samples = samples + rng.standard_normal(len(samples)).astype(np.float32) * 3e-4
    audio = Audio(samples, SR)
    events = detector.detect(audio)
    found = [e for e in events if e.label == label]
    assert found, f"no {label} found; got {events}"
    hit = sum(any(_overlap(e, t.start, t.end) > 0 for e in found) for t in truth)
    assert hit >= len(truth) - 1
    for event in events:
        assert 0.0 <= event.start < event.end <= audio.duration + 1e-6
        assert 0.5 <= event.confidence <= 1.0
    assert [e.start for e in events] == sorted(e.start for e in events)
    predicted, shares = detector.classify(audio)
    assert predicted == label
    assert abs(sum(shares.values()) - 1.0) < 1e-6


def test_background_noise_alone_is_not_an_event(detector) -> None:
    rng = np.random.default_rng(5)
    for _ in range(3):
        noise = background_recording(rng, SR)
        events = [e for e in detector.detect(Audio(noise, SR)) if e.label != "pause"]
        assert sum(e.end - e.start for e in events) < 0.5, events


def test_finds_a_cough_in_paralinguistic_speech_where_the_manifest_says(detector) -> None:
    tts = registry.create("tts", "piper")
    audio, truth = synthesize_with_events(
        "I honestly did not expect that [cough] to happen today.", tts, EventBank(seed=2)
    )
    cough = truth[0]
    events = detector.detect(audio)
    coughs = [e for e in events if e.label == "cough"]
    assert any(_overlap(e, cough.start, cough.end) > 0.5 * (cough.end - cough.start) for e in coughs), events
    # speech is not reported as events: most of the utterance is free of them
    assert sum(e.end - e.start for e in events if e.label != "pause") < 0.5 * audio.duration


def test_accepts_any_sample_rate_and_short_clips(detector) -> None:
    short = Audio(np.random.default_rng(0).standard_normal(1600).astype(np.float32) * 0.01, 8000)
    assert isinstance(detector.detect(short), list)
    event = VocalEvent("cough", 0.1, 0.5, 0.9)
    assert event.to_dict() == {"label": "cough", "start": 0.1, "end": 0.5, "confidence": 0.9}
