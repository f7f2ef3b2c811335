"""Dataset generation: manifest, card, resume after a crash, worker processes, Ray and the CLI.

Most tests use the ``dummy`` LLM and TTS from :mod:`emotionlayer.testing` (deterministic, instant); the
tests marked by ``needs_real`` run the packaged SmolLM2 and piper voice when they are installed.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import pytest

import emotionlayer.testing  # noqa: F401  (registers the dummy backends)
from emotionlayer import registry
from emotionlayer.audio import load_audio
from emotionlayer.data.generation import VoiceSpec, generate_dataset, load_seeds, plan_rows
from emotionlayer.data.generation.journal import Journal
from emotionlayer.data.generation.run import JOURNAL
from emotionlayer.data.manifest import DIALOGUE_FIELDS, DIALOGUE_MANIFEST, DialogueRow, read_dialogue_manifest
from emotionlayer.errors import ConfigError
from emotionlayer.registry import register
from emotionlayer.testing import DummyTTS

REPO = Path(__file__).resolve().parents[1]
VOICES = ["dummy", "dummy:pitch=3,name=dummy-high", "dummy:rate=1.3,name=dummy-fast"]
# reply=null makes the dummy LLM echo the prompt's user message, so the manifest shows what it was asked
FAKE = {"llm": "dummy:reply=null", "tts": VOICES, "imports": ["emotionlayer.testing"], "progress": False}


@register("tts", "datagen-slow")
class SlowTTS(DummyTTS):
    """The dummy TTS, 0.15 s per call, so that a run can be killed in the middle."""

    def synthesize(self, text, style=None):
        time.sleep(0.15)
        return super().synthesize(text, style)


@register("llm", "datagen-plain")
class PlainLLM:
    """An LLM whose generate() takes no options and whose first answer to each prompt is empty."""

    requires: tuple[str, ...] = ()
    name = "plain"

    def __init__(self) -> None:
        self.seen: set[str] = set()

    def generate(self, messages):
        key = messages[-1]["content"]
        if key not in self.seen:
            self.seen.add(key)
            return "   "
        return "Fine."


@register("llm", "datagen-seeded")
class SeededLLM:
    """An LLM that answers with the seed it was given, empty for even seeds."""

    requires: tuple[str, ...] = ()
    name = "seeded"

    def generate(self, messages, max_tokens=0, seed=0):
        return "" if seed % 2 == 0 else f"seed {seed} max {max_tokens}"


def _real_backends_reason() -> str | None:
    for kind, name in (("llm", "llama-cpp"), ("tts", "piper")):
        if name not in registry.available(kind):
            return f"{kind} backend {name} is not registered"
        reason = registry.missing_requirement(registry.get_class(kind, name))
        if reason:
            return f"{kind}/{name}: {reason}"
    return None


needs_real = pytest.mark.skipif(_real_backends_reason() is not None, reason=str(_real_backends_reason()))


@pytest.fixture(scope="module")
def seeds():
    return load_seeds(language="en")


@pytest.fixture(scope="module")
def voices():
    return [VoiceSpec.parse(v) for v in VOICES]


def _env() -> dict[str, str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([str(REPO), str(Path(__file__).parent), env.get("PYTHONPATH", "")])
    return env


def _assert_complete(out: Path, expected_ids: list[str]) -> list[DialogueRow]:
    """Every expected row exactly once, every audio file valid, nothing else left in audio/."""
    rows = read_dialogue_manifest(out)
    ids = [r.id for r in rows]
    assert sorted(ids) == sorted(expected_ids), "manifest rows differ from the plan"
    assert len(ids) == len(set(ids)), [i for i, n in Counter(ids).items() if n > 1]
    lines = (out / DIALOGUE_MANIFEST).read_text(encoding="utf-8").splitlines()
    assert [list(json.loads(line)) for line in lines] == [list(DIALOGUE_FIELDS)] * len(rows)
    for row, line in zip(rows, lines, strict=True):
        assert row.to_dict() == json.loads(line)
        assert row.path == str((out / row.audio).resolve())
        audio = load_audio(out / row.audio)
        assert audio.sample_rate == row.sample_rate
        assert abs(audio.duration - row.duration) < 0.01
    referenced = {Path(r.audio).name for r in rows}
    assert {p.name for p in (out / "audio").iterdir()} == referenced
    assert not list(out.rglob("*.part"))
    return rows


# -------------------------------------------------------------------------------------------- dataset


def test_generate_writes_manifest_audio_and_card(tmp_path, seeds, voices):
    out = tmp_path / "ds"
    summary = generate_dataset(out, per_utterance=2, limit=12, seed=3, **FAKE)
    assert (summary.rows_total, summary.rows_generated, summary.backend) == (12, 12, "serial")
    plan = plan_rows(seeds, voices, per_utterance=2, seed=3)
    rows = _assert_complete(out, [r.id for r in plan[:12]])
    assert [r.id for r in rows] == [r.id for r in plan[:12]]  # manifest in plan order
    for row, planned in zip(rows, plan[:12], strict=True):
        assert (row.text, row.emotion, row.voice, row.split) == (
            planned.text,
            planned.emotion,
            planned.voice_name,
            planned.split,
        )
        assert row.style == planned.style and row.to_dict()["style"] == planned.style.to_dict()
        # the LLM was given the true text and the true emotion through the topline template
        assert row.response == f"You said: ({planned.emotion}) {planned.text}"
        assert row.language == "en" and row.llm == "dummy-llm" and row.tts == "dummy-tts"
    card = json.loads((out / "card.json").read_text())
    assert card["rows"] == 12 and sum(card["splits"].values()) == 12
    assert card["emotions"] == dict(sorted(Counter(r.emotion for r in rows).items()))
    assert card["voices"] == dict(sorted(Counter(r.voice for r in rows).items()))
    assert card["settings"]["seed"] == 3 and card["settings"]["llm"] == "dummy:reply=null"
    readme = (out / "README.md").read_text()
    for emotion, count in card["emotions"].items():
        assert f"| {emotion} |" in readme and f"| {count} |" in readme


def test_llm_options_follow_the_backend_and_empty_replies_are_retried(tmp_path, seeds, voices):
    plan = {r.id: r for r in plan_rows(seeds, voices, per_utterance=2, seed=0)}
    generate_dataset(tmp_path / "seeded", limit=6, max_tokens=17, **{**FAKE, "llm": "datagen-seeded"})
    for row in read_dialogue_manifest(tmp_path / "seeded"):
        seed = plan[row.id].seed
        assert row.response == f"seed {seed + (seed % 2 == 0)} max 17"  # an even seed's empty reply: seed + 1
    # a backend without max_tokens/seed is called without them; its empty reply is kept (nothing to vary)
    generate_dataset(tmp_path / "plain", limit=3, **{**FAKE, "llm": "datagen-plain"})
    assert [r.response for r in read_dialogue_manifest(tmp_path / "plain")] == ["", "", ""]


def test_the_manifest_reads_as_an_emotionlayer_manifest(tmp_path):
    from emotionlayer.data import read_manifest

    out = tmp_path / "ds"
    generate_dataset(out, limit=5, **FAKE)
    generated = read_dialogue_manifest(out)
    clips = read_manifest(out / DIALOGUE_MANIFEST)
    assert [Path(c.path).resolve() for c in clips] == [(out / r.audio).resolve() for r in generated]
    assert [(c.emotion, c.speaker, c.text) for c in clips] == [(r.emotion, r.voice, r.text) for r in generated]


def test_same_seed_same_dataset_other_seed_other_rows(tmp_path):
    def build(name, seed):
        out = tmp_path / name
        generate_dataset(out, per_utterance=2, limit=8, seed=seed, **FAKE)
        rows = read_dialogue_manifest(out)
        return rows, [(out / r.audio).read_bytes() for r in rows]

    a, b, c = build("a", 5), build("b", 5), build("c", 6)
    assert a == b
    assert [r.id for r in a[0]] != [r.id for r in c[0]]


def test_rerun_extends_to_a_larger_limit_and_refuses_other_settings(tmp_path):
    out = tmp_path / "ds"
    generate_dataset(out, limit=5, **FAKE)
    first = read_dialogue_manifest(out)
    again = generate_dataset(out, limit=9, **FAKE)
    assert (again.rows_total, again.rows_generated) == (9, 4)
    assert read_dialogue_manifest(out)[:5] == first
    assert generate_dataset(out, limit=9, **FAKE).rows_generated == 0
    with pytest.raises(ConfigError, match="seed"):
        generate_dataset(out, limit=9, seed=1, **FAKE)
    with pytest.raises(ConfigError, match="voices"):
        generate_dataset(out, limit=9, **{**FAKE, "tts": VOICES[:2]})


def test_resume_repairs_a_torn_journal_and_stray_files(tmp_path, seeds, voices):
    out = tmp_path / "ds"
    generate_dataset(out, limit=6, **FAKE)
    journal = out / JOURNAL
    lines = journal.read_text().splitlines(keepends=True)
    # a crash: the last two rows never journaled, the write of one torn halfway, a temp file left behind,
    # an audio file written but not journaled, and one journaled row whose audio has vanished
    journal.write_text("".join(lines[:4]) + lines[4][: len(lines[4]) // 2])
    (out / "audio" / ".x-0.wav.part").write_bytes(b"RIFF")
    (out / "audio" / "en-9999-0.wav").write_bytes((out / "audio" / f"{json.loads(lines[0])['id']}.wav").read_bytes())
    (out / "audio" / f"{json.loads(lines[1])['id']}.wav").unlink()
    (out / DIALOGUE_MANIFEST).write_text("garbage")

    summary = generate_dataset(out, limit=6, **FAKE)
    assert summary.rows_generated == 3
    plan = plan_rows(seeds, voices, per_utterance=2, seed=0)
    _assert_complete(out, [r.id for r in plan[:6]])
    records = [json.loads(line) for line in journal.read_text().splitlines()]  # every line whole again
    assert {r["id"] for r in records} == {r.id for r in plan[:6]}


def test_a_journal_from_before_the_speaker_field_resumes_to_the_same_manifest(tmp_path):
    generate_dataset(tmp_path / "whole", limit=6, **FAKE)
    out = tmp_path / "ds"
    generate_dataset(out, limit=3, **FAKE)
    journal = out / JOURNAL
    old = [{k: v for k, v in json.loads(line).items() if k != "speaker"} for line in journal.read_text().splitlines()]
    journal.write_text("".join(json.dumps(record) + "\n" for record in old))
    assert generate_dataset(out, limit=6, **FAKE).rows_generated == 3
    assert (out / DIALOGUE_MANIFEST).read_bytes() == (tmp_path / "whole" / DIALOGUE_MANIFEST).read_bytes()


def test_journal_cuts_a_torn_line_before_appending(tmp_path):
    path = tmp_path / JOURNAL
    path.write_bytes(b'{"id": "a"}\n{"id": "b", "te')
    journal = Journal(path)
    journal.append({"id": "c"})
    journal.close()
    assert [json.loads(line)["id"] for line in path.read_text().splitlines()] == ["a", "c"]


def test_kill_9_in_the_middle_then_the_same_command_finishes(tmp_path, seeds):
    out = tmp_path / "ds"
    command = [sys.executable, "-m", "emotionlayer.cli.data", "generate", "--out", str(out), "--limit", "14", "-q",
               "--llm", "dummy", "--tts", "datagen-slow", "--tts", "datagen-slow:pitch=2,name=slow-high",
               "--import", "emotionlayer.testing", "--import", "test_data_generation"]  # fmt: skip
    process = subprocess.Popen(command, env=_env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    journal = out / JOURNAL
    deadline = time.time() + 60
    while time.time() < deadline and process.poll() is None:
        if journal.exists() and journal.read_text().count("\n") >= 4:
            break
        time.sleep(0.02)
    assert process.poll() is None, process.stderr.read().decode()
    os.kill(process.pid, signal.SIGKILL)
    process.wait()
    assert not (out / DIALOGUE_MANIFEST).exists()
    done_before = journal.read_text().count("\n")
    assert 4 <= done_before < 14

    finished = subprocess.run(command + ["--json"], env=_env(), capture_output=True, text=True, timeout=120)
    assert finished.returncode == 0, finished.stderr
    summary = json.loads(finished.stdout)
    assert summary["rows_total"] == 14 and summary["rows_generated"] == 14 - done_before
    voices = [VoiceSpec.parse("datagen-slow"), VoiceSpec.parse("datagen-slow:pitch=2,name=slow-high")]
    _assert_complete(out, [r.id for r in plan_rows(seeds, voices, per_utterance=2, seed=0)[:14]])


# ---------------------------------------------------------------------------------- workers and Ray


def test_worker_processes_give_the_serial_result(tmp_path):
    generate_dataset(tmp_path / "serial", limit=6, **FAKE)
    summary = generate_dataset(tmp_path / "pool", limit=6, workers=2, **FAKE)
    assert summary.backend == "processes" and summary.rows_generated == 6
    assert read_dialogue_manifest(tmp_path / "pool") == read_dialogue_manifest(tmp_path / "serial")


def test_ray_on_a_local_instance_gives_the_serial_result(tmp_path):
    ray = pytest.importorskip("ray")
    generate_dataset(tmp_path / "serial", limit=4, **FAKE)
    try:
        ray.init(
            num_cpus=1,
            include_dashboard=False,
            log_to_driver=False,
            runtime_env={"env_vars": {"PYTHONPATH": _env()["PYTHONPATH"]}},
        )
        summary = generate_dataset(tmp_path / "ray", limit=4, ray_address="local", **FAKE)
    finally:
        ray.shutdown()
    assert summary.backend == "ray" and summary.rows_generated == 4
    assert read_dialogue_manifest(tmp_path / "ray") == read_dialogue_manifest(tmp_path / "serial")


# -------------------------------------------------------------------------------------------- the CLI


def test_cli_generates_and_explains_itself(tmp_path):
    from typer.testing import CliRunner

    from emotionlayer.cli.data import app

    runner = CliRunner()
    result = runner.invoke(app, ["generate", "--out", str(tmp_path / "ds"), "--limit", "3", "--llm", "dummy",
                                 "--tts", "dummy", "--import", "emotionlayer.testing", "--json"])  # fmt: skip
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["rows_total"] == 3
    help_text = runner.invoke(app, ["generate", "--help"]).output
    for option in (
        "--per-utterance",
        "--limit",
        "--language",
        "--llm",
        "--tts",
        "--workers",
        "--ray",
        "--seed",
        "--holdout-voices",
    ):
        assert option in help_text


# --------------------------------------------------------------------------------- the real backends


@needs_real
def test_real_llm_and_piper_rows_are_deterministic(tmp_path):
    options = {"tts": ["piper", "piper:pitch=-3,name=piper-low"], "limit": 3, "max_tokens": 24, "progress": False}
    generate_dataset(tmp_path / "a", **options)
    generate_dataset(tmp_path / "b", **options)
    a, b = read_dialogue_manifest(tmp_path / "a"), read_dialogue_manifest(tmp_path / "b")
    keys = ("id", "text", "emotion", "response", "voice", "style", "split")
    assert [[getattr(r, k) for k in keys] for r in a] == [[getattr(r, k) for k in keys] for r in b]
    for row in _assert_complete(tmp_path / "a", [r.id for r in a]):
        assert len(row.response.split()) >= 2
        assert row.llm.startswith(("SmolLM2", "llama")) or row.llm
        assert row.tts.startswith("piper") and row.duration > 0.5


def test_a_voice_that_does_not_speak_is_refused_before_anything_is_written(tmp_path):
    out = tmp_path / "ds"
    with pytest.raises(ConfigError, match="dummy-bad"):
        generate_dataset(out, limit=2, **{**FAKE, "tts": ["dummy", "dummy:sample_rate=100,name=dummy-bad"]})
    assert not (out / "settings.json").exists()


def _espeak_reason() -> str | None:
    if "espeak-ng" not in registry.available("tts"):
        return "no espeak-ng TTS backend"
    return registry.missing_requirement(registry.get_class("tts", "espeak-ng"))


@pytest.mark.skipif(_espeak_reason() is not None, reason=str(_espeak_reason()))
def test_chinese_dataset_with_the_default_espeak_voices(tmp_path):
    out = tmp_path / "zh"
    generate_dataset(out, language="zh", limit=4, llm="dummy:reply=null", progress=False)
    rows = _assert_complete(out, [r.id for r in read_dialogue_manifest(out)])
    assert len(rows) == 4
    for row in rows:
        assert row.language == "zh" and row.id.startswith("zh-")
        assert row.voice.startswith("espeak-ng/cmn") and row.duration > 0.5
        assert row.response == f"You said: ({row.emotion}) {row.text}"


def test_cli_lists_default_voices_with_their_names():
    from typer.testing import CliRunner

    from emotionlayer.cli.data import app

    result = CliRunner().invoke(app, ["voices", "--language", "en"])
    assert result.exit_code == 0, result.output
    assert "piper-joe-low" in result.output and "--tts piper:pitch=-2,name=piper-joe-low" in result.output
