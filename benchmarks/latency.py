"""Per-stage latency of the cascade with warm models, whole-file and streaming (live) side by side.

Non-streaming: repeated turns on a 3 s clip handed over whole; prints the median time of each stage and
the time to first audio (the moment the first spoken sentence is ready). Target on a 2-core CPU: total
<= 2.0 s median.

Streaming: the same clip played at real time into a live session (emotionlayer.live.LiveSession: VAD,
end-of-turn rule, background ASR, speculative reply); the time to first audio is measured from the last
voiced frame of the speech to the first reply sample played, the end-of-turn wait included. Target:
<= 0.6 s median. Then barge-in: a scripted "uh-huh" during a reply (must not stop it) and an interruption
(playback must stop within 0.2 s of the speech being detected).

    python benchmarks/latency.py                      # default offline models, 10 + 5 turns
    python benchmarks/latency.py --json --repeats 20 --live-repeats 10
    python benchmarks/latency.py --config my.yaml --audio my_clip.wav
    python benchmarks/latency.py --live-repeats 0     # whole-file turns only
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
    parser.add_argument("--live-repeats", type=int, default=5, help="streaming turns played at real time (0: none)")
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
    live = streaming(pipeline, clip, args.live_repeats) if args.live_repeats > 0 else {}
    result.update(live)
    if args.json:
        print(json.dumps(result))
        return 0
    print(
        f"{args.repeats} warm turns on a {clip.duration:.1f} s clip ({args.audio.name}); models loaded in "
        f"{load_s:.1f} s"
    )
    print(f"{'stage':<22}{'median s':>10}{'min s':>10}{'max s':>10}")
    for stage in STAGES:
        values = [r.get(stage, 0.0) for r in runs]
        print(f"{stage:<22}{medians[stage]:>10.3f}{min(values):>10.3f}{max(values):>10.3f}")
    target = "meets" if medians["total"] <= 2.0 else "misses"
    print(f"total median {medians['total']:.2f} s {target} the 2.0 s target")
    if live:
        print_streaming(live, medians)
    return 0


def streaming(pipeline, clip, repeats: int) -> dict:
    """Streaming figures: live turns at real time, then a backchannel and an interruption during replies."""
    from emotionlayer.live import LiveConfig, LiveSession
    from emotionlayer.live.sources import Quiet, Say, WaitFor, scripted

    def session() -> LiveSession:
        live = LiveSession(pipeline, LiveConfig())
        live.warmup()
        return live

    def play(live: LiveSession, steps) -> list:
        try:
            return list(live.run(scripted(live, steps, speed=1.0))) + live.finish()
        finally:
            live.close()

    warm = session()
    play(warm, [Quiet(0.3), Say(clip), WaitFor("playback_started", 0.1)])  # warm every code path once
    latencies, whole = [], []
    for _ in range(repeats):  # a fresh session each time: the same prompt (no history) every turn
        live = session()
        play(live, [Quiet(0.3), Say(clip), WaitFor("turn_done", 0.1)])
        latencies += live.latencies
        # A whole-file turn right after, so both see the same load on a shared machine.
        whole.append(pipeline.respond(clip).timings["time_to_first_audio"])
    ttfa = [lat.relative()["first_audio"] for lat in latencies if "first_audio" in lat.relative()]
    moments = {}
    for lat in latencies:
        for moment, value in lat.relative().items():
            moments.setdefault(moment, []).append(value)
    out = {
        "streaming_repeats": len(ttfa),
        "streaming_time_to_first_audio_median": round(statistics.median(ttfa), 4),
        "streaming_time_to_first_audio_p90": round(float(np.percentile(ttfa, 90)), 4),
        "interleaved_time_to_first_audio_median": round(statistics.median(whole), 4),
    }
    for moment, values in moments.items():
        out[f"streaming_{moment}_after_speech_median"] = round(statistics.median(values), 4)

    backchannel = pipeline.speak("Uh-huh.")
    interruption = pipeline.speak("Wait, stop. Can you say that again, more slowly?")
    live = session()
    events = play(
        live,
        [
            Quiet(0.3),
            Say(clip),
            WaitFor("playback_started", 0.5),
            Say(backchannel),
            WaitFor("turn_done", 0.3, turn=1),
            Say(clip),
            WaitFor("playback_started", 0.5),
            Say(interruption),
            WaitFor("turn_done", 0.1, turn=2),
            WaitFor("turn_done", 0.1, turn=3),
        ],
    )
    first_reply = [e for e in events if e.turn == 1]
    cut = [e for e in events if e.kind == "interrupted"]
    out["backchannel_stopped_playback"] = any(e.kind == "interrupted" for e in first_reply)
    out["backchannel_pause_s"] = round(max((e.paused for e in first_reply if e.kind == "backchannel"), default=0.0), 4)
    out["barge_in_interrupted"] = bool(cut)
    if cut:
        out["barge_in_stop_s"] = round(cut[0].stop_seconds, 4)
        out["barge_in_decide_s"] = round(cut[0].decide_seconds, 4)
        start = next((e.start for e in events if e.kind == "speech_started" and e.turn == cut[0].turn + 1), None)
        if start is not None:
            detected = cut[0].time - cut[0].decide_seconds
            out["barge_in_speech_onset_to_stop_s"] = round(detected + cut[0].stop_seconds - start, 4)
    return out


def print_streaming(live: dict, medians: dict) -> None:
    print()
    print(f"streaming (live session at real time, {live['streaming_repeats']} turns): seconds after the end of speech")
    for key, value in live.items():
        if key.endswith("_after_speech_median"):
            print(f"  {key[len('streaming_') : -len('_after_speech_median')]:<20}{value:>8.3f}")
    ttfa = live["streaming_time_to_first_audio_median"]
    verdict = "meets" if ttfa <= 0.6 else "misses"
    print(f"{'':<2}{'':<20}{'median':>8}{'p90':>8}")
    print(
        f"  {'streaming':<20}{ttfa:>8.3f}{live['streaming_time_to_first_audio_p90']:>8.3f}   time to first audio, "
        f"end-of-turn wait included ({verdict} 0.6 s)"
    )
    print(
        f"  {'non-streaming':<20}{live['interleaved_time_to_first_audio_median']:>8.3f}{'':>8}   time to first audio "
        "once the whole file is handed over "
        f"(no end-of-turn wait; turns interleaved with the streaming ones; {medians['time_to_first_audio']:.3f} s in "
        "the run above)"
    )
    print(
        f"backchannel 'uh-huh' during a reply: stopped it: {live['backchannel_stopped_playback']} (paused "
        f"{live['backchannel_pause_s']:.2f} s while deciding)"
    )
    if live.get("barge_in_interrupted"):
        stop = live["barge_in_stop_s"]
        print(
            f"barge-in: playback stopped {stop:.3f} s after the speech was detected "
            f"({'meets' if stop <= 0.2 else 'misses'} 0.2 s); "
            f"generation stopped {live['barge_in_decide_s']:.3f} s after; onset to stop "
            f"{live.get('barge_in_speech_onset_to_stop_s', float('nan')):.3f} s"
        )
    else:
        print("barge-in: the interruption did NOT stop the reply")


if __name__ == "__main__":
    sys.exit(main())
