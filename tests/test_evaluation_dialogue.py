"""The dialogue evaluator: E-chat's figures, emotion sensitivity, the reply cache, workers and the report.

Most tests run toy systems (defined here, the dummy components and ``echo`` from emotionlayer.testing)
on tones, with a bag-of-words embedder standing in for the sentence-embedding models; the tests that
name the packaged embedding models or the default cascade run the real ones.
"""

from __future__ import annotations

import csv
import hashlib
import json
import time
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

import emotionlayer.testing  # noqa: F401  (registers the dummy backends and the echo system)
from emotionlayer.config import PipelineConfig
from emotionlayer.data.manifest import ManifestError
from emotionlayer.errors import ConfigError, UnknownComponentError
from emotionlayer.evaluation.dialogue import (
    REFERENCE_SYSTEM,
    ReplyCache,
    evaluate_dialogue,
    split_system_specs,
)
from emotionlayer.registry import register
from emotionlayer.systems import Perception, StreamEvent, as_utterance, turn_from_stream
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
        yield StreamEvent("perceived", time.perf_counter() - start, perception=perception)
        turn = Turn(
            transcript=perception.transcript,
            emotion=perception.emotion,
            response=Response(reply, strategy=strategy),
            timings={"total": 0.01 + 0.001 * CALLS[self.name]},
            system=self.name,
        )
        yield StreamEvent("turn", time.perf_counter() - start, turn=turn)

    def respond(self, utterance, history=None):
        return turn_from_stream(self.stream(utterance, history))


@register("system", "test-mood")
class MoodSystem(_ToySystem):
    """Answers how the user sounds: a different reply and the config's strategy per emotion."""

    name = "test-mood"

    def answer(self, emotion):
        return MOOD_REPLIES[emotion], self.config.strategy_for(emotion).name


@register("system", "test-deaf")
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
            rows.append({"path": f"audio/{path.name}", "text": text, "emotion": emotion, "language": "en"})
    return write_manifest(tmp_path, rows)


@pytest.fixture(autouse=True)
def _reset_counters():
    CALLS.clear()
    CRASH_AFTER.clear()
    yield
    CALLS.clear()
    CRASH_AFTER.clear()


def evaluate(manifest, systems, **kwargs):
    kwargs.setdefault("config", DUMMIES)
    kwargs.setdefault("embedder", bag_of_words)
    return evaluate_dialogue(manifest, systems, **kwargs)


# -- the figures ------------------------------------------------------------------------------------
def test_a_voice_ignoring_system_scores_zero_sensitivity_and_a_listening_one_more(manifest):
    report = evaluate(manifest, ["test-deaf", "test-mood"])
    deaf, mood = report.systems["test-deaf"], report.systems["test-mood"]
    assert deaf.emotion_sensitivity == 0.0 and deaf.same_emotion_change == 0.0
    assert mood.emotion_sensitivity == 1.0  # every reply changes when only the emotion changes
    assert mood.same_emotion_change == 0.0  # and none when only the recording does
    assert deaf.pair_sim_same_emotion == deaf.pair_sim_different_emotion == pytest.approx(100.0)
    assert mood.pair_sim_same_emotion == pytest.approx(100.0) and mood.pair_sim_different_emotion < 50
    # per sentence: 5 clips, 10 pairs, 1 of them the same emotion (the two sad takes)
    assert deaf.sensitivity_pairs == mood.sensitivity_pairs == 2 * 9
    assert mood.strategy_match == 1.0 and deaf.strategy_match is None  # deaf reports no strategy
    assert mood.emotion_accuracy == 1.0 and mood.emotion_ua == 1.0
    assert deaf.wer is None and deaf.cer is None  # it makes no transcript


