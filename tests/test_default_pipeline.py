"""The packaged offline default, end to end, on clips from examples/audio (real models, no network)."""

import json
import subprocess
import sys
from pathlib import Path

import pytest
import soundfile as sf

from emotionlayer.labels import EMOTIONS
from emotionlayer.pipeline import CascadePipeline
from emotionlayer.registry import describe

ROOT = Path(__file__).resolve().parents[1]
CLIP = ROOT / "examples" / "audio" / "sad_phone.wav"


@pytest.fixture(scope="module")
def pipeline():
    return CascadePipeline.from_config()


def test_default_backends_are_usable():
    usable = {(i.kind, i.name): i for i in describe()}
    for key in (("ser", "default"), ("asr", "faster-whisper"), ("llm", "llama-cpp"), ("tts", "piper")):
        assert usable[key].usable, usable[key].reason


def test_default_turn_on_a_real_clip(pipeline):
    turn = pipeline.respond(CLIP)
    words = turn.transcript.text.lower()
    assert "phone" in words and "turn on" in words
    assert set(turn.emotion.probabilities) == set(EMOTIONS)
    assert sum(turn.emotion.probabilities.values()) == pytest.approx(1.0)
    assert len(turn.response.text.split()) >= 2
    assert turn.audio is not None and turn.audio.duration > 0.5
    assert turn.timings["time_to_first_audio"] <= turn.timings["total"]


def test_primed_strategies_give_the_same_replies_from_their_saved_prompt_states(pipeline):
    from emotionlayer.types import EmotionPrediction

    state = pipeline.llm._load()[1]
    expected = {}
    for label in ("sad", "angry", "happy"):  # before priming: each prompt from the live context only
        state.clear_saved()
        prompt = pipeline.render_prompt("My phone will not turn on.", EmotionPrediction.certain(label))
        expected[label] = pipeline.generate(prompt)
    assert pipeline.prime_prompts() >= min(len(pipeline.renderer.strategies), state.saved_states)
    for label in ("sad", "angry", "happy", "sad"):
        prompt = pipeline.render_prompt("My phone will not turn on.", EmotionPrediction.certain(label))
        assert pipeline.generate(prompt) == expected[label]
        assert state.restored and state.reused_tokens >= 64, "the strategy's system prompt was evaluated again"


def test_cli_respond_json_with_real_models(tmp_path):
    out = tmp_path / "reply.wav"
    proc = subprocess.run(
        [sys.executable, "-m", "emotionlayer", "respond", str(CLIP), "--out", str(out), "--json"],
        capture_output=True,
        text=True,
        timeout=600,
        cwd=tmp_path,
    )
    assert proc.returncode == 0, proc.stderr
    data = json.loads(proc.stdout)  # exactly one JSON object, nothing else on stdout
    assert data["system"] == "cascade"
    assert data["transcript"].strip()
    assert sum(data["emotion"]["probabilities"].values()) == pytest.approx(1.0)
    assert data["response"]["text"].strip()
    info = sf.info(data["audio_out"])
    assert info.frames > 0.5 * info.samplerate


def test_closing_a_real_stream_midway_leaves_the_system_usable(pipeline):
    stream = pipeline.stream(CLIP)
    pieces = 0
    for event in stream:
        pieces += event.kind == "text"
        if pieces == 2:
            break  # the LLM is mid-reply
    stream.close()
    turn = pipeline.respond(CLIP)  # llama.cpp's generator was closed, so the next turn runs normally
    assert turn.response.text.strip() and turn.audio.duration > 0.5


def test_systems_example_streams_and_stops(tmp_path):
    proc = subprocess.run(
        [sys.executable, str(ROOT / "examples" / "systems.py"), str(CLIP), "--system", "cascade"],
        capture_output=True,
        text=True,
        timeout=600,
        cwd=tmp_path,
    )
    assert proc.returncode == 0, proc.stderr
    assert "[cascade] heard" in proc.stdout and "stopped after the first spoken sentence" in proc.stdout


def test_cli_bad_file_exits_2(tmp_path):
    bad = tmp_path / "notes.wav"
    bad.write_text("not audio")
    proc = subprocess.run(
        [sys.executable, "-m", "emotionlayer", "respond", str(bad)], capture_output=True, text=True, timeout=300
    )
    assert proc.returncode == 2
    assert proc.stderr.strip().splitlines()[-1].startswith("error: Could not read")
    assert "Traceback" not in proc.stderr


def test_packaging_ships_prompts_and_default_config(tmp_path):
    """A built wheel (not only an editable install) carries the templates, config and model assets."""
    import shutil

    source = tmp_path / "src"  # build from a copy, so no build/ folder is left in the checkout
    shutil.copytree(ROOT, source, ignore=shutil.ignore_patterns(".venv", ".git", "build", "*.egg-info", "__pycache__"))
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "wheel",
            "--no-deps",
            "--no-build-isolation",
            "-q",
            "-w",
            str(tmp_path),
            str(source),
        ],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert proc.returncode == 0, proc.stderr
    import zipfile

    wheel = next(tmp_path.glob("emotionlayer-*.whl"))
    names = set(zipfile.ZipFile(wheel).namelist())
    assert "emotionlayer/configs/default.yaml" in names
    assert {"emotionlayer/prompts/empathetic.j2", "emotionlayer/prompts/topline.j2"} <= names
    assert any(n.startswith("emotionlayer/assets/ser/default/") for n in names)
    assert {"emotionlayer/data/seeds/en.jsonl", "emotionlayer/data/seeds/zh.jsonl"} <= names
    assert any(n.startswith("emotionlayer/assets/events/detector/") for n in names)
    assert any(n.startswith("emotionlayer/assets/events/cough/") for n in names)


@pytest.mark.parametrize("backend", ["espeak-ng", "piper"])
def test_config_swaps_a_real_tts_without_code(backend):
    import emotionlayer.testing  # noqa: F401  (dummy recognisers and LLM keep this fast)

    pipe = CascadePipeline.from_config({"ser": "dummy", "asr": "dummy", "llm": "dummy", "tts": backend})
    turn = pipe.respond(CLIP)
    assert type(pipe.tts).registry_name == backend
    assert turn.audio.sample_rate == pipe.tts.sample_rate
    assert turn.audio.duration > 1.0 and float(abs(turn.audio.samples).max()) > 0.05
