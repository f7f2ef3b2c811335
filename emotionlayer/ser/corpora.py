"""The SER evaluation protocol: which corpus a clip belongs to, and the locked, speaker-disjoint test split.

The test split below was fixed **before** any recipe was chosen, and no figure from it was looked at
while choosing: recipes are chosen by grouped (leave-speakers-out) validation on the training side only
(:func:`validation_folds`), and the locked split is scored once, for the model that is shipped.

============  ===========================================  ==============================================
corpus        locked test                                   training side
============  ===========================================  ==============================================
``ravdess``   actors 13-16 (2 female, 2 male; the same      actors 1-12
              actors the E-chat and ParalinGPT recipes
              hold out)
``casia``     speaker ``wangzhe`` (male)                    ``ZhaoZuoxiang`` (male), ``liuchanhg`` (female)
``urdu``      5 of 17 speakers, 2 female + 3 male, chosen   the other 12 speakers
              so that all 4 labels occur (most Urdu
              speakers have one emotion only): ``SF9``,
              ``SF11``, ``SM1``, ``SM3``, ``SM6``
``esd``       the whole corpus (one speaker, ``0020``):     nothing: a corpus of one speaker cannot be
              a cross-corpus test, never trained on         validated speaker-disjointly, so every figure
                                                            from training on it would be a seen-speaker one
============  ===========================================  ==============================================

Corpus names come from a manifest's ``corpus`` column, or else from the speaker-id prefix the project's
data uses (``ravdess_actor01``, ``casia_wangzhe``, ``urdu_SM1``, ``esd_0020``).
"""

from __future__ import annotations

from collections.abc import Sequence

from ..data.manifest import ManifestRow

#: Labels each known corpus has (canonical names). A corpus contributes only its own labels to training.
CORPUS_LABELS: dict[str, tuple[str, ...]] = {
    "ravdess": ("neutral", "calm", "happy", "sad", "angry", "fearful", "disgusted", "surprised"),
    "casia": ("neutral", "happy", "sad", "angry", "fearful", "surprised"),
    "urdu": ("neutral", "happy", "sad", "angry"),
    "esd": ("neutral", "happy", "sad", "angry", "surprised"),
    "emodb": ("neutral", "happy", "sad", "angry", "fearful", "disgusted"),
}

#: The locked test speakers of every corpus (``"*"``: the whole corpus is test data).
LOCKED_TEST_SPEAKERS: dict[str, frozenset[str]] = {
    "ravdess": frozenset({"ravdess_actor13", "ravdess_actor14", "ravdess_actor15", "ravdess_actor16"}),
    "casia": frozenset({"casia_wangzhe"}),
    "urdu": frozenset({"urdu_SF9", "urdu_SF11", "urdu_SM1", "urdu_SM3", "urdu_SM6"}),
    "esd": frozenset({"*"}),
}

#: Number of grouped validation folds on the training side.
VALIDATION_FOLDS = 4

_PREFIXES = {"ravdess": "ravdess", "casia": "casia", "urdu": "urdu", "esd": "esd", "emodb": "emodb"}


def corpus_of(row: ManifestRow) -> str:
    """The corpus a clip belongs to: its ``corpus`` column, else its speaker-id prefix, else ``unknown``."""
    text = str(row.corpus or "").lower()
    for key in _PREFIXES:
        if key in text:
            return key
    speaker = (row.speaker or "").lower()
    for key, prefix in _PREFIXES.items():
        if speaker.startswith(prefix + "_") or speaker.startswith(prefix):
            return key
    if "emo-db" in text or "berlin" in text:
        return "emodb"
    return text or "unknown"


def is_locked_test(row: ManifestRow) -> bool:
    """Whether a clip is in the locked test split (never used for training or choosing a recipe)."""
    speakers = LOCKED_TEST_SPEAKERS.get(corpus_of(row))
    if not speakers:
        return False
    return "*" in speakers or (row.speaker or "") in speakers


def split_rows(rows: Sequence[ManifestRow]) -> tuple[list[ManifestRow], list[ManifestRow]]:
    """``(training side, locked test)`` of a list of rows."""
    train = [row for row in rows if not is_locked_test(row)]
    test = [row for row in rows if is_locked_test(row)]
    return train, test


def validation_folds(rows: Sequence[ManifestRow], n_folds: int = VALIDATION_FOLDS) -> list[int]:
    """A grouped fold index (0..n_folds-1) for every training-side row: no speaker is in two folds.

    Within each corpus, speakers (sorted by clip count, largest first, then name) are dealt to folds in
    turn, so that every fold holds out some speakers of every corpus that has enough of them.

    Raises:
        ValueError: a row of the locked test split was passed.
    """
    if any(is_locked_test(row) for row in rows):
        raise ValueError("validation_folds() got rows of the locked test split; pass the training side only.")
    by_corpus: dict[str, dict[str, int]] = {}
    for row in rows:
        counts = by_corpus.setdefault(corpus_of(row), {})
        counts[row.speaker or ""] = counts.get(row.speaker or "", 0) + 1
    fold_of: dict[tuple[str, str], int] = {}
    for corpus, counts in by_corpus.items():
        ordered = sorted(counts, key=lambda s: (-counts[s], s))
        for i, speaker in enumerate(ordered):
            fold_of[(corpus, speaker)] = i % n_folds
    return [fold_of[(corpus_of(row), row.speaker or "")] for row in rows]
