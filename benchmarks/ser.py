"""Speech emotion recognition benchmark: the locked, speaker-disjoint test split, per corpus, and latency.

Reads the labelled manifests given, keeps only the clips of the locked test split
(:mod:`emotionlayer.ser.corpora`: RAVDESS actors 13-16, CASIA speaker wangzhe, 5 URDU speakers, all of ESD;
none of them ever trained or chose a recipe), and scores a SER model on every corpus separately, each
over its own labels: unweighted accuracy (UA), expected calibration error (ECE) and, for RAVDESS, the
4-class UA (neutral/happy/sad/angry), then the macro average over corpora. It also reports how confident
the model is on audio without speech (white noise, music, silence, mains hum) and times it on a 3 s clip
(warm, on the CPU).

Recipes are chosen elsewhere, on the training side only (``benchmarks/ser_multicorpus.py select``).

Usage:
    python benchmarks/ser.py --manifest path/to/ravdess-dev/manifest.csv --manifest path/to/casia-zh-dev/manifest.csv \
        --manifest path/to/urdu-dev/manifest.csv --manifest path/to/esd-en-0020/manifest.csv
    python benchmarks/ser.py --manifest M --model path/to/model-folder --json
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


def latency(threads: int, repeats: int = 20, model: str = "default") -> dict[str, float]:
    """Median and p90 seconds of a SER model on a 3 s clip, after a warm-up call."""
    import torch

    from emotionlayer.evaluation.ser import build_recogniser
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
    ser = build_recogniser(model)
    started = time.perf_counter()
    if hasattr(ser, "warmup"):
        ser.warmup()
    ser.predict(clip)
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


def non_speech(model: str = "default") -> dict[str, dict]:
    """Top label and its probability on 3 s of audio without speech (uniform over 8 labels is 0.125)."""
    from emotionlayer.evaluation.ser import build_recogniser
    from emotionlayer.testing import hum, music, white_noise
    from emotionlayer.types import Audio

    ser = build_recogniser(model)
    clips = {
        "white_noise": white_noise(3.0),
        "music": music(3.0),
        "silence": Audio(np.zeros(48000, dtype=np.float32), 16000),
        "hum": hum(3.0),
    }
    out = {}
    for name, audio in clips.items():
        prediction = ser.predict(audio)
        out[name] = {"label": prediction.label, "probability": round(prediction.confidence, 3)}
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--manifest", action="append", default=[], help="labelled emotion manifest (repeat per corpus)")
    parser.add_argument("--model", default="default", help="'default' (packaged), a backend name or a model folder")
    parser.add_argument("--threads", type=int, default=1, help="torch threads for the latency figure")
    parser.add_argument("--latency-only", action="store_true")
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    args = parser.parse_args()

    import torch

    out: dict = {}
    if not args.latency_only:
        if not args.manifest:
            parser.error("--manifest is required unless --latency-only")
        from emotionlayer.cli.ser import evaluate_per_corpus
        from emotionlayer.data.manifest import read_manifest

        torch.set_num_threads(1)
        rows = []
        for manifest in args.manifest:
            rows += list(read_manifest(manifest, require_emotion=True))
        started = time.time()
        out["locked_test"] = evaluate_per_corpus(rows, model=args.model, locked_test=True, progress=not args.json)
        out["locked_test"]["seconds"] = round(time.time() - started, 1)
        out["non_speech"] = non_speech(args.model)
    out["latency_3s_clip"] = latency(args.threads, model=args.model)
    if args.json:
        print(json.dumps(out))
        return
    test = out.get("locked_test")
    if test:
        print(f"Locked test split, model {test['model']}:")
        for corpus, figures in test["corpora"].items():
            four = figures.get("unweighted_accuracy_4class")
            print(
                f"  {corpus:<8} n={figures['n']:<5} {len(figures['labels'])}-class UA "
                f"{figures['unweighted_accuracy']:.1%}"
                f"  ECE {figures['ece']:.3f}" + (f"  4-class UA {four:.1%}" if four is not None else "")
            )
        print(f"  macro UA over {len(test['corpora'])} corpora: {test['macro_unweighted_accuracy']:.1%}")
        print(
            "Without speech: "
            + ", ".join(f"{k} -> {v['label']} {v['probability']:.2f}" for k, v in out["non_speech"].items())
        )
    lat = out["latency_3s_clip"]
    print(
        f"Latency, 3 s clip, {lat['threads']} threads: median {lat['median_s'] * 1000:.0f} ms, p90 "
        f"{lat['p90_s'] * 1000:.0f} ms "
        f"(load + first call {lat['load_and_first_call_s']:.2f} s)"
    )


if __name__ == "__main__":
    main()
