"""Manifests of clips, dialogue datasets and events: CSV/JSONL reading, path resolution, label aliases,
typed rows that round-trip, and errors that name the bad line."""

from __future__ import annotations

import json

import numpy as np
import pytest
import soundfile as sf

from emotionlayer.data import (
    DialogueRow,
    EventRow,
    ManifestError,
    ManifestRow,
    read_dialogue_manifest,
    read_event_manifest,
    read_manifest,
    write_manifest,
)
from emotionlayer.data.manifest import DIALOGUE_FIELDS
from emotionlayer.errors import ConfigError
from emotionlayer.types import SpeakingStyle, VocalEvent


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


# ------------------------------------------------------------------------------------- dialogue datasets

DIALOGUE = {
    "id": "en-0002-2",
    "seed_id": "en-0002",
    "text": "We have another meeting tonight.",
    "emotion": "sad",
    "response": "I'm sorry. What's your plan?",
    "audio": "audio/a.wav",
    "voice": "piper-joe",
    "speaker": "piper-joe",
    "style": {"name": "sad", "rate": 0.838, "pitch_semitones": -3.58, "volume": 0.546, "emotion": "sad"},
    "duration": 0.1,
    "sample_rate": 16000,
    "split": "train",
    "language": "en",
    "strategy": "comfort",
    "llm": "SmolLM2",
    "tts": "piper:en_US-joe-medium",
}


def test_dialogue_row_round_trips_every_field_in_order_and_keeps_extra_columns():
    data = {**DIALOGUE, "rating": 4}
    row = DialogueRow.from_dict(data)
    assert row.style == SpeakingStyle("sad", 0.838, -3.58, 0.546, "sad")
    assert row.extra == {"rating": 4}
    assert row.to_dict() == data
    assert list(row.to_dict()) == [*DIALOGUE_FIELDS, "rating"]
    assert DialogueRow.from_dict(row.to_dict()) == row
    # a journal record without speaker: the voice is the speaker
    assert DialogueRow.from_dict({k: v for k, v in DIALOGUE.items() if k != "speaker"}).speaker == "piper-joe"


def test_dialogue_manifest_reads_a_folder_resolves_audio_and_keeps_extra_columns(clips):
    lines = [
        json.dumps({**DIALOGUE, "emotion": "Sadness", "rating": 4}),
        "",
        json.dumps({**DIALOGUE, "id": "x", "audio": "audio/b.wav"}),
    ]
    (clips / "manifest.jsonl").write_text("\n".join(lines) + "\n")
    rows = read_dialogue_manifest(clips, check_files=True)
    assert [r.id for r in rows] == ["en-0002-2", "x"] and [r.line for r in rows] == [1, 3]
    assert rows[0].emotion == "sad" and rows[0].extra == {"rating": 4}
    assert rows[0].path == str((clips / "audio" / "a.wav").resolve()) and rows[0].audio == "audio/a.wav"
    assert rows[1].load_audio().sample_rate == 16000 and rows[1].load_audio(8000).sample_rate == 8000
    assert rows == read_dialogue_manifest(clips / "manifest.jsonl")
    (clips / "empty").mkdir()
    (clips / "empty" / "manifest.jsonl").write_text("")
    assert read_dialogue_manifest(clips / "empty") == []  # a dataset generated with limit=0


def test_dialogue_manifest_as_csv_with_the_style_in_a_json_cell(clips):
    import csv

    with open(clips / "m.csv", "w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(DIALOGUE))
        writer.writeheader()
        writer.writerow({**DIALOGUE, "style": json.dumps(DIALOGUE["style"])})
    (row,) = read_dialogue_manifest(clips / "m.csv")
    assert row.to_dict() == DIALOGUE


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"audio": ""}, r"line 1 has no audio\. Every row needs id, text, emotion, audio"),
        ({"emotion": "bored"}, r"line 1: Unknown emotion label 'bored'"),
        ({"duration": "long"}, r"line 1 has a value that cannot be read"),
        ({"style": "[1, 2]"}, r"line 1 has a value that cannot be read"),
        ({"audio": "audio/missing.wav"}, r"1 audio file\(s\) not found \(line 1"),
    ],
)
def test_bad_dialogue_manifests_say_where(clips, change, message):
    (clips / "m.jsonl").write_text(json.dumps({**DIALOGUE, **change}) + "\n")
    with pytest.raises(ManifestError, match=message):
        read_dialogue_manifest(clips / "m.jsonl", check_files=True)


