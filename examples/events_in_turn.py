"""Vocal events in the turn: the cascade hears a laugh before the words and tells the LLM.

    python examples/events_in_turn.py [path/to/clip.wav]

Without an argument it makes its own input: the packaged piper voice says "I finally got the job!" with a
laugh from the packaged event bank before it. The packaged cascade (whisper tiny.en, the SER, SmolLM2,
piper) answers it with `run.detect_events` on, then answers the same clip with it off, to show the prompt
line the events add. Writes events_in_turn.reply.wav.
"""

from __future__ import annotations

import sys

from emotionlayer import registry
from emotionlayer.audio import load_audio, save_audio
from emotionlayer.paralinguistics.bank import EventBank
from emotionlayer.paralinguistics.insertion import synthesize_with_events
from emotionlayer.pipeline import CascadePipeline

if len(sys.argv) > 1:
    audio = load_audio(sys.argv[1])
else:
    piper = registry.create("tts", "piper")
    audio, inserted = synthesize_with_events("[laugh] I finally got the job!", piper, EventBank())
    print("made:", ", ".join(f"{e.label} {e.start:.2f}-{e.end:.2f} s" for e in inserted))

for listen in (True, False):
    pipe = CascadePipeline.from_config({"run": {"detect_events": listen}})
    turn = pipe.respond(audio)
    print(f"\n--- run.detect_events: {listen}")
    print("heard:  ", turn.transcript.text, f"({turn.emotion.label})")
    for event in turn.events:  # label, start, end, confidence, and where it was against the words
        print(f"event:   {event.label} {event.start:.2f}-{event.end:.2f} s, score {event.confidence:.2f}, {event.when}")
    print("prompt: ", turn.prompt[0]["content"].splitlines()[-1])  # the system message's last line
    print("reply:  ", turn.response.text)
    print("timings:", {k: round(v, 3) for k, v in turn.timings.items()})
    if listen:
        save_audio(turn.audio, "events_in_turn.reply.wav")
