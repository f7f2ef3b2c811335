"""The packaged seed utterances and the seed-file reader."""

from __future__ import annotations

import json
import re

import pytest

from emotionlayer.data.generation import load_seeds, packaged_seed_file
from emotionlayer.errors import ConfigError
from emotionlayer.labels import EMOTIONS

CJK = re.compile(r"[\u4e00-\u9fff]")


@pytest.mark.parametrize(("language", "minimum"), [("en", 300), ("zh", 100)])
def test_packaged_seeds_are_many_varied_and_canonical(language, minimum):
    raw = [
        json.loads(line)
        for line in packaged_seed_file(language).read_text(encoding="utf-8").splitlines()
        if line.strip()
    ]
    seeds = load_seeds(language=language)
    assert len(seeds) == len(raw) >= minimum
    assert len({s.id for s in seeds}) == len(seeds)
    assert len({s.text for s in seeds}) == len(seeds)
    for entry, seed in zip(raw, seeds, strict=True):
        # the file itself holds canonical labels (not aliases), 2-4 distinct ones per utterance
        assert all(label in EMOTIONS for label in entry["emotions"]), entry
        assert 2 <= len(set(entry["emotions"])) == len(entry["emotions"]) <= 4, entry
        assert seed.language == language
        assert bool(CJK.search(seed.text)) == (language == "zh"), seed.text
    # every label is used, and no single label dominates
    counts = {label: sum(label in s.emotions for s in seeds) for label in EMOTIONS}
    assert min(counts.values()) > 0, counts
    assert max(counts.values()) < 0.6 * len(seeds), counts


def test_user_seed_file_accepts_aliases_comments_and_strings(tmp_path):
    path = tmp_path / "mine.jsonl"
    path.write_text(
        "# my seeds\n"
        '{"id": "a", "text": "The cake is ready.", "emotions": ["joy", "Anger"]}\n'
        "\n"
        '{"text": "It is raining.", "emotions": "sad, calm", "language": "en"}\n',
        encoding="utf-8",
    )
    seeds = load_seeds(path)
    assert [s.emotions for s in seeds] == [("happy", "angry"), ("sad", "calm")]
    assert seeds[0].id == "a" and seeds[1].id.startswith("mine-")


@pytest.mark.parametrize(
    ("line", "fragment"),
    [
        ('{"id": "a", "text": "Hi.", "emotions": ["bored"]}', "line 1"),
        ('{"id": "a", "text": "Hi.", "emotions": []}', "emotions"),
        ("not json", "not valid JSON"),
        ('{"id": "a", "text": "Hi.", "emotions": ["sad"]}\n{"id": "b", "text": "Hi.", "emotions": ["sad"]}', "twice"),
        (
            '{"id": "a", "text": "Hi.", "emotions": ["sad"]}\n{"id": "a", "text": "Ho.", "emotions": ["sad"]}',
            "used twice",
        ),
    ],
)
def test_bad_seed_files_say_where_and_what(tmp_path, line, fragment):
    path = tmp_path / "bad.jsonl"
    path.write_text(line + "\n", encoding="utf-8")
    with pytest.raises(ConfigError, match=fragment):
        load_seeds(path)


def test_missing_seed_file_and_unknown_language(tmp_path):
    with pytest.raises(ConfigError, match="does not exist"):
        load_seeds(tmp_path / "nope.jsonl")
    with pytest.raises(ConfigError, match="--seeds"):
        load_seeds(language="fr")
