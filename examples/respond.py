"""Answer a recording with the default offline pipeline, step by step, then as one call.

    python examples/respond.py [path/to/clip.wav]
"""

from __future__ import annotations

import sys
from pathlib import Path

from emotionlayer.audio import load_audio, save_audio
from emotionlayer.pipeline import CascadePipeline

clip = Path(sys.argv[1]) if len(sys.argv) > 1 else Path(__file__).parent / "audio" / "sad_phone.wav"

pipe = CascadePipeline.from_config()
audio = load_audio(clip)

# The four steps, one by one.
perception = pipe.perceive(audio)
print("heard:", perception.transcript.text)
print("emotion:", perception.emotion.label, {k: round(v, 2) for k, v in perception.emotion.top(3)})
prompt = pipe.render_prompt(perception.transcript, perception.emotion)
print("strategy:", prompt.strategy.name, "| style:", prompt.style)
reply = pipe.generate(prompt)
print("reply:", reply)
speech = pipe.speak(reply, prompt.style)
print("spoken:", save_audio(speech, "respond_example.wav"), f"({speech.duration:.1f} s)")

# The same as one call, with per-stage timings.
turn = pipe.respond(audio)
print({k: round(v, 3) for k, v in turn.timings.items()})
