"""Speech emotion recognition benchmark: leave-speakers-out accuracy and latency.

Cross-validates a feature/head recipe on a labelled manifest (one fold per speaker by default, so no
speaker is ever in both the training and the test part), prints 8-class and 4-class unweighted accuracy,
and times the packaged default model on a 3 s clip (warm, on the CPU).

Usage:
    python benchmarks/ser.py --manifest path/to/ravdess-dev/manifest.csv
    python benchmarks/ser.py --manifest M --recipe default          # the packaged model's recipe (default)
    python benchmarks/ser.py --manifest M --features whisper-base --head logreg
    python benchmarks/ser.py --manifest M --extra-manifest path/to/other/manifest.csv   # score the packaged model on other data
    python benchmarks/ser.py --latency-only
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))


def latency(threads: int, repeats: int = 20) -> dict[str, float]:
    """Median and p90 seconds of the default model on a 3 s clip, after a warm-up call."""
    import torch

    from emotionlayer.registry import create
    from emotionlayer.types import Audio

    torch.set_num_threads(threads)
    rng = np.random.default_rng(0)
    t = np.arange(48000) / 16000
    clip = Audio(
        (0.2 * np.sin(2 * np.pi * 150 * t * (1 + 0.1 * np.sin(3 * t))) + 0.01 * rng.standard_normal(t.size)).astype(
            np.float32
        ),
        16000,
    )
    ser = create("ser", "default")
    started = time.perf_counter()
    ser.warmup()
    cold = time.perf_counter() - started
    times = []
    for _ in range(repeats):
        started = time.perf_counter()
        ser.predict(clip)
        times.append(time.perf_counter() - started)
    times.sort()
    return {
        "threads": threads,
        "load_and_first_call_s": round(cold, 3),
        "median_s": round(statistics.median(times), 4),
        "p90_s": round(times[int(0.9 * (len(times) - 1))], 4),
        "min_s": round(times[0], 4),
    }


def recipe_members(name: str) -> list[tuple[dict, dict]]:
    """(features, head) specs of the packaged default model."""
    from emotionlayer.ser.model import DEFAULT_MODEL_DIR, MODEL_FILE

    spec = json.loads((DEFAULT_MODEL_DIR / MODEL_FILE).read_text())
    return [(m["features"], {k: v for k, v in m["head"].items() if k != "temperature"}) for m in spec["members"]]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument(
        "--manifest", help="labelled manifest with a speaker column (e.g. path/to/ravdess-dev/manifest.csv)"
    )
    parser.add_argument("--recipe", default="default", help="'default' = the packaged model's features and head")
    parser.add_argument(
        "--features", help="override: feature string (whisper-tiny.en, whisper-base, egemaps, ssl:path, joined with +)"
    )
    parser.add_argument("--head", help="override: head name (logreg, svm, attentive)")
    parser.add_argument(
        "--augment", default="", help="comma-separated augmentations, one extra copy each (speed,pitch,gain,noise)"
    )
    parser.add_argument("--folds", type=int, default=None, help="CV folds (default: one per speaker)")
    parser.add_argument(
        "--extra-manifest", action="append", default=[], help="also score the packaged model on this manifest"
    )
    parser.add_argument("--threads", type=int, default=2, help="torch threads for the latency figure")
    parser.add_argument("--latency-only", action="store_true")
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    args = parser.parse_args()

    import torch

    from emotionlayer.ser.train import train_ser

    out: dict = {}
    if not args.latency_only:
        if not args.manifest:
            parser.error("--manifest is required unless --latency-only")
        torch.set_num_threads(1)
        members = recipe_members(args.recipe)
        if args.features or args.head:
            members = [(args.features or members[0][0], args.head or members[0][1])]
        started = time.time()
        probabilities = None
        result = None
        for features, head in members:
            _, result = train_ser(
                args.manifest,
                features=features,
                head=head,
                augment=[a for a in args.augment.split(",") if a],
                cross_validate=True,
                n_folds=args.folds,
                progress=not args.json,
            )
            probabilities = result.probabilities if probabilities is None else probabilities + result.probabilities
        from emotionlayer.ser.train import summarise_predictions

        combined = summarise_predictions(
            result.references, probabilities / len(members), result.labels, result.folds, result.fold_accuracy
        )
        out["cross_validation"] = {
            "recipe": [{"features": f, "head": h} for f, h in members],
            "augment": args.augment,
            "folds": len(combined.folds),
            "clips": combined.report.n,
            "unweighted_accuracy_8class": combined.report.unweighted_accuracy,
            "unweighted_accuracy_4class": combined.four_class.unweighted_accuracy if combined.four_class else None,
            "macro_f1": combined.report.macro_f1,
            "recall": {k: v.recall for k, v in combined.report.per_label.items()},
            "seconds": round(time.time() - started, 1),
        }
    for extra in args.extra_manifest:
        from emotionlayer.evaluation.ser import evaluate_ser

        report = evaluate_ser(extra, model="default").report
        counts = {label: sum(row[i] for row in report.confusion) for i, label in enumerate(report.labels)}
        out.setdefault("other_data", {})[Path(extra).parent.name or extra] = {
            "n": report.n,
            "unweighted_accuracy": report.unweighted_accuracy,
            "accuracy": report.accuracy,
            "predicted_label_counts": {k: v for k, v in counts.items() if v},
        }
    out["latency_3s_clip"] = latency(args.threads)
    if args.json:
        print(json.dumps(out))
        return
    cv = out.get("cross_validation")
    if cv:
        print(f"Leave-speakers-out CV on {cv['clips']} clips, {cv['folds']} folds ({cv['seconds']} s)")
        print(f"  8-class unweighted accuracy: {cv['unweighted_accuracy_8class']:.1%}")
        if cv["unweighted_accuracy_4class"] is not None:
            print(f"  4-class unweighted accuracy (neutral/happy/sad/angry): {cv['unweighted_accuracy_4class']:.1%}")
        print("  recall: " + ", ".join(f"{k} {v:.0%}" for k, v in cv["recall"].items()))
    for name, figures in out.get("other_data", {}).items():
        print(
            f"Packaged model on {name}: n={figures['n']} UA {figures['unweighted_accuracy']:.1%}, predicted {figures['predicted_label_counts']}"
        )
    lat = out["latency_3s_clip"]
    print(
        f"Latency, 3 s clip, {lat['threads']} threads: median {lat['median_s'] * 1000:.0f} ms, p90 {lat['p90_s'] * 1000:.0f} ms "
        f"(load + first call {lat['load_and_first_call_s']:.2f} s)"
    )


if __name__ == "__main__":
    main()