def test_the_topline_is_the_reference_when_the_manifest_has_none(manifest):
    report = evaluate(manifest, ["test-mood"])
    assert report.reference == REFERENCE_SYSTEM
    assert list(report.systems) == ["test-mood", "topline"]
    top = report.systems["topline"]
    assert top.is_reference and top.bleu1 is None and top.bleu4 is None and top.sim is None
    assert top.emotion_accuracy is None and top.wer is None  # it was given both, it recognised nothing
    assert top.strategy_match == 1.0  # it was told the true emotion
    # the topline was given the true words (the dummy LLM echoes them back) and the true emotion (its
    # strategy matched every time, above); the echoed "(sounding sad)" cue is never spoken, so it is not in the reply
    replies = report.replies["topline"]
    for clip, reply in zip(report.clips, replies, strict=True):
        assert clip.text in reply.reply and "sounding" not in reply.reply
    mood = report.systems["test-mood"]
    assert 0 <= mood.bleu1 < 100 and 0 <= mood.bleu4 <= mood.bleu1 and mood.sim < 100


def test_the_cascade_is_scored_on_what_it_heard(manifest):
    report = evaluate(manifest, ["cascade", "topline"])
    cascade = report.systems["cascade"]
    assert cascade.emotion_accuracy == pytest.approx(4 / 10)  # the dummy SER always says sad
    assert cascade.emotion_ua == pytest.approx(0.25)  # recall 1 on sad, 0 on the three others
    assert cascade.wer is not None and 0 < cascade.wer < 1  # the dummy ASR is right on one sentence only
    assert cascade.emotion_sensitivity == 0.0  # it hears every clip as sad
    assert cascade.strategy_match == pytest.approx(4 / 10)
    assert cascade.latency_median_s is not None and cascade.latency_p90_s >= cascade.latency_median_s
    # the cascade was given the audio only: it answered what its ASR heard, not the manifest's text
    assert all("my phone won't turn on" in r.reply for r in report.replies["cascade"])


def test_reference_replies_from_the_manifest(manifest, tmp_path):
    rows = list(csv.DictReader(open(manifest, encoding="utf-8")))
    for row in rows:
        row["reference"] = MOOD_REPLIES[row["emotion"]]
    with_reference = write_manifest(tmp_path, rows, "with_reference.csv")
    report = evaluate(with_reference, ["test-mood", "test-deaf"])
    assert report.reference == "manifest" and "topline" not in report.systems
    mood = report.systems["test-mood"]
    assert mood.bleu1 == 100.0 and mood.bleu4 == 100.0 and mood.sim == pytest.approx(100.0)
    assert report.systems["test-deaf"].sim < 100
    rows[0]["reference"] = ""
    partial = write_manifest(tmp_path, rows, "partial.csv")
    with pytest.raises(ManifestError, match="reference"):
        evaluate(partial, ["test-mood"])


def test_per_emotion_breakdown(manifest):
    report = evaluate(manifest, ["test-mood", "cascade"])
    sad = report.per_emotion["cascade"]["sad"]
    assert sad["n"] == 4 and sad["emotion_recall"] == 1.0
    assert report.per_emotion["cascade"]["happy"]["emotion_recall"] == 0.0
    assert set(report.per_emotion["topline"]) == set(PITCH)
    assert report.per_emotion["topline"]["sad"]["sim"] is None  # the reference


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
        evaluate(no_emotion, ["test-mood"])  # the topline (the reference) needs them


