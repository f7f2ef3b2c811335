"""Per-stage latency of the cascade with warm models.

Runs repeated turns on a 3 s clip and prints the median time of each stage and the time to first
audio (the moment the first spoken sentence is ready). Targets on a 2-core CPU: total <= 2.0 s median.

    python benchmarks/latency.py                      # default offline models, 10 turns
    python benchmarks/latency.py --json --repeats 20
    python benchmarks/latency.py --config my.yaml --audio my_clip.wav
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
from pathlib import Path

import numpy as np

STAGES = ("ser", "asr", "perceive", "prompt", "llm", "tts", "time_to_first_audio", "total")
DEFAULT_CLIP = Path(__file__).resolve().parents[1] / "examples" / "audio" / "sad_phone.wav"


def three_second_clip(path: Path):
    """The clip cut, or padded with silence, to exactly 3.0 s at its own rate."""
    from emotionlayer.audio import load_audio
    from emotionlayer.types import Audio

    audio = load_audio(path)
    n = int(3.0 * audio.sample_rate)
    samples = audio.samples[:n]
    if len(samples) < n:
        samples = np.concatenate([samples, np.zeros(n - len(samples), dtype=np.float32)])
    return Audio(samples, audio.sample_rate, str(path))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--config", help="pipeline config (YAML/JSON); default: packaged offline models")
    parser.add_argument("--audio", type=Path, default=DEFAULT_CLIP, help="speech clip, cut/padded to 3 s")
    parser.add_argument("--repeats", type=int, default=10, help="timed turns (after one warm-up turn)")
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    args = parser.parse_args(argv)

    import time

    from emotionlayer.pipeline import CascadePipeline

    t0 = time.perf_counter()
    pipeline = CascadePipeline.from_config(args.config)
    pipeline.warmup()
    clip = three_second_clip(args.audio)
    pipeline.respond(clip)  # warm every code path once
    load_s = time.perf_counter() - t0

    def timed_turn() -> dict[str, float]:
        # The turn's own stages, plus the wall time of perception (SER and ASR run at the same time) and of
        # prompt rendering, read from the stream's events.
        events = list(pipeline.stream(clip))
        timings = dict(events[-1].turn.timings)
        perceived = next(e for e in events if e.kind == "perceived")
        prompted = next(e for e in events if e.kind == "prompt")
        timings["perceive"] = perceived.perception.timings.get("perceive", perceived.time)
        timings["prompt"] = prompted.time - perceived.time
        return timings

    runs = [timed_turn() for _ in range(args.repeats)]
    medians = {stage: statistics.median(r.get(stage, 0.0) for r in runs) for stage in STAGES}
    result = {f"{stage}_median": round(value, 4) for stage, value in medians.items()}
    result.update({"repeats": args.repeats, "clip_seconds": clip.duration, "load_and_first_turn_s": round(load_s, 2)})
    if args.json:
        print(json.dumps(result))
        return 0
    print(f"{args.repeats} warm turns on a {clip.duration:.1f} s clip ({args.audio.name}); models loaded in {load_s:.1f} s")
    print(f"{'stage':<22}{'median s':>10}{'min s':>10}{'max s':>10}")
    for stage in STAGES:
        values = [r.get(stage, 0.0) for r in runs]
        print(f"{stage:<22}{medians[stage]:>10.3f}{min(values):>10.3f}{max(values):>10.3f}")
    target = "meets" if medians["total"] <= 2.0 else "misses"
    print(f"total median {medians['total']:.2f} s {target} the 2.0 s target")
    return 0


if __name__ == "__main__":
    sys.exit(main())
