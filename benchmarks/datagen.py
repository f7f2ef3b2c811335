"""Throughput of dataset generation: rows/s with 1 worker, 2 worker processes and a local Ray instance.

Each configuration generates the same first N rows of the packaged English seeds into a fresh folder
with the packaged LLM (SmolLM2 via llama-cpp) and the default voices, and prints wall-clock rows/s (model
loading included) and steady rows/s (after the first row).

    python benchmarks/datagen.py --rows 40
    python benchmarks/datagen.py --rows 40 --modes serial,processes --tts piper
"""

from __future__ import annotations

import argparse
import json
import shutil
import tempfile
from pathlib import Path


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, default=40, help="rows per configuration")
    parser.add_argument("--modes", default="serial,processes,ray", help="comma-separated: serial, processes, ray")
    parser.add_argument("--workers", type=int, default=2, help="workers for the processes and ray modes")
    parser.add_argument(
        "--tts", action="append", default=None, help="voice spec (repeatable); default voices if absent"
    )
    parser.add_argument("--llm", default="llama-cpp", help="LLM backend spec")
    parser.add_argument("--keep", default=None, help="keep the datasets under this folder instead of a temp one")
    args = parser.parse_args()

    from emotionlayer.data.generation import generate_dataset

    root = Path(args.keep) if args.keep else Path(tempfile.mkdtemp(prefix="datagen-bench-"))
    results = []
    try:
        for mode in [m.strip() for m in args.modes.split(",") if m.strip()]:
            out = root / mode
            shutil.rmtree(out, ignore_errors=True)
            workers = 1 if mode == "serial" else args.workers
            summary = generate_dataset(
                out,
                limit=args.rows,
                llm=args.llm,
                tts=args.tts,
                workers=workers,
                ray_address="local" if mode == "ray" else None,
                progress=False,
            )
            figures = {
                "mode": mode,
                "workers": workers,
                "rows": summary.rows_generated,
                "seconds": round(summary.seconds, 2),
                "rows_per_s": round(summary.rows_per_second, 3),
                "first_row_s": round(summary.first_row_seconds, 2),
                "steady_rows_per_s": round(summary.steady_rows_per_second, 3),
            }
            results.append(figures)
            print(json.dumps(figures), flush=True)
    finally:
        if not args.keep:
            shutil.rmtree(root, ignore_errors=True)
    print()
    print(
        f"{'mode':<10} {'workers':>7} {'rows':>5} {'seconds':>8} {'rows/s':>7} {'first row s':>11} "
        f"{'steady rows/s':>13}"
    )
    for r in results:
        print(
            f"{r['mode']:<10} {r['workers']:>7} {r['rows']:>5} {r['seconds']:>8} {r['rows_per_s']:>7} "
            f"{r['first_row_s']:>11} {r['steady_rows_per_s']:>13}"
        )


if __name__ == "__main__":
    main()