def test_split_keeps_only_that_split(manifest, tmp_path):
    rows = list(csv.DictReader(open(manifest, encoding="utf-8")))
    for i, row in enumerate(rows):
        row["split"] = "test" if i % 2 else "train"
        row["path"] = str(manifest.parent / row["path"])
    split_manifest = write_manifest(tmp_path, rows, name="with_split.csv")
    report = evaluate(split_manifest, ["test-mood"], split="test")
    assert report.n == 5 and [Path(c.path).name for c in report.clips] == [Path(r["path"]).name for r in rows[1::2]]
    with pytest.raises(ManifestError, match="has train, test|has test, train"):
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
    # clip by clip, every system in turn: 3 clips answered by both, the 4th by the topline... before the kill
    assert len(lines) == 3 * 3
    CRASH_AFTER.clear()
    CALLS.clear()
    report = evaluate(manifest, ["test-mood", "test-deaf"], cache_dir=cache)
    assert report.computed == 3 * 10 - 9 and CALLS == {"test-mood": 7, "test-deaf": 7}
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
    assert report.computed == 1 and CALLS == {}  # the last reply was the topline's (clip by clip, in turn)
    assert all(json.loads(line) for line in file.read_text(encoding="utf-8").splitlines())


def test_another_config_or_changed_audio_is_not_served_from_the_cache(manifest, tmp_path):
    cache = tmp_path / "cache"
    evaluate(manifest, ["test-deaf"], cache_dir=cache)
    other = {**DUMMIES, "llm": {"backend": "dummy", "params": {"reply": "Fine."}}}
    assert evaluate(manifest, ["test-deaf"], cache_dir=cache, config=other).computed == 20  # and the topline
    clip = manifest.parent / "audio" / "s0_neutral_0.wav"
    sf.write(str(clip), tone(1.3, frequency=PITCH["neutral"]).samples, 16000)
    assert evaluate(manifest, ["test-deaf"], cache_dir=cache, config=other).computed == 1  # the topline ignores audio


# -- workers ----------------------------------------------------------------------------------------
def test_worker_processes_give_the_same_replies(manifest):
    serial = evaluate(manifest, ["echo", "cascade"], limit=4)
    parallel = evaluate(manifest, ["echo", "cascade"], limit=4, workers=2)
    for name in ("echo", "cascade", "topline"):
        assert [r.reply for r in parallel.replies[name]] == [r.reply for r in serial.replies[name]]
    assert parallel.systems["cascade"].bleu1 == serial.systems["cascade"].bleu1


@pytest.mark.slow
def test_ray_actors_give_the_same_replies(manifest):
    pytest.importorskip("ray")
    serial = evaluate(manifest, ["echo"], limit=3)
    with_ray = evaluate(manifest, ["echo"], limit=3, workers=2, ray="local")
    assert [r.reply for r in with_ray.replies["topline"]] == [r.reply for r in serial.replies["topline"]]


