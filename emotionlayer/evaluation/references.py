"""Reference sets: reference replies written once by one writer and frozen into a manifest.

The E-chat paper scores every system against replies from one writer (GPT-3.5), the same writer that
wrote the learned systems' training replies. :func:`write_references` does that here: a writer system
(by default ``topline``, which prompts with ``topline.j2``, the template ``emotionlayer data generate``
writes E-chat's and ParalinGPT's training replies with) answers each clip, given its true text and
emotion, decoding greedily; each reply goes into the manifest's ``references`` column with its
provenance (:data:`~emotionlayer.data.manifest.Reference.writer`: system, template, LLM and the SHA-256
of its model file, decoding, seed, config hash, date). ``evaluate dialogue`` then reads them and never
writes references itself, so every system is scored against the same frozen replies on every run.

A stronger writer is one option away: a ``writer_config`` whose ``llm`` section is any OpenAI-compatible
endpoint (a local llama.cpp, vLLM or Ollama server)::

    # writer.yaml
    llm:
      backend: openai
      params: {base_url: "http://127.0.0.1:8080/v1", model: qwen2.5-7b-instruct, target_tokens: 60}

    emotionlayer evaluate dialogue --manifest clips.csv --write-references topline --writer-config writer.yaml
"""

from __future__ import annotations

import datetime
import os
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any, Union

from ..config import PipelineConfig
from ..data.manifest import ManifestError, ManifestRow, Reference, write_manifest
from .dialogue import Decoding, answer_clips, check_systems, config_hash, select_rows
from .dialogue_report import DialogueClip

PathLike = Union[str, os.PathLike]

#: The system that writes reference sets unless told another.
DEFAULT_WRITER = "topline"


def writer_provenance(spec: str, config: PipelineConfig, decoding: Decoding) -> dict[str, Any]:
    """What a reference set records about its writer: the spec, the decoding and seed, the config hash, the
    date, and what the writer system says of itself (``provenance()``: template, LLM, model file hash)."""
    from ..systems import build_system

    run_config, params = decoding.apply(config, check_systems([spec])[spec], 0)
    writer = build_system(run_config, spec, **params)
    own = writer.provenance() if callable(getattr(writer, "provenance", None)) else {}
    close = getattr(writer, "close", None)
    if callable(close):
        close()
    return {
        "system": spec,
        **own,
        "decoding": decoding.describe(config),
        "seed": decoding.seed,
        "config_sha256": config_hash(run_config),
        "written": datetime.date.today().isoformat(),
    }


def write_references(
    manifest: PathLike,
    writer: str = DEFAULT_WRITER,
    config: PipelineConfig | PathLike | dict | None = None,
    out: PathLike | None = None,
    split: str | None = None,
    limit: int | None = None,
    seed: int = 0,
    overwrite: bool = False,
    cache_dir: PathLike | None = None,
    workers: int = 1,
    progress: bool = False,
) -> Path:
    """Write a reference set with ``writer`` and freeze it into a manifest (``references`` column).

    The writer is given each clip's true text and emotion and decodes greedily. Rows outside ``split`` and
    ``limit`` are kept unchanged.

    Args:
        manifest: The clip manifest (CSV or JSONL).
        writer: The writer system spec (default ``topline``; it must take the true text and emotion).
        config: The writer's pipeline config (its ``llm`` section is the writer's LLM: e.g. an ``openai``
            backend for a stronger model on a local server).
        out: Where to write the manifest with references (default: over ``manifest``).
        split: Write references only for rows of this split.
        limit: Only for the first ``limit`` rows (after ``split``).
        seed: The writer's seed (recorded; greedy decoding does not depend on it).
        overwrite: Replace references the rows already have (default: refuse).
        cache_dir: The evaluator's reply cache (a killed run resumes).
        workers: Worker processes.
        progress: Show a progress bar.

    Returns:
        The manifest written.

    Raises:
        ManifestError: rows already have references and ``overwrite`` is off, or a row lacks text/emotion.
        ConfigError: the writer is not a system that is given the true text and emotion.
    """
    from ..data.manifest import read_manifest

    config = PipelineConfig.coerce(config)
    classes = check_systems([writer])
    if not getattr(classes[writer], "needs_truth", False):
        from ..errors import ConfigError

        raise ConfigError(
            f"{writer!r} hears audio; a reference writer must be told the true text and emotion (e.g. topline)."
        )
    everything = read_manifest(manifest)
    chosen = select_rows(everything, split, limit)
    already = [row for row in chosen if row.reference_set]
    if already and not overwrite:
        raise ManifestError(
            f"{len(already)} of the {len(chosen)} rows already have reference replies (a frozen set). Pass "
            "--overwrite-references to replace them, or --references-out NEW.csv to write another manifest."
        )
    decoding = Decoding(samples=0, seed=seed)
    provenance = writer_provenance(writer, config, decoding)
    clips = [DialogueClip.from_row(row, config.run.language) for row in chosen]
    replies, _ = answer_clips(clips, classes, config, decoding, cache_dir, workers, None, progress)
    written = {id(row): reply.reply for row, reply in zip(chosen, replies[writer][0], strict=True)}
    rows: list[ManifestRow] = [_with_reference(row, written.get(id(row)), provenance) for row in everything]
    return write_manifest(rows, out or manifest)


def reference_replies(
    clips: Sequence[dict[str, str]],
    writer: str = DEFAULT_WRITER,
    config: PipelineConfig | PathLike | dict | None = None,
    progress: bool = False,
) -> dict[str, str]:
    """The reference writer's reply to each distinct text and emotion of ``clips``, keyed ``"emotion|text"``.

    For training sets whose replies must come from the same writer as an evaluation's frozen references (the
    paper's setting): one clip per text and emotion goes through :func:`write_references` (greedy, the true
    text and emotion), so the replies are exactly what it would freeze for a test clip with the same words and
    emotion.

    Args:
        clips: Rows with ``path`` (an existing audio file), ``text`` and ``emotion``.
        writer: The writer system (default ``topline``).
        config: The writer's pipeline config.
        progress: Show a progress bar.
    """
    import csv
    import tempfile

    from ..data.manifest import read_manifest

    first: dict[str, dict[str, str]] = {}
    for clip in clips:
        first.setdefault(f"{clip['emotion']}|{clip['text']}", clip)
    if not first:
        return {}
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "clips.csv"
        with open(path, "w", newline="", encoding="utf-8") as handle:
            table = csv.DictWriter(handle, fieldnames=["path", "text", "emotion"], extrasaction="ignore")
            table.writeheader()
            table.writerows(first.values())
        written = write_references(path, writer, config, out=Path(tmp) / "refs.csv", progress=progress)
        return {f"{r.emotion}|{r.text}": r.reference_set[0].text for r in read_manifest(written)}


def _with_reference(row: ManifestRow, text: str | None, provenance: dict[str, Any]) -> ManifestRow:
    if text is None:
        return row
    if not text.strip():
        raise ManifestError(f"The writer wrote an empty reply for {row.path}; check the writer's LLM.")
    return replace(row, reference=None, references=(Reference(text.strip(), writer=provenance),))


def reference_writers(rows: Sequence[ManifestRow]) -> list[dict[str, Any]]:
    """The distinct provenances of the rows' references (empty when none is recorded)."""
    seen: list[dict[str, Any]] = []
    for row in rows:
        for reference in row.reference_set:
            if reference.writer and dict(reference.writer) not in seen:
                seen.append(dict(reference.writer))
    return seen
