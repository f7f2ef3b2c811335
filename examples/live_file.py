"""A live conversation from recordings: each clip is said and answered in turn, then the first clip again
with an "uh-huh" during its reply (a backchannel: the reply goes on). Events are printed as they happen,
then the latency summary.

    python examples/live_file.py [clip.wav ...]          # default: two example clips
    python examples/live_file.py --speed 2 a.wav b.wav   # twice as fast as real time

Speak to it instead with `emotionlayer live` (microphone) or `emotionlayer live --input clip.wav`.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from emotionlayer.audio import load_audio
from emotionlayer.live import LiveConfig, LiveSession
from emotionlayer.live.sources import Quiet, Say, WaitFor, scripted
from emotionlayer.systems import build_system

AUDIO = Path(__file__).parent / "audio"

parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
parser.add_argument("clips", nargs="*", type=Path, default=[AUDIO / "sad_phone.wav", AUDIO / "angry_phone.wav"])
parser.add_argument("--system", default=None, help="dialogue system (default: cascade)")
parser.add_argument("--speed", type=float, default=1.0, help="how much faster than real time to play the clips")
args = parser.parse_args()

system = build_system(system=args.system)
session = LiveSession(system, LiveConfig(), speed=args.speed)
session.warmup()

steps = [Quiet(0.5)]
for clip in args.clips:
    steps += [Say(load_audio(clip)), WaitFor("turn_done", 0.5)]
steps += [
    Say(load_audio(args.clips[0])),
    WaitFor("playback_started", 1.0),
    Say(system.speak("Uh-huh.")) if hasattr(system, "speak") else Quiet(0.5),
    WaitFor("turn_done", 0.5),
]

try:
    for event in session.run(scripted(session, steps, speed=args.speed)):
        if event.kind in ("reply_audio", "reply_text"):
            continue  # the whole reply is printed with turn_done
        record = event.to_dict()
        record.pop("record", None)
        record.pop("probabilities", None)
        if event.kind == "turn_done":
            record["reply"] = event.record.response.text
        print(record)
finally:
    session.close()

for moment, stats in session.latency_summary().items():
    print(f"{moment:<16} p50 {stats['p50']:.2f} s  p90 {stats['p90']:.2f} s  ({stats['n']} turns)")
