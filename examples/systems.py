"""Answer a recording with any dialogue system, stream the turn, and stop a second turn midway.

    python examples/systems.py [path/to/clip.wav] [--system NAME[:KEY=VALUE,...]]

Every system (the cascade, end-to-end models, plugins) answers the same respond()/stream() calls.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from emotionlayer.systems import build_system
from emotionlayer.types import Dialogue

parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
parser.add_argument("clip", nargs="?", default=str(Path(__file__).parent / "audio" / "sad_phone.wav"))
parser.add_argument("--system", default=None, help="a registered system, e.g. cascade (default: the config's)")
args = parser.parse_args()

system = build_system(None, args.system)

# One whole turn.
turn = system.respond(args.clip)
print(f"[{turn.system}] heard {turn.transcript.text!r} sounding {turn.emotion.label}; replied {turn.response.text!r}")
print("timings:", {k: round(v, 2) for k, v in turn.timings.items()})

# The next turn as a stream of events (JSON-ready, as a web client would receive them) ...
history = Dialogue().add(turn)
stream = system.stream(args.clip, history)
for event in stream:
    data = event.to_dict()
    print(f"{event.time:6.2f} s  {event.kind:<9}", json.dumps(data.get("text", ""), ensure_ascii=False))
    if event.kind == "audio":
        # ... stopped after the first spoken sentence, as when the user interrupts: closing the stream
        # stops the language model and the synthesis of the sentences not yet spoken.
        stream.close()
        print("stopped after the first spoken sentence")
        break
