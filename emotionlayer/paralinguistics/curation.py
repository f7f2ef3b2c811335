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
from pathlib import Path

from .bank import DEFAULT_BANK_DIR, import_recordings
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
