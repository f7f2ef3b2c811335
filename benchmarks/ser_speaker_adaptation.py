"""Does adapting SER features to the speaker help, with as many clips as a dialogue gives?

Per-speaker feature normalisation is a common way to lift speech emotion recognition on unseen
speakers: subtract the speaker's mean feature vector before the classifier. It needs unlabelled clips of
the same speaker. This benchmark measures how much it helps as a function of how many such clips there
are, with the packaged model's features (whisper tiny.en, all layers, mean and std, -35 dBFS) and head
(class-balanced logistic regression), in leave-one-speaker-out cross-validation:

* ``none``: no adaptation (the shipped model).
* ``all clips``: centre on the mean of every clip of the speaker, the test clip included (the setting
  papers report; on an emotion-balanced corpus this mean is close to the speaker's emotionally neutral
  point, which a real user's turns do not guarantee).
* ``k random clips``: centre on k randomly drawn clips of the speaker (k = 2, 4, 8, 12; 5 draws each),
  the amount of speech a dialogue gives after k turns.
* ``neutral enrolment``: centre on the speaker's neutral clips only (a "say a sentence normally" step).

Training speakers are always centred on all their own clips.

Usage:
    python benchmarks/ser_speaker_adaptation.py --manifest path/to/ravdess-dev/manifest.csv
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--manifest", required=True, help="labelled manifest with a speaker column")
    parser.add_argument("--draws", type=int, default=5, help="random draws per k")
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    args = parser.parse_args()

    import torch

    from emotionlayer.data.manifest import read_manifest
    from emotionlayer.ser.features import build_features
    from emotionlayer.ser.heads import LogisticHead
    from emotionlayer.ser.train import extract_features, summarise_predictions

    sys.path.insert(0, str(Path(__file__).resolve().parent))
    from ser import recipe_members

    torch.set_num_threads(1)
    rows = read_manifest(args.manifest, require_emotion=True)
    if any(r.speaker is None for r in rows):
        sys.exit(f"error: {args.manifest} has rows without a speaker; this benchmark needs the speaker column.")
    features_spec, head_spec = recipe_members("default")[0]
    head_params = {k: v for k, v in head_spec.items() if k != "type"}
    feats, _ = extract_features(rows, build_features(features_spec), progress=not args.json)
    x = np.stack(feats).astype(np.float64)
    y = np.array([r.emotion for r in rows])
    spk = np.array([r.speaker for r in rows])
    speakers = sorted(set(spk))

    labels = sorted(set(y))
    centred = x.copy()  # training speakers are always centred on all their own clips
    for s in speakers:
        centred[spk == s] -= x[spk == s].mean(axis=0)

    def run(reference: dict[str, np.ndarray] | None) -> dict[str, float]:
        """LOSO figures; ``reference[s]`` = indices whose mean centres speaker s at test time."""
        probabilities = np.zeros((len(y), len(labels)))
        for s in speakers:
            test = spk == s
            xs = x
            if reference is not None:
                xs = centred.copy()
                xs[test] = x[test] - x[reference[s]].mean(axis=0)
            head = LogisticHead(**head_params).fit(xs[~test], y[~test])
            columns = [labels.index(label) for label in head.labels]
            probabilities[np.ix_(test, columns)] = head.predict_proba(xs[test])
        result = summarise_predictions(y, probabilities, labels)
        return {
            "ua_8class": result.report.unweighted_accuracy,
            "ua_4class": result.four_class.unweighted_accuracy if result.four_class else float("nan"),
        }

    rng = np.random.default_rng(0)
    results: dict[str, dict[str, float]] = {"none": run(None)}
    results["all clips"] = run({s: np.where(spk == s)[0] for s in speakers})
    results["neutral enrolment"] = run({s: np.where((spk == s) & (y == "neutral"))[0] for s in speakers})
    for k in (2, 4, 8, 12):
        draws = [
            run({s: rng.choice(np.where(spk == s)[0], size=k, replace=False) for s in speakers})
            for _ in range(args.draws)
        ]
        results[f"{k} random clips"] = {m: float(np.mean([d[m] for d in draws])) for m in draws[0]}
    if args.json:
        print(json.dumps({"clips": len(rows), "speakers": len(speakers), "results": results}))
        return
    print(f"Leave-one-speaker-out, {len(rows)} clips, {len(speakers)} speakers")
    print(f"{'test speaker centred on':<26}{'8-class UA':>12}{'4-class UA':>12}")
    for name, figures in results.items():
        print(f"{name:<26}{figures['ua_8class']:>12.1%}{figures['ua_4class']:>12.1%}")


if __name__ == "__main__":
    main()
