"""The event detector on real nonverbal vocalizations of unseen speakers (Deeply Nonverbal sample).

Maps the corpus's 13 classes onto the detector's labels with the package's ``deeply-nonverbal`` label map
(``LABEL_MAPS`` in ``emotionlayer.paralinguistics.detection.train``: coughing -> cough, sighing -> sigh,
throat-clearing -> throat_clearing, tongue-clicking -> tsk, panting -> breath) and every other class (lip
popping and smacking, teeth chattering and grinding, nose blowing, screaming, moaning, yawning) onto
``other``: sounds the detector has no label for, which it should not force into a known one.

1. ``packaged``: the packaged detector on every clip (none of these speakers was in its training data).
   It has no ``other`` label, so every ``other`` clip is forced into a known label.
2. ``folds``: speaker-disjoint folds (every speaker in exactly one fold). In each, a detector is trained on
   the bank's isolated-event recordings, background noise, plain speech (``--speech`` files), the real
   clips of the other folds (with ``other`` as a label) and, with ``--utterances``, synthesised
   utterances, then it classifies the held-out fold's clips. Per-label F1 over the pooled held-out
   predictions. One detector per fold (seed = fold index), not an ensemble.

Usage (the light recipe: no synthesised utterances, 20 isolated recordings per label)::

    python benchmarks/events_nonverbal.py --manifest path/to/nonverbal-dev/manifest.csv \
        [--speech a.flac --speech b.flac ...] [--folds 5] [--json]

The packaged detector's recipe (one member of it per fold; see docs/paralinguistics.md)::

    python benchmarks/events_nonverbal.py --manifest path/to/nonverbal-dev/manifest.csv \
        --utterances para_train/manifest.jsonl --isolated 40 --speech ... [--clip-copies N]
"""

from __future__ import annotations

import argparse
import csv
import json
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

LABEL_MAP_NAME = "deeply-nonverbal"


def read_rows(manifest: Path) -> list[dict[str, str]]:
    from emotionlayer.paralinguistics.detection.train import LABEL_MAPS, OTHER_LABEL

    label_map = LABEL_MAPS[LABEL_MAP_NAME]
    base = manifest.resolve().parent
    with open(manifest, encoding="utf-8", newline="") as handle:
        rows = list(csv.DictReader(handle))
    for row in rows:
        row["path"] = str(base / row["path"])
        row["mapped"] = label_map.get(row["label"], OTHER_LABEL)
    return rows


def speaker_folds(rows: list[dict[str, str]], n_folds: int) -> list[int]:
    """Speakers dealt to folds in sorted order: no speaker in two folds."""
    speakers = sorted({row["speaker"] for row in rows})
    fold_of = {speaker: i % n_folds for i, speaker in enumerate(speakers)}
    return [fold_of[row["speaker"]] for row in rows]


def scores(references: list[str], predictions: list[str]) -> dict:
    from emotionlayer.evaluation.metrics import classification_report

    labels = sorted(set(references) | set(predictions))
    report = classification_report(references, predictions, labels)
    data = report.to_dict()
    claimed = [label for label in sorted(set(references)) if label != "other"]
    data["macro_f1_claimed_labels"] = sum(data["per_label"][label]["f1"] for label in claimed) / max(len(claimed), 1)
    return data


