"""Generate a small emotional spoken-dialogue dataset and look at it.

    python examples/generate_dataset.py            # 12 rows into ./echat_sample
    python examples/generate_dataset.py out 50 2   # 50 rows into ./out with 2 worker processes

The same thing from the command line:

    emotionlayer data generate --out echat_sample --limit 12

Interrupt it at any point (even kill -9) and run it again: it finishes the missing rows.
"""

from __future__ import annotations

import json
import sys
from collections import Counter

from emotionlayer.data import read_dialogue_manifest
from emotionlayer.data.generation import generate_dataset


def main() -> None:
    out = sys.argv[1] if len(sys.argv) > 1 else "echat_sample"
    rows = int(sys.argv[2]) if len(sys.argv) > 2 else 12
    workers = int(sys.argv[3]) if len(sys.argv) > 3 else 1

    summary = generate_dataset(
        out,
        per_utterance=2,  # each seed utterance is spoken in two of its emotions, by two voices
        limit=rows,
        workers=workers,
        seed=0,  # the same seed gives the same rows
    )
    print(f"{summary.rows_total} rows in {out} ({summary.rows_per_second:.2f} rows/s this run)")

    manifest = read_dialogue_manifest(out)
    for row in manifest[:4]:
        print(f"\n[{row.split}] {row.emotion:>9} | {row.voice:<16} | {row.text}")
        print(f"{'':>11} reply: {row.response}")
        print(f"{'':>11} audio: {out}/{row.audio} ({row.duration:.1f} s)")

    print("\nrows per emotion:", dict(Counter(r.emotion for r in manifest)))
    print("rows per voice:  ", dict(Counter(r.voice for r in manifest)))
    card = json.loads(open(f"{out}/card.json", encoding="utf-8").read())
    print("rows per split:  ", card["splits"])
    print(f"\nDataset card: {out}/README.md")


if __name__ == "__main__":
    main()
