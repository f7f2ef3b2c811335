"""Paralinguistic speech and event detection, end to end.

    python examples/paralinguistic.py                     # writes paralinguistic_demo.wav
    python examples/paralinguistic.py "Oh [gasp] really? [laugh] I had no idea." out.wav

1. Speak text with tags ([laugh] [sigh] [gasp] [throat_clearing] [pause] [tsk] [cough] [breath]) with the
   packaged piper voice; the packaged event bank supplies the sounds, matched in loudness (and pitch)
   to the voice. The exact start and end of every inserted event are printed.
2. Run the packaged event detector on the result and print what it finds.
3. Make the piper TTS render tags itself (as the cascade pipeline's TTS does when an LLM reply contains
   them) by giving it the bank's renderer.

The same from the command line:

    emotionlayer events speak "Well [laugh] that was fun." --out demo.wav
    emotionlayer events detect demo.wav
"""

from __future__ import annotations

import sys

from emotionlayer import registry
from emotionlayer.audio import save_audio
from emotionlayer.paralinguistics.bank import EventBank
from emotionlayer.paralinguistics.insertion import synthesize_with_events


def main() -> None:
    text = (
        sys.argv[1]
        if len(sys.argv) > 1
        else "Well [laugh] that was not what I expected. [sigh] Let me try again [cough] sorry."
    )
    out = sys.argv[2] if len(sys.argv) > 2 else "paralinguistic_demo.wav"

    tts = registry.create("tts", "piper")
    bank = EventBank(seed=0)  # EventBank(["my_bank"]) to use your own clips: my_bank/laugh/*.wav, ...
    print(bank)

    audio, events = synthesize_with_events(text, tts, bank)
    save_audio(audio, out)
    print(f"\nwrote {out} ({audio.duration:.2f} s). Inserted events:")
    for event in events:
        print(f"  {event.label:<16} {event.start:6.3f} - {event.end:6.3f} s")

    detector = registry.create("events", "default")
    print("\nthe detector hears:")
    for event in detector.detect(audio):
        print(f"  {event.label:<16} {event.start:6.2f} - {event.end:6.2f} s  confidence {event.confidence:.2f}")

    speaking = registry.create("tts", "piper", event_renderer=bank.renderer(seed=1))
    reply = speaking.synthesize("I hear you [sigh] that sounds like a hard week.")
    print(f"\nthe TTS rendered a tagged reply itself: {reply.duration:.2f} s of audio")


if __name__ == "__main__":
    main()
