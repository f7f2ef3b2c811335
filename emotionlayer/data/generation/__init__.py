"""Emotional spoken-dialogue dataset generation, in the style of E-chat200.

Each row of a generated dataset is a (question text, emotion, question speech, response) tuple: a seed
utterance that means something different in different emotions ("We have another meeting tonight"), one
emotion it plausibly carries, the utterance spoken in that emotion by an emotional TTS voice, and an
LLM's reply given the true text and the true emotion (the E-chat topline recipe).

The run is built to survive being killed at any moment:

1. A **plan** of every row is computed up front from (seed utterances, rows per utterance, seed). Row
   ids (``<seed id>-<k>``), emotions, voices, speaking styles and splits depend only on those inputs,
   so a rerun of the same command plans exactly the same rows.
2. Workers (in-process, local processes or Ray actors) turn a planned row into a reply and a waveform.
   They touch no files; the main process writes each waveform atomically (temporary file, then
   ``os.replace``) and only then appends the finished row to ``journal.jsonl`` (one ``write`` + fsync).
3. On restart the journal is read (a torn last line is cut off), stray temporary files and audio files
   the journal does not reference are removed, and only unfinished rows are generated.
4. ``manifest.jsonl`` and the dataset card (``README.md`` + ``card.json``) are rebuilt atomically from
   the journal at the end of every run.

The package holds one module per concern: :mod:`.seeds` (seed utterances), :mod:`.voices` (TTS voices),
:mod:`.plan` (the rows, their styles and splits), :mod:`.workers` (a row to a reply and a waveform),
:mod:`.journal` (finished rows), :mod:`.run` (:func:`generate_dataset`: prepare, generate the rows,
write the manifest) and :mod:`.card` (the dataset card). Serial, process-pool and Ray execution is
:func:`emotionlayer.parallel.run_tasks`, shared with the dialogue evaluation.

Example::

    from emotionlayer.data.generation import generate_dataset

    summary = generate_dataset("my_dataset", per_utterance=2, limit=20)
    print(summary.rows_total, summary.rows_per_second)
"""

from .card import build_card, render_card, write_card
from .plan import DEFAULT_SPLITS, SPLIT_NAMES, PlannedRow, plan_rows, split_for
from .run import DatasetOptions, GenerationSummary, generate_dataset
from .seeds import LANGUAGES, SeedUtterance, load_seeds, packaged_seed_file
from .voices import DEFAULT_VOICES, VoiceSpec, check_voices, default_voices
from .workers import DEFAULT_TEMPLATE

__all__ = [
    "DEFAULT_SPLITS",
    "DEFAULT_TEMPLATE",
    "DEFAULT_VOICES",
    "LANGUAGES",
    "SPLIT_NAMES",
    "DatasetOptions",
    "GenerationSummary",
    "PlannedRow",
    "SeedUtterance",
    "VoiceSpec",
    "build_card",
    "check_voices",
    "default_voices",
    "generate_dataset",
    "load_seeds",
    "packaged_seed_file",
    "plan_rows",
    "render_card",
    "split_for",
    "write_card",
]
