"""Compare dialogue systems on recordings, as the E-chat paper does, and ask whether the voice matters.

    python examples/evaluate_dialogue.py [--manifest clips.csv] [--systems cascade,topline] [--report DIR]

Without --manifest it uses the eight example clips in examples/audio (one sentence said in eight
emotions). The topline (the same LLM told the true words and emotion) gives the reference replies; every
other system is scored against them: BLEU-1/4, SIM, emotion accuracy, WER, latency, and emotion
sensitivity (does the reply change when only the emotion changes?).
"""

from __future__ import annotations

import argparse
import csv
import tempfile
from pathlib import Path

from emotionlayer.evaluation.dialogue import evaluate_dialogue

parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
parser.add_argument("--manifest", default=None, help="CSV/JSONL with path, text and emotion columns")
parser.add_argument("--systems", default="cascade,topline", help="comma-separated systems (NAME or NAME:KEY=VALUE)")
parser.add_argument("--limit", type=int, default=None, help="only the first N clips")
parser.add_argument("--report", default=None, help="write report.md, replies.md, scores.png... here")
args = parser.parse_args()

manifest = args.manifest
if manifest is None:
    clips = Path(__file__).parent / "audio"
    manifest = str(Path(tempfile.mkdtemp()) / "examples.csv")
    with open(manifest, "w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(["path", "text", "emotion", "language"])
        for clip in sorted(clips.glob("*_phone.wav")):
            writer.writerow([str(clip), "My phone won't turn on, and I need it today.", clip.stem.split("_")[0], "en"])

report = evaluate_dialogue(manifest, args.systems, limit=args.limit, report_dir=args.report, progress=True)
print(report.table())
print()
for name, scores in report.systems.items():
    if scores.emotion_sensitivity is not None:
        print(f"{name}: the reply changed for {scores.emotion_sensitivity:.0%} of clip pairs that differ only in emotion")
clip, replies = report.clips[0], {name: r[0].reply for name, r in report.replies.items()}
print(f"\n{Path(clip.path).name} ({clip.emotion}): {clip.text!r}")
for name, reply in replies.items():
    print(f"  {name}: {reply}")
