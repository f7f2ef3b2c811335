"""Manifests: CSV/JSONL reading, path resolution, label aliases, and errors that name the bad line."""

from __future__ import annotations

import json

import numpy as np
import pytest
import soundfile as sf

from emotionlayer.data import ManifestError, ManifestRow, read_manifest, write_manifest


@pytest.fixture()
def clips(tmp_path):
    folder = tmp_path / "audio"
    folder.mkdir()
    for name in ("a.wav", "b.wav"):
        sf.write(folder / name, 0.1 * np.ones(1600, dtype=np.float32), 16000)
    return tmp_path


def test_csv_resolves_relative_paths_and_canonicalises_labels(clips):
    (clips / "m.csv").write_text(
        "path,emotion,speaker,text,language,gender\naudio/a.wav,Cheerful,s1,hello,en,f\naudio/b.wav,fear,s2,,,m\n"
    )
    rows = read_manifest(clips / "m.csv", require_emotion=True)
    assert [r.emotion for r in rows] == ["happy", "fearful"]
    assert rows[0].path == str((clips / "audio" / "a.wav").resolve())
    assert rows[0].speaker == "s1" and rows[0].text == "hello" and rows[0].language == "en"
    assert rows[1].text is None and rows[1].language is None
    assert rows[0].extra == {"gender": "f"}
    assert rows[0].line == 2
    assert rows[0].load_audio(8000).sample_rate == 8000


def test_jsonl_with_absolute_path_and_label_column_alias(clips):
    absolute = str(clips / "audio" / "b.wav")
    lines = [
        json.dumps({"path": "audio/a.wav", "label": "ang"}),
        "",
        json.dumps({"path": absolute, "emotion": "neutral"}),
    ]
    (clips / "m.jsonl").write_text("\n".join(lines) + "\n")
    rows = read_manifest(clips / "m.jsonl")
    assert [r.emotion for r in rows] == ["angry", "neutral"]
    assert rows[1].path == absolute


def test_round_trip_through_write_manifest(clips, tmp_path):
    rows = [ManifestRow(path=str(clips / "audio" / "a.wav"), emotion="sad", speaker="x")]
    for suffix in (".csv", ".jsonl"):
        target = write_manifest(rows, tmp_path / "out" / f"copy{suffix}")
        again = read_manifest(target)
        assert again[0].path == str((clips / "audio" / "a.wav").resolve())
        assert again[0].emotion == "sad" and again[0].speaker == "x"


@pytest.mark.parametrize(
    ("content", "suffix", "message"),
    [
        ("path,emotion\naudio/a.wav,bored\n", ".csv", r"line 2: Unknown emotion label 'bored'"),
        ("path,emotion\naudio/a.wav,\n", ".csv", r"line 2 has no emotion label"),
        ("path,emotion\n,happy\n", ".csv", r"line 2 has no audio path"),
        ("path,emotion\naudio/missing.wav,happy\n", ".csv", r"1 audio file\(s\) not found \(line 2"),
        ('{"path": "audio/a.wav"\n', ".jsonl", r"line 1 is not valid JSON"),
        ("[1, 2]\n", ".jsonl", r"line 1 is a JSON list"),
        ("path,emotion\n", ".csv", r"lists no clips"),
        ("a,b\n", ".txt", r"unknown manifest format"),
    ],
)
def test_bad_manifests_raise_errors_that_say_where(clips, content, suffix, message):
    (clips / f"bad{suffix}").write_text(content)
    with pytest.raises(ManifestError, match=message):
        read_manifest(clips / f"bad{suffix}", require_emotion=True)


def test_missing_manifest_and_unchecked_files(clips):
    with pytest.raises(ManifestError, match="does not exist"):
        read_manifest(clips / "nope.csv")
    (clips / "m.csv").write_text("path\nnot/there.wav\n")
    assert read_manifest(clips / "m.csv", check_files=False)[0].emotion is None
