"""The plan of a generated dataset: voices, rows, speaking styles and splits (nothing is generated)."""

from __future__ import annotations

from collections import Counter, defaultdict

import numpy as np
import pytest

from emotionlayer.data.generation import VoiceSpec, load_seeds, plan_rows, split_for
from emotionlayer.errors import ConfigError

VOICES = ["dummy", "dummy:pitch=3,name=dummy-high", "dummy:rate=1.3,name=dummy-fast"]


@pytest.fixture(scope="module")
def seeds():
    return load_seeds(language="en")


@pytest.fixture(scope="module")
def voices():
    return [VoiceSpec.parse(v) for v in VOICES]


def test_voice_spec_round_trip_and_errors():
    spec = VoiceSpec.parse("espeak-ng:voice=en-gb+f3,pitch=-2,rate=1.1,gap=3")
    assert spec.tts == "espeak-ng" and spec.params == {"voice": "en-gb+f3", "gap": 3}
    assert (spec.name, spec.pitch_offset, spec.rate_factor) == ("espeak-ng/en-gb+f3", -2.0, 1.1)
    assert VoiceSpec.parse(spec.to_string()) == spec
    assert VoiceSpec.parse("piper").name == "piper"
    with pytest.raises(ConfigError, match="KEY=VALUE"):
        VoiceSpec.parse("piper:fast")


def test_plan_is_deterministic_and_row_ids_are_stable(seeds, voices):
    a = plan_rows(seeds, voices, per_utterance=3, seed=7)
    b = plan_rows(seeds, voices, per_utterance=3, seed=7)
    c = plan_rows(seeds, voices, per_utterance=3, seed=8)
    assert a == b
    assert [r.id for r in a] != [r.id for r in c]  # another order ...
    assert {r.id for r in a} == {r.id for r in c}  # ... of the same rows
    assert [r.style for r in a] != [r.style for r in sorted(c, key=lambda r: [x.id for x in a].index(r.id))]
    assert len(a) == 3 * len(seeds)
    by_seed = defaultdict(list)
    for row in a:
        by_seed[row.seed_id].append(row)
    for utterance in seeds:
        rows = by_seed[utterance.id]
        assert sorted(r.id for r in rows) == [f"{utterance.id}-{k}" for k in range(3)]
        assert all(r.emotion in utterance.emotions and r.text == utterance.text for r in rows)
        # different emotions and voices within an utterance while there are enough
        assert len({r.emotion for r in rows}) == min(3, len(utterance.emotions))
        assert len({r.voice for r in rows}) == 3
    # the first rows cover many utterances: a limit gives a varied subset
    assert len({r.seed_id for r in a[:30]}) >= 25


def test_styles_follow_the_emotion_and_the_voice(seeds, voices):
    from emotionlayer.components.tts.styles import acted_style

    rows = plan_rows(seeds, voices, per_utterance=3, seed=0)
    for row in rows:
        base = acted_style(row.emotion)
        voice = voices[row.voice]
        assert row.style.emotion == row.emotion
        assert abs(row.style.pitch_semitones - (base.pitch_semitones + voice.pitch_offset)) <= 1.0 + 1e-6
        assert abs(row.style.rate / (base.rate * voice.rate_factor) - 1.0) <= 0.08 + 1e-3
    pitch = {v.name: np.mean([r.style.pitch_semitones for r in rows if r.voice_name == v.name]) for v in voices}
    assert pitch["dummy-high"] - pitch["dummy"] > 2.0
    # the utterance is *acted* in its emotion: sad rows slower, lower and quieter than angry ones
    mean = {
        e: np.mean([[r.style.rate, r.style.pitch_semitones, r.style.volume] for r in rows if r.emotion == e], axis=0)
        for e in ("sad", "angry")
    }
    assert (mean["sad"] < mean["angry"]).all(), mean


def test_splits_keep_each_text_in_one_split(seeds, voices):
    rows = plan_rows(seeds, voices, per_utterance=4, seed=1)
    splits_of_text = defaultdict(set)
    for row in rows:
        splits_of_text[row.text].add(row.split)
    assert all(len(s) == 1 for s in splits_of_text.values())
    share = Counter(split_for(s.id) for s in seeds)
    assert abs(share["train"] / len(seeds) - 0.8) < 0.07
    assert share["dev"] > 10 and share["test"] > 10
    # a seed's split does not depend on the run's seed
    assert {r.seed_id: r.split for r in rows} == {r.seed_id: r.split for r in plan_rows(seeds, voices, 2, seed=99)}


def test_holdout_voices_only_speak_the_test_split(seeds, voices):
    rows = plan_rows(seeds, voices, per_utterance=2, seed=0, holdout_voices=["dummy-high"])
    assert {r.split for r in rows if r.voice_name == "dummy-high"} == {"test"}
    assert {r.voice_name for r in rows if r.split == "test"} == {"dummy-high"}
    assert "dummy-high" not in {r.voice_name for r in rows if r.split != "test"}
    with pytest.raises(ConfigError, match="not among the voices"):
        plan_rows(seeds, voices, holdout_voices=["nobody"])
    with pytest.raises(ConfigError, match="Every voice"):
        plan_rows(seeds, voices, holdout_voices=[v.name for v in voices])
    with pytest.raises(ConfigError, match="unique"):
        plan_rows(seeds, [voices[0], voices[0]])