# -- the report -------------------------------------------------------------------------------------
def test_report_files(manifest, tmp_path):
    out = tmp_path / "report"
    report = evaluate(manifest, ["test-mood", "test-deaf"], report_dir=out, command="emotionlayer evaluate dialogue ...")
    names = {p.name for p in out.iterdir()}
    assert {"report.md", "report.json", "per_emotion.csv", "replies.md", "replies.csv", "scores.png"} <= names
    text = (out / "report.md").read_text(encoding="utf-8")
    assert "| system | BLEU-1 | BLEU-4 | SIM |" in text and "topline (reference)" in text
    assert "## Per emotion" in text and "emotionlayer evaluate dialogue ..." in text
    assert "| test-mood | 18 | 100.0% | 0.0% | 100.0 |" in text  # the sensitivity table
    replies = (out / "replies.md").read_text(encoding="utf-8")
    assert replies.count("## ") == 10 and MOOD_REPLIES["happy"] in replies
    rows = list(csv.DictReader(open(out / "replies.csv", encoding="utf-8")))
    assert len(rows) == 10 and rows[0]["test-mood reply"] == MOOD_REPLIES[rows[0]["emotion"]]
    assert (out / "scores.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    details = json.loads((out / "report.json").read_text(encoding="utf-8"))
    assert details["systems"] == report.to_dict()["systems"] and details["reference"] == "topline"
    assert len(details["replies"]["test-mood"]) == 10


def test_cli_json_contract(manifest, tmp_path, monkeypatch, capsys):
    from emotionlayer.cli import main as cli

    config = tmp_path / "dummy.yaml"
    config.write_text("ser: {backend: dummy, params: {label: sad}}\nasr: dummy\nllm: {backend: dummy, params: {reply: null}}\ntts: dummy\n")
    out = tmp_path / "report"
    args = ["emotionlayer", "evaluate", "dialogue", "--manifest", str(manifest), "--systems", "cascade,echo:emotion=sad",
            "--config", str(config), "--limit", "6", "--json", "--report", str(out), "--cache", str(tmp_path / "cache")]  # fmt: skip
    monkeypatch.setattr("sys.argv", args)
    try:
        cli.main()
    except SystemExit as exc:
        assert not exc.code
    stdout = capsys.readouterr().out
    data = json.loads(stdout)  # exactly one JSON object
    assert set(data) == {"systems", "n"} and data["n"] == 6
    assert list(data["systems"]) == ["cascade", "echo:emotion=sad", "topline"]
    keys = {"bleu1", "bleu4", "sim", "emotion_accuracy", "emotion_ua", "wer", "latency_median_s", "latency_p90_s",
            "emotion_sensitivity"}  # fmt: skip
    for figures in data["systems"].values():
        assert keys <= set(figures)
    assert data["systems"]["topline"]["bleu1"] is None and data["systems"]["topline"]["emotion_accuracy"] is None
    assert isinstance(data["systems"]["cascade"]["sim"], float)
    assert (out / "report.md").is_file()
    assert "emotionlayer evaluate dialogue --manifest" in (out / "report.md").read_text(encoding="utf-8")


def test_cli_table_and_errors(manifest, monkeypatch, capsys, tmp_path):
    from emotionlayer.cli import main as cli

    def run(*args):
        monkeypatch.setattr("sys.argv", ["emotionlayer", "evaluate", "dialogue", *args])
        try:
            cli.main()
        except SystemExit as exc:
            return exc.code or 0, *capsys.readouterr()
        return 0, *capsys.readouterr()

    config = tmp_path / "dummy.yaml"
    config.write_text("ser: dummy\nasr: dummy\nllm: dummy\ntts: dummy\n")
    code, out, err = run("--manifest", str(manifest), "--systems", "echo", "--config", str(config), "--limit", "2")
    assert code == 0 and "| echo |" in out and "topline (reference)" in out
    code, out, err = run("--manifest", str(manifest), "--systems", "nope", "--config", str(config))
    assert code == 2 and "error:" in err and "cascade" in err


# -- a real small run -------------------------------------------------------------------------------
def test_real_cascade_against_the_real_topline(tmp_path):
    """The packaged default models and embedder on three example clips (the same words, three emotions)."""
    examples = Path(__file__).resolve().parents[1] / "examples" / "audio"
    text = "My phone won't turn on, and I need it today."
    rows = [{"path": str(examples / f"{e}_phone.wav"), "text": text, "emotion": e, "language": "en"} for e in ("sad", "happy", "angry")]
    report = evaluate_dialogue(write_manifest(tmp_path, rows), ["cascade", "topline"], limit=3, report_dir=tmp_path / "report")
    cascade, top = report.systems["cascade"], report.systems["topline"]
    assert report.n == 3 and top.is_reference and cascade.n == 3
    assert 0 <= cascade.bleu4 <= cascade.bleu1 <= 100 and -100 <= cascade.sim <= 100
    assert cascade.wer is not None and cascade.wer < 0.3  # whisper tiny.en hears these clips right
    assert cascade.emotion_accuracy is not None and top.emotion_accuracy is None
    assert cascade.sensitivity_pairs == top.sensitivity_pairs == 3
    assert top.strategy_match == 1.0  # the topline was told each emotion
    assert all(r.reply.strip() for r in report.replies["cascade"] + report.replies["topline"])
    assert 0 < cascade.latency_median_s <= cascade.latency_p90_s
    assert (tmp_path / "report" / "replies.md").is_file()
