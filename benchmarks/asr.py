"""ASR accuracy and speed: WER, CER and real-time factor of ASR backends on a manifest.

Every configuration transcribes the same clips (after one warm-up load, which is timed separately) and
prints load seconds, WER and CER (whisper-normalised), the real-time factor (transcription time / audio
time) and mean seconds per clip.

    python benchmarks/asr.py --manifest path/to/ravdess-dev/manifest.csv
    python benchmarks/asr.py --manifest M --asr faster-whisper --asr faster-whisper:beam_size=5 --limit 96
    python benchmarks/asr.py --manifest M --asr faster-whisper:model=base --asr openai-whisper --threads 2
"""

from __future__ import annotations

import argparse
import json
import time


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--manifest", required=True, help="CSV/JSONL with path, text[, language]")
    parser.add_argument(
        "--asr",
        action="append",
        default=None,
        help="backend spec NAME[:KEY=VALUE,...] (repeatable); default faster-whisper",
    )
    parser.add_argument("--limit", type=int, default=None, help="only the first N clips")
    parser.add_argument("--every", type=int, default=1, help="take every k-th clip (spreads a subsample over speakers)")
    parser.add_argument("--language", default=None, help="language of every clip (default: manifest column)")
    parser.add_argument("--threads", type=int, default=0, help="torch threads (0: leave as is)")
    parser.add_argument("--json", action="store_true", help="print one JSON object per configuration")
    parser.add_argument("--errors", type=int, default=0, help="print up to N misrecognised clips per configuration")
    args = parser.parse_args()

    if args.threads:
        import torch

        torch.set_num_threads(args.threads)

    from emotionlayer.cli.asr import parse_backend
    from emotionlayer.data.manifest import read_manifest
    from emotionlayer.evaluation.asr import evaluate_asr
    from emotionlayer.registry import create

    rows = read_manifest(args.manifest)[:: max(1, args.every)]
    if args.limit:
        rows = rows[: args.limit]
    import tempfile
    from pathlib import Path

    from emotionlayer.data.manifest import write_manifest

    with tempfile.TemporaryDirectory() as tmp:
        subset = write_manifest(rows, Path(tmp) / "subset.csv", relative=False)
        for spec in args.asr or ["faster-whisper"]:
            name, params = parse_backend(spec)
            if args.threads and name == "faster-whisper":
                params.setdefault("cpu_threads", args.threads)
            start = time.perf_counter()
            backend = create("asr", name, **params)
            backend.warmup()
            load_s = time.perf_counter() - start
            report = evaluate_asr(subset, asr=backend, language=args.language)
            per_clip = sum(i.seconds for i in report.items) / max(1, report.n)
            result = {
                "asr": spec,
                **report.to_dict(),
                "load_s": round(load_s, 3),
                "seconds_per_clip": round(per_clip, 4),
            }
            if args.json:
                print(json.dumps(result, ensure_ascii=False), flush=True)
            else:
                wer = "n/a" if report.wer is None else f"{report.wer * 100:6.2f}%"
                cer = "n/a" if report.cer is None else f"{report.cer * 100:6.2f}%"
                print(
                    f"{spec:40s} n={report.n:4d}  WER {wer}  CER {cer}  RTF {report.real_time_factor:.3f}  "
                    f"{per_clip:.3f} s/clip  load {load_s:.1f} s",
                    flush=True,
                )
            for item in report.errors(args.errors):
                print(f"    {Path(item.path).name}: {item.reference!r} -> {item.hypothesis!r}")


if __name__ == "__main__":
    main()
