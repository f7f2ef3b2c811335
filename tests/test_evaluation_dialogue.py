"""The dialogue evaluator: frozen references, deterministic replies, figures with intervals, the reply cache,
workers and the report.

Most tests run toy systems (defined here, the dummy components and ``echo`` from emotionlayer.testing)
on tones, with a bag-of-words embedder standing in for the sentence-embedding models; the tests that
name the packaged embedding models or the default cascade run the real ones.
"""

from __future__ import annotations

import csv
import hashlib
import json
import time
from contextlib import ExitStack
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

import emotionlayer.testing  # noqa: F401  (registers the dummy backends and the echo system)
from emotionlayer.config import PipelineConfig
from emotionlayer.data.manifest import ManifestError
from emotionlayer.errors import ConfigError, UnknownComponentError
from emotionlayer.evaluation.dialogue import (
    Decoding,
    ReplyCache,
    check_references,
    evaluate_dialogue,
    select_rows,
    split_system_specs,
)
from emotionlayer.evaluation.dialogue_report import DialogueClip
from emotionlayer.evaluation.references import reference_replies, write_references
from emotionlayer.registry import registered
from emotionlayer.systems import Perceived, Perception, TurnFinished, as_utterance, turn_from_stream
from emotionlayer.testing import tone
from emotionlayer.types import EmotionPrediction, Response, Transcript, Turn

# The clips are tones: the energy VAD lets the speech gate take them as speech (silero rightly does not).
DUMMIES = {"ser": {"backend": "dummy", "params": {"label": "sad"}}, "asr": "dummy", "vad": "energy",
           "llm": {"backend": "dummy", "params": {"reply": None}}, "tts": "dummy"}  # fmt: skip
TEXTS = ("My phone won't turn on", "We have another meeting tonight")
#: Each emotion is "said" as a tone of its own pitch, so a system can hear it.
PITCH = {"neutral": 200.0, "happy": 300.0, "sad": 400.0, "angry": 500.0}
#: Very different replies per emotion, as a system that listens to the voice would give.
MOOD_REPLIES = {
    "neutral": "Sure, tell me more about it.",
    "happy": "That is wonderful news, congratulations!",
    "sad": "I am so sorry. I am here for you.",
    "angry": "Let us calm down and fix this together step by step.",
}
CALLS: dict[str, int] = {}
CRASH_AFTER: dict[str, int] = {}


def _dominant_pitch(samples: np.ndarray, rate: int) -> float:
    spectrum = np.abs(np.fft.rfft(samples))
    return float(np.fft.rfftfreq(len(samples), 1 / rate)[int(np.argmax(spectrum))])


class _ToySystem:
    """A system that hears the pitch of a tone; subclasses decide what to answer."""

    name = "toy"
    requires: tuple[str, ...] = ()
    extra = None

    def __init__(self, config: PipelineConfig) -> None:
        self.config = config

    @classmethod
    def from_config(cls, config=None):
        return cls(PipelineConfig.coerce(config))

    def answer(self, emotion: str) -> tuple[str, str]:
        raise NotImplementedError

    def stream(self, utterance, history=None):
        start = time.perf_counter()
        utt = as_utterance(utterance)
        CALLS[self.name] = CALLS.get(self.name, 0) + 1
        if self.name in CRASH_AFTER and CALLS[self.name] > CRASH_AFTER[self.name]:
            raise KeyboardInterrupt("killed")  # as if the process were killed mid-run
        pitch = _dominant_pitch(utt.audio.samples, utt.audio.sample_rate)
        heard = min(PITCH, key=lambda e: abs(PITCH[e] - pitch))
        reply, strategy = self.answer(heard)
        perception = Perception(Transcript(""), EmotionPrediction.certain(heard, model=self.name))
        yield Perceived(time.perf_counter() - start, perception=perception)
        turn = Turn(
            transcript=perception.transcript,
            emotion=perception.emotion,
            response=Response(reply, strategy=strategy),
            timings={"total": 0.01 + 0.001 * CALLS[self.name]},
            system=self.name,
        )
        yield TurnFinished(time.perf_counter() - start, turn=turn)

    def respond(self, utterance, history=None):
        return turn_from_stream(self.stream(utterance, history))


