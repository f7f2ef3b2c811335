"""The locked SER protocol: corpus names, the locked test split and speaker-disjoint validation folds."""

from __future__ import annotations

import pytest

from emotionlayer.data.manifest import ManifestRow
from emotionlayer.ser.corpora import (
    CORPUS_LABELS,
    LOCKED_TEST_SPEAKERS,
    corpus_of,
    is_locked_test,
    split_rows,
    validation_folds,
)


def _row(speaker: str, emotion: str = "happy", corpus: str = "") -> ManifestRow:
    return ManifestRow(
        path=f"/x/{speaker}.flac", emotion=emotion, speaker=speaker, extra={"corpus": corpus} if corpus else {}
    )


def test_corpus_from_column_or_speaker_prefix():
    assert corpus_of(_row("ravdess_actor01", corpus="RAVDESS")) == "ravdess"
    assert corpus_of(_row("x", corpus="CASIA Chinese emotional speech")) == "casia"
    assert corpus_of(_row("urdu_SM1")) == "urdu"
    assert corpus_of(_row("esd_0020", corpus="ESD (Zhou et al. 2021), speaker 0020")) == "esd"
    assert corpus_of(_row("someone")) == "unknown"


def test_locked_split_is_the_documented_one():
    assert LOCKED_TEST_SPEAKERS["ravdess"] == {f"ravdess_actor{i}" for i in (13, 14, 15, 16)}
    assert is_locked_test(_row("ravdess_actor13")) and not is_locked_test(_row("ravdess_actor12"))
    assert is_locked_test(_row("casia_wangzhe")) and not is_locked_test(_row("casia_liuchanhg"))
    assert is_locked_test(_row("esd_0020"))  # the one-speaker corpus is test-only
    assert is_locked_test(_row("urdu_SF9")) and not is_locked_test(_row("urdu_SM2"))
    assert not is_locked_test(_row("someone"))
    train, test = split_rows([_row("ravdess_actor01"), _row("ravdess_actor16"), _row("esd_0020")])
    assert [r.speaker for r in train] == ["ravdess_actor01"]
    assert [r.speaker for r in test] == ["ravdess_actor16", "esd_0020"]


def test_validation_folds_never_split_a_speaker_and_refuse_test_rows():
    rows = [_row(f"ravdess_actor{i:02d}") for i in range(1, 13) for _ in range(3)]
    rows += [_row("urdu_SM2"), _row("urdu_SM2"), _row("urdu_SF1")]
    folds = validation_folds(rows)
    by_speaker: dict[str, set[int]] = {}
    for row, fold in zip(rows, folds, strict=True):
        by_speaker.setdefault(row.speaker, set()).add(fold)
    assert all(len(f) == 1 for f in by_speaker.values())
    assert set(folds) == {0, 1, 2, 3}
    with pytest.raises(ValueError):
        validation_folds([_row("ravdess_actor13")])


def test_corpus_labels_are_canonical():
    from emotionlayer.labels import EMOTIONS

    assert all(set(labels) <= set(EMOTIONS) for labels in CORPUS_LABELS.values())