def test_missing_dialogue_manifest_says_how_to_make_one(tmp_path):
    with pytest.raises(ManifestError, match="No manifest at .*emotionlayer data generate"):
        read_dialogue_manifest(tmp_path)
    (tmp_path / "manifest.jsonl").write_text("{oops\n")
    with pytest.raises(ManifestError, match="line 1 is not valid JSON"):
        read_dialogue_manifest(tmp_path)


# ------------------------------------------------------------------------------------------------ events


def test_read_event_manifest_csv_and_jsonl(clips) -> None:
    clip = clips / "audio" / "a.wav"
    (clips / "m.csv").write_text(f"path,label,speaker\n{clip},cough,s1\n")
    rows = read_event_manifest(clips / "m.csv")
    assert rows[0].label == "cough" and rows[0].events is None and rows[0].speaker == "s1"
    (clips / "m.jsonl").write_text(
        json.dumps({"path": "audio/b.wav", "events": [{"label": "cough", "start": 0.1, "end": 0.4}]}) + "\n"
    )
    rows = read_event_manifest(clips / "m.jsonl")
    assert rows[0].path == str(clips / "audio" / "b.wav") and rows[0].events == (VocalEvent("cough", 0.1, 0.4),)
    (clips / "bad.csv").write_text("path,label\nmissing.wav,cough\n")
    with pytest.raises(ConfigError, match="do not exist"):
        read_event_manifest(clips / "bad.csv")
    with pytest.raises(ConfigError, match="does not exist"):
        read_event_manifest(clips / "nope.csv")


def test_event_rows_round_trip_and_csv_cells_hold_events_as_json(clips):
    timed = EventRow("/x/a.wav", "", (VocalEvent("laugh", 0.5, 1.25, 0.9), VocalEvent("cough", 2.0, 2.5)), "s1")
    clip = EventRow("/x/b.wav", "sigh")
    for row in (timed, clip):
        assert EventRow.from_dict(json.loads(json.dumps(row.to_dict()))) == row
    events = json.dumps([e.to_dict() for e in timed.events]).replace('"', '""')
    (clips / "m.csv").write_text(f'path,label,events\naudio/a.wav,,"{events}"\naudio/b.wav,Sigh ,\n')
    rows = read_event_manifest(clips / "m.csv")
    assert rows[0].events == timed.events and rows[0].label == ""
    assert rows[1].events is None and rows[1].label == "Sigh"
    (clips / "m.jsonl").write_text(json.dumps({"path": "audio/a.wav", "label": "cough", "events": []}) + "\n")
    assert read_event_manifest(clips / "m.jsonl")[0].events is None  # an empty list is no events


@pytest.mark.parametrize(
    ("content", "suffix", "message"),
    [
        ("path,label\n,cough\n", ".csv", r"line 2 has no 'path'"),
        ("path,label\naudio/a.wav,\n", ".csv", r"line 2 has neither a 'label' nor 'events'"),
        ('path,events\naudio/a.wav,"[{""label"": ""laugh""}]"\n', ".csv", r"line 2: cannot read its events"),
        ("path,events\naudio/a.wav,not json\n", ".csv", r"line 2: cannot read its events"),
        (
            '{"path": "audio/a.wav", "events": [{"label": "laugh", "start": 2, "end": 1}]}\n',
            ".jsonl",
            r"line 1: cannot read its events",
        ),
        ('\n{"path": "audio/a.wav", "label": "cough"\n', ".jsonl", r"line 2 is not valid JSON"),
        ("path,label\naudio/a.wav,cough\n", ".txt", r"unknown manifest format"),
    ],
)
def test_bad_event_manifests_say_where(clips, content, suffix, message):
    (clips / f"bad{suffix}").write_text(content)
    with pytest.raises(ManifestError, match=message):
        read_event_manifest(clips / f"bad{suffix}")


