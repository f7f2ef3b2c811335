"""Build the manifests of the packaged ParalinGPT checkpoint: RAVDESS clips with the evaluation writer's replies.

    python examples/paralingpt_recipe.py --data DATA --out WORK

writes, in --out:

- ``replies.json``: one reply per (sentence, emotion) of RAVDESS (2 sentences x 8 emotions = 16), written by
  the same writer and code path as the evaluation's frozen references
  (:func:`emotionlayer.evaluation.references.write_references`: the ``topline`` system, ``topline.j2``, the
  packaged SmolLM2, greedy, told the true text and emotion). Written once, then reused.
- ``train-1-8.csv`` and ``dev-9-12.csv``: RAVDESS actors 1-8 to train on and 9-12 to choose settings on;
- ``train-1-12.csv``: actors 1-12, the final training set;
- ``esd-warmup.csv``: ESD English speaker 0020 (5 emotions), for ``--warmup-manifest`` only (no replies);
- ``test-13-16.csv``: the locked test actors 13-16 (path, text, emotion), read once, at the end.

Each training row's ``reply`` is the writer's reply to its sentence and emotion; the ``response emotion``
is left to the empathy strategy of the emotion (the trainer's default).
"""

from __future__ import annotations

import argparse
import csv
import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

LOCKED = tuple(range(13, 17))


def _rows(path: Path) -> list[dict[str, str]]:
    with open(path, newline="", encoding="utf-8") as handle:
        return list(csv.DictReader(handle))


def _write(path: Path, rows: list[dict[str, str]]) -> Path:
    with open(path, "w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    return path


def write_replies(rows: list[dict[str, str]], data: Path, out: Path) -> dict[str, str]:
    """The writer's reply per ``"emotion|text"`` (cached in ``out/replies.json``)."""
    cache = out / "replies.json"
    if cache.exists():
        return json.loads(cache.read_text(encoding="utf-8"))
    from emotionlayer.evaluation.references import reference_replies

    clips = [dict(r, path=str((data / "ravdess-dev" / r["path"]).resolve())) for r in rows]
    replies = reference_replies(clips)
    cache.write_text(json.dumps(replies, indent=1, ensure_ascii=False), encoding="utf-8")
    return replies


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", type=Path, required=True, help="folder with ravdess-dev/ and esd-en-0020/")
    parser.add_argument("--out", type=Path, required=True, help="where the manifests go")
    args = parser.parse_args(argv)
    args.out.mkdir(parents=True, exist_ok=True)
    rows = _rows(args.data / "ravdess-dev" / "manifest.csv")
    actor = {r["path"]: int(r["speaker"].removeprefix("ravdess_actor")) for r in rows}
    training = [r for r in rows if actor[r["path"]] not in LOCKED]
    replies = write_replies(training, args.data, args.out)

    def manifest(actors: range) -> list[dict[str, str]]:
        return [
            {
                "path": str((args.data / "ravdess-dev" / r["path"]).resolve()),
                "text": r["text"],
                "emotion": r["emotion"],
                "speaker": r["speaker"],
                "reply": replies[f"{r['emotion']}|{r['text']}"],
            }
            for r in training
            if actor[r["path"]] in actors
        ]

    _write(args.out / "train-1-8.csv", manifest(range(1, 9)))
    _write(args.out / "dev-9-12.csv", manifest(range(9, 13)))
    _write(args.out / "train-1-12.csv", manifest(range(1, 13)))
    esd = _rows(args.data / "esd-en-0020" / "manifest.csv")
    _write(
        args.out / "esd-warmup.csv",
        [
            {"path": str((args.data / "esd-en-0020" / r["path"]).resolve()), "text": r["text"], "emotion": r["emotion"]}
            for r in esd
        ],
    )
    test = [
        {"path": str((args.data / "ravdess-dev" / r["path"]).resolve()), "text": r["text"], "emotion": r["emotion"]}
        for r in rows
        if actor[r["path"]] in LOCKED
    ]
    _write(args.out / "test-13-16.csv", test)
    print(f"{len(replies)} replies; manifests in {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
