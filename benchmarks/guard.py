"""How well the reply guard tells on-topic replies from off-topic ones, and what it costs per check.

The labelled set is built from a StyleTalk file: for every row, the first sentence of the reply its writers
wrote for it is *good*, and the first sentence of a reply written for a dialogue on another topic (the part of
``diag_id`` before the number: ``book``, ``health``...; drawn with a fixed seed) is *off-topic*. The guard
sees the user's words and the assistant's last line, as in a live turn.

``--choose`` picks ``min_relevance`` on the file given (use the dialogues ``llm finetune`` holds out of
train.csv: ``--split dev``): the highest threshold that passes at least ``--pass-rate`` of the good replies.
Without it, the guard's packaged threshold is measured (use eval.csv, whose replies it never saw).

    python benchmarks/guard.py STYLETALK/train.csv --split dev --choose
    python benchmarks/guard.py STYLETALK/eval.csv
"""

from __future__ import annotations

import argparse
import json
import random
import time

import numpy as np

#: Off-topic sentences of at least this many words are also counted apart, to tell whether the misses are
#: only the short content-free ones ("Definitely!", "Absolutely!"), which fit any dialogue.
LONG_WORDS = 5


def labelled(rows, seed: int = 0):
    """``(user, previous, sentence, is_good)`` for every row: its own reply, and one from another topic."""
    from emotionlayer.text import split_sentences

    rng = random.Random(seed)
    topic = {r.id: r.dialogue.rsplit("_", 1)[0] for r in rows}
    out = []
    for row in rows:
        previous = row.last_answer
        other = rng.choice([r for r in rows if topic[r.id] != topic[row.id]])
        out.append((row.text, previous, split_sentences(row.reply)[0], True))
        out.append((row.text, previous, split_sentences(other.reply)[0], False))
    return out


def main() -> None:
    from emotionlayer.components.guard.default import ANCHORS, ReplyGuard

    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("data", help="A StyleTalk CSV (train.csv or eval.csv).")
    parser.add_argument("--split", choices=("all", "dev"), default="all", help="dev: the dialogues finetune holds out.")
    parser.add_argument("--choose", action="store_true", help="Choose min_relevance on this file.")
    parser.add_argument("--pass-rate", type=float, default=0.9, help="Good replies to pass when choosing.")
    parser.add_argument(
        "--anchor", choices=ANCHORS, default=None,
        help="What relevance is measured against (default: the guard's own default).",
    )  # fmt: skip
    parser.add_argument("--json", action="store_true", help="Print the figures as JSON.")
    args = parser.parse_args()

    import torch

    from emotionlayer.data.styletalk import read_styletalk, split_dev

    torch.set_num_threads(1)
    rows = read_styletalk(args.data)
    if args.split == "dev":
        rows = split_dev(rows)[1]
    anchor = {"anchor": args.anchor} if args.anchor else {}
    guard = ReplyGuard(min_relevance=-1.0, **anchor)
    guard.warmup()
    scores, seconds = [], []
    for user, previous, sentence, good in labelled(rows):
        start = time.perf_counter()
        score = guard.check(sentence, user, "", "", previous)
        seconds.append(time.perf_counter() - start)
        scores.append((score, good))
    relevance = np.array([s.relevance for s, _ in scores])
    other = np.array([bool(s.invented or s.clash or s.malformed) for s, _ in scores])
    good = np.array([g for _, g in scores])
    if args.choose:
        threshold = float(np.quantile(relevance[good & ~other], 1.0 - args.pass_rate))
    else:
        threshold = ReplyGuard().min_relevance
    passed = (relevance >= threshold) & ~other
    long = np.array([len(s.text.split()) >= LONG_WORDS for s, _ in scores])
    figures = {
        "rows": len(rows), "good": int(good.sum()), "off_topic": int((~good).sum()),
        "anchor": guard.anchor, "min_relevance": round(threshold, 4),
        "good_passed": round(float(passed[good].mean()), 4),
        "off_topic_caught": round(float((~passed[~good]).mean()), 4),
        f"off_topic_caught_{LONG_WORDS}_words_or_more": round(float((~passed[~good & long]).mean()), 4),
        f"off_topic_{LONG_WORDS}_words_or_more": int((~good & long).sum()),
        "check_ms_median": round(1000 * float(np.median(seconds)), 1),
        "check_ms_p90": round(1000 * float(np.percentile(seconds, 90)), 1),
    }  # fmt: skip
    if args.json:
        print(json.dumps(figures, indent=1))
    else:
        for key, value in figures.items():
            print(f"{key:>18}: {value}")


if __name__ == "__main__":
    main()
