"""Compare dialogue systems on recordings, as the E-chat paper does, and ask whether the voice matters.

    python examples/evaluate_dialogue.py [--manifest clips.csv] [--systems cascade,topline] [--report DIR]

Without --manifest it uses the eight example clips in examples/audio (one sentence said in eight
emotions). A manifest without reference replies first gets a frozen set: the topline (the LLM told the
true words and emotion, prompted with topline.j2) writes one per clip, greedily, into a copy of the
manifest. Then every system answers every clip, greedily, and is scored against those references:
BLEU-1/4 and SIM with 95% intervals, the emotion contrast (does the reply change with the emotion more
than with the recording?), and which differences between systems are real.
"""

from __future__ import annotations

import argparse
import csv
import tempfile
from pathlib import Path

from emotionlayer.data.manifest import read_manifest
from emotionlayer.evaluation.dialogue import evaluate_dialogue
from emotionlayer.evaluation.references import write_references

parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
parser.add_argument("--manifest", default=None, help="CSV/JSONL with path, text and emotion (and references) columns")
parser.add_argument("--systems", default="cascade,topline", help="comma-separated systems (NAME or NAME:KEY=VALUE)")
parser.add_argument("--limit", type=int, default=None, help="only the first N clips")
parser.add_argument("--report", default=None, help="write report.md, replies.md, scores.png... here")
args = parser.parse_args()

folder = Path(tempfile.mkdtemp())
manifest = args.manifest
if manifest is None:
    clips = Path(__file__).parent / "audio"
    manifest = str(folder / "examples.csv")
    with open(manifest, "w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(["path", "text", "emotion", "language"])
        for clip in sorted(clips.glob("*_phone.wav")):
            writer.writerow([str(clip), "My phone won't turn on, and I need it today.", clip.stem.split("_")[0], "en"])
if not all(row.reference_set for row in read_manifest(manifest)):
    manifest = str(
        write_references(manifest, "topline", out=folder / "with_references.csv", limit=args.limit, progress=True)
    )
    print(f"Reference replies written by the topline into {manifest}")

report = evaluate_dialogue(manifest, args.systems, limit=args.limit, report_dir=args.report, progress=True)
print(f"Decoding: {report.decoding}. References: {report.references}.\n")
print(report.table())
print()
print(report.sensitivity_table())
print()
print(report.pairwise_table())
clip, replies = report.clips[0], {name: r[0].reply for name, r in report.replies.items()}
print(f"\n{Path(clip.path).name} ({clip.emotion}): {clip.text!r}")
print(f"  reference: {clip.references[0]}")
for name, reply in replies.items():
    print(f"  {name}: {reply}")
