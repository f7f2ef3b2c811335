"""Per-stage latency of the cascade with warm models, whole-file and streaming (live) side by side.

Non-streaming: repeated turns on a 3 s clip handed over whole; prints the median time of each stage and
the time to first audio (the moment the first spoken sentence is ready). Target on a 2-core CPU: total
<= 2.0 s median.

Streaming: the same clip played at real time into a live session (emotionlayer.live.LiveSession: VAD,
end-of-turn rule, background ASR, speculative reply); the time to first audio is measured from the last
voiced frame of the speech to the first reply sample played, the end-of-turn wait included. Target:
<= 0.6 s median. Then barge-in: a scripted "uh-huh" during a reply (must not stop it) and an interruption
(playback must stop within 0.2 s of the speech being detected).

Openers (``run.opener``): the streaming and whole-file turns run with the opener on and off, alternating
turn by turn on the same loaded models (so both see the same load), and each variant reports the first
audio (the opener's, when on) and the first audio the LLM wrote, median and p90, with the on/off ratios.
``--opener on`` or ``off`` runs one variant only.

    python benchmarks/latency.py                      # default offline models, 10 + 5 turns (x2: opener on, off)
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
    parser.add_argument(
        "--opener",
        choices=("both", "on", "off"),
        default="both",
        help="streaming turns with run.opener on and off, alternating (both), or one of them",
    )
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
    variants = opener_variants(pipeline, args.opener)
    live = streaming(pipeline, variants, clip, args.live_repeats) if args.live_repeats > 0 else {}
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


def opener_variants(pipeline, which: str) -> dict:
    """The pipeline with ``run.opener`` on and off (``which``: both, on, off), sharing its loaded models."""
    from dataclasses import replace

    from emotionlayer.pipeline import CascadePipeline

    out = {}
    for name, on in (("opener", True), ("no_opener", False)):
        if which == "both" or (which == "on") == on:
            config = replace(pipeline.config, run=replace(pipeline.config.run, opener=on))
            out[name] = CascadePipeline(
                pipeline.ser, pipeline.asr, pipeline.llm, pipeline.tts, pipeline.renderer, config,
                vad=pipeline.vad, events=pipeline.events, guard=pipeline.guard,
            )  # fmt: skip
            out[name].prime_openers()
    return out


def figures(values: list[float]) -> tuple[float | None, float | None]:
    """Median and p90 (``None`` when there are no values)."""
    if not values:
        return None, None
    return round(statistics.median(values), 4), round(float(np.percentile(values, 90)), 4)


def opener_gaps(events: list, latencies: list) -> list[float]:
    """Per turn with an opener: seconds of silence between the opener's end and the LLM's first words."""
    out = []
    for latency in latencies:
        opener = next((e for e in events if e.kind == "reply_audio" and e.turn == latency.turn and e.opener), None)
        if opener is not None and latency.first_audio is not None and latency.first_llm_audio is not None:
            out.append(max(0.0, latency.first_llm_audio - latency.first_audio - opener.audio.duration))
    return out


def streaming(pipeline, variants: dict, clip, repeats: int) -> dict:
    """Streaming figures: live turns at real time (each variant in turn), then a backchannel and an
    interruption during replies (on ``pipeline`` as configured)."""
    from emotionlayer.live import LiveConfig, LiveSession
    from emotionlayer.live.sources import Quiet, Say, WaitFor, scripted

    def session(system=pipeline) -> LiveSession:
        live = LiveSession(system, LiveConfig())
        live.warmup()
        return live

    def play(live: LiveSession, steps) -> list:
        try:
            return list(live.run(scripted(live, steps, speed=1.0))) + live.finish()
        finally:
            live.close()

    for system in variants.values():
        warm = session(system)
        play(warm, [Quiet(0.3), Say(clip), WaitFor("playback_started", 0.1)])  # warm every code path once
    latencies = {name: [] for name in variants}
    whole = {name: [] for name in variants}
    whole_llm = {name: [] for name in variants}
    gaps = {name: [] for name in variants}
    names = list(variants)
    for i in range(repeats):  # a fresh session each time: the same prompt (no history) every turn
        for name in names if i % 2 == 0 else names[::-1]:  # alternate which variant goes first
            live = session(variants[name])
            events = play(live, [Quiet(0.3), Say(clip), WaitFor("turn_done", 0.1)])
            latencies[name] += live.latencies
            gaps[name] += opener_gaps(events, live.latencies)
            # A whole-file turn right after, so both see the same load on a shared machine.
            timings = variants[name].respond(clip).timings
            whole[name].append(timings["time_to_first_audio"])
            whole_llm[name].append(timings.get("time_to_first_llm_audio", timings["time_to_first_audio"]))
    out: dict = {"streaming_repeats": repeats, "variants": names}
    for name in names:
        moments: dict[str, list[float]] = {}
        for lat in latencies[name]:
            for moment, value in lat.relative().items():
                moments.setdefault(moment, []).append(value)
        for moment in ("first_audio", "first_llm_audio"):
            median, p90 = figures(moments.get(moment, []))
            out[f"streaming_{name}_{moment}_median"], out[f"streaming_{name}_{moment}_p90"] = median, p90
        for moment, values in moments.items():
            out[f"streaming_{name}_{moment}_after_speech_median"] = round(statistics.median(values), 4)
        if gaps[name]:
            out[f"streaming_{name}_silence_after_opener_median"], out[f"streaming_{name}_silence_after_opener_p90"] = (
                figures(gaps[name])
            )
        out[f"whole_{name}_first_audio_median"] = figures(whole[name])[0]
        out[f"whole_{name}_first_llm_audio_median"] = figures(whole_llm[name])[0]
    if len(names) == 2:
        on, off = names
        for key in ("first_audio_median", "first_audio_p90", "first_llm_audio_median", "first_llm_audio_p90"):
            a, b = out[f"streaming_{on}_{key}"], out[f"streaming_{off}_{key}"]
            out[f"ratio_streaming_{key}"] = round(a / b, 3) if a is not None and b else None
        for key in ("first_audio_median", "first_llm_audio_median"):
            a, b = out[f"whole_{on}_{key}"], out[f"whole_{off}_{key}"]
            out[f"ratio_whole_{key}"] = round(a / b, 3) if a is not None and b else None
    first = names[0]  # the figures under the old names: the first variant's
    out["streaming_time_to_first_audio_median"] = out[f"streaming_{first}_first_audio_median"]
    out["streaming_time_to_first_audio_p90"] = out[f"streaming_{first}_first_audio_p90"]
    out["interleaved_time_to_first_audio_median"] = out[f"whole_{first}_first_audio_median"]

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
    def number(value) -> str:
        return f"{value:>8.3f}" if value is not None else f"{'-':>8}"

    print()
    turns = live["streaming_repeats"]
    print(f"streaming (live session at real time, {turns} turns per variant): seconds after the end of speech")
    for name in live["variants"]:
        print(f"  {name}:")
        prefix = f"streaming_{name}_"
        for key, value in live.items():
            if key.startswith(prefix) and key.endswith("_after_speech_median"):
                print(f"    {key[len(prefix) : -len('_after_speech_median')]:<20}{value:>8.3f}")
    print(f"  {'':<34}{'median':>8}{'p90':>8}")
    for name in live["variants"]:
        for moment, what in (("first_audio", "first audio"), ("first_llm_audio", "first audio the LLM wrote")):
            median, p90 = live[f"streaming_{name}_{moment}_median"], live[f"streaming_{name}_{moment}_p90"]
            verdict = ""
            if median is not None and moment == "first_audio":
                verdict = " (meets 0.6 s)" if median <= 0.6 else " (misses 0.6 s)"
            print(f"  {'streaming ' + name:<34}{number(median)}{number(p90)}   {what}{verdict}")
        print(
            f"  {'whole-file ' + name:<34}{number(live[f'whole_{name}_first_audio_median'])}{'':>8}   first audio "
            f"(the LLM's: {live[f'whole_{name}_first_llm_audio_median']:.3f}); no end-of-turn wait, interleaved"
        )
        gap = live.get(f"streaming_{name}_silence_after_opener_median")
        if gap is not None:
            p90 = live[f"streaming_{name}_silence_after_opener_p90"]
            print(f"  {'streaming ' + name:<34}{gap:>8.3f}{p90:>8.3f}   silence between the opener and the LLM's words")
    for key, value in live.items():
        if key.startswith("ratio_") and value is not None:
            print(f"  {key[len('ratio_') :]:<34}{value:>8.3f}   opener on / off")
    print(f"  (whole-file turns of the config as given, in the table above: {medians['time_to_first_audio']:.3f} s)")
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
