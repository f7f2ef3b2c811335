"""A verified, timestamped paralinguistic corpus from real speech, as SynParaSpeech builds it.

Each stage is a function that can be used alone:

1. :func:`transcribe_and_vote` (``asr``): several ASR systems (and the clip's known text) vote on the
   transcript;
2. :func:`split_points` and :func:`verify_split` (``split``): VAD silences as candidate split points, each
   checked by transcribing both sides;
3. :func:`word_timestamps`, :func:`unit_times` and :func:`check_split_words`: word times from faster-whisper,
   and the check that a split falls between words;
4. ``placement.place_event``: the LLM (or its rules) chooses the label and the point;
5. the ``vc`` component matches the event clip to the speaker;
6. :func:`insert_event` (``insert``): the event goes in with its exact span;
7. :func:`verify_clip` (``verify``): detector, ASR and clipping checks;
8. :func:`corpus_statistics` (``stats``): the paper's Table 2 and a plot.

:func:`build_corpus` (``build``; CLI ``emotionlayer data paralinguistic``) runs them all, resumably and in
parallel. See docs/paralinguistics.md, "Building a corpus from real speech (SynParaSpeech)".
"""

from __future__ import annotations

from .asr import VoteResult, WhisperWords, Word, transcribe_and_vote, word_timestamps
from .build import CorpusSummary, SourceClip, build_corpus, read_sources, run_report
from .insert import Insertion, insert_event, match_level, pause_audio
from .split import (
    SplitCandidate,
    SplitCheck,
    UnitTime,
    WordCheck,
    check_split_words,
    long_clip_cuts,
    split_points,
    unit_times,
    verify_split,
)
from .stats import corpus_statistics
from .verify import ClipCheck, verify_clip

__all__ = [
    "ClipCheck",
    "CorpusSummary",
    "Insertion",
    "SourceClip",
    "SplitCandidate",
    "SplitCheck",
    "UnitTime",
    "VoteResult",
    "WhisperWords",
    "Word",
    "WordCheck",
    "build_corpus",
    "check_split_words",
    "corpus_statistics",
    "insert_event",
    "long_clip_cuts",
    "match_level",
    "pause_audio",
    "read_sources",
    "run_report",
    "split_points",
    "transcribe_and_vote",
    "unit_times",
    "verify_clip",
    "verify_split",
    "word_timestamps",
]