class MoodSystem(_ToySystem):
    """Answers how the user sounds: a different reply and the config's strategy per emotion."""

    name = "test-mood"

    def answer(self, emotion):
        return MOOD_REPLIES[emotion], self.config.strategy_for(emotion).name


class DeafSystem(_ToySystem):
    """Hears the emotion but ignores it: always the same reply (and makes no transcript)."""

    name = "test-deaf"

    def answer(self, emotion):
        return "Okay, I see. Tell me more.", ""


def bag_of_words(texts, language):
    """A stand-in sentence embedder: word counts hashed into 64 dimensions (identical text -> cosine 1)."""
    out = np.zeros((len(texts), 64))
    for i, text in enumerate(texts):
        for word in text.lower().replace(".", " ").replace(",", " ").replace("!", " ").split():
            out[i, int(hashlib.md5(word.encode()).hexdigest(), 16) % 64] += 1.0
        out[i, 63] += 1e-3  # an empty reply still has a direction
    return out


def write_manifest(folder: Path, rows: list[dict], name: str = "clips.csv") -> Path:
    fields = list(dict.fromkeys(k for row in rows for k in row))
    path = folder / name
    with open(path, "w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, fieldnames=fields)
        writer.writeheader()
        writer.writerows(rows)
    return path


@pytest.fixture()
def manifest(tmp_path) -> Path:
    """Two sentences x four emotions, plus a second take of 'sad' per sentence (10 clips)."""
    rows = []
    (tmp_path / "audio").mkdir()
    for t, text in enumerate(TEXTS):
        takes = [(e, 0) for e in PITCH] + [("sad", 1)]
        for emotion, take in takes:
            path = tmp_path / "audio" / f"s{t}_{emotion}_{take}.wav"
            sf.write(str(path), tone(1.0 + 0.1 * t + 0.05 * take, frequency=PITCH[emotion]).samples, 16000)
            rows.append({"path": f"audio/{path.name}", "text": text, "emotion": emotion, "language": "en",
                         "references": json.dumps([MOOD_REPLIES[emotion]])})  # fmt: skip
    return write_manifest(tmp_path, rows)


@pytest.fixture()
def bare_manifest(manifest, tmp_path) -> Path:
    """The same clips without references."""
    rows = list(csv.DictReader(open(manifest, encoding="utf-8")))
    for row in rows:
        del row["references"]
    return write_manifest(tmp_path, rows, "bare.csv")


@pytest.fixture(autouse=True)
def _toy_systems():
    """The toy systems are registered for each test only, with fresh call counters."""
    CALLS.clear()
    CRASH_AFTER.clear()
    with ExitStack() as stack:
        for system in (MoodSystem, DeafSystem, SeededSystem):
            stack.enter_context(registered("system", system.name, system))
        yield
    CALLS.clear()
    CRASH_AFTER.clear()


def evaluate(manifest, systems, **kwargs):
    kwargs.setdefault("config", DUMMIES)
    kwargs.setdefault("embedder", bag_of_words)
    return evaluate_dialogue(manifest, systems, **kwargs)


class SeededSystem(_ToySystem):
    """Decodes like a speech LLM: greedy at temperature 0, else one of several replies drawn with its seed."""

    name = "test-seeded"

    def __init__(self, config, temperature=0.0, seed=0):
        super().__init__(config)
        self.temperature, self.seed = temperature, seed

    @classmethod
    def from_config(cls, config=None, temperature=0.0, seed=0):
        return cls(PipelineConfig.coerce(config), temperature, seed)

    def answer(self, emotion):
        if self.temperature == 0:
            return MOOD_REPLIES[emotion], ""
        choices = [MOOD_REPLIES[emotion], "Okay, I see. Tell me more.", f"Hmm. {MOOD_REPLIES[emotion]}"]
        return choices[(self.seed * 7 + CALLS[self.name]) % 3], ""


def _figures(report):
    """Every figure of a report except the timings (a turn's seconds differ on every run)."""
    out = report.to_dict()
    for figures in out["systems"].values():
        for key in ("latency_median_s", "latency_p90_s"):
            figures.pop(key)
            figures["intervals"].pop(key, None)
            figures["run_intervals"].pop(key, None)
    return out


# -- the figures ------------------------------------------------------------------------------------
def test_a_voice_ignoring_system_scores_zero_sensitivity_and_a_listening_one_more(manifest):
    report = evaluate(manifest, ["test-deaf", "test-mood"])
    deaf, mood = report.systems["test-deaf"], report.systems["test-mood"]
    assert deaf.emotion_sensitivity == 0.0 and deaf.same_emotion_change == 0.0
    assert mood.emotion_sensitivity == 1.0  # every reply changes when only the emotion changes
    assert mood.same_emotion_change == 0.0  # and none when only the recording does
    assert deaf.pair_sim_same_emotion == deaf.pair_sim_different_emotion == pytest.approx(100.0)
    assert mood.pair_sim_same_emotion == pytest.approx(100.0) and mood.pair_sim_different_emotion < 50
    # the contrast: same-emotion pairs minus different-emotion pairs, 0 for the deaf system
    assert deaf.emotion_contrast == pytest.approx(0.0, abs=1e-6)
    assert mood.emotion_contrast == pytest.approx(
        mood.pair_sim_same_emotion - mood.pair_sim_different_emotion, abs=1e-3
    )
    low, high = mood.intervals["emotion_contrast"].low, mood.intervals["emotion_contrast"].high
    assert 0 < low <= mood.emotion_contrast <= high
    # references are written per emotion for the same words: the listening system picks its own emotion's
    assert mood.reference_discrimination == 1.0
    # one reply for everything is closest to one emotion's references only ("...tell me more": neutral's)
    assert deaf.reference_discrimination == pytest.approx(2 / 10)
    assert mood.reference_discrimination_chance == pytest.approx(0.25) and mood.discrimination_clips == 10
    # per sentence: 5 clips, 10 pairs, 1 of them the same emotion (the two sad takes)
    assert deaf.sensitivity_pairs == mood.sensitivity_pairs == 2 * 9
    assert mood.strategy_match == 1.0 and deaf.strategy_match is None  # deaf reports no strategy
    assert mood.emotion_accuracy == 1.0 and mood.emotion_ua == 1.0
    assert deaf.wer is None and deaf.cer is None  # it makes no transcript


def test_intervals_and_paired_differences(manifest):
    report = evaluate(manifest, ["test-deaf", "test-mood"])
    mood, deaf = report.systems["test-mood"], report.systems["test-deaf"]
    assert mood.sim == pytest.approx(100.0) and mood.bleu1 == 100.0  # it says exactly the references
    for figure in ("sim", "bleu1", "bleu4"):
        interval = deaf.intervals[figure]
        assert interval.low <= getattr(deaf, figure) <= interval.high and interval.low < interval.high
    differences = {(d.a, d.b, d.figure): d for d in report.pairwise}
    assert set(differences) == {("test-deaf", "test-mood", f) for f in ("sim", "bleu1", "bleu4")}
    sim = differences["test-deaf", "test-mood", "sim"]
    assert sim.difference == pytest.approx(deaf.sim - mood.sim, abs=1e-3) and sim.difference < 0
    assert sim.real and sim.interval.high < 0


def test_no_difference_between_two_copies_of_a_system_is_real(manifest):
    report = evaluate(manifest, ["test-mood", "test-seeded"])  # greedy: the same replies
    for d in report.pairwise:
        assert d.difference == 0.0 and not d.real


def test_multi_reference_bleu_and_the_best_matching_sim(manifest, tmp_path):
    rows = list(csv.DictReader(open(manifest, encoding="utf-8")))
    for row in rows:
        row["references"] = json.dumps(
            ["Something else entirely, about the weather.", {"text": MOOD_REPLIES[row["emotion"]]}]
        )
    many = write_manifest(tmp_path, rows, "many.csv")
    mood = evaluate(many, ["test-mood"]).systems["test-mood"]
    assert mood.bleu1 == 100.0 and mood.bleu4 == 100.0  # one of the references is the reply
    assert mood.sim == pytest.approx(100.0)  # SIM takes the best-matching reference
    assert mood.sim_mean_reference < 80  # the mean over references does not
    single = evaluate(manifest, ["test-deaf"]).systems["test-deaf"]
    assert evaluate(many, ["test-deaf"]).systems["test-deaf"].bleu1 >= single.bleu1  # more references, more matches


def test_the_cascade_is_scored_on_what_it_heard(manifest):
    report = evaluate(manifest, ["cascade"])
    cascade = report.systems["cascade"]
    assert cascade.emotion_accuracy == pytest.approx(4 / 10)  # the dummy SER always says sad
    assert cascade.emotion_ua == pytest.approx(0.25)  # recall 1 on sad, 0 on the three others
    assert cascade.wer is not None and 0 < cascade.wer < 1  # the dummy ASR is right on one sentence only
    assert cascade.emotion_sensitivity == 0.0  # it hears every clip as sad
    assert cascade.strategy_match == pytest.approx(4 / 10)
    assert cascade.latency_median_s is not None and cascade.latency_p90_s >= cascade.latency_median_s
    # the cascade was given the audio only: it answered what its ASR heard, not the manifest's text
    assert all("my phone won't turn on" in r.reply for r in report.replies["cascade"])


def test_per_emotion_breakdown(manifest):
    report = evaluate(manifest, ["test-mood", "cascade"])
    sad = report.per_emotion["cascade"]["sad"]
    assert sad["n"] == 4 and sad["emotion_recall"] == 1.0
    assert report.per_emotion["cascade"]["happy"]["emotion_recall"] == 0.0
    assert set(report.per_emotion["test-mood"]) == set(PITCH)
    assert report.per_emotion["test-mood"]["sad"]["sim"] == pytest.approx(100.0)


# -- references are data ----------------------------------------------------------------------------
def test_without_references_the_evaluator_says_which_command_writes_them(bare_manifest, tmp_path):
    with pytest.raises(ManifestError, match="--write-references topline"):
        evaluate(bare_manifest, ["test-mood"])
    assert CALLS == {}  # nothing was answered
    rows = list(csv.DictReader(open(bare_manifest, encoding="utf-8")))
    rows[0]["reference"] = "A lone reference."
    partial = write_manifest(tmp_path, rows, "partial.csv")
    with pytest.raises(ManifestError, match="9 of 10 clips have no reference"):
        evaluate(partial, ["test-mood"])


def test_write_references_freezes_the_topline_replies_with_their_provenance(bare_manifest, tmp_path):
    out = write_references(bare_manifest, "topline", DUMMIES, out=tmp_path / "frozen.jsonl")
    rows = select_rows(str(out))
    assert len(rows) == 10 and all(len(r.references) == 1 for r in rows)
    writer = rows[0].references[0].writer
    assert writer["system"] == "topline" and writer["template"] == "topline.j2"  # the writer's own prompt
    assert writer["decoding"].startswith("greedy") and writer["seed"] == 0 and writer["config_sha256"]
    # the topline was told each clip's true words (the dummy LLM echoes its prompt)
    assert all(r.text in r.references[0].text for r in rows)
    report = evaluate(out, ["test-mood", "topline"])
    assert report.computed == 10 + 8  # the topline answers each words-and-emotion once (the two sad takes share)
    assert [r.path for r in report.replies["topline"]] == [c.path for c in report.clips]
    assert report.writer["system"] == "topline" and "written by topline (template topline.j2" in report.references
    top = report.systems["topline"]
    assert top.is_writer and top.sim == pytest.approx(100.0)  # greedy: the writer repeats its references
    assert not report.systems["test-mood"].is_writer
    with pytest.raises(ManifestError, match="already have reference replies"):
        write_references(out, "topline", DUMMIES)
    with pytest.raises(ConfigError, match="true text and emotion"):
        write_references(bare_manifest, "test-mood", DUMMIES)


def test_reference_replies_are_the_replies_write_references_freezes(bare_manifest, tmp_path):
    frozen = select_rows(str(write_references(bare_manifest, "topline", DUMMIES, out=tmp_path / "frozen.jsonl")))
    clips = [{"path": r.path, "text": r.text, "emotion": r.emotion} for r in frozen]
    replies = reference_replies(clips, "topline", DUMMIES)
    assert len(replies) == len({(r.emotion, r.text) for r in frozen}) == 8  # one per text and emotion
    assert all(replies[f"{r.emotion}|{r.text}"] == r.references[0].text for r in frozen)
    assert reference_replies([], "topline", DUMMIES) == {}


def test_check_references_accepts_a_full_set():
    clips = [DialogueClip(path="a.wav", references=("Hi.",)), DialogueClip(path="b.wav", references=("Yes.", "No."))]
    check_references(clips)  # no error
    with pytest.raises(ManifestError, match="evaluate dialogue --manifest m.csv --write-references topline"):
        check_references([DialogueClip(path="a.wav")], "m.csv")


# -- deterministic replies --------------------------------------------------------------------------
def test_decoding_is_greedy_for_every_system_by_default():
    config = PipelineConfig.coerce(
        {**DUMMIES, "llm": {"backend": "llama-cpp", "params": {"temperature": 0.7, "seed": 3}}}
    )
    greedy = Decoding()
    cfg, params = greedy.apply(config, SeededSystem, 0)
    assert cfg.llm.params["temperature"] == 0.0 and params == {"temperature": 0.0, "seed": 0}
    assert "greedy" in greedy.describe(config)
    sampled = Decoding(samples=3, seed=5)
    cfg, params = sampled.apply(config, SeededSystem, 2)
    assert cfg.llm.params == {"temperature": 0.7, "seed": 7} and params == {"temperature": 0.7, "seed": 7}
    assert sampled.describe(config) == "sampled, 3 runs at temperature 0.7, seeds 5-7"
    # a backend that takes no temperature is left alone
    cfg, _ = greedy.apply(PipelineConfig.coerce(DUMMIES), MoodSystem, 0)
    assert "temperature" not in cfg.llm.params
    with pytest.raises(ConfigError, match="samples"):
        Decoding(samples=-1)


def test_two_runs_of_the_same_evaluation_give_identical_figures(manifest):
    first = evaluate(manifest, ["test-mood", "test-seeded", "cascade"])
    CALLS.clear()
    second = evaluate(manifest, ["test-mood", "test-seeded", "cascade"])
    assert second.computed == first.computed == 30  # no cache: every reply was made again
    assert _figures(second) == _figures(first)
    assert second.decoding == "greedy (temperature 0) for every system"


def test_sampled_runs_give_means_with_intervals_over_runs(manifest, tmp_path):
    decoding = Decoding(samples=3, seed=1)
    report = evaluate(manifest, ["test-seeded"], decoding=decoding, report_dir=tmp_path / "report")
    seeded = report.systems["test-seeded"]
    assert seeded.runs == 3 and CALLS["test-seeded"] == 30
    interval = seeded.run_intervals["sim"]
    assert interval.low <= seeded.sim <= interval.high and interval.low < interval.high  # the runs differ
    assert "sampled, 3 runs" in report.decoding and "3 decoding runs" in (tmp_path / "report" / "report.md").read_text()
    CALLS.clear()
    again = evaluate(manifest, ["test-seeded"], decoding=decoding)
    assert _figures(again) == _figures(report)  # the same seeds, the same samples, the same figures


def test_bad_input_says_what_to_do(manifest, tmp_path):
    with pytest.raises(UnknownComponentError, match="cascade"):
        evaluate(manifest, ["no-such-system"])
    with pytest.raises(ConfigError, match="twice"):
        evaluate(manifest, ["test-mood", "test-mood"])
    with pytest.raises(ConfigError, match="No dialogue system"):
        evaluate(manifest, "")
    rows = list(csv.DictReader(open(manifest, encoding="utf-8")))
    rows[2]["emotion"] = ""
    no_emotion = write_manifest(tmp_path, rows, "no_emotion.csv")
    with pytest.raises(ManifestError, match="true text and emotion"):
        evaluate(no_emotion, ["topline"])  # the topline is told them


def test_split_keeps_only_that_split(manifest, tmp_path):
    rows = list(csv.DictReader(open(manifest, encoding="utf-8")))
    for i, row in enumerate(rows):
        row["split"] = "test" if i % 2 else "train"
        row["path"] = str(manifest.parent / row["path"])
    split_manifest = write_manifest(tmp_path, rows, name="with_split.csv")
    report = evaluate(split_manifest, ["test-mood"], split="test")
    assert report.n == 5 and [Path(c.path).name for c in report.clips] == [Path(r["path"]).name for r in rows[1::2]]
    with pytest.raises(ManifestError, match="has test, train"):
        evaluate(split_manifest, ["test-mood"], split="dev")
    with pytest.raises(ManifestError, match="no 'split' column"):
        evaluate(manifest, ["test-mood"], split="test")


def test_split_system_specs():
    assert split_system_specs("cascade,topline") == ["cascade", "topline"]
    assert split_system_specs("echat:model=DIR,device=cpu,topline") == ["echat:model=DIR,device=cpu", "topline"]
    assert split_system_specs(" cascade , echo:emotion=sad ,") == ["cascade", "echo:emotion=sad"]
    assert split_system_specs(["cascade", "echo:emotion=sad,delay=0"]) == ["cascade", "echo:emotion=sad,delay=0"]


# -- the cache --------------------------------------------------------------------------------------
def test_a_killed_run_resumes_and_a_rerun_recomputes_nothing(manifest, tmp_path):
    cache = tmp_path / "cache"
    CRASH_AFTER["test-mood"] = 3
    with pytest.raises(KeyboardInterrupt):
        evaluate(manifest, ["test-mood", "test-deaf"], cache_dir=cache)
    lines = (cache / ReplyCache.FILE).read_text(encoding="utf-8").splitlines()
    assert len(lines) == 3 * 2  # clip by clip, every system in turn: 3 clips answered by both before the kill
    CRASH_AFTER.clear()
    CALLS.clear()
    report = evaluate(manifest, ["test-mood", "test-deaf"], cache_dir=cache)
    assert report.computed == 2 * 10 - 6 and CALLS == {"test-mood": 7, "test-deaf": 7}
    CALLS.clear()
    again = evaluate(manifest, ["test-mood", "test-deaf"], cache_dir=cache)
    assert again.computed == 0 and CALLS == {}
    assert again.to_dict() == report.to_dict()  # the same replies and timings, so the same figures


def test_adding_a_system_computes_only_that_system(manifest, tmp_path):
    cache = tmp_path / "cache"
    evaluate(manifest, ["test-deaf"], cache_dir=cache)
    CALLS.clear()
    report = evaluate(manifest, ["test-deaf", "test-mood"], cache_dir=cache)
    assert report.computed == 10 and CALLS == {"test-mood": 10}


def test_a_torn_last_line_is_ignored(manifest, tmp_path):
    cache = tmp_path / "cache"
    evaluate(manifest, ["test-deaf"], cache_dir=cache)
    file = cache / ReplyCache.FILE
    data = file.read_bytes()
    file.write_bytes(data[: len(data) - 40])  # killed while writing the last reply
    CALLS.clear()
    report = evaluate(manifest, ["test-deaf"], cache_dir=cache)
    assert report.computed == 1 and CALLS == {"test-deaf": 1}
    assert all(json.loads(line) for line in file.read_text(encoding="utf-8").splitlines())


def test_another_config_decoding_or_changed_audio_is_not_served_from_the_cache(manifest, tmp_path):
    cache = tmp_path / "cache"
    evaluate(manifest, ["test-deaf", "test-seeded"], cache_dir=cache)
    other = {**DUMMIES, "llm": {"backend": "dummy", "params": {"reply": "Fine."}}}
    assert evaluate(manifest, ["test-deaf"], cache_dir=cache, config=other).computed == 10
    assert evaluate(manifest, ["test-seeded"], cache_dir=cache, decoding=Decoding(samples=1)).computed == 10
    clip = manifest.parent / "audio" / "s0_neutral_0.wav"
    sf.write(str(clip), tone(1.3, frequency=PITCH["neutral"]).samples, 16000)
    assert evaluate(manifest, ["test-deaf"], cache_dir=cache, config=other).computed == 1


# -- workers ----------------------------------------------------------------------------------------
def test_worker_processes_give_the_same_replies(manifest):
    serial = evaluate(manifest, ["echo", "cascade", "topline"], limit=4)
    parallel = evaluate(manifest, ["echo", "cascade", "topline"], limit=4, workers=2)
    for name in ("echo", "cascade", "topline"):
        assert [r.reply for r in parallel.replies[name]] == [r.reply for r in serial.replies[name]]
    assert parallel.systems["cascade"].bleu1 == serial.systems["cascade"].bleu1


@pytest.mark.slow
def test_ray_actors_give_the_same_replies(manifest):
    pytest.importorskip("ray")
    serial = evaluate(manifest, ["echo"], limit=3)
    with_ray = evaluate(manifest, ["echo"], limit=3, workers=2, ray="local")
    assert [r.reply for r in with_ray.replies["echo"]] == [r.reply for r in serial.replies["echo"]]


# -- the report -------------------------------------------------------------------------------------
def test_report_files(manifest, tmp_path):
    out = tmp_path / "report"
    report = evaluate(
        manifest, ["test-mood", "test-deaf"], report_dir=out, command="emotionlayer evaluate dialogue ..."
    )
    names = {p.name for p in out.iterdir()}
    assert {
        "report.md",
        "report.json",
        "scores.csv",
        "per_emotion.csv",
        "replies.md",
        "replies.csv",
        "scores.png",
    } <= names
    text = (out / "report.md").read_text(encoding="utf-8")
    assert "| system | BLEU-1 | BLEU-4 | SIM (best ref) |" in text and "Decoding: greedy" in text
    assert "## Which differences are real" in text and "| test-mood - test-deaf | SIM |" in text
    assert "## Per emotion" in text and "emotionlayer evaluate dialogue ..." in text
    deaf = report.systems["test-deaf"]
    assert f"{deaf.sim:.2f} [{deaf.intervals['sim'].low:.2f}, {deaf.intervals['sim'].high:.2f}]" in text
    assert "| test-mood | 18 | 100.0% | 0.0% | 100.0 |" in text  # the sensitivity table
    replies = (out / "replies.md").read_text(encoding="utf-8")
    assert replies.count("## ") == 10 and MOOD_REPLIES["happy"] in replies and "*reference*" in replies
    rows = list(csv.DictReader(open(out / "replies.csv", encoding="utf-8")))
    assert len(rows) == 10 and rows[0]["test-mood reply"] == MOOD_REPLIES[rows[0]["emotion"]]
    scores = list(csv.DictReader(open(out / "scores.csv", encoding="utf-8")))
    sim_row = next(r for r in scores if r["system"] == "test-deaf" and r["figure"] == "sim")
    assert float(sim_row["low"]) <= float(sim_row["value"]) <= float(sim_row["high"])
    assert any(r["system"] == "test-mood - test-deaf" for r in scores)
    assert (out / "scores.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    details = json.loads((out / "report.json").read_text(encoding="utf-8"))
    assert details["systems"] == report.to_dict()["systems"] and details["bootstrap"] == {"resamples": 2000, "seed": 0}
    assert len(details["replies"]["test-mood"]) == 10


def _cli(monkeypatch, capsys, *args):
    from emotionlayer.cli import main as cli

    monkeypatch.setattr("sys.argv", ["emotionlayer", *args])
    try:
        cli.main()
    except SystemExit as exc:
        return exc.code or 0, *capsys.readouterr()
    return 0, *capsys.readouterr()


def test_cli_json_contract(manifest, tmp_path, monkeypatch, capsys):
    config = tmp_path / "dummy.yaml"
    config.write_text(
        "ser: {backend: dummy, params: {label: sad}}\nasr: dummy\nvad: energy\n"
        "llm: {backend: dummy, params: {reply: null}}\ntts: dummy\n"
    )
    out = tmp_path / "report"
    code, stdout, _ = _cli(monkeypatch, capsys, "evaluate", "dialogue", "--manifest", str(manifest), "--systems",
                           "cascade,echo:emotion=sad", "--config", str(config), "--limit", "6", "--json", "--report",
                           str(out), "--cache", str(tmp_path / "cache"), "--bootstrap", "200")  # fmt: skip
    assert code == 0
    data = json.loads(stdout)  # exactly one JSON object
    assert set(data) == {"systems", "pairwise", "decoding", "n"} and data["n"] == 6
    assert list(data["systems"]) == ["cascade", "echo:emotion=sad"]
    keys = {"bleu1", "bleu4", "sim", "sim_mean_reference", "emotion_accuracy", "emotion_ua", "wer",
            "latency_median_s", "emotion_sensitivity", "emotion_contrast", "reference_discrimination", "intervals",
            "run_intervals"}  # fmt: skip
    for figures in data["systems"].values():
        assert keys <= set(figures)
    assert isinstance(data["systems"]["cascade"]["sim"], float)
    low, high = data["systems"]["cascade"]["intervals"]["sim"]
    assert low <= data["systems"]["cascade"]["sim"] <= high
    assert [(d["a"], d["b"]) for d in data["pairwise"]] == [("cascade", "echo:emotion=sad")] * 3
    assert "emotionlayer evaluate dialogue --manifest" in (out / "report.md").read_text(encoding="utf-8")


def test_cli_writes_references_then_evaluates(bare_manifest, monkeypatch, capsys, tmp_path):
    config = tmp_path / "dummy.yaml"
    config.write_text("ser: dummy\nasr: dummy\nvad: energy\nllm: {backend: dummy, params: {reply: null}}\ntts: dummy\n")
    code, out, err = _cli(monkeypatch, capsys, "evaluate", "dialogue", "--manifest", str(bare_manifest), "--systems",
                          "echo", "--config", str(config))  # fmt: skip
    assert code == 2 and "--write-references topline" in err
    code, out, err = _cli(monkeypatch, capsys, "evaluate", "dialogue", "--manifest", str(bare_manifest),
                          "--write-references", "topline", "--config", str(config))  # fmt: skip
    assert code == 0 and "frozen into" in out
    code, out, err = _cli(monkeypatch, capsys, "evaluate", "dialogue", "--manifest", str(bare_manifest), "--systems",
                          "echo,topline", "--config", str(config), "--bootstrap", "100")  # fmt: skip
    assert code == 0 and "| topline (wrote the references) |" in out and "| echo |" in out
    assert "decoding: greedy" in out and "| echo - topline | SIM |" in out
    code, out, err = _cli(monkeypatch, capsys, "evaluate", "dialogue", "--manifest", str(bare_manifest), "--systems",
                          "nope", "--config", str(config))  # fmt: skip
    assert code == 2 and "error:" in err and "cascade" in err


def test_cli_imports_a_public_benchmark(tmp_path, monkeypatch, capsys):
    (tmp_path / "wavs").mkdir()
    sf.write(str(tmp_path / "wavs" / "a.wav"), tone(1.0).samples, 16000)
    responses = [
        {"text": "Oh no, I'm sorry.", "emotion": "sad"},
        {"text": "Let's look together.", "reply_emotion": "neutral"},
    ]
    items = [{"audio_path": "wavs/a.wav", "transcript": "I lost my keys", "emotion": "Sad", "responses": responses}]
    (tmp_path / "bench.json").write_text(json.dumps(items), encoding="utf-8")
    out = tmp_path / "manifests" / "bench.csv"
    code, stdout, _ = _cli(
        monkeypatch, capsys, "evaluate", "import-references", str(tmp_path / "bench.json"), "--out", str(out)
    )
    assert code == 0 and "1 recordings, 2 reference replies" in stdout
    rows = select_rows(str(out))
    assert rows[0].path == str((tmp_path / "wavs" / "a.wav").resolve()) and rows[0].emotion == "sad"
    assert [(r.text, r.emotion) for r in rows[0].references] == [
        ("Oh no, I'm sorry.", "sad"),
        ("Let's look together.", "neutral"),
    ]
    code, stdout, _ = _cli(monkeypatch, capsys, "evaluate", "import-references", "--help")
    assert code == 0 and "--map-label" in stdout and "replies" in stdout


# -- a real small run -------------------------------------------------------------------------------
def test_real_cascade_against_frozen_topline_references(tmp_path):
    """The packaged default models and embedder on three example clips (the same words, three emotions)."""
    examples = Path(__file__).resolve().parents[1] / "examples" / "audio"
    text = "My phone won't turn on, and I need it today."
    rows = [
        {"path": str(examples / f"{e}_phone.wav"), "text": text, "emotion": e, "language": "en"}
        for e in ("sad", "happy", "angry")
    ]
    manifest = write_references(write_manifest(tmp_path, rows), "topline")
    report = evaluate_dialogue(manifest, ["cascade", "topline"], report_dir=tmp_path / "report", bootstrap=200)
    cascade, top = report.systems["cascade"], report.systems["topline"]
    assert report.n == 3 and top.is_writer and cascade.n == 3
    assert top.sim == pytest.approx(100.0, abs=0.01)  # greedy: the same replies as the frozen ones
    assert report.writer["model_sha256"] and report.writer["template"] == "topline.j2"
    assert 0 <= cascade.bleu4 <= cascade.bleu1 <= 100 and -100 <= cascade.sim <= 100
    assert cascade.wer is not None and cascade.wer < 0.3  # whisper tiny.en hears these clips right
    assert cascade.emotion_accuracy is not None and top.emotion_accuracy is None
    assert cascade.sensitivity_pairs == top.sensitivity_pairs == 3
    assert top.strategy_match == 1.0  # the topline was told each emotion
    assert all(r.reply.strip() for r in report.replies["cascade"] + report.replies["topline"])
    assert (tmp_path / "report" / "replies.md").is_file()
