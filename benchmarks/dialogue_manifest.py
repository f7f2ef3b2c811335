"""Build a clip manifest for `emotionlayer evaluate dialogue` from a RAVDESS-style folder.

RAVDESS has each actor say the same two sentences in eight emotions, so the clips of a few actors form
groups of "same words, different emotion" - what the evaluator's emotion sensitivity needs. This script
keeps the clips of the chosen actors, at most ``--takes`` clips per (actor, emotion, sentence), and writes
a manifest with the columns the evaluator reads (path, text, emotion, speaker, language), paths relative
to the new manifest.

    python benchmarks/dialogue_manifest.py path/to/ravdess-dev --actors 15,16 --takes 1 --out ravdess_dialogue.csv
    emotionlayer evaluate dialogue --manifest ravdess_dialogue.csv --write-references topline
    emotionlayer evaluate dialogue --manifest ravdess_dialogue.csv --systems cascade,topline --report report/

The manifest has no reference replies until ``--write-references`` freezes a set into it (the locked test
of docs/results.md: actors 13-16, two takes).

The folder needs a manifest.csv (or manifest.jsonl) with path, emotion, speaker and text columns.
"""

from __future__ import annotations

import argparse
import re
from pathlib import Path


def actor_number(speaker: str | None) -> int | None:
    """The trailing number of a speaker id (``ravdess_actor07`` -> 7), or ``None``."""
    match = re.search(r"(\d+)$", speaker or "")
    return int(match.group(1)) if match else None


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("data", type=Path, help="folder holding manifest.csv (or manifest.jsonl) and the clips")
    parser.add_argument("--actors", default="15,16", help="comma-separated actor numbers to keep (default 15,16)")
    parser.add_argument("--takes", type=int, default=1, help="clips kept per actor, emotion and sentence (default 1)")
    parser.add_argument("--out", type=Path, required=True, help="the manifest to write (.csv or .jsonl)")
    args = parser.parse_args()

    from emotionlayer.data.manifest import read_manifest, write_manifest

    source = next(
        (args.data / name for name in ("manifest.csv", "manifest.jsonl") if (args.data / name).is_file()), None
    )
    if source is None:
        raise SystemExit(f"{args.data} has no manifest.csv or manifest.jsonl")
    actors = {int(a) for a in args.actors.split(",") if a.strip()}
    kept, count = [], {}
    for row in read_manifest(source, require_emotion=True):
        if actor_number(row.speaker) not in actors or not row.text:
            continue
        key = (row.speaker, row.emotion, row.text)
        count[key] = count.get(key, 0) + 1
        if count[key] <= args.takes:
            kept.append(row)
    if not kept:
        raise SystemExit(f"No clip of actors {sorted(actors)} with text and emotion in {source}")
    kept.sort(key=lambda r: (actor_number(r.speaker), r.emotion, r.text))
    write_manifest(kept, args.out)
    texts = len({r.text for r in kept})
    emotions = len({r.emotion for r in kept})
    print(f"{args.out}: {len(kept)} clips, {len(actors)} actors, {emotions} emotions, {texts} sentences")


if __name__ == "__main__":
    main()
