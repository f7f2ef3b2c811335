"""Rebuild the packaged event bank: real Coswara breath and cough clips plus the synthesised sounds.

Usage::

    python -m emotionlayer.paralinguistics.curation --coswara path/to/events-cc-by/manifest.csv [--out DIR]

The real clips come from recordings of the speakers in :data:`BANK_SPEAKERS` only; recordings of every
other speaker in the manifest are kept out of the bank so that the detector can be evaluated on real
clips of people it never heard (see ``benchmarks/events.py``). Writes ``<label>/*.flac``,
``provenance.json`` (source repository, commit, path and time span of every real clip) and ``NOTICE.md``.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from .bank import DEFAULT_BANK_DIR
from .dataset import segment_events
from .dsp import active_level_db
from .synthesis import write_bank

#: Coswara speakers (participant ids) whose recordings go into the packaged bank, per label.
BANK_SPEAKERS: dict[str, tuple[str, ...]] = {
    "breath": (
        "9D1go0wkvuPkFebFk4uQQpcBuZw1",
        "LwfZvk9xa6bAJbz4wQGEcyoDOmL2",
        "60Ig4PmU9NMqKGDMR8Um0Tc2KXB3",
        "mFQ65xqfxpXiS6vwK1HKwq7j8o62",
    ),
    "cough": (
        "EqDWckxbsETyHUeBLQ8jLtxlhir2",
        "2TkAK2YVkYS7Ux3hAPBUgYgg9DI3",
        "9ypQNsTsSQYlx72wxTLrHzzNoAJ2",
        "0zexHIcM7tQDdnFiEj2Eb0v3g212",
        "mFQ65xqfxpXiS6vwK1HKwq7j8o62",
        "CrlV0ddIqdbtxNnkIhtPS5dvoX42",
    ),
}

NOTICE = """# Event bank: sources and licences

## Real recordings (breath/, cough/)

The clips in `breath/` and `cough/` are cut from recordings of Project Coswara (Indian Institute of
Science, Bangalore), licensed under the Creative Commons Attribution 4.0 International licence
(CC BY 4.0, https://creativecommons.org/licenses/by/4.0/). Cite:

> Neeraj Sharma, Prashant Krishnan, Rohit Kumar, Shreyas Ramoji, Srikanth Raj Chetupalli, Nirmala R.,
> Prasanta Kumar Ghosh and Sriram Ganapathy. "Coswara - A Database of Breathing, Cough, and Voice Sounds
> for COVID-19 Diagnosis." Proc. Interspeech 2020, pp. 4811-4815.

Data: https://github.com/iiscleap/Coswara-Data (batch 20200413), obtained through the mirror repository
and commit listed per clip in `provenance.json`, with the source file path and the time span (seconds)
each clip was cut from. Changes made: resampled to 16 kHz, mixed to mono, cut into single events,
peak-normalised to -3 dBFS, stored as 16-bit FLAC.

Participants in the bank: {speakers}. Recordings of other Coswara participants are not in the package.

## Synthesised sounds (laugh/, sigh/, gasp/, throat_clearing/, tsk/)

Made by emotionlayer itself with `emotionlayer/paralinguistics/synthesis.py` (source-filter models of
the voice; recipes in its docstring and in docs/paralinguistics.md), released with emotionlayer under its
licence. `<label>/synth.json` lists each clip's seed and pitch;
`python -m emotionlayer.paralinguistics.synthesis DIR` regenerates them exactly.
"""


def import_recordings(
    rows: Sequence[dict[str, str]],
    base_dir: str | os.PathLike,
    out_dir: str | os.PathLike,
    sample_rate: int = 16000,
    max_events_per_recording: int = 4,
    max_seconds: float = 2.5,
) -> list[dict[str, Any]]:
    """Cut recordings of events (e.g. a minute of coughing) into single-event bank clips.

    Args:
        rows: Manifest rows with at least ``path`` (relative to ``base_dir``) and ``label``; every other
            column (licence, source, speaker...) is kept in the returned provenance.
        base_dir: Folder the paths are relative to.
        out_dir: Bank folder; clips go to ``out_dir/<label>/<stem>_<n>.flac`` (16-bit FLAC, mono).
        sample_rate: Rate of the written clips.
        max_events_per_recording: At most this many events (the loudest) are taken from one recording.
        max_seconds: Longer events are cut into parts.

    Returns:
        One provenance dict per written clip (``file`` relative to ``out_dir``, ``start``/``end`` in the
        source in seconds, and the row's columns).
    """
    import soundfile as sf

    from ..audio import load_audio

    written: list[dict[str, Any]] = []
    for row in rows:
        source = Path(base_dir) / row["path"]
        audio = load_audio(source, sample_rate, max_seconds=None)
        spans = segment_events(audio.samples, sample_rate, max_seconds=max_seconds)
        levels = [active_level_db(audio.samples[a:b], sample_rate) or -120.0 for a, b in spans]
        keep = sorted(np.argsort(levels)[::-1][:max_events_per_recording].tolist())
        folder = Path(out_dir) / row["label"]
        folder.mkdir(parents=True, exist_ok=True)
        for n, index in enumerate(keep):
            a, b = spans[index]
            clip = audio.samples[a:b]
            peak = float(np.max(np.abs(clip))) or 1.0
            clip = clip / peak * 10 ** (-3.0 / 20.0)
            name = f"{Path(row['path']).stem}_{n}.flac"
            sf.write(str(folder / name), clip.astype(np.float32), sample_rate, subtype="PCM_16", format="FLAC")
            written.append(
                {
                    "file": f"{row['label']}/{name}",
                    "start": round(a / sample_rate, 3),
                    "end": round(b / sample_rate, 3),
                    **row,
                }
            )
    return written


def build(coswara_manifest: str | Path, out_dir: str | Path = DEFAULT_BANK_DIR, variants: int = 8) -> dict[str, int]:
    """Write the bank into ``out_dir``; returns the number of clips per label."""
    manifest = Path(coswara_manifest)
    with open(manifest, encoding="utf-8", newline="") as handle:
        rows = [row for row in csv.DictReader(handle) if row["speaker"] in BANK_SPEAKERS.get(row["label"], ())]
    out = Path(out_dir)
    for label in BANK_SPEAKERS:
        for old in (out / label).glob("*.flac"):
            old.unlink()
    provenance = import_recordings(rows, manifest.parent, out, max_events_per_recording=5)
    (out / "provenance.json").write_text(json.dumps(provenance, indent=1) + "\n", encoding="utf-8")
    write_bank(out, variants=variants)
    speakers = sorted({row["speaker"] for row in rows})
    (out / "NOTICE.md").write_text(NOTICE.replace("{speakers}", ", ".join(speakers)), encoding="utf-8")
    counts: dict[str, int] = {}
    for folder in sorted(p for p in out.iterdir() if p.is_dir() and p.name != "detector"):
        counts[folder.name] = len(list(folder.glob("*.flac")))
    return counts


def main(argv: list[str] | None = None) -> None:
    """Command line entry point."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--coswara", required=True, help="path to the Coswara events manifest.csv")
    parser.add_argument("--out", default=str(DEFAULT_BANK_DIR), help="bank folder (default: the packaged one)")
    parser.add_argument("--variants", type=int, default=8, help="synthesised clips per label")
    args = parser.parse_args(argv)
    print(json.dumps(build(args.coswara, args.out, args.variants)))


if __name__ == "__main__":
    main()