# -- typed dialogue columns and reference sets ---------------------------------------------------------
def test_manifest_row_round_trips_every_typed_field():
    from emotionlayer.data.manifest import Reference

    writer = {"system": "topline", "template": "topline.j2", "seed": 0}
    row = ManifestRow(
        path="/x/a.wav", emotion="sad", speaker="s1", text="hello", language="en", split="test", corpus="RAVDESS",
        reply="Hi.", reference=None, references=(Reference("I am sorry.", "sad", writer), Reference("Oh no.")),
        extra={"gender": "f"},
    )  # fmt: skip
    data = row.to_dict()
    assert data["references"] == [{"text": "I am sorry.", "emotion": "sad", "writer": writer}, {"text": "Oh no."}]
    assert ManifestRow.from_dict(data) == row
    assert ManifestRow.from_dict(json.loads(json.dumps(data))).references[0].writer == writer
    assert row.reference_set == row.references
    assert ManifestRow(path="/x/a.wav", reference="Hi.").reference_set == (Reference("Hi."),)


def test_typed_columns_given_in_extra_move_to_their_fields():
    row = ManifestRow(path="/x/a.wav", extra={"split": "train", "corpus": "ESD", "response": "Sure.", "pitch": "3"})
    assert (row.split, row.corpus, row.extra) == ("train", "ESD", {"response": "Sure.", "pitch": "3"})
    read = ManifestRow.from_dict({"path": "a.wav", "response": "Sure.", "split": "dev"})
    assert read.reply == "Sure." and read.split == "dev" and read.extra == {}


def test_references_survive_csv_and_jsonl(clips, tmp_path):
    from emotionlayer.data.manifest import Reference

    refs = (Reference("Oh, I'm so sorry, that must hurt.", "sad"), Reference('She said "no", didn\'t she?'))
    rows = [ManifestRow(path=str(clips / "audio" / "a.wav"), emotion="sad", text="hi", split="test", references=refs)]
    for suffix in (".csv", ".jsonl"):
        target = write_manifest(rows, tmp_path / "out" / f"refs{suffix}")
        again = read_manifest(target)
        assert again[0].references == refs and again[0].split == "test" and again[0].extra == {}
    (clips / "m.csv").write_text(
        'path,references\naudio/a.wav,"[""One."", {""text"": ""Two."", ""emotion"": ""cheerful""}]"\n'
    )
    assert [(r.text, r.emotion) for r in read_manifest(clips / "m.csv")[0].references] == [
        ("One.", None),
        ("Two.", "happy"),
    ]
    (clips / "bad.csv").write_text("path,references\naudio/a.wav,not json\n")
    with pytest.raises(ManifestError, match="line 2: 'references' is not JSON"):
        read_manifest(clips / "bad.csv")


def test_read_reply_benchmark_of_the_common_shape(tmp_path):
    from emotionlayer.data.manifest import read_reply_benchmark

    items = {"data": [
        {"audio": "a.wav", "transcript": "I got the job", "emotion": "happy", "speaker": "s1",
         "replies": ["Congratulations!", {"response": "That's great news.", "reply_emotion": "cheerful"}]},
        {"audio_path": "b.wav", "text": "Leave me alone", "label": "unfriendly",
         "responses": [{"text": "Okay, I'll give you some space.", "emotion": "neutral"}]},
    ]}  # fmt: skip
    (tmp_path / "bench.json").write_text(json.dumps(items))
    with pytest.raises(ManifestError, match=r"item 2: .*unfriendly.*--map-label unfriendly=happy"):
        read_reply_benchmark(tmp_path / "bench.json")
    rows = read_reply_benchmark(tmp_path / "bench.json", {"unfriendly": "angry"})
    assert [(r.path, r.text, r.emotion, r.speaker) for r in rows] == [
        ("a.wav", "I got the job", "happy", "s1"),
        ("b.wav", "Leave me alone", "angry", None),
    ]
    assert [(r.text, r.emotion) for r in rows[0].references] == [
        ("Congratulations!", None),
        ("That's great news.", "happy"),
    ]
    (tmp_path / "empty.json").write_text(json.dumps([{"audio": "a.wav", "replies": []}]))
    with pytest.raises(ManifestError, match="item 1 needs an audio path"):
        read_reply_benchmark(tmp_path / "empty.json")
