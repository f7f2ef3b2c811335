"""Reply quality with and without the strategy's opener (``run.opener``), on StyleTalk with the fair judge.

The same rows go through the config's prompt and LLM twice, greedily: as configured with ``run.opener`` off,
and with it on (the reply starts with the strategy's opener, which the LLM is given as the start of its
answer and continues). Both are scored by the same judge (SIM to the reference, BLEU-1, reference
discrimination, 95% bootstrap intervals) and their paired differences are shown
(:mod:`emotionlayer.evaluation.styletalk`).

Use the held-out train dialogues (``--split dev``); the locked test (eval.csv) is for final figures only.

    python benchmarks/opener_quality.py styletalk/train.csv --split dev --cache runs/opener-st
    python benchmarks/opener_quality.py styletalk/train.csv --split dev --limit 20 --json
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("data", help="StyleTalk train.csv (with --split dev) or another StyleTalk CSV")
    parser.add_argument("--config", help="pipeline config (prompt, LLM, openers); default: the packaged one")
    parser.add_argument("--split", choices=("all", "dev"), default="dev", help="dev: the dialogues finetune holds out")
    parser.add_argument("--limit", type=int, help="only the first N dialogues (all their styles)")
    parser.add_argument("--cache", help="folder that keeps replies, so a killed run resumes")
    parser.add_argument("--out", help="write the figures as JSON here (and .md beside it)")
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    args = parser.parse_args(argv)

    from emotionlayer.data.styletalk import read_styletalk, split_dev
    from emotionlayer.evaluation.styletalk import evaluate_styletalk, markdown_table, variants

    rows = read_styletalk(args.data)
    if args.split == "dev":
        rows = split_dev(rows)[1]
    if args.limit:
        keep = set(list(dict.fromkeys(r.dialogue for r in rows))[: args.limit])
        rows = [r for r in rows if r.dialogue in keep]
    scores, differences, replies = evaluate_styletalk(
        rows, variants(args.config, openers=["off", "on"]), args.cache, progress=not args.json
    )
    table = markdown_table(scores, differences)
    report = {
        "data": Path(args.data).name, "split": args.split, "rows": len(rows),
        "scores": {name: s.to_dict() for name, s in scores.items()},
        "differences": [d.to_dict() for d in differences],
        "examples": [
            {"user": row.text, "reference": row.reply, **{name: replies[name][i].reply for name in replies}}
            for i, row in enumerate(rows[:5])
        ],
    }  # fmt: skip
    if args.out:
        Path(args.out).write_text(json.dumps(report, indent=1) + "\n")
        Path(args.out).with_suffix(".md").write_text(table + "\n")
    print(json.dumps(report) if args.json else table)
    return 0


if __name__ == "__main__":
    sys.exit(main())