def classify_all(detector, rows: list[dict[str, str]]) -> list[str]:
    from emotionlayer.audio import load_audio

    return [detector.classify(load_audio(row["path"], 16000, max_seconds=None))[0] for row in rows]


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--manifest", required=True, type=Path, help="path/to/nonverbal-dev/manifest.csv")
    parser.add_argument("--speech", action="append", default=[], help="plain speech audio files (speech windows)")
    parser.add_argument("--folds", type=int, default=5)
    parser.add_argument("--only-folds", default="", help="comma-separated fold indices to run (quick experiments)")
    parser.add_argument("--isolated", type=int, default=20, help="isolated bank recordings per label")
    parser.add_argument(
        "--utterances",
        action="append",
        default=[],
        help="manifest.jsonl of synthesised utterances (`emotionlayer events make-data`) to train on too (repeatable)",
    )
    parser.add_argument("--background", type=int, default=30, help="noise-only recordings")
    parser.add_argument("--copies", type=int, default=2, help="augmented copies of every recording")
    parser.add_argument(
        "--clip-copies", type=int, default=None, help="augmented copies of every real clip (default: --copies)"
    )
    parser.add_argument("--skip-packaged", action="store_true")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)

    from emotionlayer.paralinguistics.detection.detector import VocalEventModel
    from emotionlayer.paralinguistics.detection.train import train_detector

    rows = read_rows(args.manifest)
    out: dict = {"clips": len(rows), "speakers": len({r["speaker"] for r in rows})}
    if not args.skip_packaged:
        started = time.time()
        predictions = classify_all(VocalEventModel(), rows)
        out["packaged"] = scores([r["mapped"] for r in rows], predictions)
        known = [i for i, r in enumerate(rows) if r["mapped"] != "other"]
        out["packaged_known_labels_only"] = scores([rows[i]["mapped"] for i in known], [predictions[i] for i in known])
        out["packaged"]["seconds"] = round(time.time() - started, 1)
    folds = speaker_folds(rows, args.folds)
    chosen = [int(i) for i in args.only_folds.split(",") if i] or list(range(args.folds))
    references: list[str] = []
    predictions: list[str] = []
    held_out: list[dict[str, str]] = []
    started = time.time()
    with tempfile.TemporaryDirectory() as tmp:
        for fold in chosen:
            train = [r for r, f in zip(rows, folds, strict=True) if f != fold]
            test = [r for r, f in zip(rows, folds, strict=True) if f == fold]
            manifest = Path(tmp) / f"train_{fold}.csv"
            with open(manifest, "w", encoding="utf-8", newline="") as handle:
                writer = csv.writer(handle)
                writer.writerow(["path", "label", "speaker"])
                for row in train:
                    writer.writerow([row["path"], row["label"], row["speaker"]])
            model = train_detector(
                args.utterances,
                clips=[manifest],
                label_map=LABEL_MAP_NAME,
                clip_copies=args.clip_copies,
                isolated_per_label=args.isolated,
                background=args.background,
                copies=args.copies,
                extra_speech=args.speech,
                seed=fold,
            )
            model_dir = Path(tmp) / f"detector_{fold}"
            model.save(model_dir)
            detector = VocalEventModel(model_dir=str(model_dir))
            references += [r["mapped"] for r in test]
            predictions += classify_all(detector, test)
            held_out += test
            if not args.json:
                print(
                    f"fold {fold}: {len(train)} training clips, {len(test)} held out, {model.info['seconds']} s",
                    flush=True,
                )
    out["folds"] = scores(references, predictions)
    out["folds"]["n_folds"] = len(chosen)
    base = args.manifest.resolve().parent
    out["folds"]["predictions"] = [
        {"path": str(Path(r["path"]).relative_to(base)), "label": r["label"], "truth": r["mapped"], "predicted": p}
        for r, p in zip(held_out, predictions, strict=True)
    ]
    out["folds"]["recipe"] = {
        "utterance_manifests": len(args.utterances),
        "isolated": args.isolated,
        "background": args.background,
        "copies": args.copies,
        "clip_copies": args.clip_copies,
        "speech_files": len(args.speech),
    }
    out["folds"]["seconds"] = round(time.time() - started, 1)
    if args.json:
        print(json.dumps(out, indent=1))
        return
    for name in ("packaged", "packaged_known_labels_only", "folds"):
        if name not in out:
            continue
        data = out[name]
        print(
            f"{name}: n={data['n']} accuracy {data['accuracy']:.3f} macro F1 over claimed labels "
            f"{data['macro_f1_claimed_labels']:.3f}"
        )
        for label, s in data["per_label"].items():
            print(f"  {label:<16} P {s['precision']:.2f} R {s['recall']:.2f} F1 {s['f1']:.2f} n={s['support']}")


if __name__ == "__main__":
    main()
